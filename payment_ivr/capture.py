"""The payment capture flow, as an explicit state machine run by
ivr.runner, in Spanish and English: the amount (the full balance, a
settlement, an instalment plan with the debtor's explicit consent, or a
promise to pay on a date they key), then the card number, expiry and CVV,
a confirmation read back by brand and last four only, one `Authorise`
effect per attempt, and the gateway's answer (`Approved`, `Declined`,
`GatewayDown`) as the input that follows it.

Pure: inputs in, state and actions out. The card lives in the flow's state
from its number being keyed to the gateway's answer, and leaves the flow
only inside `Authorise`; the flow finishes with a `PaymentResult`, which
holds no card data but the brand and last four.

Every step is asked again on silence or a wrong entry, at most MAX_ERRORS
times, and at most MAX_ASKS times in all (`*` restarts a step and counts
there only); then the flow gives up. `#` ends an entry. A prompt Asterisk
cannot play ends the flow (UNPLAYABLE): nobody pays for what they could not
hear (`recobro sounds check` finds a missing sound before any call). The flow always finishes (the call goes on: to the menu it came from,
or to the agent on the line); it never hangs up."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from enum import Enum

from ivr.actions import (
    Collect,
    Digits,
    Finish,
    Input,
    Key,
    KeyMode,
    Listen,
    Play,
    Unplayable,
)
from ivr.actions import sound as media_of
from ivr.recordings import Recording
from payment_ivr import prompts as p
from payment_ivr.card import (
    Brand,
    Card,
    Problem,
    cvv_length,
    cvv_problem,
    read_expiry,
    read_number,
)
from payment_ivr.terms import (
    DateProblem,
    Instalment,
    Money,
    Option,
    PaymentOptions,
    read_promise_date,
)

MAX_ERRORS = 3  # silences or wrong entries in one step, then the flow gives up
MAX_ASKS = 6  # times one step is asked in all, `*` restarts included
MAX_CARDS = 3  # authorisations per capture: a declined card may try another
MENU_S = 8.0  # to press a key after a menu
FIRST_KEY_S = 15.0  # to start keying the card number (the card may be in a wallet)
ENTRY_FIRST_KEY_S = 10.0  # to start keying the expiry, CVV or a date
DIGIT_S = 6.0  # between two keys of an entry
MAX_CARD_DIGITS = 19
RESTART = "*"


class Step(Enum):
    """Where the capture is."""

    CHOOSE = "choose"  # the amount menu
    CONSENT = "consent"  # the plan's terms; 1 agrees
    CARD_NUMBER = "card_number"
    EXPIRY = "expiry"
    CVV = "cvv"
    CONFIRM = "confirm"  # brand, last four, amount; 1 pays, 2 another card
    AUTHORISING = "authorising"  # Authorise sent; the gateway's answer next
    DECLINED = "declined"  # 1 another card, 2 a promise
    GATEWAY_DOWN = "gateway_down"  # 1 a promise
    PROMISE_DATE = "promise_date"
    PROMISE_CONFIRM = "promise_confirm"  # 1 confirms, 2 another date
    DONE = "done"  # the result is said; Finish follows


class Outcome(Enum):
    """How a capture ended."""

    PAID = "paid"
    PLAN_SET_UP = "plan_set_up"  # the first payment approved, the others scheduled
    PROMISED = "promised"
    DECLINED = "declined"  # the last card was declined and no other was tried
    GATEWAY_DOWN = "gateway_down"  # no answer from the gateway and no promise
    ABANDONED = "abandoned"  # silences or wrong entries until the flow gave up
    UNPLAYABLE = "unplayable"  # a prompt could not be played
    # Never the flow's own: run_flow returns None when the call ends, and the
    # service records this for it.
    HUNG_UP = "hung_up"


# The gateway's answers to Authorise: inputs, returned by the service's
# effect handler and given to the flow by the runner.

@dataclass(frozen=True)
class Approved:
    """The gateway charged the card. reference is what the debtor is told:
    a receipt number, said digit by digit (only its digits are said)."""

    brand: str
    last4: str
    reference: str


@dataclass(frozen=True)
class Declined:
    """The gateway refused the card; reason is the gateway's (for the
    result and the agent, never said to the debtor)."""

    reason: str


@dataclass(frozen=True)
class GatewayDown:
    """No answer from the gateway: it is unreachable or timed out, and the
    service's retries gave up."""


