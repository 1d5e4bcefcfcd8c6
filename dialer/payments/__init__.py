"""Payments outside the PCI scope: the wiring of the capture flow's
gateway and ledger to PostgreSQL. Nothing here ever holds card data: the
gateway's token and reference, the brand and last four at most."""
