"""The compliance gate: who may be called now, and which rule says no.
Pure code: no I/O, no clock (now is always passed in)."""
