"""What an agent on the line is told of the capture it handed over
(payment_ivr.progress): each step from the flow's own moves, the outcome,
and never a digit the debtor keyed, whatever the keys."""

import re
from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.actions import Digits, Key, Silence
from payment_ivr.capture import (
    Approved,
    Declined,
    GatewayDown,
    Outcome,
    PaymentCapture,
    PaymentResult,
)
from payment_ivr.card import Brand
from payment_ivr.progress import Progress, outcome, progress
from payment_ivr.terms import Money, PaymentOptions

TODAY = date(2026, 6, 15)
VISA = "4242424242424242"
EXPIRY, CVV = "1230", "123"


def flow(**offers):
    return PaymentCapture(PaymentOptions(Money.parse("250.75"), **offers), TODAY, "en")


def told(capture, *inputs):
    """Every line the agent is told while the flow hears inputs."""
    state, _ = capture.start()
    lines = []
    for heard in inputs:
        after, _ = capture.on(state, heard)
        line = progress(state, heard, after)
        if line is not None:
            lines.append(line)
        state = after
    return lines


TO_CONFIRM = (Key("1"), Digits(VISA, "end_key"), Digits(EXPIRY, "max_digits"),
              Digits(CVV, "max_digits"))


def test_each_step_is_told_as_the_agent_reads_it_then_the_approval():
    lines = told(flow(), *TO_CONFIRM, Key("1"), Approved("visa", "4242", "pi_123"))
    assert [line.text for line in lines] == [
        "amount: 250.75 USD (full balance)",
        "card number: 16 digits",
        "expiry: done",
        "security code: done",
        "confirm: sent to the gateway: visa ending 4242",
        "approved: visa ending 4242, reference pi_123",
    ]
    assert lines[-1] == Progress("result", "paid", brand="visa", last4="4242",
                                 reference="pi_123")


def test_a_wrong_entry_is_told_asked_again_and_a_decline_with_its_reason():
    lines = told(flow(), Key("1"), Digits("4242424242424241", "end_key"),
                 Digits(VISA, "end_key"), Digits("0199", "max_digits"),
                 Digits(EXPIRY, "max_digits"), Digits(CVV, "max_digits"), Key("1"),
                 Declined("card_declined"))
    texts = [line.text for line in lines]
    assert texts[1:5] == ["card number: asked again", "card number: 16 digits",
                          "expiry: asked again", "expiry: done"]
    assert texts[-1] == "declined: card_declined"


def test_the_gateway_down_and_silences_until_it_gives_up_are_told():
    down = told(flow(promise_days=7), *TO_CONFIRM, Key("1"), GatewayDown())
    assert down[-1] == Progress("result", "gateway_down")
    quiet = told(flow(), Key("1"), Silence(), Silence(), Silence())
    assert [line.text for line in quiet] == ["amount: 250.75 USD (full balance)",
                                             "card number: asked again",
                                             "card number: asked again", "abandoned"]


def test_the_outcome_of_a_result_names_no_card_but_brand_and_last_four():
    hung_up = outcome(PaymentResult(Outcome.HUNG_UP, attempts=0))
    assert hung_up.text == "hung up" and hung_up.brand is None
    plan = outcome(PaymentResult(Outcome.PLAN_SET_UP, brand=Brand.VISA, last4="4242",
                                 reference="pi_9"))
    assert plan.text == "approved: visa ending 4242 (plan set up), reference pi_9"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(
    st.text("0123456789*#", min_size=1, max_size=19).map(lambda v: Digits(v, "end_key")),
    st.sampled_from("0123456789*#").map(Key),
    st.just(Silence()),
    st.sampled_from([Approved("visa", "4242", "pi_1"), Declined("card_declined"),
                     GatewayDown()])), max_size=30))
def test_no_line_holds_a_run_of_digits_but_the_amount_a_count_and_a_last_four(inputs):
    """Whatever the keys, a line holds the amount, a count of digits and
    the last four of a card sent at most: nothing else with three digits
    in a row, so no part of a number, expiry or CVV keyed."""
    for line in told(flow(promise_days=7), Key("1"), *inputs):
        rest = re.sub(r"250\.75|ending \d{4}|\d{2} digits", "", line.text)
        assert not re.search(r"\d{3}", rest), line.text
