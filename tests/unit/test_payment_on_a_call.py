"""The payment capture on a call (dialer.payments.stasis.capture) through the
REAL ivr.runner over a scripted call on a virtual clock: a property test
with random debtors (digits, `*`/`#` storms, silences past every timeout,
hang-ups at any moment) and a random gateway; tests/unit/
test_payment_capture.py drives the flow alone, the way the runner would.
Here the runner itself turns keys into inputs, so what reaches the gateway
is what a real call's keys would make."""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dialer.calls.events import RecordingMuted
from dialer.payments.stasis import capture
from payment_ivr.capture import (
    Approved,
    Authorise,
    Declined,
    GatewayDown,
    Outcome,
    PaymentCapture,
    PaymentResult,
)
from payment_ivr.card import Card, cvv_length, number_problem
from payment_ivr.terms import Money, PaymentOptions
from tests.unit import virtual_time
from tests.unit.scripted_call import CALL, NOW, ScriptedCall

TODAY = NOW.date()
CARDS = ("4242424242424242", "4000000000000002", "378282246310005", "5555555555554444")
WRONG_LUHN = "4242424242424241"
# What a careful debtor keys at some step: menu and confirmation keys, a
# card (ended by #), an expiry (valid, past, a bad month), a CVV, a date.
ENTRIES = ("1", "2", "3", "4", *(c + "#" for c in CARDS), WRONG_LUHN + "#", "1230", "0127",
           "1126", "1330", "123", "1234", "12", "0512", "1512#")
LONGEST_CALL_S = 4 * 3600  # of virtual time: a capture that never ends fails


def keyed(text: str, gaps: st.SearchStrategy[float]) -> st.SearchStrategy:
    return st.lists(gaps, min_size=len(text), max_size=len(text)).map(
        lambda times: [(gap, key) for gap, key in zip(times, text, strict=True)])


quick = st.floats(0.1, 0.6)
moves = st.one_of(
    st.sampled_from(ENTRIES).flatmap(lambda text: keyed(text, quick)),  # a careful entry
    st.text("0123456789*#", min_size=1, max_size=25).flatmap(lambda t: keyed(t, quick)),
    st.integers(1, 30).flatmap(lambda n: keyed("*" * n, st.floats(0.05, 0.3))),  # storms
    st.integers(1, 30).flatmap(lambda n: keyed("#" * n, st.floats(0.05, 0.3))),
    st.floats(3.0, 25.0).map(lambda s: [(s, "")]),  # a silence (an empty key is dropped below)
)


# The steps of a card payment in order, then a card declined and another
# tried, and what a careful debtor keys at each.
CARD_STEPS = (CARDS + (WRONG_LUHN,), ("1230", "0127"), ("123", "1234"), ("1",),
              ("1",), CARDS, ("1230",), ("123",), ("1",))


@st.composite
def careful(draw):
    """The steps of a payment (the plan's consent when a plan is chosen),
    each keyed a moment after the last, some replaced by anything at all."""
    option = draw(st.sampled_from("123"))
    chunks = []
    for choices in ((option,), *((("1",),) if option == "3" else ()), *CARD_STEPS):
        if draw(st.integers(0, 9)) < 8:
            text = draw(st.sampled_from(choices))
            chunks.append([(draw(st.floats(1.0, 6.0)), text[0]),
                           *draw(keyed(text[1:] + ("#" if len(text) > 12 else ""), quick))])
        else:
            chunks.append(draw(moves))
    return chunks


@st.composite
def debtors(draw):
    chunks = draw(st.one_of(careful(), careful(), st.lists(moves, max_size=40)))
    timeline = [move for chunk in chunks for move in chunk]
    timeline = [(gap, key) for gap, key in timeline if key != ""] or [(1.0, "1")]
    if draw(st.booleans()):  # hangs up at some moment
        cut = draw(st.integers(0, len(timeline)))
        timeline = [*timeline[:cut], (draw(st.floats(0.0, 20.0)), None)]
    return timeline


@st.composite
def options(draw):
    offers = draw(st.fixed_dictionaries({}, optional={
        "settlement_percent": st.integers(1, 99), "instalments": st.integers(2, 12),
        "promise_days": st.integers(0, 90)}))
    return PaymentOptions(Money(draw(st.integers(1, 10**8))), **offers)


class Gateway:
    """Answers in turn as drawn; checks every card it is sent."""

    def __init__(self, answers: list[object]) -> None:
        self.answers = answers
        self.sent: list[Authorise] = []

    async def authorise(self, effect: Authorise):
        card = effect.card
        assert isinstance(card, Card) and card.complete
        assert number_problem(card.number) is None  # digits, length, Luhn
        assert not card.expiry.expired(TODAY)
        assert card.cvv.isdigit() and len(card.cvv) == cvv_length(card.brand)
        assert effect.attempt == len(self.sent) + 1 and effect.amount.cents > 0
        self.sent.append(effect)
        answer = self.answers[(len(self.sent) - 1) % len(self.answers)]
        if answer == "slow":  # the gateway takes its time; the debtor may hang up meanwhile
            await asyncio.sleep(20)
            return GatewayDown()
        return answer


answers = st.lists(st.sampled_from([
    Approved("visa", "4242", "ch_1"), Declined("card_declined"), GatewayDown(), "slow"]),
    min_size=1, max_size=4)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(options(), debtors(), answers, st.sampled_from(["es", "en"]), st.booleans(),
       st.floats(0.3, 4.0))
def test_any_debtor_ends_in_exactly_one_result_and_only_valid_cards_are_sent(
        offered, moves, gateway_answers, language, recorded, prompt_s):
    gateway = Gateway(gateway_answers)
    flow = PaymentCapture(offered, TODAY, language)

    async def on_the_call() -> tuple[ScriptedCall, PaymentResult]:
        call = ScriptedCall(moves, prompt_s=prompt_s, recorded=recorded)
        call.language = language
        call.start()
        return call, await asyncio.wait_for(
            capture(call, CALL, call.events, flow, gateway.authorise), LONGEST_CALL_S)

    call, result = virtual_time.run(on_the_call())
    assert isinstance(result, PaymentResult)
    assert result.attempts == len(gateway.sent)
    hung_up = call.events.ended.done()
    if result.outcome is Outcome.HUNG_UP:
        assert hung_up
    if result.outcome in (Outcome.PAID, Outcome.PLAN_SET_UP):
        assert isinstance(await_last(gateway), Approved)
    # Muted before the first prompt; resumed unless the call ended first.
    noted = [e.muted for e in call.noted if isinstance(e, RecordingMuted)]
    assert noted[:1] == [True] and noted in ([True], [True, False])
    assert noted == [True, False] or hung_up
    assert all(e.refused == "" for e in call.noted if isinstance(e, RecordingMuted)) \
        == recorded
    # Nothing said holds a card number.
    assert not any(number in media for media in call.played for number in CARDS)
    event(f"{result.outcome.value}, {len(gateway.sent)} sent")


def await_last(gateway: Gateway) -> object:
    index = (len(gateway.sent) - 1) % len(gateway.answers)
    return gateway.answers[index]
