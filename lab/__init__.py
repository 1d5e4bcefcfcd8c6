"""The lab: a real Asterisk 22, PostgreSQL and sipp peers on loopback,
started and stopped by `recobro lab up|down|status`."""
