"""What fires a message, pure: which trigger a call's end or a payment
event is, whether a campaign's setting for it fires, the idempotency key
that keeps it to one message, and the values its template reads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from dialer.messages.model import Channel, Trigger
from dialer.messages.templates import day, money

# A call's result (attempts.result, written to no_interaction) -> its trigger.
CALL_TRIGGERS = {
    "hung_up": Trigger.NO_INTERACTION,
    "machine": Trigger.MACHINE,
    "abandoned": Trigger.ABANDONED,
}

# A payment event's kind (payment_outbox.kind) -> its trigger.
PAYMENT_TRIGGERS = {
    "receipt": Trigger.RECEIPT,
    "declined": Trigger.DECLINED,
    "plan_set_up": Trigger.PLAN_SET_UP,
    "plan_broken": Trigger.PLAN_BROKEN,
}

# What a campaign may switch on: the agent's "send the link" is asked for
# by the agent, and the confirmation of an opt-out always goes.
CAMPAIGN_TRIGGERS = tuple(t for t in Trigger
                          if t not in (Trigger.AGENT_LINK, Trigger.OPT_OUT_CONFIRMATION))
MAX_WITHIN_S = 3600


@dataclass(frozen=True)
class TriggerSetting:
    """A campaign sends trigger's message by channel; a silent hang-up only
    when the debtor hung up within within_s of answering (None: whenever)."""

    trigger: Trigger
    channel: Channel
    within_s: int | None = None

    def __post_init__(self) -> None:
        if self.trigger not in CAMPAIGN_TRIGGERS:
            raise ValueError(f"trigger {self.trigger.value}: not a campaign setting "
                             f"(one of {', '.join(t.value for t in CAMPAIGN_TRIGGERS)})")
        if self.within_s is not None:
            if self.trigger is not Trigger.NO_INTERACTION:
                raise ValueError("within: only for the no_interaction trigger")
            if not 1 <= self.within_s <= MAX_WITHIN_S:
                raise ValueError(f"within: {self.within_s} s, 1 to {MAX_WITHIN_S}")


def call_fires(setting: TriggerSetting, result: str, answered_at: datetime | None,
               ended_at: datetime) -> bool:
    """Whether a call that ended with result fires the setting's message."""
    if CALL_TRIGGERS.get(result) is not setting.trigger:
        return False
    if setting.within_s is None:
        return True
    # A silent hang-up long after the answer is a debtor who listened.
    return answered_at is not None and (ended_at - answered_at).total_seconds() <= setting.within_s


def call_key(attempt_id: str) -> str:
    """One message per call and trigger and channel, however often read."""
    return f"attempt:{attempt_id}"


def payment_key(event_id: int) -> str:
    return f"payment:{event_id}"


@dataclass(frozen=True)
class PaymentEvent:
    """What a payment event (payment_outbox) tells: never card data beyond
    the brand and last four."""

    kind: str
    amount: Decimal
    currency: str
    brand: str | None
    last4: str | None
    retry_on: date | None
    due: date | None  # plan_broken: the missed instalment's date


def payment_values(event: PaymentEvent, language: str) -> dict[str, str]:
    """The trigger's own template values (amount, card, retry or due date)."""
    values = {"amount": money(event.amount, event.currency, language)}
    if event.kind in ("receipt", "declined"):
        values["card"] = " ".join(p for p in (event.brand or "", event.last4 or "") if p)
    if event.kind == "declined":
        values["retry_date"] = day(event.retry_on, language) if event.retry_on else ""
    if event.kind == "plan_broken":
        values["due_date"] = day(event.due, language) if event.due else ""
    return values
