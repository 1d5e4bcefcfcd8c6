"""A plan's later instalments charged by `recobro payments run-instalments`
against the lab's real Stripe mock (localstripe) over HTTP, the fault
proxy of tests/e2e/fault_proxy.py between them where a test needs it.

A plan is set up through the real gateway with a kept card (as a capture
does it, without the call); then the command, given the debtor's date,
charges the next instalment on its day and never twice: run twice, run
as two processes at once, after a timeout and a retry, after a process
killed between its request and the answer. A stored card the gateway
declines is tried again three days apart, then the plan is broken. Every
count of charges is the mock's own record of PaymentIntents; last, the
database holds nothing of a card but its token, reference, brand and
last four.

Stripe's test cards as localstripe treats them (tests/e2e/test_payment_gateway.py):
5555555555554444 is approved; 4000000000000341 is kept (attached) and
declined whenever it is charged."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import asyncpg
import pytest

from dialer.payments.results import record_result
from dialer.payments.scheduler import Result, run_instalments
from payment_ivr.capture import Outcome, PaymentResult
from payment_ivr.card import Brand, Card, read_expiry
from payment_ivr.gateway import ChargeMetadata
from payment_ivr.stripe_gateway import StripeGateway
from payment_ivr.terms import Instalment, Money, Option, add_months
from tests.e2e.artefacts import KeyedCard, leaks, pg_dump
from tests.e2e.cli import cli_env
from tests.e2e.fault_proxy import Fault
from tests.e2e.test_payment_gateway import (
    CARDS,
    CVV,
    EXPIRY,
    FAST_S,
    MASTERCARD,
    TODAY,
    mock_intents,
    new_account,
    pay,
    succeeded,
    through,
)

pytestmark = pytest.mark.lab

DECLINED_WHEN_CHARGED = "4000000000000341"  # kept fine, declined whenever charged
EACH = Money(10000)
SECOND, THIRD = add_months(TODAY, 1), add_months(TODAY, 2)
CREATE_INTENT = b"POST /v1/payment_intents HTTP"  # an instalment's charge (confirmed at once)


@pytest.fixture
async def pool(fresh_database):
    pool = await asyncpg.create_pool(fresh_database, min_size=1, max_size=6)
    yield pool
    await pool.close()


def noon(day: date) -> datetime:
    return datetime.combine(day, time(12), UTC)


async def plan_of_three(pool, gateway, context=None):
    """A plan of 3 x 100.00 on an account owing 300.00: the first paid now
    with a kept Mastercard (the capture's own attempt), the others due."""
    context = context or await new_account(pool, "300.00")
    answer = await pay(gateway, pool, context, MASTERCARD, EACH, save_card=True)
    schedule = tuple(Instalment(add_months(TODAY, n), EACH) for n in range(3))
    assert await record_result(pool, context, PaymentResult(
        Outcome.PLAN_SET_UP, Option.PLAN, EACH, Brand.MASTERCARD, "4444", answer.reference,
        schedule=schedule, attempts=1))
    return context


async def instalments(pool, context) -> list[tuple]:
    return [tuple(r) for r in await pool.fetch(
        "SELECT number, status, declines, retry_on, reason FROM payment_instalments "
        "WHERE capture_id = $1 ORDER BY number", context.capture_id)]


async def account(pool, context) -> tuple:
    return tuple(await pool.fetchrow("SELECT balance, status FROM accounts WHERE id = $1",
                                     context.account_id))


async def outbox(pool, context) -> list[tuple]:
    return [tuple(r) for r in await pool.fetch(
        "SELECT kind, instalment, amount, last4, retry_on FROM payment_outbox "
        "WHERE capture_id = $1 ORDER BY id", context.capture_id)]


async def charges(settings, context) -> int:
    return len(succeeded(await mock_intents(settings, context)))


class Command:
    """`recobro payments run-instalments --today DAY` as a process of its
    own, on the module's database, its gateway at url."""

    def __init__(self, lab_config, database, url, timeout_s=10.0):
        self.args = ["recobro", "--env-file", str(lab_config.env_file), "payments",
                     "run-instalments"]
        self.env = cli_env(DATABASE_URL=database, RECOBRO_PAYMENT_GATEWAY_URL=url,
                           RECOBRO_PAYMENT_GATEWAY_TIMEOUT_S=f"{timeout_s:g}",
                           RECOBRO_LOG_LEVEL="INFO")

    async def start(self, day: date) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            *self.args, "--today", day.isoformat(), env=self.env,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True)

    async def run(self, day: date) -> tuple[int, str]:
        process = await self.start(day)
        out, err = await asyncio.wait_for(process.communicate(), 120)
        return process.returncode, out.decode() + err.decode()


