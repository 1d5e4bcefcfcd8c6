"""Debtors who call in: identified by caller ID or by the account number
they key, then routed to a skilled agent (`recobro inbound`)."""
