"""What fires a message, pure: which trigger a call's end or a payment
event is, whether a campaign's setting for it fires, the idempotency key
that keeps it to one message, and the values its template reads."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from dialer.messages.model import Channel, Trigger
from dialer.messages.templates import EXTRA, day, money

# A call's result (attempts.result, written to no_interaction) -> its trigger.
# An unverified self-service call is written only when nobody keyed
# (dialer.outbound.attempts.reached_no_one): a silent hang-up too.
CALL_TRIGGERS = {
    "hung_up": Trigger.NO_INTERACTION,
    "unverified": Trigger.NO_INTERACTION,
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
# How many days before an account's due date its pre_due reminder goes.
DAYS_BEFORE = range(1, 31)
DEFAULT_DAYS_BEFORE = 3


@dataclass(frozen=True)
class TriggerSetting:
    """A campaign sends trigger's message by channel; a silent hang-up only
    when the debtor hung up within within_s of answering (None: whenever);
    a pre_due reminder days_before days before the account's due date
    (DEFAULT_DAYS_BEFORE when not given; None for every other trigger)."""

    trigger: Trigger
    channel: Channel
    within_s: int | None = None
    days_before: int | None = None

    def __post_init__(self) -> None:
        if self.trigger not in CAMPAIGN_TRIGGERS:
            raise ValueError(f"trigger {self.trigger.value}: not a campaign setting "
                             f"(one of {', '.join(t.value for t in CAMPAIGN_TRIGGERS)})")
        if self.within_s is not None:
            if self.trigger is not Trigger.NO_INTERACTION:
                raise ValueError("within: only for the no_interaction trigger")
            if not 1 <= self.within_s <= MAX_WITHIN_S:
                raise ValueError(f"within: {self.within_s} s, 1 to {MAX_WITHIN_S}")
        if self.trigger is not Trigger.PRE_DUE:
            if self.days_before is not None:
                raise ValueError("days-before: only for the pre_due trigger")
        elif self.days_before is None:
            # Frozen: the default is written once, here, where it is known.
            object.__setattr__(self, "days_before", DEFAULT_DAYS_BEFORE)
        elif self.days_before not in DAYS_BEFORE:
            raise ValueError(f"days-before: {self.days_before} days, "
                             f"{DAYS_BEFORE.start} to {DAYS_BEFORE.stop - 1}")


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


def promise_key(promise_id: int, trigger: Trigger) -> str:
    return f"promise:{promise_id}:{trigger.value}"


def instalment_key(capture_id: str, number: int) -> str:
    return f"instalment:{capture_id}:{number}"


def pre_due_key(account_id: int, due: date) -> str:
    """One reminder per account and due date (a new due date, a new one)."""
    return f"pre_due:{account_id}:{due.isoformat()}"


@dataclass(frozen=True)
class TriggerEvent:
    """What fired a message tells its template (an amount, a card's brand
    and last four, a date): never card data beyond that."""

    trigger: Trigger
    amount: Decimal
    currency: str
    brand: str | None = None
    last4: str | None = None
    retry_on: date | None = None  # a declined instalment's next try
    due: date | None = None  # a promise's or an instalment's date

    def to_json(self) -> str:
        return json.dumps({"amount": str(self.amount), "currency": self.currency,
                           "brand": self.brand, "last4": self.last4,
                           "retry_on": self.retry_on and self.retry_on.isoformat(),
                           "due": self.due and self.due.isoformat()})

    @classmethod
    def from_json(cls, trigger: Trigger, text: str) -> TriggerEvent | None:
        """The event a message's JSON holds; None for one with none (a call's)."""
        raw = json.loads(text)
        if not raw:
            return None
        return cls(trigger, Decimal(raw["amount"]), raw["currency"], raw["brand"], raw["last4"],
                   date.fromisoformat(raw["retry_on"]) if raw["retry_on"] else None,
                   date.fromisoformat(raw["due"]) if raw["due"] else None)


def event_values(event: TriggerEvent, language: str) -> dict[str, str]:
    """The values of the trigger's own template variables (EXTRA)."""
    wanted = EXTRA.get(event.trigger, {})
    values = {"amount": money(event.amount, event.currency, language),
              "card": " ".join(p for p in (event.brand or "", event.last4 or "") if p),
              "retry_date": day(event.retry_on, language) if event.retry_on else "",
              "due_date": day(event.due, language) if event.due else ""}
    return {name: value for name, value in values.items() if name in wanted}
