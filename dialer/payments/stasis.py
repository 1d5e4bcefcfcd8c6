"""Where a payment by keypad starts, and how it runs on a call.

The flow named "payment" takes calls an engineer's dialplan sends with
`Stasis(<app>, flow=payment,account=REF[,language=es][,campaign=NAME])`;
the inbound desk hands its self-service callers who press the pay key to
`Payments.take`. Either way: the account's balance and currency, the
payment terms its campaign's segment strategy offers (the campaign named,
else the latest that drew a lead for it, else the balance or a promise
within a week), the capture flow (payment_ivr) run by ivr.runner with the
gateway's effect handler, the call's recording muted meanwhile (each mute
and resume a call event), and the result handed to the ledger. Only the
effect handler sees a card."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import asyncpg

from dialer.calls.control import CallControl, CallEvents
from dialer.calls.events import RecordingMuted
from dialer.errors import CallControlError, ChannelGone
from dialer.payments import store
from dialer.payments.store import Payer
from dialer.payments.wiring import Authoriser, MakeAuthoriser, Record
from dialer.portfolio.model import PaymentTerms
from ivr.actions import sound
from ivr.prompts import language_or_default
from ivr.runner import run_flow
from ivr.say import Say
from payment_ivr import prompts
from payment_ivr.authorise import PaymentContext
from payment_ivr.capture import (
    Approved,
    Authorise,
    Capture,
    GatewayAnswer,
    Heard,
    Outcome,
    PaymentCapture,
    PaymentResult,
)
from payment_ivr.card import Brand
from payment_ivr.progress import Progress, progress
from payment_ivr.terms import Money, Option, PaymentOptions

log = logging.getLogger(__name__)

PAYMENT_FLOW = "payment"  # the flow's name in Stasis arguments
# An account no campaign drew a lead for: the balance, or a promise within
# the week self-service promises in (ivr.self_service.PROMISE_DAYS).
NO_CAMPAIGN = PaymentTerms(promise_days=7)
# The channel variable the dialplan reads after Stasis(): the capture's
# outcome (payment_ivr.capture.Outcome's values), or NOT_TAKEN.
PAYMENT_VARIABLE = "RECOBRO_PAYMENT"
NOT_TAKEN = "not_taken"  # the account is unknown, or owes nothing payable


class _Sent:
    """What a capture sent the gateway and heard back, never the card: so
    that a call ending after an approval still records the payment."""

    def __init__(self, authorise: Authoriser) -> None:
        self.authorise = authorise
        self.attempts = 0
        self.amount: Money | None = None
        self.plan = False
        self.brand: Brand | None = None
        self.last4: str | None = None
        self.answer: GatewayAnswer | None = None

    async def perform(self, effect: object) -> GatewayAnswer:
        if not isinstance(effect, Authorise):
            raise TypeError(f"unexpected effect {effect!r}")
        self.attempts, self.amount, self.plan = effect.attempt, effect.amount, effect.save_card
        self.brand, self.last4, self.answer = effect.card.brand, effect.card.last4, None
        self.answer = await self.authorise(effect)
        return self.answer


def ended_early(options: PaymentOptions, today: date, sent: _Sent) -> PaymentResult:
    """The result of a capture whose call ended before the flow finished:
    what the gateway approved, if it did (the debtor hung up during the
    receipt), else HUNG_UP with the authorisations sent."""
    answer = sent.answer
    if isinstance(answer, Approved) and sent.amount is not None:
        if sent.plan:
            option, outcome = Option.PLAN, Outcome.PLAN_SET_UP
        else:
            option = Option.FULL if sent.amount == options.balance else Option.SETTLEMENT
            outcome = Outcome.PAID
        return PaymentResult(outcome, option=option, amount=sent.amount, brand=sent.brand,
                             last4=sent.last4, reference=answer.reference,
                             schedule=(options.plan(today) or ()) if sent.plan else (),
                             attempts=sent.attempts)
    return PaymentResult(Outcome.HUNG_UP, brand=sent.brand, last4=sent.last4,
                         attempts=sent.attempts)


async def mute_recording(control: CallControl, call_id: str, muted: bool) -> None:
    """Mute (or resume) the call's recording, noted in the call's events
    with Asterisk's refusal when it has no recording of the call."""
    refused = ""
    try:
        await control.mute_recording(call_id, muted)
    except ChannelGone:
        return  # the call is over: nothing is recorded any more
    except CallControlError as error:
        refused = str(error)
        log.info("call %s: recording not %s: %s", call_id, "muted" if muted else "resumed",
                 refused)
    control.note(RecordingMuted(call_id=call_id, at=control.clock(), muted=muted,
                                refused=refused))


