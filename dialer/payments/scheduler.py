"""The instalment scheduler: charges a plan's later instalments on their
days from the card the debtor agreed to keep (its token), with the rules of
payment_ivr.instalments. One pass (`recobro payments run-instalments`, run
by a timer) charges every instalment whose day has come where its debtor
lives, each once, whatever crashes, retries or other passes do:

- Claimed one at a time: its row locked (FOR UPDATE SKIP LOCKED), then a
  session advisory lock on it taken and held for as long as this pass works
  on it, across the gateway's request. A second pass skips it; a pass that
  dies loses its lock with its connection, and the next pass takes it.
- The charge is written first, in one transaction: the attempt in flight
  (payment_attempts, its idempotency key payment_ivr.instalments.
  instalment_key) and the instalment in flight. Then the request, asked
  again with the same key after a timeout or a lost answer
  (payment_ivr.authorise.ask_until_decided).
- The answer is written in one transaction: approved (the attempt, the
  balance lowered and the receipt event: dialer.payments.ledger; the
  instalment paid; the account paid when the plan is complete), declined
  (the instalment failed with the reason and its retry day, or missed: the
  plan broken, its later instalments cancelled, the account active again
  so that dialing resumes; the decline and plan_broken events), or nothing
  charged for certain (the attempt failed, the instalment due again).
  No answer while the request may have reached the gateway: both stay in
  flight.
- An instalment found in flight (its pass died, or got no answer), held by
  no pass and in flight for SETTLE_AFTER_S or more (longer than a charge's
  requests and retries take), is settled first by asking the gateway about
  its key (Gateway.find), and charged again only when the gateway never
  charged anything for it."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum

import asyncpg

from dialer.payments.ledger import apply_approved, decimal_of
from dialer.payments.outbox import EventKind, attempt_event, capture_event
from dialer.payments.settling import SETTLE_AFTER_S
from dialer.payments.store import PHONE_ZONE
from payment_ivr.authorise import PAUSE_S, TRIES, ask_until_decided
from payment_ivr.gateway import (
    ChargeAnswer,
    Charged,
    ChargeMetadata,
    Gateway,
    GatewayError,
)
from payment_ivr.instalments import (
    IN_PLAN,
    Cancel,
    Charge,
    InstalmentAction,
    InstalmentState,
    PlanState,
    Wait,
    account_after_plan,
    after_decline,
    charge_day,
    debtor_zone,
    instalment_after,
    instalment_key,
    local_date,
    next_step,
    plan_state,
)
from payment_ivr.terms import Money

log = logging.getLogger(__name__)


class Result(Enum):
    """What a pass did with one instalment."""

    PAID = "paid"
    DECLINED = "declined"  # failed: tried again on its retry day
    MISSED = "missed"  # its last try declined: the plan broken
    CANCELLED = "cancelled"
    UNSENT = "unsent"  # the gateway took nothing (down, or refused the request): due again
    IN_FLIGHT = "in_flight"  # no answer, and the request may have charged: settled next pass
    WAITING = "waiting"  # its day has not come where the debtor is
    BUSY = "busy"  # another pass holds it
    ERROR = "error"  # its rows are not as the rules allow (logged); the pass goes on


@dataclass(frozen=True)
class Ran:
    """One instalment a pass looked at, and what it did."""

    capture_id: uuid.UUID
    number: int
    result: Result
    detail: str = ""  # the decline's reason, a retry day, why cancelled or unsent


# A pass's hold on an instalment, for as long as its connection lives (two
# instalments whose hashes collide only make a pass skip one as busy).
_LOCK = "SELECT pg_try_advisory_lock(hashtext('recobro.instalment'), hashtext($1::uuid::text || '/' || $2::int))"
_UNLOCK = "SELECT pg_advisory_unlock(hashtext('recobro.instalment'), hashtext($1::uuid::text || '/' || $2::int))"

# Open instalments every earlier one of whose plan is paid: at most one per
# plan, so a plan's charges go in order and never two at once.
_OPEN = """
SELECT i.capture_id, i.number FROM payment_instalments i
WHERE i.status IN ('due', 'failed', 'in_flight')
  AND (i.status = 'in_flight' OR coalesce(i.retry_on, i.due) <= $1)
  AND NOT EXISTS (SELECT 1 FROM payment_instalments e WHERE e.capture_id = i.capture_id
                  AND e.number < i.number AND e.status <> 'paid')
