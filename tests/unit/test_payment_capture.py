"""The payment capture flow: amounts, card entry, confirmation, the
gateway's answers, promises and plans; and a property test driving it the
way ivr.runner does, with random callers and a random gateway."""

from dataclasses import fields
from datetime import date

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ivr import numbers
from ivr.actions import (
    Collect,
    Digits,
    Finish,
    Hangup,
    Key,
    KeyMode,
    Listen,
    Play,
    Played,
    Silence,
    Unplayable,
    sound,
)
from payment_ivr import prompts as p
from payment_ivr.capture import (
    DIGIT_S,
    FIRST_KEY_S,
    MAX_CARDS,
    Approved,
    Authorise,
    Declined,
    GatewayDown,
    Outcome,
    PaymentCapture,
    PaymentResult,
    Step,
)
from payment_ivr.card import Brand, Card, Expiry, cvv_length, number_problem
from payment_ivr.terms import (
    DateProblem,
    Instalment,
    Money,
    Option,
    PaymentOptions,
    add_months,
    read_promise_date,
)

TODAY = date(2026, 6, 15)
BALANCE = Money.parse("123.45")
VISA, AMEX = "4242424242424242", "378282246310005"


def capture(language="en", **offers):
    return PaymentCapture(PaymentOptions(BALANCE, **offers), TODAY, language)


def feed(flow, *inputs):
    """The state and actions after the last of inputs, from the start."""
    state, actions = flow.start()
    for heard in inputs:
        state, actions = flow.on(state, heard)
    return state, actions


def feed_from(flow, state, *inputs):
    """The state and actions after inputs, from state."""
    actions = []
    for heard in inputs:
        state, actions = flow.on(state, heard)
    return state, actions


def said(actions):
    return [a.media for a in actions if isinstance(a, Play)]


def media(recording):
    return sound(recording.sound)


def card_entry(number=VISA, expiry="1230", cvv="123"):
    return [Digits(number, "end_key"), Digits(expiry, "max_digits"), Digits(cvv, "max_digits")]


@pytest.mark.parametrize("language", ["en", "es"])
def test_pay_the_balance(language):
    flow = capture(language, settlement_percent=70, instalments=3, promise_days=30)
    state, actions = flow.start()
    assert said(actions) == [
        media(p.BALANCE), "number:123", media(p.AND), "number:45", media(p.CENTS),
        media(p.OPTION_FULL),
        media(p.OPTION_SETTLE), "number:86", media(p.AND), "number:41", media(p.CENTS),
        media(p.PRESS_2),
        media(p.OPTION_PLAN), "number:3", media(p.MONTHLY_OF), "number:41", media(p.AND),
        "number:15", media(p.CENTS), media(p.PRESS_3),
        media(p.OPTION_PROMISE)]
    assert actions[-1] == Listen(8.0)

    state, actions = flow.on(state, Key("1"))
    assert actions == [Play(media(p.CARD_NUMBER)),
                       Collect(19, DIGIT_S, end_key="#", first_key_s=FIRST_KEY_S)]
    state, actions = flow.on(state, Digits(VISA, "end_key"))
    assert state.step is Step.EXPIRY and said(actions) == [media(p.EXPIRY)]
    assert isinstance(actions[-1], Collect) and actions[-1].max_digits == 4
    state, actions = flow.on(state, Digits("1230", "max_digits"))
    assert said(actions) == [media(p.CVV)] and actions[-1].max_digits == 3
    state, actions = flow.on(state, Digits("123", "max_digits"))
    assert state.step is Step.CONFIRM
    assert said(actions) == [media(p.PAYING_WITH), media(p.BRANDS[Brand.VISA]), media(p.ENDING_IN),
                             "digits:4242", media(p.THE_AMOUNT), "number:123", media(p.AND),
                             "number:45", media(p.CENTS), media(p.CONFIRM_MENU)]
    assert VISA not in repr(state) and "123'" not in repr(state)

    state, actions = flow.on(state, Key("1"))
    wait, authorise = actions
    assert wait == Play(media(p.WAIT), keys=KeyMode.BUFFER)
    assert isinstance(authorise, Authorise)
    assert (authorise.card.number, authorise.card.cvv, authorise.card.expiry) == \
        (VISA, "123", Expiry(12, 2030))
    assert (authorise.amount, authorise.attempt, authorise.save_card) == (BALANCE, 1, False)

    state, actions = flow.on(state, Approved("visa", "4242", "4815162342"))
    assert state.card is None and state.step is Step.DONE
    assert said(actions) == [
        media(p.PAYMENT_OF), "number:123", media(p.AND), "number:45", media(p.CENTS),
        media(p.APPROVED_CARD), "digits:4242", media(p.REFERENCE), "digits:4815162342",
        media(p.THANK_YOU)]
    assert actions[-1] == Finish(PaymentResult(
        Outcome.PAID, Option.FULL, BALANCE, Brand.VISA, "4242", "4815162342",
        attempts=1))
    assert flow.on(state, Unplayable(media(p.THANK_YOU)))[1] == [actions[-1]]


