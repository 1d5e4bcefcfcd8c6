"""The agent-assisted payment's choreography (dialer.payments.assisted)
against a fake call control: the debtor's keys absorbed in the bridge
before the capture and passed on again after it, a masking tone on the
agent's leg for each key of the capture and none before, the agent told
each step, and no capture for an account that cannot pay."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from dialer.calls.control import CallEvents
from dialer.calls.events import CallEnteredApp, DtmfReceived, PaymentRequested
from dialer.payments import assisted
from dialer.payments.assisted import MASK_TONE, AssistedPayments
from dialer.payments.store import Payer
from payment_ivr.capture import Outcome, PaymentResult
from payment_ivr.card import Brand
from payment_ivr.progress import Progress

NOW = datetime(2026, 12, 2, tzinfo=UTC)
CALL, LEG, AGENT = "debtor-1", "debtor-1-agent1001", "agent1001"


class FakeControl:
    """What the assisted payment asks of calls, written down in order."""

    def __init__(self) -> None:
        self.done: list[tuple] = []
        self.listeners: list = []

    def add_listener(self, listener) -> None:
        self.listeners.append(listener)

    def hear(self, event) -> None:
        for listener in self.listeners:
            listener(event)

    async def join_bridge(self, bridge_id: str, channel_id: str, absorb_dtmf: bool) -> None:
        self.done.append(("join", bridge_id, channel_id, absorb_dtmf))

    async def play(self, call_id: str, media: str, language: str) -> str:
        self.done.append(("play", call_id, media))
        return f"playback-{len(self.done)}"

    async def stop_playback(self, playback_id: str) -> None:
        self.done.append(("stop", playback_id))


class FakePayments:
    """A capture in which the debtor presses keys, then pays."""

    def __init__(self, control: FakeControl, keys: str) -> None:
        self.control = control
        self.keys = keys

    async def take(self, call_id, events, payer, campaign=None, report=None):
        self.control.done.append(("capture", call_id, payer.reference))
        report(Progress("card_number", "16 digits"))
        for key in self.keys:
            self.control.hear(DtmfReceived(call_id=call_id, at=NOW, digit=key))
        await asyncio.sleep(0.5)  # the masking tones play meanwhile
        result = PaymentResult(Outcome.PAID, brand=Brand.VISA, last4="4242", reference="pi_1")
        self.control.done.append(("captured",))
        return result


class FakeDesktop:
    def __init__(self) -> None:
        self.told: list[dict] = []

    async def tell(self, agent: str, event: dict) -> None:
        self.told.append({**event, "agent": agent})


def payer(status: str = "active", balance: str = "250.75") -> Payer:
    return Payer(7, "AS-1", balance, "USD", "es", status, "UTC")


async def run(monkeypatch, found: Payer | None, keys: str = "", gateway: bool = True):
    control = FakeControl()

    async def payer_by_reference(pool, reference):
        return found if reference == "AS-1" else None

    monkeypatch.setattr(assisted.store, "payer_by_reference", payer_by_reference)
    monkeypatch.setattr(assisted, "MASK_S", 0.01)
    payments = FakePayments(control, keys) if gateway else None
    service = AssistedPayments(control, None, payments)  # type: ignore[arg-type]
    service.agents = FakeDesktop()  # type: ignore[assignment]
    events = CallEvents(CallEnteredApp(call_id=CALL, at=NOW))
    control.hear(DtmfReceived(call_id=CALL, at=NOW, digit="5"))  # talking to the agent
    events.put(DtmfReceived(call_id=CALL, at=NOW, digit="5"))
    events.put(PaymentRequested(call_id=CALL, at=NOW, agent=AGENT))
    asyncio.get_running_loop().call_later(1.0, events.end)
    assert await service.while_connected(CALL, "attempt-1", "AS-1", events, AGENT, LEG,
                                         CALL) is None  # the call ended: no transfer asked
    return control, service.agents.told


async def test_the_keys_are_absorbed_for_the_capture_masked_for_the_agent_then_passed_on(
        monkeypatch):
    control, told = await run(monkeypatch, payer(), keys="4242")
    steps = [step[0] for step in control.done]
    assert control.done[0] == ("join", CALL, CALL, True)  # absorbed before the capture
    assert control.done[1] == ("capture", CALL, "AS-1")
    assert control.done[-1] == ("join", CALL, CALL, False)  # passed on after it
    tones = [step for step in control.done if step[0] == "play"]
    assert tones == [("play", LEG, MASK_TONE)] * 4  # one per key, on the agent's leg only
    assert steps.count("stop") == 4
    assert steps.index("captured") < steps.index("join", 1)
    assert [event["text"] for event in told] == [
        "capture: started: the debtor hears the payment prompts", "card number: 16 digits",
        "approved: visa ending 4242, reference pi_1"]
    assert {event["type"] for event in told} == {"payment"}
    assert all(event["agent"] == AGENT and event["attempt"] == "attempt-1" for event in told)


@pytest.mark.parametrize(("found", "gateway", "why"), [
    (payer(status="paid", balance="0.00"), True, "the account is paid"),
    (None, True, "no known account"),
    (payer(), False, "no card gateway"),
])
async def test_no_capture_starts_when_none_can_be_taken(monkeypatch, found, gateway, why):
    control, told = await run(monkeypatch, found, gateway=gateway)
    assert control.done == []  # nothing absorbed, nothing played
    [refused] = told
    assert refused["step"] == "capture" and why in refused["text"]