ORDER BY coalesce(i.retry_on, i.due), i.capture_id, i.number
"""

_FACTS = f"""
SELECT i.status, i.amount, i.currency, i.due, i.retry_on, i.declines, i.account_id,
       a.reference, a.status AS account_status, a.balance, a.time_zone,
       {PHONE_ZONE} AS phone_zone,
       f.idempotency_key AS in_flight_key,
       extract(epoch FROM now() - f.started_at)::float8 AS in_flight_s
FROM payment_instalments i JOIN accounts a ON a.id = i.account_id
LEFT JOIN LATERAL (SELECT t.idempotency_key, t.started_at FROM payment_attempts t
                   WHERE t.capture_id = i.capture_id AND t.instalment = i.number
                   AND t.status = 'in_flight' ORDER BY t.attempt DESC LIMIT 1) f ON true
WHERE i.capture_id = $1 AND i.number = $2 AND NOT EXISTS (
    SELECT 1 FROM payment_instalments e WHERE e.capture_id = i.capture_id
    AND e.number < i.number AND e.status <> 'paid')
"""


@dataclass(frozen=True)
class _Facts:
    """An instalment as a pass reads it under its locks."""

    state: InstalmentState
    amount: Money
    due: date
    retry_on: date | None
    declines: int
    account_id: int
    reference: str
    account_status: str
    balance: Money
    zone: str
    in_flight_key: str | None
    in_flight_s: float | None  # how long its charge has been in flight

    @classmethod
    def of(cls, row: asyncpg.Record) -> _Facts:
        currency = row["currency"].strip()
        return cls(InstalmentState(row["status"]), _money(row["amount"], currency), row["due"],
                   row["retry_on"], row["declines"], row["account_id"], row["reference"],
                   row["account_status"], _money(row["balance"], currency),
                   debtor_zone(row["time_zone"], [row["phone_zone"] or ""]),
                   row["in_flight_key"], row["in_flight_s"])


def _money(amount: Decimal, currency: str) -> Money:
    return Money.parse(str(amount), currency)


@dataclass(frozen=True)
class _Pass:
    """What one pass works with."""

    gateway: Gateway
    now: datetime
    today: date | None
    tries: int
    pause_s: float
    settle_after_s: float


async def run_instalments(pool: asyncpg.Pool, gateway: Gateway, now: datetime, *,
                          today: date | None = None, tries: int = TRIES,
                          pause_s: float = PAUSE_S,
                          settle_after_s: float = SETTLE_AFTER_S) -> list[Ran]:
    """One pass (see the module) at the aware moment now: every open
    instalment whose day has come in its debtor's zone (or on today, when
    given: every debtor's date taken to be today), charged in plan order
    until none is left to do; what it did with each it looked at. A charge
    in flight for less than settle_after_s is left alone even when no pass
    holds it (its pass may have lost its database connection, and with it
    its lock, while its request is still under way)."""
    this = _Pass(gateway, now, today, tries, pause_s, settle_after_s)
    # A zone is at most 14 hours ahead of UTC: no debtor's date is past tomorrow's.
    upper = today if today is not None else date.fromordinal(now.date().toordinal() + 1)
    ran: list[Ran] = []
    seen: set[tuple[uuid.UUID, int]] = set()
    while True:
        rows = await pool.fetch(_OPEN, upper)
        fresh = [(r["capture_id"], r["number"]) for r in rows
                 if (r["capture_id"], r["number"]) not in seen]
        if not fresh:
            return ran
        for capture_id, number in fresh:
            seen.add((capture_id, number))
            try:
                done = await _run_one(pool, this, capture_id, number)
            except (LookupError, ValueError) as error:  # TransitionError is a ValueError
                # One instalment's bad rows stop nothing else; what was
                # written before stands (in flight: settled by a later pass).
                log.error("instalment %s/%d: %s", capture_id, number, error)
                done = Ran(capture_id, number, Result.ERROR, str(error))
            if done is not None:
                ran.append(done)
                log.info("instalment %s/%d: %s %s", capture_id, number, done.result.value,
                         done.detail)


async def _run_one(pool: asyncpg.Pool, this: _Pass, capture_id: uuid.UUID,
                   number: int) -> Ran | None:
    """Claim the instalment (see the module), settle it when it is in
    flight, then do what the rules say. None when it is not open any more."""
    async with pool.acquire() as connection:
        async with connection.transaction():
            row = await connection.fetchrow(_FACTS + " FOR UPDATE OF i SKIP LOCKED",
                                            capture_id, number)
            if row is None:
                return None  # locked by another pass, or no longer chargeable in order
            if not await connection.fetchval(_LOCK, capture_id, number):
                return Ran(capture_id, number, Result.BUSY)
        try:
            return await _work(connection, this, capture_id, number, _Facts.of(row))
        finally:
            await connection.execute(_UNLOCK, capture_id, number)


async def _work(connection: asyncpg.Connection, this: _Pass, capture_id: uuid.UUID,
                number: int, facts: _Facts) -> Ran | None:
    """The claimed instalment: settled first when in flight, then charged,
    cancelled or left waiting as the rules say, on the debtor's date (the
    pass's today when given)."""
    try:
        day = this.today or local_date(this.now, facts.zone)
    except ValueError as error:
        raise ValueError(f"account {facts.reference}: {error}; not charged") from None
    if facts.state is InstalmentState.IN_FLIGHT:
        if facts.in_flight_key is None or facts.in_flight_s is None:
            raise LookupError(f"instalment {capture_id}/{number} is in flight without an attempt")
        if facts.in_flight_s < this.settle_after_s:
            return Ran(capture_id, number, Result.IN_FLIGHT,
                       f"in flight for {facts.in_flight_s:.0f} s: settled after "
                       f"{this.settle_after_s:g} s")
        settled = await _settle(connection, this.gateway, capture_id, number, facts, day)
        if settled.result is not Result.UNSENT:
            return settled
        again = await connection.fetchrow(_FACTS, capture_id, number)
        if again is None:
            return settled
        facts = _Facts.of(again)
    if facts.state not in (InstalmentState.DUE, InstalmentState.FAILED):
        return None
    step = next_step(facts.state, facts.amount, charge_day(facts.due, facts.retry_on), day,
                     facts.account_status, facts.balance)
    if isinstance(step, Wait):
        return Ran(capture_id, number, Result.WAITING, f"until {step.until}")
    if isinstance(step, Cancel):
        async with connection.transaction():
            await _end_plan(connection, capture_id, number - 1, step.reason, facts.account_id,
                            change_account=facts.account_status == IN_PLAN)
        return Ran(capture_id, number, Result.CANCELLED, step.reason)
    assert isinstance(step, Charge)
    key, token = await _write_charge(connection, capture_id, number, facts, step.amount)
    metadata = ChargeMetadata(capture_id=str(capture_id), account_reference=facts.reference)
    answer = await ask_until_decided(
        lambda: this.gateway.charge_token(token, step.amount, key, metadata), this.tries,
        this.pause_s)
    return await _write_answer(connection, capture_id, number, facts, key, answer, day)


