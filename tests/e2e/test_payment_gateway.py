"""The gateway side of payments against the lab's real Stripe mock
(localstripe) over HTTP, and a fault proxy of our own between them:
approvals, declines, a kept card charged again, a refund; a timeout then a
retry charges once, a crash between request and answer is settled from
the gateway's record and charges once, a gateway that is down gives
GatewayDown with the attempt written failed. Every count of charges is
read from the mock's own record. Last, an artefact search: the database
dumped and the logs of the run hold no card number, CVV or expiry.

Stripe's test cards as localstripe treats them: 4242424242424242 is
approved; 4000000000000341 is declined when charged; 4000000000000002
(generic decline) and 4000000000009995 (insufficient funds) are declined
when the card is kept for later (attached to a customer), and approved
when charged once without keeping it (a gap of the mock: Stripe declines
them there too; docs/payments.md)."""

from __future__ import annotations

import asyncio
import logging
import socket
import uuid
from datetime import date
from decimal import Decimal
from pathlib import Path

import asyncpg
import psycopg
import pytest

from dialer import logs
from dialer.payments.gateway import open_gateway
from dialer.payments.ledger import PostgresLedger
from dialer.payments.results import record_result
from dialer.payments.settling import settle_in_flight
from dialer.settings import (
    PaymentGatewaySettings,
)
from dialer.store.migrate import apply_migrations
from ivr.actions import Digits, Finish, Key, Play, sound
from lab import stripe_mock
from payment_ivr import prompts
from payment_ivr.authorise import PaymentContext, authoriser, idempotency_key
from payment_ivr.capture import (
    Approved,
    Authorise,
    Declined,
    GatewayDown,
    Outcome,
    PaymentCapture,
    PaymentResult,
)
from payment_ivr.card import Brand, Card, read_expiry
from payment_ivr.gateway import Charged, ChargeMetadata, Refunded
from payment_ivr.stripe_gateway import StripeGateway
from payment_ivr.terms import Instalment, Money, Option, PaymentOptions
from tests.e2e.artefacts import KeyedCard, leaks, pg_dump
from tests.e2e.fault_proxy import Fault, FaultProxy

pytestmark = pytest.mark.lab

APPROVED = "4242424242424242"
DECLINED_WHEN_CHARGED = "4000000000000341"
GENERIC_DECLINE = "4000000000000002"
INSUFFICIENT_FUNDS = "4000000000009995"
MASTERCARD = "5555555555554444"
CARDS = (APPROVED, DECLINED_WHEN_CHARGED, GENERIC_DECLINE, INSUFFICIENT_FUNDS, MASTERCARD)
CVV = "739"  # distinctive, to be searched for in context
EXPIRY = "1134"  # November 2034
TODAY = date(2026, 12, 2)
FAST_S = 1.0  # a request timeout short enough for the fault tests


def card(number: str = APPROVED) -> Card:
    return Card(number, read_expiry(EXPIRY, TODAY), CVV)


@pytest.fixture(scope="module")
def log_file(tmp_path_factory) -> Path:
    """Everything logged during the module (DEBUG, aiohttp's client too),
    through a handler set up as every process's is: redacting."""
    path = tmp_path_factory.mktemp("logs") / "payments.log"
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter(logs.FORMAT))
    root = logging.getLogger()
    root.addHandler(handler)
    logs.install_redaction(root)
    level = root.level
    root.setLevel(logging.DEBUG)
    yield path
    root.setLevel(level)
    root.removeHandler(handler)
    handler.close()


@pytest.fixture(scope="module")
def database(lab_settings, log_file) -> str:
    """One database for the module, so the artefact search sees every
    payment made in it; dropped afterwards."""
    base = lab_settings.database_url
    name = f"recobro_pay_{uuid.uuid4().hex[:10]}"
    admin = base.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    url = base.rsplit("/", 1)[0] + f"/{name}"
    apply_migrations(url)
    yield url
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture
async def pool(database):
    pool = await asyncpg.create_pool(database, min_size=1, max_size=4)
    yield pool
    await pool.close()