GatewayAnswer = Approved | Declined | GatewayDown
Heard = Input | GatewayAnswer


@dataclass(frozen=True)
class Authorise:
    """Effect: charge card amount now (card-not-present, MOTO); with
    save_card, also keep a gateway token of the card for the plan's later
    payments, which the debtor agreed to. attempt numbers the capture's
    authorisations from 1 (the service makes one idempotency key per
    attempt). The handler returns the gateway's answer and wipes the card.
    The only place a card leaves the flow."""

    card: Card
    amount: Money
    attempt: int
    save_card: bool = False


@dataclass(frozen=True)
class PaymentResult:
    """What a capture ended with: no card number, expiry or CVV; the
    brand and last four of the last card sent at most."""

    outcome: Outcome
    option: Option | None = None
    amount: Money | None = None  # charged now (a plan's first payment) or promised
    brand: Brand | None = None
    last4: str | None = None
    reference: str | None = None  # the gateway's, when approved
    promise_date: date | None = None
    schedule: tuple[Instalment, ...] = ()  # a plan's payments, the first charged now
    attempts: int = 0  # authorisations sent
    decline_reason: str | None = None  # the last decline's


@dataclass(frozen=True)
class Capture:
    """The flow's state. card is set from the card number to the gateway's
    answer (or to a change of card), and None otherwise."""

    step: Step
    option: Option | None = None
    amount: Money | None = None
    schedule: tuple[Instalment, ...] = ()
    card: Card | None = None
    errors: int = 0  # in this step
    asks: int = 1  # times this step was asked
    attempts: int = 0
    brand: Brand | None = None  # of the last card sent
    last4: str | None = None
    decline_reason: str | None = None
    promise_date: date | None = None
    result: PaymentResult | None = None


Next = tuple[Capture, list[object]]


def _play(recording: Recording, keys: KeyMode = KeyMode.INTERRUPT) -> Play:
    return Play(media_of(recording.sound), keys=keys)


def _say(media: Sequence[str], keys: KeyMode = KeyMode.INTERRUPT) -> list[object]:
    return [Play(m, keys=keys) for m in media if m]


def _entered(heard: Heard) -> str | None:
    """What a Collect gathered: None for nothing at all (silence, `#`
    alone), RESTART when `*` was among the keys (keys after it are
    dropped: the step starts again)."""
    if isinstance(heard, Digits):
        value = heard.value
    elif isinstance(heard, Key):
        value = heard.digit
    else:
        return None
    if RESTART in value:
        return RESTART
    return value or None


def _key(heard: Heard) -> str | None:
    return heard.digit if isinstance(heard, Key) else None


def _collect(max_digits: int, first_key_s: float = ENTRY_FIRST_KEY_S) -> Collect:
    return Collect(max_digits=max_digits, timeout_s=DIGIT_S, end_key="#", first_key_s=first_key_s)