async def _write_charge(connection: asyncpg.Connection, capture_id: uuid.UUID, number: int,
                        facts: _Facts, amount: Money) -> tuple[str, str]:
    """The charge in flight, before its request: its attempt (a new number
    in the plan's capture, so a new key) and the instalment. Its key, and
    the token of the card the plan's first payment kept."""
    async with connection.transaction():
        kept = await connection.fetchrow(
            "SELECT brand, last4, token FROM payment_attempts WHERE capture_id = $1 "
            "AND status = 'approved' AND token IS NOT NULL ORDER BY attempt LIMIT 1", capture_id)
        if kept is None:
            raise LookupError(f"plan {capture_id} has no kept card to charge")
        attempt = await connection.fetchval(
            "SELECT coalesce(max(attempt), 0) + 1 FROM payment_attempts WHERE capture_id = $1",
            capture_id)
        key = instalment_key(capture_id, number, attempt)
        await connection.execute(
            "INSERT INTO payment_attempts (capture_id, attempt, idempotency_key, account_id, "
            "amount, currency, save_card, brand, last4, instalment) "
            "VALUES ($1, $2, $3, $4, $5, $6, false, $7, $8, $9)",
            capture_id, attempt, key, facts.account_id, decimal_of(amount), amount.currency,
            kept["brand"], kept["last4"], number)
        await _move(connection, capture_id, number, facts.state, InstalmentAction.CHARGE)
    return key, kept["token"]