def test_settle_with_an_amex_in_spanish():
    flow = capture("es", settlement_percent=70)
    state, actions = feed(flow, Key("2"), Digits(AMEX, "end_key"), Digits("0131", "max_digits"))
    assert said(actions) == [media(p.CVV_AMEX)] and actions[-1].max_digits == 4
    state, actions = flow.on(state, Digits("1234", "max_digits"))
    assert media(p.BRANDS[Brand.AMEX]) in said(actions) and "digits:0005" in said(actions)
    assert "number:86" in said(actions) and "number:41" in said(actions)  # 70%, rounded down
    state, actions = flow.on(state, Key("1"))
    assert actions[-1].amount == Money(8641) and actions[-1].card.cvv == "1234"
    state, actions = flow.on(state, Approved("amex", "0005", "778"))
    result = actions[-1].result
    assert (result.outcome, result.option, result.amount) == (Outcome.PAID, Option.SETTLEMENT,
                                                              Money(8641))


def test_the_menu_offers_only_what_the_options_allow():
    flow = capture()
    state, actions = flow.start()
    assert said(actions) == [media(p.BALANCE), "number:123", media(p.AND), "number:45",
                             media(p.CENTS), media(p.OPTION_FULL)]
    for key in "234":
        state, actions = flow.on(capture().start()[0], Key(key))
        assert state.step is Step.CHOOSE and state.errors == 1
        assert said(actions)[-1] == media(p.OPTION_FULL)


def test_a_wrong_luhn_is_asked_again():
    flow = capture()
    state, actions = feed(flow, Key("1"), Digits("4242424242424241", "end_key"))
    assert state.step is Step.CARD_NUMBER and state.card is None
    assert said(actions) == [media(p.CARD_INVALID), media(p.CARD_NUMBER)]
    state, actions = flow.on(state, Digits(VISA, "timeout"))  # no # pressed: taken all the same
    assert state.step is Step.EXPIRY


def test_a_past_expiry_and_a_bad_month_are_asked_again():
    flow = capture()
    state, actions = feed(flow, Key("1"), Digits(VISA, "end_key"), Digits("0526", "max_digits"))
    assert state.step is Step.EXPIRY and said(actions) == [media(p.EXPIRED), media(p.EXPIRY)]
    state, actions = flow.on(state, Digits("1330", "max_digits"))
    assert said(actions) == [media(p.EXPIRY_INVALID), media(p.EXPIRY)]
    state, actions = flow.on(state, Digits("0626", "max_digits"))  # this month is fine
    assert state.step is Step.CVV


def test_a_cvv_of_the_wrong_length_is_asked_again():
    flow = capture()
    state, actions = feed(flow, Key("1"), *card_entry(cvv="12"))
    assert state.step is Step.CVV and said(actions) == [media(p.CVV_INVALID), media(p.CVV)]


