"""Recobro's dialer: the campaign engine, the telephony adapters and the lab."""