async def _move(connection: asyncpg.Connection, capture_id: uuid.UUID, number: int,
                state: InstalmentState, action: InstalmentAction, **columns: object) -> None:
    """The instalment moved by action (payment_ivr.instalments' table), with
    other columns set; LookupError when it was not in state any more."""
    after = instalment_after(state, action)
    names = list(columns)
    sets = "".join(f", {name} = ${n}" for n, name in enumerate(names, start=5))
    moved = await connection.execute(
        f"UPDATE payment_instalments SET status = $3, updated_at = now(){sets} "
        "WHERE capture_id = $1 AND number = $2 AND status = $4",
        capture_id, number, after.value, state.value, *columns.values())
    if moved != "UPDATE 1":
        raise LookupError(f"instalment {capture_id}/{number} is not {state.value} any more")


async def _settle(connection: asyncpg.Connection, gateway: Gateway, capture_id: uuid.UUID,
                  number: int, facts: _Facts, day: date) -> Ran:
    """An instalment left in flight: the gateway asked about its key, and
    its answer written; still in flight when the gateway cannot say now."""
    key = facts.in_flight_key
    assert key is not None
    answer = await gateway.find(key)
    if answer is None:
        answer = GatewayError("the gateway never charged it (settled after a restart)",
                              may_have_charged=False, retry=False)
    ran = await _write_answer(connection, capture_id, number, facts, key, answer, day)
    if ran.result is not Result.IN_FLIGHT:
        log.warning("instalment %s/%d left in flight (%s) settled: %s", capture_id, number, key,
                    ran.result.value)
    return ran


async def _write_answer(connection: asyncpg.Connection, capture_id: uuid.UUID, number: int,
                        facts: _Facts, key: str, answer: ChargeAnswer | None, day: date) -> Ran:
    """The gateway's answer to the charge of key, written in one transaction."""
    if isinstance(answer, GatewayError) and answer.may_have_charged:
        log.warning("instalment %s/%d: no answer from the gateway (%s); it stays in flight, "
                    "settled by the next pass", capture_id, number, answer.reason)
        return Ran(capture_id, number, Result.IN_FLIGHT, answer.reason)
    async with connection.transaction():
        if isinstance(answer, Charged):
            await apply_approved(connection, key, answer)
            await _move(connection, capture_id, number, InstalmentState.IN_FLIGHT,
                        InstalmentAction.APPROVE, reason=None)
            await _after_payment(connection, capture_id, facts.account_id)
            return Ran(capture_id, number, Result.PAID, answer.reference)
        if isinstance(answer, GatewayError):
            await connection.execute(
                "UPDATE payment_attempts SET status = 'failed', failure = left($2, 255), "
                "answered_at = now() WHERE idempotency_key = $1 AND status = 'in_flight'",
                key, answer.reason)
            await _move(connection, capture_id, number, InstalmentState.IN_FLIGHT,
                        InstalmentAction.UNSENT)
            return Ran(capture_id, number, Result.UNSENT, answer.reason)
        assert answer is not None
        await connection.execute(
            "UPDATE payment_attempts SET status = 'declined', decline_reason = left($2, 255), "
            "gateway_reference = COALESCE($3, gateway_reference), answered_at = now() "
            "WHERE idempotency_key = $1 AND status = 'in_flight'",
            key, answer.reason, answer.reference)
        declines = facts.declines + 1
        action, retry_on = after_decline(declines, day)
        await _move(connection, capture_id, number, InstalmentState.IN_FLIGHT, action,
                    declines=declines, retry_on=retry_on, reason=answer.reason[:255])
        await attempt_event(connection, EventKind.DECLINED, key, retry_on)
        if action is InstalmentAction.DECLINE:
            return Ran(capture_id, number, Result.DECLINED,
                       f"{answer.reason}; tried again on {retry_on}")
        await _end_plan(connection, capture_id, number, "the plan is broken", facts.account_id,
                        change_account=True)
        return Ran(capture_id, number, Result.MISSED, answer.reason)


