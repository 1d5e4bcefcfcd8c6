"""The compliance gate: one decision per lead, consulted when the lead is
claimed and again just before its call is placed. Every refusal names its
rule, and says until when it holds (None: for good)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import Enum

from dialer.calls.outcome import RIGHT_PARTY_CONTACTS, AttemptResult
from dialer.compliance.windows import is_open, next_opening, window_for
from dialer.portfolio.model import AccountStatus, Phone, PhoneKind, RetryDelays

REG_F_WINDOW = timedelta(days=7)
REG_F_MAX_ATTEMPTS = 7  # call attempts per account in 7 consecutive days
REG_F_AFTER_CONVERSATION = timedelta(days=7)
ABANDONED_REPEAT_WINDOW = timedelta(hours=72)


class Rule(Enum):
    """Why a lead may not be dialed."""

    ACCOUNT_STATUS = "account_status"  # paid, settled, disputed or closed
    DO_NOT_CALL = "do_not_call"
    OPT_OUT = "opt_out"
    NO_CALLABLE_PHONE = "no_callable_phone"
    MAX_ATTEMPTS = "max_attempts"
    CALLING_WINDOW = "calling_window"
    REG_F_FREQUENCY = "reg_f_7_in_7"
    REG_F_CONVERSATION = "reg_f_after_conversation"
    RETRY_DELAY = "retry_delay"
    ABANDONED_72H = "abandoned_72h"
    # A number asked about by another system (decide_for_number) that is
    # no current phone of any of the campaign's leads: no rule can clear it.
    NOT_A_LEAD = "not_a_lead"


@dataclass(frozen=True)
class PastAttempt:
    started_at: datetime
    result: AttemptResult | None  # None: still in flight


@dataclass(frozen=True)
class LeadFacts:
    """What the gate needs to know about a lead, read fresh from the store."""

    reference: str
    status: AccountStatus
    account_opted_out: bool
    account_time_zone: str  # "" when the phone's zones decide
    phones: tuple[Phone, ...]
    numbers_on_dnc: frozenset[str]
    campaign_attempts: int  # attempts of this campaign on this account
    history: tuple[PastAttempt, ...]  # the account's attempts (all campaigns), any order


@dataclass(frozen=True)
class GateRules:
    """A campaign's side of the rules."""

    window_profile: str
    max_attempts: int
    retry: RetryDelays
    agent_guaranteed: bool  # preview/progressive: a free agent waits for every call


@dataclass(frozen=True)
class Allowed:
    phone: Phone


@dataclass(frozen=True)
class Refused:
    rule: Rule
    detail: str
    until: datetime | None  # None: never again in this campaign


Decision = Allowed | Refused


def callable_phones(facts: LeadFacts) -> list[Phone]:
    """Phones that may be dialed: not on the do-not-call list, and mobiles
    only with consent (TCPA: an automated dialer needs it)."""
    return [p for p in facts.phones if p.number not in facts.numbers_on_dnc
            and (p.consent or p.kind is not PhoneKind.MOBILE)]


def zones_of(facts: LeadFacts, phone: Phone) -> tuple[str, ...]:
    """The zones the window must be open in: the account's own when known,
    else every zone the number may be in (the strictest reading)."""
    return (facts.account_time_zone,) if facts.account_time_zone else phone.time_zones


def _retry_delay(result: AttemptResult, retry: RetryDelays) -> timedelta:
    seconds = {
        AttemptResult.ABANDONED: retry.abandoned_s,
        AttemptResult.MACHINE: retry.machine_s,
        AttemptResult.HUNG_UP: retry.hung_up_s,
        AttemptResult.UNVERIFIED: retry.hung_up_s,  # answered, and no more
        AttemptResult.BUSY: retry.busy_s,
        AttemptResult.NO_ANSWER: retry.no_answer_s,
        AttemptResult.FAILED: retry.failed_s,
        AttemptResult.LOST: retry.failed_s,
        AttemptResult.CONVERSATION: 0,
        AttemptResult.SELF_SERVED: 0,
        AttemptResult.NOT_PLACED: 0,
    }[result]
    return timedelta(seconds=seconds)


def attempts_exhausted(attempts_made: int, max_attempts: int) -> bool:
    """The campaign strategy's cap on attempts per lead: reached, the lead is
    never dialed again in the campaign (one rule for the gate and for the
    lead an ended attempt retires)."""
    return attempts_made >= max_attempts


