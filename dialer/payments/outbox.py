"""The outbox of payment events (payment_outbox) that the messages to
debtors (issue 15) are sent from: a receipt, a decline, a plan set up, a
plan broken. Each is written inside the transaction that writes what it
tells of, once (a second write of the same event changes nothing). Never
card data: the brand and last four at most."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from enum import Enum

import asyncpg


class EventKind(Enum):
    RECEIPT = "receipt"  # an approved attempt: a capture's or an instalment's
    DECLINED = "declined"  # a capture that ended declined; a declined instalment's charge
    PLAN_SET_UP = "plan_set_up"  # the amount is the plan's total; its schedule in payment_instalments
    PLAN_BROKEN = "plan_broken"  # an instalment missed: the plan's later ones cancelled


async def attempt_event(connection: asyncpg.Connection, kind: EventKind, key: str,
                        retry_on: date | None = None) -> None:
    """The event of the payment attempt of key (a receipt, or an
    instalment's decline), from its row as written in this transaction."""
    await connection.execute(
        "INSERT INTO payment_outbox (kind, account_id, capture_id, idempotency_key, instalment, "
        "amount, currency, brand, last4, gateway_reference, decline_reason, retry_on) "
        "SELECT $1, account_id, capture_id, idempotency_key, instalment, amount, currency, "
        "brand, last4, gateway_reference, decline_reason, $3 FROM payment_attempts "
        "WHERE idempotency_key = $2 ON CONFLICT DO NOTHING", kind.value, key, retry_on)


async def capture_event(connection: asyncpg.Connection, kind: EventKind, capture_id: uuid.UUID,
                        account_id: int, amount: Decimal, currency: str, *,
                        brand: str | None = None, last4: str | None = None,
                        reference: str | None = None, decline_reason: str | None = None
                        ) -> None:
    """An event of a whole capture or plan (a plan set up or broken, a
    capture that ended declined)."""
    await connection.execute(
        "INSERT INTO payment_outbox (kind, account_id, capture_id, amount, currency, brand, "
        "last4, gateway_reference, decline_reason) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, left($9, 255)) ON CONFLICT DO NOTHING",
        kind.value, account_id, capture_id, amount, currency, brand, last4, reference,
        decline_reason)
