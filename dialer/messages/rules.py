"""The rules on sending a message, pure: an inbound reply that opts out,
and may_send, the one decision on whether a message may go now (like the
calling gate, dialer.compliance.gate: a refusal names its rule and until
when it holds)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from dialer.compliance.windows import is_open, next_opening, window_for
from dialer.messages.model import Channel, Trigger, is_dunning
from dialer.portfolio.model import AccountStatus, Phone

# Replies that opt out (CTIA's and the TCPA order's words, and Spanish),
# compared after _normalised: any case, accents dropped, surrounding
# spaces and punctuation ignored, OPT-OUT and OPTOUT read as OPT OUT.
OPT_OUT_KEYWORDS = frozenset({"stop", "quit", "end", "revoke", "opt out", "cancel",
                              "unsubscribe", "baja", "alto", "cancelar"})
_EDGES = re.compile(r"^[\W_]+|[\W_]+$")
_JOINERS = re.compile(r"[\s_-]+")

DAY = timedelta(days=1)
WEEK = timedelta(days=7)


def _normalised(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _JOINERS.sub(" ", _EDGES.sub("", bare))


def is_opt_out(reply: str) -> bool:
    """Whether an inbound reply is a request to stop: the whole reply is one
    of the keywords ("Stop", " baja. ", "CANCELÁR!", "opt-out")."""
    word = _normalised(reply)
    return word in OPT_OUT_KEYWORDS or word == "optout"


class Rule(Enum):
    """Why a message may not go (now)."""

    OPT_OUT = "opt_out"  # the account opted out: only the confirmation goes
    ACCOUNT_STATUS = "account_status"  # no dunning to a paid, settled, in-plan... account
    NO_RECIPIENT = "no_recipient"  # no phone with SMS consent, or no e-mail address
    WEEKLY_CAP = "weekly_cap"
    DAILY_CAP = "daily_cap"
    QUIET_HOURS = "quiet_hours"  # outside the window in the debtor's zone


@dataclass(frozen=True)
class Caps:
    """Dunning messages per account: in any 24 hours, in any 7 days."""

    daily: int = 1
    weekly: int = 3


@dataclass(frozen=True)
class MessageFacts:
    """What the decision needs to know about an account, read fresh."""

    reference: str
    status: AccountStatus
    opted_out: bool  # the account, or (SMS) every number, opted out
    time_zone: str  # the account's own; "" when the phone's zones decide
    phones: tuple[Phone, ...]
    numbers_opted_out: frozenset[str]  # on the do-not-call list, either reason
    email: str | None
    sent: tuple[datetime, ...]  # when the account's dunning messages went, any order


@dataclass(frozen=True)
class Allowed:
    recipient: str  # an E.164 number or an e-mail address


@dataclass(frozen=True)
class Refused:
    rule: Rule
    detail: str
    until: datetime | None  # None: for good (the message is not sent)


Decision = Allowed | Refused


def sms_phones(facts: MessageFacts) -> list[Phone]:
    """The numbers a text may go to: SMS-capable, with the debtor's consent
    (TCPA: an automated text needs it), not opted out or on the list."""
    return [p for p in facts.phones
            if p.sms_capable and p.consent and p.number not in facts.numbers_opted_out]


def _cap(sent: Iterable[datetime], now: datetime, span: timedelta, cap: int
         ) -> datetime | None:
    """When the cap on messages in span lets one more go (None: it does now)."""
    recent = sorted(t for t in sent if now - span < t <= now)
    if len(recent) < cap:
        return None
    return recent[len(recent) - cap] + span


def may_send(facts: MessageFacts, trigger: Trigger, channel: Channel, window_profile: str,
             caps: Caps, now: datetime) -> Decision:
    """May a message of this trigger go to this account by channel now, and
    to whom. Checked from the most lasting rule to the most passing, so a
    refusal's until is the first moment worth asking again. Quiet hours
    hold for every message (a receipt after a late call waits for the
    morning) but the confirmation of an opt-out; the caps count and hold
    dunning messages only."""
    dunning = is_dunning(trigger)
    if facts.opted_out and trigger is not Trigger.OPT_OUT_CONFIRMATION:
        return Refused(Rule.OPT_OUT, f"account {facts.reference} opted out", None)
    if dunning and facts.status is not AccountStatus.ACTIVE:
        return Refused(Rule.ACCOUNT_STATUS, f"account {facts.reference} is "
                       f"{facts.status.value}: no {trigger.value} message", None)
    if channel is Channel.SMS:
        phones = sms_phones(facts)
        if not phones:
            return Refused(Rule.NO_RECIPIENT, f"account {facts.reference}: no number with "
                           "SMS consent", None)
        phone = phones[0]
        recipient = phone.number
        zones = (facts.time_zone,) if facts.time_zone else phone.time_zones
        region = phone.region
    else:
        if not facts.email:
            return Refused(Rule.NO_RECIPIENT, f"account {facts.reference}: no e-mail address",
                           None)
        recipient = facts.email
        # An address has no zone: the account's, else its phones' (all of them).
        zones = ((facts.time_zone,) if facts.time_zone
                 else tuple(dict.fromkeys(z for p in facts.phones for z in p.time_zones)))
        region = facts.phones[0].region if facts.phones else ""
    if dunning:
        for rule, span, cap in ((Rule.WEEKLY_CAP, WEEK, caps.weekly),
                                (Rule.DAILY_CAP, DAY, caps.daily)):
            until = _cap(facts.sent, now, span, cap)
            if until is not None:
                return Refused(rule, f"{cap} dunning message(s) in the last "
                               f"{span.days} day(s)", until)
    if trigger is Trigger.OPT_OUT_CONFIRMATION:
        # The FCC wants the one confirmation within five minutes of the
        # request (47 CFR 64.1200(a)(12)): an answer to the debtor's own
        # text, asking for nothing, it does not wait for the morning.
        return Allowed(recipient)
    if not zones:
        return Refused(Rule.QUIET_HOURS, f"account {facts.reference}: no time zone known, so "
                       "no quiet hours can be told", None)
    window = window_for(window_profile, region)
    if not all(is_open(window, zone, now) for zone in zones):
        return Refused(Rule.QUIET_HOURS, f"outside the window in {', '.join(zones)}",
                       next_opening(window, zones, now))
    return Allowed(recipient)