async def _after_payment(connection: asyncpg.Connection, capture_id: uuid.UUID,
                         account_id: int) -> None:
    """After an instalment paid: when the plan is complete (or nothing is
    owed any more, the plan's later instalments cancelled), the account
    leaves the plan: paid, or active when something is still owed."""
    account = await connection.fetchrow(
        "SELECT balance, currency FROM accounts WHERE id = $1 FOR UPDATE", account_id)
    balance = _money(account["balance"], account["currency"].strip())
    if balance.cents <= 0:
        await _cancel_open(connection, capture_id, 0, "nothing is owed")
    states = [InstalmentState(r["status"]) for r in await connection.fetch(
        "SELECT status FROM payment_instalments WHERE capture_id = $1", capture_id)]
    status = account_after_plan(plan_state(states), balance)
    if status is not None:
        await _leave_plan(connection, account_id, status)


async def _end_plan(connection: asyncpg.Connection, capture_id: uuid.UUID, after: int,
                    reason: str, account_id: int, *, change_account: bool) -> None:
    """Cancel the plan's open instalments numbered above after, and, when
    change_account, take the account out of the plan as its rules say
    (a broken plan: active again, its dialing resumed; the plan_broken event)."""
    await _cancel_open(connection, capture_id, after, reason)
    rows = await connection.fetch(
        "SELECT status, amount, currency FROM payment_instalments WHERE capture_id = $1",
        capture_id)
    plan = plan_state(InstalmentState(r["status"]) for r in rows)
    if plan is PlanState.BROKEN:
        owed = sum(r["amount"] for r in rows if r["status"] in ("missed", "cancelled"))
        await capture_event(connection, EventKind.PLAN_BROKEN, capture_id, account_id,
                            owed, rows[0]["currency"])
    if not change_account:
        return
    account = await connection.fetchrow(
        "SELECT balance, currency FROM accounts WHERE id = $1 FOR UPDATE", account_id)
    status = account_after_plan(plan, _money(account["balance"], account["currency"].strip()))
    if status is not None:
        await _leave_plan(connection, account_id, status)


async def _cancel_open(connection: asyncpg.Connection, capture_id: uuid.UUID, after: int,
                       reason: str) -> None:
    """Every due or failed instalment of the plan numbered above after, cancelled."""
    for row in await connection.fetch(
            "SELECT number, status FROM payment_instalments WHERE capture_id = $1 "
            "AND number > $2 AND status IN ('due', 'failed') ORDER BY number FOR UPDATE",
            capture_id, after):
        await _move(connection, capture_id, row["number"], InstalmentState(row["status"]),
                    InstalmentAction.CANCEL, reason=reason)


async def _leave_plan(connection: asyncpg.Connection, account_id: int, status: str) -> None:
    """The account out of its plan (only while it is in one: a dispute or a
    closure an operator set stands)."""
    await connection.execute(
        "UPDATE accounts SET status = $2, updated_at = now() "
        "WHERE id = $1 AND status = 'in_plan'", account_id, status)
