"""Messages to debtors (issue 15): payment links, templates, the rules on
sending, and the outbox they are sent from. The pure core (links,
templates, sms, rules) imports nothing of I/O; store.py and commands.py
are the shell."""
