"""The Authorise handler against a scripted gateway and an in-memory
ledger: the attempt written before the request, a lost answer asked again
with the same key, the answer written, the card wiped whatever happens, and
no card data ever reaching the ledger."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date

import pytest

from payment_ivr.authorise import (
    AttemptStart,
    LedgerError,
    PaymentContext,
    authoriser,
    idempotency_key,
)
from payment_ivr.capture import Approved, Authorise, Declined, GatewayDown
from payment_ivr.card import Card, read_expiry
from payment_ivr.gateway import Charged, ChargeMetadata, GatewayError, Refused
from payment_ivr.terms import Money

NUMBER, CVV = "4242424242424242", "123"
CONTEXT = PaymentContext(capture_id=uuid.UUID(int=7), account_id=3, reference="ACC-3",
                         call_id="call-1")
AMOUNT = Money(12345, "USD")
TIMEOUT = GatewayError("timed out", may_have_charged=True, retry=True)
REFUSED_CONNECTION = GatewayError("cannot connect", may_have_charged=False, retry=True)
CHARGED = Charged("visa", "4242", "pi_1")


def card() -> Card:
    expiry = read_expiry("1230", date(2026, 12, 2))
    return Card(NUMBER, expiry, CVV)


@dataclass
class ScriptedGateway:
    """Answers each authorise with the next scripted answer; records the
    keys asked and whether the card could still be read."""

    answers: list[object]
    keys: list[str] = field(default_factory=list)
    metadata: list[ChargeMetadata] = field(default_factory=list)

    async def authorise(self, card, amount, key, metadata, *, save_card=False):
        assert card.number == NUMBER and card.cvv == CVV  # not wiped while asking
        self.keys.append(key)
        self.metadata.append(metadata)
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer


@dataclass
class MemoryLedger:
    """Every call, in order, with its arguments."""

    calls: list[tuple] = field(default_factory=list)
    fail_on: str | None = None

    async def _record(self, name, *args):
        if name == self.fail_on:
            raise LedgerError(name)
        self.calls.append((name, *args))

    async def started(self, context, start):
        await self._record("started", context, start)

    async def approved(self, key, charged):
        await self._record("approved", key, charged)

    async def declined(self, key, reason):
        await self._record("declined", key, reason)

    async def failed(self, key, reason):
        await self._record("failed", key, reason)


async def run(answers, ledger=None, *, attempt=1, save_card=False):
    gateway = ScriptedGateway(list(answers))
    ledger = ledger or MemoryLedger()
    the_card = card()
    answer = await authoriser(gateway, ledger, CONTEXT, pause_s=0)(
        Authorise(the_card, AMOUNT, attempt, save_card))
    return answer, gateway, ledger, the_card


KEY = idempotency_key(CONTEXT.capture_id, 1)


async def test_approved_is_written_after_the_attempt_and_the_card_is_wiped():
    answer, gateway, ledger, the_card = await run([CHARGED])
    assert answer == Approved("visa", "4242", "pi_1")
    assert gateway.keys == [KEY]
    assert gateway.metadata == [ChargeMetadata(str(CONTEXT.capture_id), "ACC-3")]
    assert ledger.calls == [
        ("started", CONTEXT, AttemptStart(1, KEY, AMOUNT, False, "visa", "4242")),
        ("approved", KEY, CHARGED)]
    assert the_card.wiped


async def test_each_attempt_has_its_own_key():
    assert idempotency_key(CONTEXT.capture_id, 1) != idempotency_key(CONTEXT.capture_id, 2)
    _, gateway, _, _ = await run([CHARGED], attempt=2)
    assert gateway.keys == [idempotency_key(CONTEXT.capture_id, 2)]


async def test_declined_is_written_with_the_gateways_reason():
    answer, _, ledger, the_card = await run([Refused("insufficient_funds", "pi_2")])
    assert answer == Declined("insufficient_funds")
    assert ledger.calls[-1] == ("declined", KEY, "insufficient_funds")
    assert the_card.wiped


async def test_a_timeout_is_asked_again_with_the_same_key():
    answer, gateway, ledger, the_card = await run([TIMEOUT, TIMEOUT, CHARGED])
    assert answer == Approved("visa", "4242", "pi_1")
    assert gateway.keys == [KEY, KEY, KEY]
    assert [c[0] for c in ledger.calls] == ["started", "approved"]
    assert the_card.wiped


async def test_retries_are_bounded_and_an_answer_never_had_stays_in_flight():
    answer, gateway, ledger, the_card = await run([TIMEOUT, TIMEOUT, TIMEOUT, CHARGED])
    assert answer == GatewayDown()
    assert len(gateway.keys) == 3
    # The gateway may have charged: nothing is written as failed, so the
    # settling asks the gateway about the key.
    assert [c[0] for c in ledger.calls] == ["started"]
    assert the_card.wiped


async def test_a_gateway_never_reached_is_failed():
    answer, gateway, ledger, _ = await run([REFUSED_CONNECTION] * 3)
    assert answer == GatewayDown() and len(gateway.keys) == 3
    assert ledger.calls[-1] == ("failed", KEY, "cannot connect")


async def test_a_timeout_then_a_refused_connection_may_still_have_charged():
    answer, _, ledger, _ = await run([TIMEOUT, REFUSED_CONNECTION, REFUSED_CONNECTION])
    assert answer == GatewayDown()
    assert [c[0] for c in ledger.calls] == ["started"]


async def test_an_error_not_worth_retrying_is_asked_once():
    refused_key = GatewayError("HTTP 401 authentication", may_have_charged=False, retry=False)
    answer, gateway, ledger, _ = await run([refused_key, CHARGED])
    assert answer == GatewayDown() and len(gateway.keys) == 1
    assert ledger.calls[-1][0] == "failed"


async def test_an_attempt_the_ledger_cannot_write_is_never_sent():
    answer, gateway, _, the_card = await run([CHARGED], MemoryLedger(fail_on="started"))
    assert answer == GatewayDown() and gateway.keys == []
    assert the_card.wiped


async def test_an_answer_the_ledger_cannot_write_is_still_told():
    answer, _, _, the_card = await run([CHARGED], MemoryLedger(fail_on="approved"))
    assert answer == Approved("visa", "4242", "pi_1")  # the money was taken
    assert the_card.wiped


async def test_a_gateway_that_raises_still_wipes_the_card():
    the_card = card()
    handler = authoriser(ScriptedGateway([RuntimeError("bug")]), MemoryLedger(), CONTEXT,
                         pause_s=0)
    with pytest.raises(RuntimeError):
        await handler(Authorise(the_card, AMOUNT, 1))
    assert the_card.wiped


async def test_the_ledger_is_never_given_card_data():
    for answers in ([CHARGED], [Refused("card_declined")], [TIMEOUT] * 3,
                    [REFUSED_CONNECTION] * 3):
        _, _, ledger, _ = await run(answers, save_card=True)
        written = repr(ledger.calls)
        assert NUMBER not in written and "1230" not in written
        assert f"'{CVV}'" not in written and "Card(" not in written
