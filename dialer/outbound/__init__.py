"""Outbound campaigns: the pure part (lifecycles.py, plan.py, results.py),
the campaign flow for answered calls (stasis.py), the dialer process
(dialer.py), what it stores (leads.py: the hopper; attempts.py; floor.py;
dialers.py; store.py: campaigns), reports and CLI commands."""