def test_star_restarts_the_step_without_counting_as_an_error():
    flow = capture()
    state, actions = feed(flow, Key("1"), Digits("42424*", "end_key"))
    assert state.step is Step.CARD_NUMBER and state.errors == 0 and state.asks == 2
    assert said(actions) == [media(p.CARD_NUMBER)]
    state, _ = feed(flow, Key("1"), Digits(VISA, "end_key"), Digits("12*", "max_digits"))
    assert state.step is Step.EXPIRY and state.errors == 0 and state.card.last4 == "4242"
    state, _ = feed(flow, Key("1"), *card_entry(), Key("*"))  # the confirmation again
    assert state.step is Step.CONFIRM and state.asks == 2
    # Restarts are bounded too: the sixth ask is the last.
    state, actions = feed(flow, Key("1"), *[Digits("*", "end_key")] * 5)
    assert state.step is Step.CARD_NUMBER and state.asks == 6
    state, actions = flow.on(state, Digits("*", "end_key"))
    assert actions[-1] == Finish(PaymentResult(Outcome.ABANDONED, Option.FULL, BALANCE))


def test_timeouts_then_the_flow_gives_up():
    flow = capture()
    state, actions = feed(flow, Key("1"), Silence())
    assert said(actions) == [media(p.NO_ENTRY), media(p.CARD_NUMBER)] and state.errors == 1
    state, actions = flow.on(state, Digits("", "end_key"))  # # alone: nothing keyed
    assert state.errors == 2
    state, actions = flow.on(state, Digits("4242", "timeout"))
    assert state.step is Step.DONE and state.card is None
    assert said(actions) == [media(p.NOT_TAKEN)]
    assert actions[-1] == Finish(PaymentResult(Outcome.ABANDONED, Option.FULL, BALANCE))
    # A silent menu too, and a silent confirmation drops the card.
    assert feed(capture(), Silence(), Silence(), Played())[1][-1].result.outcome is \
        Outcome.ABANDONED
    state, actions = feed(capture(), Key("1"), *card_entry(), Silence(), Key("7"), Silence())
    assert state.card is None and actions[-1].result.outcome is Outcome.ABANDONED


def test_a_declined_card_may_try_another_then_pay():
    flow = capture(promise_days=30)
    state, actions = feed(flow, Key("1"), *card_entry(number="4000000000000002"), Key("1"))
    assert actions[-1].attempt == 1
    state, actions = flow.on(state, Declined("card_declined"))
    assert state.step is Step.DECLINED and state.card is None
    assert said(actions) == [media(p.DECLINED), media(p.ANOTHER_CARD), media(p.PROMISE_ON_2)]
    state, actions = flow.on(state, Key("1"))
    assert state.step is Step.CARD_NUMBER
    state, actions = feed_from(flow, state, *card_entry(), Key("1"))
    assert actions[-1].attempt == 2 and actions[-1].card.last4 == "4242"
    state, actions = flow.on(state, Approved("visa", "4242", "99"))
    result = actions[-1].result
    assert (result.outcome, result.attempts, result.last4) == (Outcome.PAID, 2, "4242")
    assert result.decline_reason == "card_declined"  # the history stays


def test_declined_on_every_card_ends_declined():
    flow = capture()
    state, _ = flow.start()
    state, _ = flow.on(state, Key("1"))
    for attempt in range(1, MAX_CARDS + 1):
        state, actions = feed_from(flow, state, *card_entry(), Key("1"))
        assert actions[-1].attempt == attempt
        state, actions = flow.on(state, Declined("insufficient_funds"))
        if attempt < MAX_CARDS:
            state, actions = flow.on(state, Key("1"))
    assert said(actions) == [media(p.DECLINED), media(p.NOT_TAKEN)]
    assert actions[-1] == Finish(PaymentResult(
        Outcome.DECLINED, Option.FULL, BALANCE, Brand.VISA, "4242", attempts=MAX_CARDS,
        decline_reason="insufficient_funds"))