Report = Callable[[Progress], None]


@dataclass(frozen=True)
class Reported:
    """The capture flow, each of its moves told to report as the progress
    an agent on the line may see (payment_ivr.progress: never a digit)."""

    flow: PaymentCapture
    report: Report

    def start(self) -> tuple[Capture, list[object]]:
        return self.flow.start()

    def on(self, state: Capture, heard: Heard) -> tuple[Capture, list[object]]:
        after, actions = self.flow.on(state, heard)
        told = progress(state, heard, after)
        if told is not None:
            self.report(told)
        return after, actions


async def capture(control: CallControl, call_id: str, events: CallEvents, flow: PaymentCapture,
                  authorise: Authoriser, report: Report | None = None) -> PaymentResult:
    """Run the capture flow on the call with its recording muted, and what
    it ended with: the flow's result, or ended_early's when the call ended
    first. With report, each step's progress is told to it."""
    sent = _Sent(authorise)
    await mute_recording(control, call_id, True)
    try:
        result = await run_flow(flow if report is None else Reported(flow, report), control,
                                call_id, events, sent.perform)
    finally:
        if not events.ended.done():
            await mute_recording(control, call_id, False)
    if isinstance(result, PaymentResult):
        return result
    return ended_early(flow.options, flow.today, sent)


def payment_options(payer: Payer, terms: PaymentTerms) -> PaymentOptions:
    """What the payer may pay under terms."""
    return PaymentOptions(Money.parse(payer.balance, payer.currency.strip()),
                          settlement_percent=terms.settlement_percent,
                          instalments=terms.instalments, promise_days=terms.promise_days)


# Captures that leave nothing more to settle on the call: paid, a plan set
# up, or a promise made.
CONCLUDED = frozenset({Outcome.PAID, Outcome.PLAN_SET_UP, Outcome.PROMISED})


def concluded(result: PaymentResult) -> bool:
    """Whether the capture settled the matter (a flow that handed the
    caller over may then end the call, rather than offer its menu again)."""
    return result.outcome in CONCLUDED


class Payments:
    """Takes payments on calls: the "payment" Stasis flow, and `take` for
    flows that hand a caller over."""

    def __init__(self, control: CallControl, pool: asyncpg.Pool,
                 make_authoriser: MakeAuthoriser, record: Record) -> None:
        self.control = control
        self.pool = pool
        self.make_authoriser = make_authoriser
        self.record = record
        control.register_flow(PAYMENT_FLOW, self._run)

    async def take(self, call_id: str, events: CallEvents, payer: Payer,
                   campaign: str | None = None, report: Report | None = None) -> PaymentResult:
        """Capture a payment from the payer on the call (answered), record
        what it ended with, and return it; the call goes on. With report,
        the capture's progress is told to it as it goes."""
        terms = await store.terms_of(self.pool, payer.account_id, campaign) or NO_CAMPAIGN
        context = PaymentContext(uuid.uuid4(), payer.account_id, payer.reference, call_id)
        flow = PaymentCapture(payment_options(payer, terms), payer.today(self.control.clock()),
                              self.control.language_of(call_id))
        result = await capture(self.control, call_id, events, flow,
                               self.make_authoriser(context), report)
        await self.record(context, result)
        return result

    async def _run(self, call_id: str, events: CallEvents) -> None:
        """A call the dialplan sent: answer, find the account, take the
        payment, and give the call back to the dialplan with how it ended
        in PAYMENT_VARIABLE."""
        params = events.entered.params
        reference = params.get("account", "")
        try:
            await self.control.answer(call_id)
            payer = await store.payer_by_reference(self.pool, reference) if reference else None
            language = params.get("language") or (payer.language if payer else "")
            if language:
                self.control.speak(call_id, language_or_default(language))
            if payer is None or not payer.payable:
                log.warning("payment call %s: account %r is %s; nothing taken", call_id,
                            reference, "unknown" if payer is None else "not payable")
                await run_flow(Say(sound(prompts.NOT_TAKEN.sound)), self.control, call_id,
                               events)
                outcome = NOT_TAKEN
            else:
                outcome = (await self.take(call_id, events, payer,
                                           params.get("campaign"))).outcome.value
            if not events.ended.done():
                await self.control.give_back(call_id, {PAYMENT_VARIABLE: outcome})
        except CallControlError as error:
            log.info("payment call %s: %s", call_id, error)