def through(proxy: FaultProxy, settings: PaymentGatewaySettings) -> StripeGateway:
    """A gateway that reaches the mock through the proxy, with a short timeout."""
    return StripeGateway(proxy.url, settings.key, timeout_s=FAST_S)


async def new_account(pool: asyncpg.Pool, balance: str = "250.00") -> PaymentContext:
    reference = f"PAY-{uuid.uuid4().hex[:8]}"
    account_id = await pool.fetchval(
        "INSERT INTO accounts (reference, debtor_name, balance, currency, days_past_due, "
        "risk_score, language) VALUES ($1, 'Debtor', $2, 'USD', 90, 0.5, 'en') RETURNING id",
        reference, Decimal(balance))
    return PaymentContext(capture_id=uuid.uuid4(), account_id=account_id, reference=reference,
                          call_id=f"call-{uuid.uuid4().hex[:8]}")


async def mock_intents(settings: PaymentGatewaySettings, context: PaymentContext) -> list[dict]:
    """The mock's own record: every PaymentIntent made for the capture."""
    async with StripeGateway(settings.url, settings.key) as raw:
        found, after = [], None
        while True:
            page = await raw._get("/v1/payment_intents", {"limit": 100, "starting_after": after})
            found += [i for i in page["data"]
                      if i["metadata"].get("capture_id") == str(context.capture_id)]
            if not page["has_more"]:
                return found
            after = page["data"][-1]["id"]


def succeeded(intents: list[dict]) -> list[dict]:
    return [i for i in intents if i["status"] == "succeeded"]


async def attempt_row(pool: asyncpg.Pool, context: PaymentContext, attempt: int = 1):
    return await pool.fetchrow("SELECT * FROM payment_attempts WHERE capture_id = $1 "
                               "AND attempt = $2", context.capture_id, attempt)


async def account(pool: asyncpg.Pool, context: PaymentContext):
    return await pool.fetchrow("SELECT balance, status FROM accounts WHERE id = $1",
                               context.account_id)


FULL = Money(25000)  # an account's balance of 250.00


async def pay(gateway, pool, context, number=APPROVED, amount=FULL, *, attempt=1,
              save_card=False):
    handler = authoriser(gateway, PostgresLedger(pool), context)
    return await handler(Authorise(card(number), amount, attempt, save_card))


async def test_an_approved_card_is_charged_once_and_lowers_the_balance(
        pool, gateway, gateway_settings):
    context = await new_account(pool)
    answer = await pay(gateway, pool, context)
    assert isinstance(answer, Approved) and (answer.brand, answer.last4) == ("visa", "4242")
    row = await attempt_row(pool, context)
    assert (row["status"], row["gateway_reference"], row["last4"], row["applied"]) == \
        ("approved", answer.reference, "4242", True)
    assert row["idempotency_key"] == idempotency_key(context.capture_id, 1)
    assert await account(pool, context) == (Decimal("0.00"), "paid")
    [intent] = await mock_intents(gateway_settings, context)
    assert intent["id"] == answer.reference and intent["status"] == "succeeded"
    assert intent["amount"] == 25000 and intent["metadata"]["account_reference"] == \
        context.reference
    result = PaymentResult(Outcome.PAID, Option.FULL, Money(25000), Brand.VISA, "4242",
                           answer.reference, attempts=1)
    assert await record_result(pool, context, result)
    assert not await record_result(pool, context, result)  # once
    assert await account(pool, context) == (Decimal("0.00"), "paid")


async def test_a_card_declined_when_charged(pool, gateway, gateway_settings):
    context = await new_account(pool)
    answer = await pay(gateway, pool, context, DECLINED_WHEN_CHARGED)
    assert answer == Declined("card_declined")
    row = await attempt_row(pool, context)
    assert (row["status"], row["decline_reason"]) == ("declined", "card_declined")
    assert await account(pool, context) == (Decimal("250.00"), "active")
    assert not succeeded(await mock_intents(gateway_settings, context))