def test_gateway_down_offers_a_promise():
    flow = capture("es", promise_days=30)
    state, actions = feed(flow, Key("1"), *card_entry(), Key("1"), GatewayDown())
    assert state.step is Step.GATEWAY_DOWN and state.card is None
    assert said(actions) == [media(p.GATEWAY_DOWN), media(p.PROMISE_ON_1)]
    state, actions = feed_from(flow, state, Key("1"), Digits("3006", "max_digits"), Key("1"))
    result = actions[-1].result
    assert (result.outcome, result.promise_date, result.amount, result.attempts) == \
        (Outcome.PROMISED, date(2026, 6, 30), BALANCE, 1)
    # No promise offered: the message, and the flow ends.
    state, actions = feed(capture(), Key("1"), *card_entry(), Key("1"), GatewayDown())
    assert said(actions) == [media(p.GATEWAY_DOWN)]
    assert actions[-1].result.outcome is Outcome.GATEWAY_DOWN
    # A handler that answered nothing (today's runner) counts as the gateway down.
    assert feed(capture(), Key("1"), *card_entry(), Key("1"), Played())[1][-1].result.outcome \
        is Outcome.GATEWAY_DOWN


@pytest.mark.parametrize(("language", "date_said"), [
    ("en", ["sound:digits/mon-6", "number:3"]),
    ("es", ["number:3", media(p.OF), "sound:digits/mon-6"]),
])
def test_a_promise_to_pay_on_a_date(language, date_said):
    flow = capture(language, promise_days=30)
    state, actions = feed(flow, Key("4"))
    assert said(actions) == [media(p.PROMISE_DATE)] and actions[-1].max_digits == 4
    state, actions = flow.on(state, Digits("1006", "max_digits"))
    assert said(actions) == [media(p.DATE_PAST), media(p.PROMISE_DATE)]
    state, actions = flow.on(state, Digits("0108", "max_digits"))
    latest = (["sound:digits/mon-6", "number:15"] if language == "en"
              else ["number:15", media(p.OF), "sound:digits/mon-6"])
    assert said(actions) == [media(p.DATE_TOO_LATE), *latest, media(p.PROMISE_DATE)]
    state, actions = flow.on(state, Digits("0307", "max_digits"))
    assert state.step is Step.PROMISE_CONFIRM
    assert said(actions) == [media(p.YOU_PROMISE), "number:123", media(p.AND), "number:45",
                             media(p.CENTS), media(p.ON_DATE), *date_said, media(p.PROMISE_MENU)]
    state, actions = flow.on(state, Key("1"))
    assert said(actions) == [media(p.PROMISE_RECORDED)]
    assert actions[-1] == Finish(PaymentResult(Outcome.PROMISED, Option.PROMISE, BALANCE,
                                               promise_date=date(2026, 7, 3)))


def test_an_instalment_plan_needs_explicit_consent():
    flow = capture(instalments=3)
    state, actions = feed(flow, Key("3"))
    assert state.step is Step.CONSENT
    assert said(actions) == [media(p.PLAN_FIRST), "number:41", media(p.AND), "number:15",
                             media(p.CENTS), media(p.PLAN_TODAY), "number:2", media(p.PLAN_REST),
                             "number:41", media(p.AND), "number:15", media(p.CENTS),
                             media(p.PLAN_CONSENT)]
    assert flow.on(state, Silence())[0].step is Step.CONSENT  # no word is no consent
    assert flow.on(state, Key("9"))[0].step is Step.CONSENT
    back, _ = flow.on(state, Key("2"))
    assert back.step is Step.CHOOSE and back.option is None
    state, actions = feed_from(flow, state, Key("1"), *card_entry(), Key("1"))
    authorise = actions[-1]
    assert authorise.save_card and authorise.amount == Money(4115)
    state, actions = flow.on(state, Approved("visa", "4242", "55"))
    assert media(p.PLAN_SET_UP) in said(actions)
    result = actions[-1].result
    assert result.outcome is Outcome.PLAN_SET_UP and result.amount == Money(4115)
    assert result.schedule == (Instalment(date(2026, 6, 15), Money(4115)),
                               Instalment(date(2026, 7, 15), Money(4115)),
                               Instalment(date(2026, 8, 15), Money(4115)))


