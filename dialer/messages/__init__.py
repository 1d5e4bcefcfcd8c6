"""Messages to debtors (issue 15): payment links, templates, the rules on
sending, and the outbox they are sent from. The pure core (model, links,
templates, sms, rules, delivery) imports nothing of I/O; store, composing
and commands are the shell (docs/messages.md)."""
