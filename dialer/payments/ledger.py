"""The payment attempts in PostgreSQL: the ledger the Authorise handler
writes (payment_ivr.authorise.Ledger). An approved attempt lowers its
account's balance and writes its receipt event (dialer.payments.outbox) in
the same transaction that writes it, once (the attempt's `applied` flag),
however often its approval is written."""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from decimal import Decimal
from enum import Enum

import asyncpg

from dialer.payments.outbox import EventKind, attempt_event
from payment_ivr.authorise import AttemptStart, LedgerError, PaymentContext
from payment_ivr.gateway import Charged
from payment_ivr.terms import Money

log = logging.getLogger(__name__)


class AttemptStatus(Enum):
    """Where a payment attempt stands."""

    IN_FLIGHT = "in_flight"  # written before its request; the gateway's answer not yet
    APPROVED = "approved"
    DECLINED = "declined"
    FAILED = "failed"  # nothing was charged


def decimal_of(amount: Money) -> Decimal:
    """An amount as the numeric(14, 2) the tables hold."""
    return Decimal(amount.cents) / 100


async def apply_approved(connection: asyncpg.Connection, key: str, charged: Charged) -> bool:
    """Write the attempt of key as approved (whatever was written before:
    the money was taken) and, the first time, lower its account's balance
    by its amount (the account paid when nothing is left, unless it is in
    a plan: the plan's rules decide then) and write its receipt event. Run
    inside a transaction. Returns whether this call applied the money."""
    row = await connection.fetchrow(
        "SELECT account_id, amount, applied FROM payment_attempts "
        "WHERE idempotency_key = $1 FOR UPDATE", key)
    if row is None:
        raise LookupError(f"no payment attempt {key}")
    await connection.execute(
        "UPDATE payment_attempts SET status = 'approved', "
        "brand = COALESCE(NULLIF($2, ''), brand), last4 = COALESCE(NULLIF($3, ''), last4), "
        "gateway_reference = $4, token = COALESCE($5, token), failure = NULL, "
        "answered_at = COALESCE(answered_at, now()), applied = true "
        "WHERE idempotency_key = $1",
        key, charged.brand, charged.last4 if len(charged.last4) == 4 else "",
        charged.reference, charged.token)
    if row["applied"]:
        return False
    await connection.execute(
        "UPDATE accounts SET balance = GREATEST(balance - $2, 0), "
        "status = CASE WHEN balance - $2 <= 0 AND status = 'active' THEN 'paid' "
        "ELSE status END, updated_at = now() WHERE id = $1",
        row["account_id"], row["amount"])
    await attempt_event(connection, EventKind.RECEIPT, key)
    return True


class PostgresLedger:
    """payment_ivr.authorise.Ledger over a pool. Each write is one
    transaction; a failure is logged (naming the attempt, no card data)
    and raised as LedgerError."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def started(self, context: PaymentContext, start: AttemptStart) -> None:
        """Write the attempt in flight, before its request."""
        await self._run("start", start.key, self._pool.execute(
            "INSERT INTO payment_attempts (capture_id, attempt, idempotency_key, account_id, "
            "call_id, amount, currency, save_card, brand, last4) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            context.capture_id, start.attempt, start.key, context.account_id, context.call_id,
            decimal_of(start.amount), start.amount.currency, start.save_card, start.brand,
            start.last4))

    async def approved(self, key: str, charged: Charged) -> None:
        """Write the attempt approved and apply its money (see the module)."""
        async def write() -> None:
            async with self._pool.acquire() as connection, connection.transaction():
                await apply_approved(connection, key, charged)
        await self._run("approve", key, write())

    async def declined(self, key: str, reason: str) -> None:
        """Write the attempt declined with the gateway's reason."""
        await self._answered(key, AttemptStatus.DECLINED, "decline_reason", reason)

    async def failed(self, key: str, reason: str) -> None:
        """Write that nothing was charged for the attempt, and why."""
        await self._answered(key, AttemptStatus.FAILED, "failure", reason)

    async def _answered(self, key: str, status: AttemptStatus, column: str, reason: str) -> None:
        # Only an attempt still in flight: an approval already written stands.
        await self._run(status.value, key, self._pool.execute(
            f"UPDATE payment_attempts SET status = $2, {column} = left($3, 255), "
            "answered_at = now() WHERE idempotency_key = $1 AND status = 'in_flight'",
            key, status.value, reason))

    @staticmethod
    async def _run(what: str, key: str, work: Awaitable[object]) -> None:
        try:
            await work
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError,
                LookupError) as error:
            then = ("nothing is sent" if what == "start" else
                    "it stays in flight, to be settled from the gateway's record")
            log.error("payment attempt %s: could not %s it (%s): %s", key, what,
                      type(error).__name__, then)
            raise LedgerError(f"payment attempt {key}: could not {what} it") from error