def test_a_prompt_nobody_can_hear_ends_the_flow_and_sends_no_card():
    state, actions = feed(capture(), Unplayable(media(p.BALANCE)))
    assert actions == [Finish(PaymentResult(Outcome.UNPLAYABLE))]
    state, actions = feed(capture(), Key("1"), *card_entry(), Key("1"),
                          Unplayable(media(p.WAIT)))  # the batch stopped before Authorise
    assert state.card is None and not any(isinstance(a, Authorise) for a in actions)
    assert actions[-1].result.outcome is Outcome.UNPLAYABLE


def test_change_the_card_at_the_confirmation():
    flow = capture()
    state, actions = feed(flow, Key("1"), *card_entry(), Key("2"))
    assert state.step is Step.CARD_NUMBER and state.card is None and state.attempts == 0
    assert said(actions) == [media(p.CARD_NUMBER)]


# The amount's terms.

def test_terms():
    options = PaymentOptions(Money.parse("100.00"), settlement_percent=70, instalments=3,
                             promise_days=30)
    assert options.settlement() == Money(7000)
    assert [i.amount.cents for i in options.plan(TODAY)] == [3334, 3333, 3333]
    assert options.offered(TODAY) == tuple(Option)
    assert PaymentOptions(Money(2), instalments=3).plan(TODAY) is None  # not splittable
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2027, 12, 31), 2) == date(2028, 2, 29)
    with pytest.raises(ValueError):
        PaymentOptions(Money(0))
    with pytest.raises(ValueError):
        PaymentOptions(BALANCE, settlement_percent=100)
    assert p.amount_media(Money(5)) == ["number:5", media(p.CENTS)]
    assert p.amount_media(Money(500)) == ["number:5"]
    # A hundred on its own is Recobro's recording ("cien": Debian's Spanish
    # sounds have no digits/100, which Asterisk plays for it).
    hundred = media(numbers.HUNDRED)
    assert p.amount_media(Money(10000)) == [hundred]
    assert p.amount_media(Money(110050)) == ["number:1000", hundred, media(p.AND), "number:50",
                                             media(p.CENTS)]
    assert p.amount_media(Money(10100)) == ["number:101"]


@pytest.mark.parametrize(("ddmm", "today", "latest", "expected"), [
    ("1506", date(2026, 6, 15), date(2026, 7, 15), date(2026, 6, 15)),  # today is fine
    ("1406", date(2026, 6, 15), date(2026, 7, 15), DateProblem.PAST),
    ("1607", date(2026, 6, 15), date(2026, 7, 15), DateProblem.TOO_LATE),
    ("0501", date(2026, 12, 20), date(2027, 1, 19), date(2027, 1, 5)),  # into next year
    ("2501", date(2026, 12, 20), date(2027, 1, 19), DateProblem.TOO_LATE),
    ("1012", date(2026, 12, 20), date(2027, 1, 19), DateProblem.PAST),
    ("3102", date(2026, 1, 20), date(2026, 3, 20), DateProblem.INVALID),
    ("2902", date(2027, 2, 1), date(2027, 3, 1), DateProblem.TOO_LATE),  # 2028's is too late
    ("0013", date(2026, 6, 15), date(2026, 7, 15), DateProblem.INVALID),
    ("156", date(2026, 6, 15), date(2026, 7, 15), DateProblem.INVALID),
])
def test_a_promise_date(ddmm, today, latest, expected):
    assert read_promise_date(ddmm, today, latest) == expected