@pytest.fixture
def command(lab_config, fresh_database, gateway_settings):
    return Command(lab_config, fresh_database, gateway_settings.url)


async def test_the_next_instalment_is_charged_on_its_day_once_however_often_run(
        pool, gateway, gateway_settings, command):
    context = await plan_of_three(pool, gateway)
    assert await account(pool, context) == (Decimal("200.00"), "in_plan")
    assert await charges(gateway_settings, context) == 1
    assert [row[:2] for row in await outbox(pool, context)] == \
        [("receipt", None), ("plan_set_up", None)]
    # The day before: nothing.
    code, said = await command.run(SECOND - timedelta(days=1))
    assert code == 0, said
    assert await charges(gateway_settings, context) == 1
    assert [row[1] for row in await instalments(pool, context)] == ["paid", "due", "due"]
    # Its day: charged from the token, the balance lowered, the receipt written.
    code, said = await command.run(SECOND)
    assert code == 0 and f"instalment {context.capture_id}/2: paid" in said, said
    assert await charges(gateway_settings, context) == 2
    assert [row[1] for row in await instalments(pool, context)] == ["paid", "paid", "due"]
    assert await account(pool, context) == (Decimal("100.00"), "in_plan")
    attempt = await pool.fetchrow(
        "SELECT status, idempotency_key, token, gateway_reference, call_id FROM payment_attempts "
        "WHERE capture_id = $1 AND instalment = 2", context.capture_id)
    assert attempt["status"] == "approved" and attempt["call_id"] is None
    assert attempt["idempotency_key"] == f"recobro-{context.capture_id}-i2-2"
    [intent] = [i for i in succeeded(await mock_intents(gateway_settings, context))
                if i["id"] == attempt["gateway_reference"]]
    assert intent["amount"] == 10000
    assert intent["metadata"]["recobro_idempotency_key"] == attempt["idempotency_key"]
    assert (await outbox(pool, context))[-1] == ("receipt", 2, Decimal("100.00"), "4444", None)
    # Run again on the same day, and later still: charged once.
    for day in (SECOND, SECOND + timedelta(days=5)):
        code, said = await command.run(day)
        assert code == 0 and "none due" in said, said
    assert await charges(gateway_settings, context) == 2
    assert await account(pool, context) == (Decimal("100.00"), "in_plan")


async def test_two_commands_at_once_charge_the_instalment_once(
        pool, gateway, gateway_settings, proxy, lab_config, fresh_database):
    context = await plan_of_three(pool, gateway)
    await pool.execute("UPDATE payment_instalments SET status = 'paid' WHERE capture_id = $1 "
                       "AND number = 2", context.capture_id)  # as if paid: the last one is next
    await pool.execute("UPDATE accounts SET balance = 100.00 WHERE id = $1", context.account_id)
    # The first process's charge is held at the proxy (within its
    # timeout) until the second has run.
    fault = proxy.arm(Fault(CREATE_INTENT, release=asyncio.Event()))
    slow = Command(lab_config, fresh_database, proxy.url, timeout_s=60)
    first = await slow.start(THIRD)
    await asyncio.wait_for(fault.reached.wait(), 30)
    second_code, second_said = await slow.run(THIRD)
    fault.release.set()
    first_out, first_err = await asyncio.wait_for(first.communicate(), 60)
    first_said = first_out.decode() + first_err.decode()
    assert first.returncode == 0 and f"{context.capture_id}/3: paid" in first_said, first_said
    assert second_code == 1 and f"{context.capture_id}/3: busy" in second_said, second_said
    assert await charges(gateway_settings, context) == 2  # the first payment and this one
    assert [row[1] for row in await instalments(pool, context)] == ["paid", "paid", "paid"]
    assert await account(pool, context) == (Decimal("0.00"), "paid")  # the plan complete
    # And two passes in one process at once, each its own gateway: once.
    again = await plan_of_three(pool, gateway)
    async with StripeGateway(gateway_settings.url, gateway_settings.key) as a, \
            StripeGateway(gateway_settings.url, gateway_settings.key) as b:
        runs = await asyncio.gather(run_instalments(pool, a, noon(SECOND), today=SECOND),
                                    run_instalments(pool, b, noon(SECOND), today=SECOND))
    mine = [r.result for run in runs for r in run if r.capture_id == again.capture_id]
    assert mine.count(Result.PAID) == 1, mine
    assert await charges(gateway_settings, again) == 2


