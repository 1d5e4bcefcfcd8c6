"""The instalment scheduler's SQL against the real PostgreSQL (issue 14),
its gateway scripted (the real one is tests/e2e/test_instalments.py's):
the debtor's own date decides the day, an account that left its plan is
not charged, a charge never takes more than is owed, a gateway that took
nothing leaves the instalment due without counting a try, an instalment
left in flight that the gateway never charged is charged again under a
new key, and the outbox gets each event once. The capture's settling
leaves instalments to the scheduler."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from dialer.payments.results import record_result
from dialer.payments.scheduler import Result, run_instalments
from dialer.payments.settling import settle_in_flight
from payment_ivr.authorise import PaymentContext
from payment_ivr.capture import Outcome, PaymentResult
from payment_ivr.card import Brand
from payment_ivr.gateway import Charged, GatewayError, Refused
from payment_ivr.terms import Money, Option
from tests.store.test_history import import_text

pytestmark = pytest.mark.lab

# New York by its phone; Auckland by the account's own zone.
ACCOUNTS = ("reference,debtor_name,balance,days_past_due,risk_score,language,time_zone,phone1\n"
            "NY-1,Ana,300.00,90,0.5,en,,+12125550101\n"
            "AKL-1,Bo,300.00,90,0.5,en,Pacific/Auckland,+12125550102\n")
DUE = date(2027, 1, 2)



class Scripted:
    """A gateway that answers charges from a script and find from a table."""

    def __init__(self, *answers) -> None:
        self.answers = list(answers)
        self.charged: list[tuple[str, Money]] = []
        self.found: dict[str, object] = {}

    async def charge_token(self, token, amount, key, metadata):
        assert token == "cus_kept:pm_kept" and metadata.capture_id in key
        self.charged.append((key, amount))
        return self.answers.pop(0)

    async def find(self, key):
        return self.found.get(key)


def approved(n: int = 2) -> Charged:
    return Charged("visa", "4444", f"pi_{n}", "cus_kept:pm_kept")


async def plan(pool, reference: str, *, balance: str = "200.00", count: int = 3,
               amount: str = "100.00") -> PaymentContext:
    """A plan as a capture leaves it: its first of count paid with a kept
    card (DUE a month before the second), the account in the plan."""
    account_id = await pool.fetchval("SELECT id FROM accounts WHERE reference = $1", reference)
    context = PaymentContext(uuid.uuid4(), account_id, reference)
    await pool.execute(
        "INSERT INTO payment_captures (capture_id, account_id, outcome, option, amount, currency, "
        "attempts) VALUES ($1, $2, 'plan_set_up', 'plan', $3, 'USD', 1)",
        context.capture_id, account_id, Decimal(amount))
    await pool.execute(
        "INSERT INTO payment_attempts (capture_id, attempt, idempotency_key, account_id, amount, "
        "currency, save_card, status, brand, last4, gateway_reference, token, applied) "
        "VALUES ($1, 1, $2, $3, $4, 'USD', true, 'approved', 'mastercard', '4444', 'pi_1', "
        "'cus_kept:pm_kept', true)", context.capture_id, f"recobro-{context.capture_id}-1",
        account_id, Decimal(amount))
    await pool.executemany(
        "INSERT INTO payment_instalments (capture_id, number, account_id, due, amount, currency, "
        "status) VALUES ($1, $2, $3, $4, $5, 'USD', $6)",
        [(context.capture_id, n, account_id, date(2027, n - 1, 2) if n > 1 else date(2026, 12, 2),
          Decimal(amount), "paid" if n == 1 else "due") for n in range(1, count + 1)])
    await pool.execute("UPDATE accounts SET balance = $2, status = 'in_plan' WHERE id = $1",
                       account_id, Decimal(balance))
    return context


async def states(pool, context) -> list[str]:
    return [r["status"] for r in await pool.fetch(
        "SELECT status FROM payment_instalments WHERE capture_id = $1 ORDER BY number",
        context.capture_id)]


async def account(pool, context) -> tuple:
    return tuple(await pool.fetchrow("SELECT balance, status FROM accounts WHERE id = $1",
                                     context.account_id))


async def test_the_day_is_the_debtors_own(pool, tmp_path):
    await import_text(pool, tmp_path, ACCOUNTS)
    new_york, auckland = await plan(pool, "NY-1"), await plan(pool, "AKL-1")
    gateway = Scripted(approved(), approved())
    # 11:30 UTC on the 1st: already the 2nd in Auckland, still the 1st in New York.
    ran = await run_instalments(pool, gateway, datetime(2027, 1, 1, 11, 30, tzinfo=UTC))
    assert {(r.capture_id, r.result) for r in ran} == {
        (auckland.capture_id, Result.PAID), (new_york.capture_id, Result.WAITING)}
    assert await states(pool, new_york) == ["paid", "due", "due"]
    # 04:59 UTC on the 2nd is 23:59 on the 1st in New York; 05:00 is the 2nd.
    await run_instalments(pool, gateway, datetime(2027, 1, 2, 4, 59, tzinfo=UTC))
    assert await states(pool, new_york) == ["paid", "due", "due"]
    ran = await run_instalments(pool, gateway, datetime(2027, 1, 2, 5, 0, tzinfo=UTC))
    assert [(r.capture_id, r.result) for r in ran] == [(new_york.capture_id, Result.PAID)]
    assert len(gateway.charged) == 2


async def test_an_account_out_of_its_plan_is_not_charged_and_nothing_more_than_owed(
        pool, tmp_path):
    await import_text(pool, tmp_path, ACCOUNTS)
    disputed = await plan(pool, "NY-1")
    await pool.execute("UPDATE accounts SET status = 'disputed' WHERE reference = 'NY-1'")
    short = await plan(pool, "AKL-1", balance="130.00")  # 100 then 30 left
    gateway = Scripted(approved(2), approved(3))
    ran = await run_instalments(pool, gateway, datetime(2027, 3, 3, tzinfo=UTC))
    assert await states(pool, disputed) == ["paid", "cancelled", "cancelled"]
    assert await account(pool, disputed) == (Decimal("200.00"), "disputed")  # stands
    assert [amount for _, amount in gateway.charged] == [Money(10000), Money(3000)]
    assert await states(pool, short) == ["paid", "paid", "paid"]
    assert await account(pool, short) == (Decimal("0.00"), "paid")  # the plan complete
    assert {r.result for r in ran if r.capture_id == disputed.capture_id} == {Result.CANCELLED}


async def test_a_gateway_that_took_nothing_leaves_it_due_and_counts_no_try(pool, tmp_path):
    await import_text(pool, tmp_path, ACCOUNTS)
    context = await plan(pool, "NY-1", count=2, balance="100.00")
    down = GatewayError("cannot connect", may_have_charged=False, retry=True)
    gateway = Scripted(down, down, down)
    [ran] = await run_instalments(pool, gateway, datetime(2027, 1, 3, tzinfo=UTC), pause_s=0)
    assert (ran.result, ran.detail) == (Result.UNSENT, "cannot connect")
    assert len(gateway.charged) == 3  # the same key, three tries
    assert len({key for key, _ in gateway.charged}) == 1
    row = await pool.fetchrow("SELECT status, declines FROM payment_instalments "
                              "WHERE capture_id = $1 AND number = 2", context.capture_id)
    assert tuple(row) == ("due", 0)
    attempt = await pool.fetchrow("SELECT status, failure FROM payment_attempts "
                                  "WHERE capture_id = $1 AND instalment = 2", context.capture_id)
    assert tuple(attempt) == ("failed", "cannot connect")
    # Up again: a new charge, a new key.
    gateway.answers.append(approved())
    [ran] = await run_instalments(pool, gateway, datetime(2027, 1, 3, tzinfo=UTC))
    assert ran.result is Result.PAID
    assert gateway.charged[-1][0] == f"recobro-{context.capture_id}-i2-3"
    assert await account(pool, context) == (Decimal("0.00"), "paid")  # the plan complete


async def test_in_flight_is_settled_before_anything_is_charged(pool, tmp_path):
    await import_text(pool, tmp_path, ACCOUNTS)
    charged = await plan(pool, "NY-1")
    never = await plan(pool, "AKL-1")
    lost = GatewayError("timed out", may_have_charged=True, retry=True)
    gateway = Scripted(lost, lost, lost, lost, lost, lost)
    ran = await run_instalments(pool, gateway, datetime(2027, 1, 3, tzinfo=UTC), pause_s=0)
    assert {r.result for r in ran} == {Result.IN_FLIGHT}
    assert await states(pool, charged) == ["paid", "in_flight", "due"]
    # The capture's settling leaves them to the scheduler.
    assert await settle_in_flight(pool, gateway, older_than_s=0) == []
    # The gateway's record: one charged, one never.
    gateway.found[f"recobro-{charged.capture_id}-i2-2"] = approved()
    gateway.answers = [approved(9)]
    # Not yet: in flight for less than SETTLE_AFTER_S (its pass may live on).
    ran = await run_instalments(pool, gateway, datetime(2027, 1, 3, tzinfo=UTC))
    assert {r.result for r in ran} == {Result.IN_FLIGHT} and len(gateway.charged) == 6
    ran = await run_instalments(pool, gateway, datetime(2027, 1, 3, tzinfo=UTC),
                                settle_after_s=0)
    assert {(r.capture_id, r.result) for r in ran} == {
        (charged.capture_id, Result.PAID), (never.capture_id, Result.PAID)}
    assert gateway.charged[-1][0] == f"recobro-{never.capture_id}-i2-3"  # a new key
    assert len(gateway.charged) == 7  # six lost tries, one new charge: none for the found one
    for context in (charged, never):
        assert await states(pool, context) == ["paid", "paid", "due"]
        assert await account(pool, context) == (Decimal("100.00"), "in_plan")
    failed = await pool.fetchval("SELECT failure FROM payment_attempts WHERE idempotency_key "
                                 "= $1", f"recobro-{never.capture_id}-i2-2")
    assert failed.startswith("the gateway never charged it")


async def test_each_event_is_written_once_in_the_outbox(pool, tmp_path):
    await import_text(pool, tmp_path, ACCOUNTS)
    context = await plan(pool, "NY-1")
    gateway = Scripted(Refused("insufficient_funds", "pi_x"), approved())
    await run_instalments(pool, gateway, datetime(2027, 1, 3, 12, tzinfo=UTC))
    await run_instalments(pool, gateway, datetime(2027, 1, 3, 12, tzinfo=UTC))  # not yet again
    await run_instalments(pool, gateway, datetime(2027, 1, 6, 12, tzinfo=UTC))
    rows = await pool.fetch("SELECT kind, instalment, amount, brand, last4, gateway_reference, "
                            "decline_reason, retry_on FROM payment_outbox ORDER BY id")
    assert [tuple(r) for r in rows] == [
        ("declined", 2, Decimal("100.00"), "mastercard", "4444", "pi_x", "insufficient_funds",
         date(2027, 1, 6)),
        ("receipt", 2, Decimal("100.00"), "visa", "4444", "pi_2", None, None)]
    # A capture that ends declined, recorded twice: one event.
    declined = PaymentContext(uuid.uuid4(), context.account_id, "NY-1", "call-1")
    result = PaymentResult(Outcome.DECLINED, Option.FULL, Money(20000), Brand.VISA, "0002",
                           attempts=2, decline_reason="card_declined")
    assert await record_result(pool, declined, result)
    assert not await record_result(pool, declined, result)
    assert [tuple(r) for r in await pool.fetch(
        "SELECT kind, amount, last4, decline_reason FROM payment_outbox WHERE capture_id = $1",
        declined.capture_id)] == [("declined", Decimal("200.00"), "0002", "card_declined")]