# The property test: random callers and a random gateway, fed the way
# ivr.runner feeds a flow (the first input a batch gives; a key during a
# prompt that interrupts goes to the batch's Listen or Collect; an effect's
# answer is the batch's input), with now and then an input the runner would
# never give. The call may end at any point: the test stops feeding.

CARDS = [VISA, AMEX, "5555555555554444", "2223003122003222", "6011111111111117",
         "3056930009020004", "3566002020360505", "6200000000000005", "4000056655665556"]
CVVS = ["737", "7373", "73"]
KEYS = "1111111222233456789*#0"


def good_entries(step, today):
    """What a careful caller keys at step: a test card, an expiry (valid
    from today, or just past), a CVV, a promise date (this month or next)."""
    if step is Step.CARD_NUMBER:
        return CARDS
    if step is Step.EXPIRY:
        return [f"{d.month:02d}{d.year % 100:02d}"
                for d in (today, add_months(today, 30), add_months(today, -1))]
    if step is Step.CVV:
        return CVVS
    return [f"{d.day:02d}{d.month:02d}" for d in (today, add_months(today, 1))]


def entry(collect, step, today, rnd):
    """What a Collect gives: mostly a good entry, else one cut short, one
    with a `*` in it, a `*` or `#` storm, random keys, or silence."""
    good = rnd.choice(good_entries(step, today))
    value = rnd.choices([
        good, good[:-1], good[:2] + "*" + good[2:], "*" * rnd.randint(1, 30), "",
        "".join(rnd.choice("0123456789*") for _ in range(rnd.randint(1, 20)))],
        [60, 8, 8, 6, 6, 12])[0][:collect.max_digits]
    if not value and rnd.random() < 0.5:
        return Silence()
    ended = "max_digits" if len(value) == collect.max_digits else rnd.choice(["end_key",
                                                                              "timeout"])
    return Digits(value, ended)


def any_input(rnd):
    """An input the runner would never give here."""
    return rnd.choice([
        Key(rnd.choice(KEYS)), Silence(), Played(), Unplayable("sound:x"),
        Digits("".join(rnd.choice("0123456789*") for _ in range(rnd.randint(0, 20))),
               rnd.choice(["end_key", "max_digits", "timeout"])),
        Digits(rnd.choice(CARDS), "end_key"),
        Approved("visa", "4242", "1"), Declined("do_not_honor"), GatewayDown()])


@st.composite
def flows(draw):
    offers = draw(st.fixed_dictionaries({}, optional={
        "settlement_percent": st.integers(1, 99), "instalments": st.integers(2, 12),
        "promise_days": st.integers(0, 90)}))
    balance = Money(draw(st.integers(1, 10**9)))
    today = draw(st.dates(date(2025, 1, 1), date(2040, 12, 31)))
    return PaymentCapture(PaymentOptions(balance, **offers), today,
                          draw(st.sampled_from(["en", "es"])))


class Ended(Exception):
    pass


def perform(actions, flow, state, rnd, sent):
    """What the runner would give the flow for this batch; Ended when the
    flow finishes, or the caller hangs up (at a random action of it)."""
    fate = rnd.choices(["normal", "barge-in", "unplayable", "hang up"], [80, 12, 2, 3])[0]
    at = rnd.randrange(len(actions))
    for index, action in enumerate(actions):
        if fate == "hang up" and index == at:
            raise Ended
        if isinstance(action, Play) and index >= at:
            if fate == "unplayable":
                return Unplayable(action.media)
            if fate == "barge-in" and action.keys is KeyMode.INTERRUPT:
                waits = [a for a in actions[index:] if isinstance(a, (Listen, Collect))]
                if not waits:
                    return Key(rnd.choice(KEYS))
                return heard_by(waits[0], flow, state, rnd)  # the key starts the wait
        elif isinstance(action, (Listen, Collect)):
            return heard_by(action, flow, state, rnd)
        elif isinstance(action, Authorise):
            sent.append(action)
            answer = rnd.choice([
                Approved(action.card.brand.value, action.card.last4, rnd.choice(["8080", "R-1"])),
                Declined(rnd.choice(["card_declined", "expired_card"])), GatewayDown(), None])
            if answer is not None:
                return answer
        elif isinstance(action, (Finish, Hangup)):
            raise Ended
    return Played()