async def test_a_timeout_then_a_retry_charges_the_instalment_once(
        pool, gateway, gateway_settings, proxy):
    context = await plan_of_three(pool, gateway)
    fault = proxy.arm(Fault(CREATE_INTENT, hold_s=FAST_S * 3))  # the answer comes too late
    async with through(proxy, gateway_settings) as slow:
        ran = await run_instalments(pool, slow, noon(SECOND), today=SECOND, pause_s=0)
    assert fault.reached.is_set()
    assert [(r.number, r.result) for r in ran if r.capture_id == context.capture_id] == \
        [(2, Result.PAID)]
    assert await charges(gateway_settings, context) == 2
    keys = [i["metadata"]["recobro_idempotency_key"]
            for i in await mock_intents(gateway_settings, context)]
    assert keys.count(f"recobro-{context.capture_id}-i2-2") == 1
    assert await account(pool, context) == (Decimal("100.00"), "in_plan")


async def test_a_command_killed_between_request_and_answer_then_rerun_charges_once(
        pool, gateway, gateway_settings, proxy, lab_config, fresh_database, command):
    context = await plan_of_three(pool, gateway)
    fault = proxy.arm(Fault(CREATE_INTENT, hold_s=3600))  # no answer, ever
    dying = await Command(lab_config, fresh_database, proxy.url, timeout_s=60).start(SECOND)
    await asyncio.wait_for(fault.reached.wait(), 30)
    for _ in range(100):  # the mock charges (its answer held by the proxy)
        if await charges(gateway_settings, context) == 2:
            break
        await asyncio.sleep(0.1)
    os.killpg(dying.pid, signal.SIGKILL)  # the process dies before it writes the answer
    await dying.wait()
    assert [row[1] for row in await instalments(pool, context)] == ["paid", "in_flight", "due"]
    key = f"recobro-{context.capture_id}-i2-2"
    assert await pool.fetchval("SELECT status FROM payment_attempts WHERE idempotency_key = $1",
                               key) == "in_flight"
    assert await account(pool, context) == (Decimal("200.00"), "in_plan")
    # Rerun at once: in flight for less than SETTLE_AFTER_S, left alone
    # (a pass that lost its database connection may still be waiting).
    code, said = await command.run(SECOND)
    assert code == 1 and f"{context.capture_id}/2: in_flight (in flight for" in said, said
    assert await charges(gateway_settings, context) == 2
    # The next timer run, an hour later (a new process, no memory of what
    # was sent): settled from the gateway's record, not charged again.
    await pool.execute("UPDATE payment_attempts SET started_at = started_at - interval '1 hour' "
                       "WHERE idempotency_key = $1", key)
    code, said = await command.run(SECOND)
    assert code == 0 and f"{context.capture_id}/2: paid" in said, said
    assert await charges(gateway_settings, context) == 2
    assert [row[1] for row in await instalments(pool, context)] == ["paid", "paid", "due"]
    assert await account(pool, context) == (Decimal("100.00"), "in_plan")  # lowered once
    assert [r[:2] for r in await outbox(pool, context)].count(("receipt", 2)) == 1
    code, said = await command.run(SECOND)
    assert await charges(gateway_settings, context) == 2


