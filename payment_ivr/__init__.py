"""The PCI-scoped payment IVR. Only this package will ever hold a card
number or CVV, in memory, for the shortest time; nothing it touches logs,
stores, records or exports them. Its flows arrive with the payment issue."""