def heard_by(wait, flow, state, rnd):
    if rnd.random() < 0.04:
        return any_input(rnd)
    if isinstance(wait, Listen):
        return Silence() if rnd.random() < 0.15 else Key(rnd.choice(KEYS))
    return entry(wait, state.step, flow.today, rnd)


def check_batch(actions):
    assert actions, "an empty batch: the runner would spin"
    for play in (a for a in actions if isinstance(a, Play)):
        assert not any(number in play.media for number in CARDS)
        assert play.media not in {f"digits:{cvv}" for cvv in CVVS}
    ends = [a for a in actions if isinstance(a, (Finish, Hangup))]
    assert not any(isinstance(a, Hangup) for a in actions)  # the call goes on
    if ends:
        assert len(ends) == 1 and actions[-1] is ends[0]
        assert isinstance(ends[0].result, PaymentResult)
    else:
        assert any(isinstance(a, (Listen, Collect, Authorise)) for a in actions)


def check_authorise(authorise, flow, attempt):
    card = authorise.card
    assert isinstance(card, Card) and card.complete
    assert number_problem(card.number) is None
    assert not card.expiry.expired(flow.today)
    assert len(card.cvv) == cvv_length(card.brand) and card.cvv.isdigit()
    assert authorise.attempt == attempt <= MAX_CARDS  # one per attempt, in order
    assert authorise.amount.cents > 0


def secrets_of(flow):
    """Every card number, CVV and expiry a caller may have keyed, as they
    would show in a repr (a CVV or an expiry is a short string of digits,
    which an amount may hold too: only a quoted one is a leak)."""
    expiries = good_entries(Step.EXPIRY, flow.today)
    return {*CARDS, *(f"'{v}'" for v in CVVS + expiries), *(f'"{v}"' for v in CVVS + expiries)}


def check_result(result, secrets):
    shown = repr(result) + str(result)
    for value in (getattr(result, f.name) for f in fields(result)):
        assert not isinstance(value, (Card, Expiry))
    assert "Card(" not in shown and "Expiry" not in shown
    for secret in secrets:
        assert secret not in shown


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(flows(), st.randoms(use_true_random=True))
def test_random_callers(flow, rnd):
    state, actions = flow.start()
    sent: list[Authorise] = []
    secrets = secrets_of(flow)
    try:
        for _ in range(500):
            check_batch(actions)
            before = len(sent)
            heard = perform(actions, flow, state, rnd, sent)
            assert len(sent) - before <= 1
            for authorise in sent[before:]:
                check_authorise(authorise, flow, len(sent))
            state, actions = flow.on(state, heard)
        pytest.fail("500 batches and still going")
    except Ended:
        pass  # the flow finished, or the caller hung up: nothing more is fed
    event(f"authorisations sent: {len(sent)}")
    if any(isinstance(a, Finish) for a in actions):
        check_result(actions[-1].result, secrets)
        event(f"finished {actions[-1].result.outcome.value}")
    else:
        event(f"hung up at {state.step.value}")
    if state.step is Step.DONE:
        assert state.card is None
    # A caller who stops keying (and a gateway that stops answering) is
    # let go: the flow finishes, within a bounded number of prompts.
    for _ in range(40):
        if any(isinstance(a, Finish) for a in actions):
            break
        state, actions = flow.on(state, Silence())
        check_batch(actions)
    else:
        pytest.fail(f"still asking at {state.step} after 40 silences")
    check_result(actions[-1].result, secrets)
