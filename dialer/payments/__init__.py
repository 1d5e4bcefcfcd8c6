"""Payments by keypad: where a capture starts (a Stasis flow of its own,
the self-service menu) and the wiring of the PCI-scoped payment IVR
(payment_ivr) to calls, accounts and the campaign's terms."""