@pytest.mark.parametrize("number", [GENERIC_DECLINE, INSUFFICIENT_FUNDS])
async def test_stripes_decline_cards_are_declined_when_kept_for_a_plan(pool, gateway, number):
    context = await new_account(pool)
    answer = await pay(gateway, pool, context, number, Money(5000), save_card=True)
    assert answer == Declined("card_declined")
    assert (await attempt_row(pool, context))["status"] == "declined"
    assert await account(pool, context) == (Decimal("250.00"), "active")


async def test_a_kept_card_is_charged_again_from_its_token_then_refunded(
        pool, gateway, gateway_settings):
    context = await new_account(pool, "300.00")
    schedule = tuple(Instalment(date(2026, 12 + n, 2) if n == 0 else date(2027, n, 2),
                                Money(10000)) for n in range(3))
    answer = await pay(gateway, pool, context, MASTERCARD, Money(10000), save_card=True)
    assert isinstance(answer, Approved) and answer.last4 == "4444"
    row = await attempt_row(pool, context)
    token = row["token"]
    assert token and token.startswith("cus_") and row["save_card"]
    result = PaymentResult(Outcome.PLAN_SET_UP, Option.PLAN, Money(10000), Brand.MASTERCARD,
                           "4444", answer.reference, schedule=schedule, attempts=1)
    await record_result(pool, context, result)
    assert await account(pool, context) == (Decimal("200.00"), "in_plan")
    instalments = await pool.fetch("SELECT number, status FROM payment_instalments "
                                   "WHERE capture_id = $1 ORDER BY number", context.capture_id)
    assert [(r["number"], r["status"]) for r in instalments] == \
        [(1, "paid"), (2, "due"), (3, "due")]
    # The second instalment, off session, from the token (the scheduler's
    # job later: not built yet).
    metadata = ChargeMetadata(str(context.capture_id), context.reference)
    later = await gateway.charge_token(token, Money(10000), f"{context.capture_id}-i2", metadata)
    assert isinstance(later, Charged) and later.last4 == "4444" and later.token == token
    assert len(succeeded(await mock_intents(gateway_settings, context))) == 2
    refund = await gateway.refund(later.reference, f"{context.capture_id}-r2")
    assert isinstance(refund, Refunded) and refund.reference.startswith("re_")
    async with StripeGateway(gateway_settings.url, gateway_settings.key) as raw:
        refunds = await raw._get("/v1/refunds", {"limit": 100})
    assert any(r["id"] == refund.reference and r["amount"] == 10000 for r in refunds["data"])


async def test_a_timeout_then_a_retry_charges_once(pool, proxy, gateway_settings):
    context = await new_account(pool)
    fault = proxy.arm(Fault(b"/confirm", hold_s=FAST_S * 3))  # the answer comes too late
    async with through(proxy, gateway_settings) as gateway:
        answer = await pay(gateway, pool, context)
    assert fault.reached.is_set()
    assert isinstance(answer, Approved)
    intents = await mock_intents(gateway_settings, context)
    assert len(succeeded(intents)) == 1 and succeeded(intents)[0]["id"] == answer.reference
    row = await attempt_row(pool, context)
    assert row["status"] == "approved"
    assert await account(pool, context) == (Decimal("0.00"), "paid")


async def test_a_dropped_answer_then_a_retry_charges_once(pool, proxy, gateway_settings):
    context = await new_account(pool)
    proxy.arm(Fault(b"/confirm"))  # the connection drops as the answer comes
    async with through(proxy, gateway_settings) as gateway:
        answer = await pay(gateway, pool, context)
    assert isinstance(answer, Approved)
    assert len(succeeded(await mock_intents(gateway_settings, context))) == 1


