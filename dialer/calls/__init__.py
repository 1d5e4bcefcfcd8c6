"""Calls as the domain sees them: typed events, the call state machine and
outcome classification. Pure code: no sockets, no database, no clock."""
