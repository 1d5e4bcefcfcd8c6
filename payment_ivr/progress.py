"""What an agent on the line is told of a capture it handed over: each
step done or asked again, then the outcome, and never a digit the debtor
keyed. Pure: read from the capture flow's own states (payment_ivr.capture)
and from its result.

The words are the agent's screen's: "card number: 16 digits", "expiry:
done", "approved: visa ending 4242, reference pi_...", "declined:
card_declined". A card number's length, its brand and last four and the
gateway's reference are all an agent ever sees of a card."""

from __future__ import annotations

from dataclasses import dataclass

from ivr.actions import Digits
from payment_ivr.capture import (
    Capture,
    Heard,
    Outcome,
    PaymentResult,
    Step,
)
from payment_ivr.terms import Option

# The entries an agent is told about: the capture's step, its name on the
# agent's screen, and the step that follows it once it is done.
_ENTRIES = {Step.CARD_NUMBER: ("card_number", Step.EXPIRY), Step.EXPIRY: ("expiry", Step.CVV),
            Step.CVV: ("security_code", Step.CONFIRM)}
_OPTIONS = {Option.FULL: "full balance", Option.SETTLEMENT: "settlement", Option.PLAN: "plan",
            Option.PROMISE: "promise"}


@dataclass(frozen=True)
class Progress:
    """One line for the agent's screen. step: which part of the capture
    (amount, card_number, expiry, security_code, confirm, result); status:
    how it stands (a digit count, done, asked again, an outcome). The
    result's brand, last four, the gateway's reference or its reason for a
    decline, when there are."""

    step: str
    status: str
    brand: str | None = None
    last4: str | None = None
    reference: str | None = None
    reason: str | None = None

    @property
    def text(self) -> str:
        """The line as the agent reads it."""
        if self.step != "result":
            return f"{self.step.replace('_', ' ')}: {self.status}"
        if self.brand and self.last4 and self.status in (Outcome.PAID.value,
                                                         Outcome.PLAN_SET_UP.value):
            line = f"approved: {self.brand} ending {self.last4}"
            if self.status == Outcome.PLAN_SET_UP.value:
                line += " (plan set up)"
            return line + (f", reference {self.reference}" if self.reference else "")
        if self.status == Outcome.DECLINED.value:
            return f"declined: {self.reason or 'no reason given'}"
        return self.status.replace("_", " ")


def progress(before: Capture, heard: Heard, after: Capture) -> Progress | None:
    """What the agent is told when the capture moves from before to after
    on heard; None when nothing worth telling happened (a menu asked)."""
    if after.step is Step.DONE and after.result is not None:
        return outcome(after.result)
    if before.step in _ENTRIES:
        name, following = _ENTRIES[before.step]
        if after.step is before.step:
            return Progress(name, "asked again")
        if after.step is not following:
            return None
        if before.step is Step.CARD_NUMBER and isinstance(heard, Digits):
            # Its length only: what the agent needs to help ("16 digits").
            return Progress(name, f"{len(heard.value)} digits")
        return Progress(name, "done")
    if before.step is Step.CHOOSE and after.step is not Step.CHOOSE and after.option:
        return Progress("amount", f"{after.amount} ({_OPTIONS[after.option]})")
    if before.step is Step.CONFIRM and after.step is Step.AUTHORISING:
        return Progress("confirm", f"sent to the gateway: {_card(after)}")
    if before.step is Step.CONFIRM and after.step is Step.CARD_NUMBER:
        return Progress("confirm", "another card")
    if before.step is Step.AUTHORISING and after.step is Step.DECLINED:
        return Progress("result", Outcome.DECLINED.value, reason=after.decline_reason)
    if before.step is Step.AUTHORISING and after.step is Step.GATEWAY_DOWN:
        return Progress("result", "gateway_down")
    return None


def _card(state: Capture) -> str:
    brand = state.brand.value if state.brand else "card"
    return f"{brand} ending {state.last4}" if state.last4 else brand


def outcome(result: PaymentResult) -> Progress:
    """The last line: how the capture ended (approved with the brand, last
    four and the gateway's reference; declined with its reason; or else)."""
    return Progress("result", result.outcome.value,
                    brand=result.brand.value if result.brand else None,
                    last4=result.last4, reference=result.reference,
                    reason=result.decline_reason
                    if result.outcome is Outcome.DECLINED else None)
