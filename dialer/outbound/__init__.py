"""The live campaign: pure planning (plan.py, results.py) and the shell
that runs it against PostgreSQL and Asterisk (hopper.py, connect.py,
loop.py)."""