async def test_a_crash_between_request_and_answer_is_settled_and_charges_once(
        pool, proxy, gateway_settings):
    context = await new_account(pool)
    fault = proxy.arm(Fault(b"/confirm", hold_s=3600))  # no answer, ever
    dying = StripeGateway(proxy.url, gateway_settings.key, timeout_s=60)
    task = asyncio.create_task(pay(dying, pool, context))
    await asyncio.wait_for(fault.reached.wait(), 10)
    for _ in range(100):  # the mock charges (its answer held by the proxy)
        if succeeded(await mock_intents(gateway_settings, context)):
            break
        await asyncio.sleep(0.1)
    task.cancel()  # the process dies before it writes the answer
    with pytest.raises(asyncio.CancelledError):
        await task
    await dying.close()
    row = await attempt_row(pool, context)
    assert row["status"] == "in_flight"
    assert await account(pool, context) == (Decimal("250.00"), "active")
    assert len(succeeded(await mock_intents(gateway_settings, context))) == 1
    # A restarted process (no memory of what was sent) settles before anything else.
    async with open_gateway(gateway_settings) as restarted:
        settled = await settle_in_flight(pool, restarted, older_than_s=0)
        assert [(s.key, s.status.value) for s in settled
                if s.key == row["idempotency_key"]] == [(row["idempotency_key"], "approved")]
        again = await settle_in_flight(pool, restarted, older_than_s=0)
    assert row["idempotency_key"] not in [s.key for s in again]
    row = await attempt_row(pool, context)
    assert (row["status"], row["applied"]) == ("approved", True)
    assert row["gateway_reference"].startswith("pi_") and row["last4"] == "4242"
    assert await account(pool, context) == (Decimal("0.00"), "paid")  # lowered once
    assert len(succeeded(await mock_intents(gateway_settings, context))) == 1


async def test_an_attempt_that_never_reached_the_gateway_is_settled_as_failed(
        pool, gateway, gateway_settings):
    context = await new_account(pool)

    class Dies(Exception):
        pass

    class Unplugged:  # the process died after writing the attempt, before any request
        async def authorise(self, *args, **kwargs):
            raise Dies

    with pytest.raises(Dies):
        await pay(Unplugged(), pool, context)
    assert (await attempt_row(pool, context))["status"] == "in_flight"
    settled = await settle_in_flight(pool, gateway, older_than_s=0)
    key = idempotency_key(context.capture_id, 1)
    assert [s.status.value for s in settled if s.key == key] == ["failed"]
    assert (await attempt_row(pool, context))["status"] == "failed"
    assert not await mock_intents(gateway_settings, context)


async def test_a_gateway_that_is_down_gives_gateway_down_and_the_attempt_is_failed(
        pool, proxy, gateway_settings):
    context = await new_account(pool)
    url = proxy.url
    await proxy.stop()  # nothing listens there now
    async with StripeGateway(url, gateway_settings.key, timeout_s=FAST_S) as gateway:
        answer = await pay(gateway, pool, context)
    assert answer == GatewayDown()
    row = await attempt_row(pool, context)
    assert (row["status"], row["failure"]) == ("failed", "cannot connect")
    assert await account(pool, context) == (Decimal("250.00"), "active")
    result = PaymentResult(Outcome.GATEWAY_DOWN, Option.FULL, Money(25000), Brand.VISA, "4242",
                           attempts=1)
    await record_result(pool, context, result)
    stored = await pool.fetchrow("SELECT outcome, attempts FROM payment_captures "
                                 "WHERE capture_id = $1", context.capture_id)
    assert tuple(stored) == ("gateway_down", 1)