@dataclass(frozen=True)
class PaymentCapture:
    """The capture flow for one debtor: options from the campaign's rules,
    today's date (no clock is read), the call's language ("es" or "en":
    dates are said in each language's order)."""

    options: PaymentOptions
    today: date
    language: str = "es"

    # The flow protocol.

    def start(self) -> Next:
        """The amount menu."""
        return self._ask(Capture(Step.CHOOSE))

    def on(self, state: Capture, heard: Heard) -> Next:
        """The next state and actions after heard."""
        if state.step is Step.DONE:
            return state, [Finish(state.result)]
        if isinstance(heard, Unplayable):
            # Also the wait prompt before Authorise: the batch stopped there
            # and the card was not sent. It is not sent again either: one
            # Authorise per attempt, whatever the runner says.
            return self._end(state, Outcome.UNPLAYABLE)
        handlers = {
            Step.CHOOSE: self._on_choose,
            Step.CONSENT: self._on_consent,
            Step.CARD_NUMBER: self._on_card_number,
            Step.EXPIRY: self._on_expiry,
            Step.CVV: self._on_cvv,
            Step.CONFIRM: self._on_confirm,
            Step.AUTHORISING: self._on_answer,
            Step.DECLINED: self._on_declined,
            Step.GATEWAY_DOWN: self._on_gateway_down,
            Step.PROMISE_DATE: self._on_promise_date,
            Step.PROMISE_CONFIRM: self._on_promise_confirm,
        }
        return handlers[state.step](state, heard)

    # Moving between steps.

    def _to(self, state: Capture, step: Step, preface: Sequence[object] = (),
            **changes: object) -> Next:
        """Into step, asked afresh (after preface)."""
        return self._ask(replace(state, step=step, errors=0, asks=1, **changes), preface)

    def _again(self, state: Capture, preface: Sequence[object] = (), *,
               error: bool = True) -> Next:
        """The step asked again after an error (or a `*` restart, which is
        no error), unless it was asked enough: then the flow gives up."""
        errors = state.errors + error
        asks = state.asks + 1
        if errors >= MAX_ERRORS or asks > MAX_ASKS:
            return self._give_up(state)
        return self._ask(replace(state, errors=errors, asks=asks), preface)

    def _give_up(self, state: Capture) -> Next:
        """The end of a step asked enough: "your payment has not been made"
        (after the gateway was down, the debtor knows already)."""
        if state.step is Step.GATEWAY_DOWN:
            return self._end(state, Outcome.GATEWAY_DOWN)
        outcome = Outcome.DECLINED if state.step is Step.DECLINED else Outcome.ABANDONED
        return self._end(state, outcome, [_play(p.NOT_TAKEN, KeyMode.BUFFER)])

    def _result(self, state: Capture, outcome: Outcome, **fields: object) -> PaymentResult:
        return PaymentResult(
            outcome=outcome, option=state.option, amount=state.amount, brand=state.brand,
            last4=state.last4, promise_date=state.promise_date, attempts=state.attempts,
            decline_reason=state.decline_reason,
            schedule=state.schedule if outcome is Outcome.PLAN_SET_UP else (), **fields)

    def _end(self, state: Capture, outcome: Outcome, words: Sequence[object] = (),
             **fields: object) -> Next:
        """Finish with outcome, after words."""
        result = self._result(state, outcome, **fields)
        done = Capture(Step.DONE, option=state.option, amount=state.amount,
                       attempts=state.attempts, brand=state.brand, last4=state.last4,
                       result=result)  # no card: it is dropped here
        return done, [*words, Finish(result)]

    # What each step says.

    def _ask(self, state: Capture, preface: Sequence[object] = ()) -> Next:
        asks = {
            Step.CHOOSE: self._menu,
            Step.CONSENT: self._consent,
            Step.CARD_NUMBER: lambda s: [_play(p.CARD_NUMBER),
                                         _collect(MAX_CARD_DIGITS, FIRST_KEY_S)],
            Step.EXPIRY: lambda s: [_play(p.EXPIRY), _collect(4)],
            Step.CVV: self._cvv,
            Step.CONFIRM: self._confirm,
            Step.DECLINED: self._declined_menu,
            Step.GATEWAY_DOWN: self._gateway_down_menu,
            Step.PROMISE_DATE: lambda s: [_play(p.PROMISE_DATE), _collect(4)],
            Step.PROMISE_CONFIRM: self._promise_confirm,
        }
        return state, [*preface, *asks[state.step](state)]

    def _amount(self, amount: Money) -> list[object]:
        return _say(p.amount_media(amount))

    def _menu(self, state: Capture) -> list[object]:
        options = self.options
        offered = options.offered(self.today)
        actions: list[object] = [_play(p.BALANCE), *self._amount(options.balance),
                                 _play(p.OPTION_FULL)]
        settlement = options.settlement()
        if Option.SETTLEMENT in offered and settlement is not None:
            actions += [_play(p.OPTION_SETTLE), *self._amount(settlement), _play(p.PRESS_2)]
        plan = options.plan(self.today)
        if Option.PLAN in offered and plan is not None:
            actions += [_play(p.OPTION_PLAN), Play(f"number:{len(plan)}"), _play(p.MONTHLY_OF),
                        *self._amount(plan[-1].amount), _play(p.PRESS_3)]
        if Option.PROMISE in offered:
            actions.append(_play(p.OPTION_PROMISE))
        return [*actions, Listen(MENU_S)]

    def _consent(self, state: Capture) -> list[object]:
        first, *rest = state.schedule
        return [_play(p.PLAN_FIRST), *self._amount(first.amount), _play(p.PLAN_TODAY),
                Play(f"number:{len(rest)}"), _play(p.PLAN_REST), *self._amount(rest[-1].amount),
                _play(p.PLAN_CONSENT), Listen(MENU_S)]

    @staticmethod
    def _cvv(state: Capture) -> list[object]:
        brand = state.card.brand if state.card is not None else Brand.UNKNOWN
        return [_play(p.CVV_AMEX if brand is Brand.AMEX else p.CVV), _collect(cvv_length(brand))]

    def _confirm(self, state: Capture) -> list[object]:
        card = state.card
        assert card is not None and state.amount is not None  # set on the way here
        return [_play(p.PAYING_WITH), _play(p.BRANDS[card.brand]), _play(p.ENDING_IN),
                *_say([p.digits_of(card.last4)]), _play(p.THE_AMOUNT),
                *self._amount(state.amount), _play(p.CONFIRM_MENU), Listen(MENU_S)]

    def _declined_menu(self, state: Capture) -> list[object]:
        promise = [_play(p.PROMISE_ON_2)] if self.options.promise_days is not None else []
        return [_play(p.ANOTHER_CARD), *promise, Listen(MENU_S)]

    @staticmethod
    def _gateway_down_menu(state: Capture) -> list[object]:
        return [_play(p.PROMISE_ON_1), Listen(MENU_S)]

    def _promise_confirm(self, state: Capture) -> list[object]:
        assert state.promise_date is not None  # set on the way here
        return [_play(p.YOU_PROMISE), *self._amount(self.options.balance), _play(p.ON_DATE),
                *_say(p.date_media(state.promise_date, self.language)),
                _play(p.PROMISE_MENU), Listen(MENU_S)]

    # What each step hears.

    def _on_choose(self, state: Capture, heard: Heard) -> Next:
        key = _key(heard)
        if key == RESTART:
            return self._again(state, error=False)
        offered = self.options.offered(self.today)
        option = next((o for o in offered if o.value == key), None)
        if option is Option.FULL:
            return self._to(state, Step.CARD_NUMBER, option=option, amount=self.options.balance)
        if option is Option.SETTLEMENT:
            return self._to(state, Step.CARD_NUMBER, option=option,
                            amount=self.options.settlement())
        if option is Option.PLAN:
            plan = self.options.plan(self.today) or ()
            return self._to(state, Step.CONSENT, option=option, schedule=plan,
                            amount=plan[0].amount)
        if option is Option.PROMISE:
            return self._to(state, Step.PROMISE_DATE, option=option,
                            amount=self.options.balance)
        return self._again(state)

    def _on_consent(self, state: Capture, heard: Heard) -> Next:
        key = _key(heard)
        if key == "1":
            return self._to(state, Step.CARD_NUMBER)
        if key == "2":
            return self._to(state, Step.CHOOSE, option=None, amount=None, schedule=())
        return self._again(state, error=key != RESTART)

    def _on_card_number(self, state: Capture, heard: Heard) -> Next:
        value = _entered(heard)
        if value == RESTART:
            return self._again(state, error=False)
        if value is None:
            return self._again(state, [_play(p.NO_ENTRY)])
        card = read_number(value)
        if isinstance(card, Problem):
            return self._again(state, [_play(p.CARD_INVALID)])
        return self._to(state, Step.EXPIRY, card=card)

    def _on_expiry(self, state: Capture, heard: Heard) -> Next:
        value = _entered(heard)
        if value == RESTART:
            return self._again(state, error=False)
        if value is None:
            return self._again(state, [_play(p.NO_ENTRY)])
        expiry = read_expiry(value, self.today)
        if expiry is Problem.EXPIRED:
            return self._again(state, [_play(p.EXPIRED)])
        if isinstance(expiry, Problem) or state.card is None:
            return self._again(state, [_play(p.EXPIRY_INVALID)])
        return self._to(state, Step.CVV, card=state.card.with_expiry(expiry))

    def _on_cvv(self, state: Capture, heard: Heard) -> Next:
        value = _entered(heard)
        if value == RESTART:
            return self._again(state, error=False)
        if value is None:
            return self._again(state, [_play(p.NO_ENTRY)])
        card = state.card
        if card is None or cvv_problem(value, card.brand) is not None:
            return self._again(state, [_play(p.CVV_INVALID)])
        return self._to(state, Step.CONFIRM, card=card.with_cvv(value))

    def _on_confirm(self, state: Capture, heard: Heard) -> Next:
        key = _key(heard)
        card = state.card
        if key == "1" and card is not None and card.complete and state.amount is not None:
            sending = replace(state, step=Step.AUTHORISING, attempts=state.attempts + 1,
                              brand=card.brand, last4=card.last4)
            return sending, [_play(p.WAIT, KeyMode.BUFFER), self._authorise(sending)]
        if key == "2":
            return self._to(state, Step.CARD_NUMBER, card=None)
        return self._again(state, error=key != RESTART)

    @staticmethod
    def _authorise(state: Capture) -> Authorise:
        assert state.card is not None and state.amount is not None  # checked at CONFIRM
        return Authorise(card=state.card, amount=state.amount, attempt=state.attempts,
                         save_card=state.option is Option.PLAN)

    def _on_answer(self, state: Capture, heard: Heard) -> Next:
        answered = replace(state, card=None)  # whatever the answer, the card goes
        if isinstance(heard, Approved):
            return self._approved(answered, heard)
        if isinstance(heard, Declined):
            declined = replace(answered, decline_reason=heard.reason)
            words = [_play(p.DECLINED)]
            if state.attempts >= MAX_CARDS:
                return self._end(declined, Outcome.DECLINED,
                                 [*words, _play(p.NOT_TAKEN, KeyMode.BUFFER)])
            return self._to(declined, Step.DECLINED, words)
        # GatewayDown, or no answer at all (a handler that returned nothing,
        # or anything else): the card is not known to be charged.
        if self.options.promise_days is None:
            return self._end(answered, Outcome.GATEWAY_DOWN,
                             [_play(p.GATEWAY_DOWN, KeyMode.BUFFER)])
        return self._to(answered, Step.GATEWAY_DOWN, [_play(p.GATEWAY_DOWN)])

    def _approved(self, state: Capture, approved: Approved) -> Next:
        plan = state.option is Option.PLAN
        assert state.amount is not None  # set at CHOOSE
        words: list[object] = [
            _play(p.PAYMENT_OF, KeyMode.BUFFER),
            *_say(p.amount_media(state.amount), KeyMode.BUFFER),
            _play(p.APPROVED_CARD, KeyMode.BUFFER),
            *_say([p.digits_of(state.last4 or "")], KeyMode.BUFFER)]
        if p.digits_of(approved.reference):
            words += [_play(p.REFERENCE, KeyMode.BUFFER),
                      *_say([p.digits_of(approved.reference)], KeyMode.BUFFER)]
        if plan:
            words.append(_play(p.PLAN_SET_UP, KeyMode.BUFFER))
        words.append(_play(p.THANK_YOU, KeyMode.BUFFER))
        return self._end(state, Outcome.PLAN_SET_UP if plan else Outcome.PAID, words,
                         reference=approved.reference)

    def _on_declined(self, state: Capture, heard: Heard) -> Next:
        key = _key(heard)
        if key == "1":
            return self._to(state, Step.CARD_NUMBER)
        if key == "2" and self.options.promise_days is not None:
            return self._to(state, Step.PROMISE_DATE)
        return self._again(state, error=key != RESTART)

    def _on_gateway_down(self, state: Capture, heard: Heard) -> Next:
        key = _key(heard)
        if key == "1":
            return self._to(state, Step.PROMISE_DATE)
        return self._again(state, error=key != RESTART)

    def _on_promise_date(self, state: Capture, heard: Heard) -> Next:
        value = _entered(heard)
        if value == RESTART:
            return self._again(state, error=False)
        if value is None:
            return self._again(state, [_play(p.NO_ENTRY)])
        latest = self.options.latest_promise(self.today)
        if latest is None:  # not offered: never here, but never a promise either
            return self._give_up(state)
        day = read_promise_date(value, self.today, latest)
        if day is DateProblem.PAST:
            return self._again(state, [_play(p.DATE_PAST)])
        if day is DateProblem.TOO_LATE:
            return self._again(state, [_play(p.DATE_TOO_LATE),
                                       *_say(p.date_media(latest, self.language))])
        if isinstance(day, DateProblem):
            return self._again(state, [_play(p.DATE_INVALID)])
        return self._to(state, Step.PROMISE_CONFIRM, promise_date=day)

    def _on_promise_confirm(self, state: Capture, heard: Heard) -> Next:
        key = _key(heard)
        if key == "1":
            promised = replace(state, option=Option.PROMISE, amount=self.options.balance)
            return self._end(promised, Outcome.PROMISED,
                             [_play(p.PROMISE_RECORDED, KeyMode.BUFFER)])
        if key == "2":
            return self._to(state, Step.PROMISE_DATE, promise_date=None)
        return self._again(state, error=key != RESTART)
