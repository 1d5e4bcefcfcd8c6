"""The PCI-scoped payment IVR: debtors pay by keypad.

The PCI boundary rule: only `payment_ivr/` ever holds a card number, expiry
or CVV, in memory, for seconds (from the keys being collected to the
gateway's answer), and nothing it touches logs, stores, records or exports
them. Everything outside it sees a brand and the last four digits at most.

- `card`: card rules (Luhn, brand by IIN, expiry, CVV) and `Card`, which
  never shows its secrets in repr or str, refuses pickling and copying,
  and is wiped (references dropped: Python cannot zero a string) once the
  gateway has answered.
- `terms`: what the debtor may pay (balance, settlement, plan, promise).
- `prompts`: the words said, and amounts and dates in Asterisk's sounds.
- `capture`: the capture flow, pure, run by ivr.runner; the card leaves it
  only inside the `Authorise` effect, and its `PaymentResult` holds no card
  data.
- `gateway`: the card gateway's protocol and answers (pure).
- `authorise`: the one `Authorise` handler (exactly one charge per attempt,
  the card wiped whatever happens) and the `Ledger` it writes (no card data).
- `stripe_gateway`: the adapter for Stripe's PaymentIntents API, the one
  place the card's data leaves the process (in its request bodies).

Modules here import only `ivr.actions`, `ivr.recordings` and the standard
library (the Stripe adapter aiohttp too), nothing of the dialer, and none
of them logs, so that what can touch card data stays small enough to
audit (tests/unit/test_payment_card.py, the import contracts)."""
