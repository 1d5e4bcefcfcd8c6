"""FastAGI hooks for an engineer's own dialplan (docs/agi.md)."""
