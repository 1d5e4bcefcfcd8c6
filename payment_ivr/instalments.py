"""The rules of a plan's later payments, pure: when an instalment is
charged, what each answer of the gateway makes of it and of its plan, and
what the account becomes when the plan ends. The scheduler that charges
them from the kept card's token is dialer.payments.scheduler; it asks
these rules and does what they say.

An instalment's life (INSTALMENT_TRANSITIONS):

    due --charge--> in_flight --approve--> paid
    failed --charge--> in_flight --decline--> failed (tried again RETRY_AFTER later)
                       in_flight --give_up--> missed (declined TRIES times: the plan breaks)
                       in_flight --unsent--> due (the gateway took nothing: not a try)
    due, failed --cancel--> cancelled (the plan broke, or the account left it)

A plan's instalments are charged in order: one is charged only when every
earlier one is paid. The day is the debtor's own (local_date): an
instalment due on the 3rd is never charged while it is still the 2nd where
the debtor lives."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import Enum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from payment_ivr.terms import Money

TRIES = 3  # charges of one instalment before the plan breaks: its day, then two retries
RETRY_AFTER = timedelta(days=3)  # from a decline to the next try
FALLBACK_ZONE = "UTC"  # a debtor of no known zone (neither the account's nor a phone's)
IN_PLAN = "in_plan"  # the account status of a plan being paid (accounts.status)


class TransitionError(ValueError):
    """The instalment cannot do that now."""


class InstalmentState(Enum):
    DUE = "due"  # waiting for its day (or its retry's, after an outage interrupted one)
    IN_FLIGHT = "in_flight"  # a charge written, then sent; its answer not yet written
    PAID = "paid"
    FAILED = "failed"  # declined; tried again on its retry day
    MISSED = "missed"  # declined TRIES times: the plan is broken
    CANCELLED = "cancelled"  # never charged: the plan broke or ended, or the account left it


class InstalmentAction(Enum):
    CHARGE = "charge"  # its day came: a charge is written, then sent
    APPROVE = "approve"  # the gateway took the money
    DECLINE = "decline"  # the gateway declined; tries are left
    GIVE_UP = "give_up"  # the gateway declined its last try
    UNSENT = "unsent"  # the gateway certainly took nothing (down, or refused the request)
    CANCEL = "cancel"


_I, _IA = InstalmentState, InstalmentAction
INSTALMENT_TRANSITIONS: dict[tuple[InstalmentState, InstalmentAction], InstalmentState] = {
    (_I.DUE, _IA.CHARGE): _I.IN_FLIGHT,
    (_I.FAILED, _IA.CHARGE): _I.IN_FLIGHT,
    (_I.IN_FLIGHT, _IA.APPROVE): _I.PAID,
    (_I.IN_FLIGHT, _IA.DECLINE): _I.FAILED,
    (_I.IN_FLIGHT, _IA.GIVE_UP): _I.MISSED,
    (_I.IN_FLIGHT, _IA.UNSENT): _I.DUE,
    # In flight, the money may have been taken: it is settled, never cancelled.
    (_I.DUE, _IA.CANCEL): _I.CANCELLED,
    (_I.FAILED, _IA.CANCEL): _I.CANCELLED,
}
OPEN = frozenset({_I.DUE, _I.IN_FLIGHT, _I.FAILED})  # not finished with


def instalment_after(state: InstalmentState, action: InstalmentAction) -> InstalmentState:
    """The instalment's state after action; TransitionError when not allowed."""
    after = INSTALMENT_TRANSITIONS.get((state, action))
    if after is None:
        raise TransitionError(f"an instalment that is {state.value} cannot {action.value}")
    return after


class PlanState(Enum):
    ACTIVE = "active"  # instalments still to charge
    COMPLETE = "complete"  # every instalment paid
    BROKEN = "broken"  # an instalment missed
    ENDED = "ended"  # cancelled otherwise: nothing left owed, or the account left the plan


def plan_state(states: Iterable[InstalmentState]) -> PlanState:
    """Where a plan stands, from its instalments' states."""
    states = list(states)
    if _I.MISSED in states:
        return PlanState.BROKEN
    if any(state in OPEN for state in states):
        return PlanState.ACTIVE
    if all(state is _I.PAID for state in states):
        return PlanState.COMPLETE
    return PlanState.ENDED


def account_after_plan(plan: PlanState, balance: Money) -> str | None:
    """The status an account in a plan takes when the plan stops (None:
    it stays in the plan): paid when nothing is owed; active again (its
    dialing resumes) when the plan broke, or ended with money still owed."""
    if plan is PlanState.ACTIVE:
        return None
    if balance.cents <= 0:
        return "paid"
    return "active"


def after_decline(declines: int, today: date) -> tuple[InstalmentAction, date | None]:
    """What a decline does to an instalment declined `declines` times now
    (this one counted): tried again RETRY_AFTER later, or given up (the
    plan breaks) at TRIES."""
    if declines >= TRIES:
        return InstalmentAction.GIVE_UP, None
    return InstalmentAction.DECLINE, today + RETRY_AFTER


def charge_day(due: date, retry_on: date | None) -> date:
    """The day an instalment is to be charged: its retry's, after a decline."""
    return retry_on or due


def debtor_zone(account_zone: str, phone_zones: Iterable[str]) -> str:
    """The zone whose date is the debtor's: the account's time zone when it
    has one, else the first zone of its first current phone (the zone its
    leads are dialed in), else FALLBACK_ZONE."""
    if account_zone:
        return account_zone
    return next((zone for zone in phone_zones if zone), FALLBACK_ZONE)


def local_date(now: datetime, zone: str) -> date:
    """The date it is in zone at the aware moment now; ValueError names a
    zone that is not an IANA one."""
    if now.tzinfo is None:
        raise ValueError("now must carry its time zone")
    try:
        return now.astimezone(ZoneInfo(zone)).date()
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"time zone {zone!r} is not an IANA time zone") from None


@dataclass(frozen=True)
class Charge:
    """Charge this amount now."""

    amount: Money


@dataclass(frozen=True)
class Cancel:
    """Cancel the instalment (and the plan's later ones): reason says why."""

    reason: str


@dataclass(frozen=True)
class Wait:
    """Not yet: its day has not come where the debtor is."""

    until: date


Step = Charge | Cancel | Wait


def next_step(state: InstalmentState, amount: Money, charge_on: date, today: date,
              account_status: str, balance: Money) -> Step:
    """What the scheduler does with a due or failed instalment on the
    debtor's date today, every earlier instalment being paid: cancel it when
    the account is no longer in the plan (an operator's dispute, closure or
    payment) or owes nothing; wait for its day; else charge its amount, or
    the balance when less is owed (a charge never takes more than is owed)."""
    if state not in (_I.DUE, _I.FAILED):
        raise TransitionError(f"an instalment that is {state.value} is not charged")
    if account_status != IN_PLAN:
        return Cancel(f"the account is {account_status}")
    if balance.cents <= 0:
        return Cancel("nothing is owed")
    if today < charge_on:
        return Wait(charge_on)
    return Charge(Money(min(amount.cents, balance.cents), amount.currency))


def instalment_key(capture_id: uuid.UUID, number: int, attempt: int) -> str:
    """The idempotency key of one charge of a plan's instalment: the plan
    (its capture), the instalment's number and the attempt's number in the
    capture. Every request for that charge, every retry after a timeout and
    every question about it after a crash carries this one key; a new
    charge (after a decline, or after the gateway took nothing) has a new
    attempt number, so a new key."""
    return f"recobro-{capture_id}-i{number}-{attempt}"
