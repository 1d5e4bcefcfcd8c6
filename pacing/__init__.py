"""Pacing: how many calls to launch now. Pure code (numpy, scipy): no
sockets, no database, no clock of its own. The same policy objects run in
the live campaign loop and in the simulator."""
