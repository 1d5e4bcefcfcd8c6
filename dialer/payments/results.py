"""What a capture ended with, in PostgreSQL, in one transaction: the
capture's row, the account's status (paid, settled, in a plan), a plan's
schedule or a promise, and the event for the messages to the debtor (a
plan set up, a capture that ended declined: dialer.payments.outbox). The
money itself lowered the balance when its attempt was written approved
(dialer.payments.ledger), so a result that is never recorded (a call
dropped, a process killed) loses no payment.

Dialing stops at once for a paid, settled or in-plan account: the
compliance gate refuses every account that is not active, at each claim
and again just before each call."""

from __future__ import annotations

import asyncpg

from dialer.metrics.definitions import PAID_AMOUNT, PAYMENT_CAPTURES, PROMISED_AMOUNT
from dialer.payments.ledger import decimal_of
from dialer.payments.outbox import EventKind, capture_event
from payment_ivr.authorise import PaymentContext
from payment_ivr.capture import Outcome, PaymentResult
from payment_ivr.terms import Money, Option

_OPTION = {Option.FULL: "full", Option.SETTLEMENT: "settlement", Option.PLAN: "plan",
           Option.PROMISE: "promise"}


async def record_result(pool: asyncpg.Pool, context: PaymentContext,
                        result: PaymentResult) -> bool:
    """Record how the capture of context ended (once: a second call for
    the same capture changes nothing and returns False), and count it in
    the metrics once it is kept."""
    recorded = await _record(pool, context, result)
    if recorded:
        _count(result)
    return recorded


def _count(result: PaymentResult) -> None:
    """The capture's outcome and its money in the metrics: never a card's datum."""
    PAYMENT_CAPTURES.labels(result.outcome.value,
                            _OPTION.get(result.option, "none") if result.option else "none").inc()
    amount = result.amount
    if amount is None or amount.cents <= 0:
        return
    if result.outcome is Outcome.PAID:
        PAID_AMOUNT.labels(amount.currency).inc(amount.cents / 100)
    elif result.outcome is Outcome.PLAN_SET_UP and result.schedule:
        first = result.schedule[0].amount
        PAID_AMOUNT.labels(first.currency).inc(first.cents / 100)
    elif result.outcome is Outcome.PROMISED:
        PROMISED_AMOUNT.labels(amount.currency).inc(amount.cents / 100)


async def _record(pool: asyncpg.Pool, context: PaymentContext, result: PaymentResult) -> bool:
    async with pool.acquire() as connection, connection.transaction():
        amount = result.amount
        inserted = await connection.fetchval(
            "INSERT INTO payment_captures (capture_id, account_id, call_id, outcome, option, "
            "amount, currency, brand, last4, gateway_reference, promise_date, attempts, "
            "decline_reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, "
            "left($13, 255)) ON CONFLICT (capture_id) DO NOTHING RETURNING true",
            context.capture_id, context.account_id, context.call_id, result.outcome.value,
            _OPTION.get(result.option) if result.option else None,
            decimal_of(amount) if amount else None, amount.currency if amount else None,
            result.brand.value if result.brand else None, result.last4, result.reference,
            result.promise_date, result.attempts, result.decline_reason)
        if not inserted:
            return False
        if result.outcome is Outcome.PAID and result.option is Option.SETTLEMENT:
            await _status(connection, context.account_id, "settled")
        elif result.outcome is Outcome.PAID:
            # The ledger made it paid when the payment cleared the balance.
            pass
        elif result.outcome is Outcome.PLAN_SET_UP:
            await _status(connection, context.account_id, "in_plan")
            await connection.executemany(
                "INSERT INTO payment_instalments (capture_id, number, account_id, due, amount, "
                "currency, status) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                [(context.capture_id, number, context.account_id, instalment.due,
                  decimal_of(instalment.amount), instalment.amount.currency,
                  "paid" if number == 1 else "due")
                 for number, instalment in enumerate(result.schedule, start=1)])
            currency = result.schedule[0].amount.currency if result.schedule else ""
            total = Money(sum(i.amount.cents for i in result.schedule), currency)
            if total.cents > 0:
                await capture_event(
                    connection, EventKind.PLAN_SET_UP, context.capture_id, context.account_id,
                    decimal_of(total), currency,
                    brand=result.brand.value if result.brand else None, last4=result.last4,
                    reference=result.reference)
        elif result.outcome is Outcome.DECLINED and amount and amount.cents > 0:
            await capture_event(
                connection, EventKind.DECLINED, context.capture_id, context.account_id,
                decimal_of(amount), amount.currency,
                brand=result.brand.value if result.brand else None, last4=result.last4,
                decline_reason=result.decline_reason)
        elif result.outcome is Outcome.PROMISED and amount and result.promise_date:
            await connection.execute(
                "INSERT INTO promises (account_id, amount, due_by, source, at, capture_id) "
                "VALUES ($1, $2, $3, 'ivr', now(), $4)",
                context.account_id, decimal_of(amount), result.promise_date,
                context.capture_id)
        return True


async def _status(connection: asyncpg.Connection, account_id: int, status: str) -> None:
    """The account's new status, unless it is disputed or closed meanwhile
    (those are an operator's, and a payment does not undo them)."""
    await connection.execute(
        "UPDATE accounts SET status = $2, updated_at = now() "
        "WHERE id = $1 AND status IN ('active', 'paid', 'settled', 'in_plan')",
        account_id, status)
