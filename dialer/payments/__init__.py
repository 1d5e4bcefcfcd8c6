"""Payments by keypad, outside the PCI scope: where a capture starts (a
Stasis flow of its own, the self-service menu), the campaign's terms, and
the wiring of the PCI-scoped payment IVR (payment_ivr) to calls and to the
ledger in PostgreSQL. Nothing here ever holds card data: the gateway's
token and reference, the brand and last four at most."""