async def test_a_settlement_settles_the_account_and_a_promise_is_kept(pool, gateway):
    context = await new_account(pool, "100.00")
    answer = await pay(gateway, pool, context, amount=Money(7000))
    assert isinstance(answer, Approved)
    await record_result(pool, context, PaymentResult(
        Outcome.PAID, Option.SETTLEMENT, Money(7000), Brand.VISA, "4242", answer.reference,
        attempts=1))
    assert await account(pool, context) == (Decimal("30.00"), "settled")
    promised = await new_account(pool, "80.00")
    await record_result(pool, promised, PaymentResult(
        Outcome.PROMISED, Option.PROMISE, Money(8000), promise_date=date(2026, 12, 20)))
    promise = await pool.fetchrow("SELECT amount, due_by, source FROM promises "
                                  "WHERE capture_id = $1", promised.capture_id)
    assert tuple(promise) == (Decimal("80.00"), date(2026, 12, 20), "ivr")


async def test_the_capture_flow_told_the_gateway_is_down_offers_a_promise_and_it_is_kept(
        pool, gateway_settings):
    """The flow's own Authorise, through the handler, to a gateway nobody
    runs: the flow says so and offers a promise; the debtor keys a date; the
    attempt is failed and the promise kept. Nothing is lost."""
    context = await new_account(pool, "40.00")
    flow = PaymentCapture(PaymentOptions(Money(4000), promise_days=30), TODAY, "en")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        nobody = probe.getsockname()[1]
    keyed = [Key("1"), Digits(APPROVED, "end_key"), Digits(EXPIRY, "end_key"),
             Digits(CVV, "end_key"), Key("1")]
    state, actions = flow.start()
    for heard in keyed:
        state, actions = flow.on(state, heard)
    [effect] = [a for a in actions if isinstance(a, Authorise)]
    async with StripeGateway(f"http://127.0.0.1:{nobody}", gateway_settings.key,
                             timeout_s=FAST_S) as down:
        answer = await authoriser(down, PostgresLedger(pool), context, pause_s=0)(effect)
    assert answer == GatewayDown() and effect.card.wiped
    state, actions = flow.on(state, answer)
    played = [a.media for a in actions if isinstance(a, Play)]
    assert played[:2] == [sound(prompts.GATEWAY_DOWN.sound), sound(prompts.PROMISE_ON_1.sound)]
    for heard in (Key("1"), Digits("2012", "end_key"), Key("1")):
        state, actions = flow.on(state, heard)
    [finish] = [a for a in actions if isinstance(a, Finish)]
    assert finish.result.outcome is Outcome.PROMISED
    assert await record_result(pool, context, finish.result)
    row = await attempt_row(pool, context)
    assert (row["status"], row["failure"]) == ("failed", "cannot connect")
    promise = await pool.fetchrow("SELECT amount, due_by FROM promises WHERE capture_id = $1",
                                  context.capture_id)
    assert tuple(promise) == (Decimal("40.00"), date(2026, 12, 20))
    assert await account(pool, context) == (Decimal("40.00"), "active")


async def test_no_artefact_holds_card_data(pool, gateway, proxy, gateway_settings, database,
                                           log_file, lab_config):
    """Last: more payments (every outcome) then a search of the dump, this
    module's logs and the mock's log for each card number, the CVV in
    context and the expiry."""
    for number in CARDS:
        await pay(gateway, pool, await new_account(pool), number)
    await pay(gateway, pool, await new_account(pool), GENERIC_DECLINE, save_card=True)
    proxy.arm(Fault(b"/confirm", hold_s=FAST_S * 3))
    async with through(proxy, gateway_settings) as slow:
        await pay(slow, pool, await new_account(pool))
    logging.getLogger("test.payments").warning("a card-like run %s in a log line", APPROVED)
    dump = await asyncio.to_thread(pg_dump, database)
    assert "payment_attempts" in dump and "4242" in dump  # last four: allowed
    for handler in logging.getLogger().handlers:
        handler.flush()
    written = log_file.read_text()
    assert "************4242" in written  # the filter was there
    found = leaks({"pg_dump": dump, "the logs": written,
                   "the mock's log": stripe_mock.log_file(lab_config).read_text()},
                  [KeyedCard(number, EXPIRY, CVV) for number in CARDS])
    assert not found, found