async def declining_plan(pool, settings):
    """A plan whose kept card (attached fine) the gateway declines whenever
    it is charged: set up with the gateway's own requests, its rows written
    as a capture writes them."""
    context = await new_account(pool, "300.00")
    card = Card(DECLINED_WHEN_CHARGED, read_expiry(EXPIRY, TODAY), CVV)
    key = f"recobro-{context.capture_id}-1"
    async with StripeGateway(settings.url, settings.key) as raw:
        method = await raw._card_method(card, f"{key}-pm")
        customer = await raw._keep(method, key, ChargeMetadata(str(context.capture_id),
                                                               context.reference))
    card.wipe()
    await pool.execute(
        "INSERT INTO payment_captures (capture_id, account_id, outcome, option, amount, "
        "currency, brand, last4, gateway_reference, attempts) "
        "VALUES ($1, $2, 'plan_set_up', 'plan', 100.00, 'USD', 'visa', '0341', 'pi_first', 1)",
        context.capture_id, context.account_id)
    await pool.execute(
        "INSERT INTO payment_attempts (capture_id, attempt, idempotency_key, account_id, amount, "
        "currency, save_card, status, brand, last4, gateway_reference, token, applied) "
        "VALUES ($1, 1, $2, $3, 100.00, 'USD', true, 'approved', 'visa', '0341', 'pi_first', "
        "$4, true)", context.capture_id, key, context.account_id, f"{customer}:{method}")
    await pool.executemany(
        "INSERT INTO payment_instalments (capture_id, number, account_id, due, amount, currency, "
        "status) VALUES ($1, $2, $3, $4, 100.00, 'USD', $5)",
        [(context.capture_id, n + 1, context.account_id, add_months(TODAY, n),
          "paid" if n == 0 else "due") for n in range(3)])
    await pool.execute("UPDATE accounts SET balance = 200.00, status = 'in_plan' WHERE id = $1",
                       context.account_id)
    return context


async def test_a_declined_stored_card_is_tried_three_times_then_the_plan_is_broken(
        pool, gateway_settings, command):
    context = await declining_plan(pool, gateway_settings)
    retry1, retry2 = SECOND + timedelta(days=3), SECOND + timedelta(days=6)
    code, said = await command.run(SECOND)
    assert code == 0 and f"{context.capture_id}/2: declined (card_declined; tried again on " \
        f"{retry1})" in said, said
    assert (await instalments(pool, context))[1] == (2, "failed", 1, retry1, "card_declined")
    for day in (SECOND + timedelta(days=1), retry1 - timedelta(days=1)):  # not yet
        await command.run(day)
        assert (await instalments(pool, context))[1][1:3] == ("failed", 1)
    await command.run(retry1)
    assert (await instalments(pool, context))[1] == (2, "failed", 2, retry2, "card_declined")
    assert await account(pool, context) == (Decimal("200.00"), "in_plan")
    code, said = await command.run(retry2)
    assert code == 0 and f"{context.capture_id}/2: missed" in said, said
    assert await instalments(pool, context) == [
        (1, "paid", 0, None, None), (2, "missed", 3, None, "card_declined"),
        (3, "cancelled", 0, None, "the plan is broken")]
    assert await account(pool, context) == (Decimal("200.00"), "active")  # dialing resumes
    assert await outbox(pool, context) == [
        ("declined", 2, Decimal("100.00"), "0341", retry1),
        ("declined", 2, Decimal("100.00"), "0341", retry2),
        ("declined", 2, Decimal("100.00"), "0341", None),
        ("plan_broken", None, Decimal("200.00"), None, None)]
    intents = await mock_intents(gateway_settings, context)
    assert len(intents) == 3 and not succeeded(intents)  # three tries, nothing taken
    code, said = await command.run(THIRD)  # a broken plan is never charged again
    assert "none due" in said and len(await mock_intents(gateway_settings, context)) == 3


async def test_the_database_holds_no_card_data_after_plans(
        pool, gateway, gateway_settings, command, fresh_database):
    """Plans paid, charged and declined, then the dump of the database:
    tokens, references, brands and last fours, never a card number, CVV
    or expiry."""
    paid = await plan_of_three(pool, gateway)
    declining = await declining_plan(pool, gateway_settings)
    _, said = await command.run(SECOND)
    assert f"{paid.capture_id}/2: paid" in said and f"{declining.capture_id}/2: declined" in said
    dump = await asyncio.to_thread(pg_dump, fresh_database)
    assert "payment_outbox" in dump and "cus_" in dump and "4444" in dump and "0341" in dump
    found = leaks({"pg_dump": dump, "the command": said},
                  [KeyedCard(number, EXPIRY, CVV) for number in CARDS])
    assert not found, found