def decide(facts: LeadFacts, rules: GateRules, now: datetime) -> Decision:
    """May this lead be dialed now, and on which phone. Rules are checked
    from the most lasting to the most passing, so a refusal's `until` is
    the first moment worth asking again."""
    if facts.status is not AccountStatus.ACTIVE:
        return Refused(Rule.ACCOUNT_STATUS, f"account {facts.reference} is {facts.status.value}",
                       None)
    if facts.account_opted_out:
        return Refused(Rule.OPT_OUT, f"account {facts.reference} opted out", None)
    phones = callable_phones(facts)
    if not phones:
        rule = Rule.DO_NOT_CALL if facts.numbers_on_dnc else Rule.NO_CALLABLE_PHONE
        return Refused(rule, f"account {facts.reference}: no phone may be called", None)
    if attempts_exhausted(facts.campaign_attempts, rules.max_attempts):
        return Refused(Rule.MAX_ATTEMPTS, f"{facts.campaign_attempts} attempts made", None)

    history = sorted((a for a in facts.history if a.result is not AttemptResult.NOT_PLACED),
                     key=lambda a: a.started_at)
    recent = [a for a in history if a.started_at > now - REG_F_WINDOW]
    if len(recent) >= REG_F_MAX_ATTEMPTS:
        oldest = recent[-REG_F_MAX_ATTEMPTS]
        return Refused(Rule.REG_F_FREQUENCY,
                       f"{len(recent)} attempts in the last 7 days",
                       oldest.started_at + REG_F_WINDOW)
    # A debtor served by the self-service IVR counts as a conversation too:
    # calling less than Reg F allows is never wrong.
    conversations = [a for a in history if a.result in RIGHT_PARTY_CONTACTS]
    if conversations and conversations[-1].started_at > now - REG_F_AFTER_CONVERSATION:
        return Refused(Rule.REG_F_CONVERSATION, "a conversation in the last 7 days",
                       conversations[-1].started_at + REG_F_AFTER_CONVERSATION)
    if history:
        last = history[-1]
        if last.result is None:
            return Refused(Rule.RETRY_DELAY, "an attempt is still in flight",
                           now + timedelta(minutes=1))
        ready_at = last.started_at + _retry_delay(last.result, rules.retry)
        if ready_at > now:
            return Refused(Rule.RETRY_DELAY, f"last attempt {last.result.value}", ready_at)
    abandoned = [a for a in history if a.result is AttemptResult.ABANDONED]
    if (not rules.agent_guaranteed and abandoned
            and abandoned[-1].started_at > now - ABANDONED_REPEAT_WINDOW):
        return Refused(Rule.ABANDONED_72H, "abandoned in the last 72 hours and no agent guaranteed",
                       abandoned[-1].started_at + ABANDONED_REPEAT_WINDOW)

    # Rotate through the phones, so that each attempt tries the next one.
    phone = phones[facts.campaign_attempts % len(phones)]
    zones = zones_of(facts, phone)
    window = window_for(rules.window_profile, phone.region)
    if not all(is_open(window, zone, now) for zone in zones):
        return Refused(Rule.CALLING_WINDOW, f"outside the calling window in {', '.join(zones)}",
                       next_opening(window, zones, now))
    return Allowed(phone)


def next_callable_at(result: AttemptResult, started_at: datetime, retry: RetryDelays) -> datetime:
    """When the hopper may look at the lead again after an attempt (the gate
    still decides then): the retry delay, or Reg F's 7 days after a
    conversation (with an agent or the self-service IVR)."""
    if result in RIGHT_PARTY_CONTACTS:
        return started_at + REG_F_AFTER_CONVERSATION
    return started_at + _retry_delay(result, retry)


def decide_for_number(number: str, leads: Sequence[tuple[LeadFacts, GateRules]],
                      number_on_dnc: bool, now: datetime) -> Decision:
    """May number (E.164) be dialed now by a system other than Recobro's
    dialer (an engineer's dialplan asking through the AGI gate hook): the
    gate's decision on each of the campaign's leads with number among its
    current phones, as if that phone were the lead's only one; the first
    refusal, if any. A number on no lead is refused: on the do-not-call
    list if it is there, else as no lead (nothing vouches for it)."""
    if not leads:
        if number_on_dnc:
            return Refused(Rule.DO_NOT_CALL, "the number is on the do-not-call list", None)
        return Refused(Rule.NOT_A_LEAD, "the number is no current phone of the campaign's leads",
                       None)
    decisions = [decide(replace(facts, phones=tuple(p for p in facts.phones
                                                    if p.number == number)), rules, now)
                 for facts, rules in leads]
    return next((d for d in decisions if isinstance(d, Refused)), decisions[0])
