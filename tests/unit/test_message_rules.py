"""The rules on messages (issue 15), pure: opt-out replies; may_send's
opt-out, SMS consent, no dunning to an account that paid, quiet hours in
the debtor's zone (the calling window's rules), and the daily and weekly
caps over a simulated week (an injected clock)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from dialer.messages.model import Channel, Trigger
from dialer.messages.rules import (
    Allowed,
    Caps,
    MessageFacts,
    Refused,
    Rule,
    is_opt_out,
    may_send,
)
from dialer.portfolio.model import AccountStatus, Phone, PhoneKind

NEW_YORK = ZoneInfo("America/New_York")
# A Tuesday, 10:00 in New York: inside the us window (08:00-21:00).
MORNING = datetime(2027, 1, 5, 10, 0, tzinfo=NEW_YORK)
MOBILE = Phone("+12125550101", PhoneKind.MOBILE, True, True, "US", ("America/New_York",))
FACTS = MessageFacts(reference="NY-1", status=AccountStatus.ACTIVE, opted_out=False,
                     time_zone="", phones=(MOBILE,), numbers_opted_out=frozenset(),
                     email="ana@example.com", sent=())


CAPS = Caps(daily=1, weekly=3)


def decide(facts: MessageFacts = FACTS, trigger: Trigger = Trigger.NO_INTERACTION,
           channel: Channel = Channel.SMS, now: datetime = MORNING, caps: Caps = CAPS):
    return may_send(facts, trigger, channel, "us", caps, now)


@pytest.mark.parametrize("reply", [
    "STOP", "stop", "Stop", " stop ", "STOP.", "¡Stop!", "quit", "End", "revoke", "OPT OUT",
    "opt-out", "optout", "Opt  Out", "cancel", "UNSUBSCRIBE", "baja", "BAJA!", "alto",
    "cancelar", "CANCELÁR", "Cancelár.", "\tbája\n", "¡¡ALTO!!", "stop\u00a0",
])
def test_these_replies_opt_out(reply: str) -> None:
    assert is_opt_out(reply)


@pytest.mark.parametrize("reply", ["", "stop calling at night", "I want to pay", "stopp",
                                   "sí", "no", "ok", "bajar", "STOP 2"])
def test_these_do_not(reply: str) -> None:
    assert not is_opt_out(reply)


def test_a_message_in_the_window_goes_to_the_consenting_mobile() -> None:
    assert decide() == Allowed("+12125550101")
    assert decide(channel=Channel.EMAIL) == Allowed("ana@example.com")


def test_an_opted_out_account_gets_nothing_but_the_confirmation() -> None:
    facts = replace(FACTS, opted_out=True)
    for trigger in (Trigger.NO_INTERACTION, Trigger.RECEIPT, Trigger.AGENT_LINK):
        decision = decide(facts, trigger)
        assert isinstance(decision, Refused) and decision.rule is Rule.OPT_OUT
        assert decision.until is None
    assert decide(facts, Trigger.OPT_OUT_CONFIRMATION) == Allowed("+12125550101")


def test_texts_need_consent_and_an_sms_capable_number_not_opted_out() -> None:
    home = Phone("+12125550102", PhoneKind.HOME, False, True, "US", ("America/New_York",))
    no_consent = replace(MOBILE, number="+12125550103", consent=False)
    for phones, opted in [((home,), frozenset()), ((no_consent,), frozenset()),
                          ((MOBILE,), frozenset({MOBILE.number}))]:
        decision = decide(replace(FACTS, phones=phones, numbers_opted_out=opted))
        assert isinstance(decision, Refused) and decision.rule is Rule.NO_RECIPIENT
    second = replace(MOBILE, number="+12125550104")
    assert decide(replace(FACTS, phones=(no_consent, second))) == Allowed(second.number)


def test_no_email_address_no_email() -> None:
    decision = decide(replace(FACTS, email=None), channel=Channel.EMAIL)
    assert isinstance(decision, Refused) and decision.rule is Rule.NO_RECIPIENT


@pytest.mark.parametrize("status", [AccountStatus.PAID, AccountStatus.SETTLED,
                                    AccountStatus.IN_PLAN, AccountStatus.DISPUTED,
                                    AccountStatus.CLOSED])
def test_no_dunning_to_an_account_not_active_but_receipts_still_go(status) -> None:
    facts = replace(FACTS, status=status)
    for trigger in (Trigger.NO_INTERACTION, Trigger.PROMISE_REMINDER, Trigger.AGENT_LINK):
        decision = decide(facts, trigger)
        assert isinstance(decision, Refused) and decision.rule is Rule.ACCOUNT_STATUS
        assert decision.until is None
    assert decide(facts, Trigger.RECEIPT) == Allowed(MOBILE.number)


def test_a_message_due_at_22_local_waits_for_the_morning() -> None:
    night = datetime(2027, 1, 5, 22, 0, tzinfo=NEW_YORK)
    decision = decide(now=night)
    assert isinstance(decision, Refused) and decision.rule is Rule.QUIET_HOURS
    assert decision.until == datetime(2027, 1, 6, 8, 0, tzinfo=NEW_YORK)
    # Receipts too: a payment made late is told of in the morning.
    assert isinstance(decide(trigger=Trigger.RECEIPT, now=night), Refused)
    assert decide(now=decision.until) == Allowed(MOBILE.number)
    # But a STOP at night is confirmed at once (the FCC: within five minutes).
    opted_out = replace(FACTS, opted_out=True)
    assert decide(opted_out, Trigger.OPT_OUT_CONFIRMATION, now=night) == Allowed(MOBILE.number)


def test_the_account_zone_wins_over_the_phone_and_every_phone_zone_must_be_open() -> None:
    # 10:00 in New York is 07:00 in Los Angeles: closed there.
    decision = decide(replace(FACTS, time_zone="America/Los_Angeles"))
    assert isinstance(decision, Refused) and decision.rule is Rule.QUIET_HOURS
    assert decision.until == datetime(2027, 1, 5, 8, 0, tzinfo=ZoneInfo("America/Los_Angeles"))
    both = replace(MOBILE, time_zones=("America/New_York", "America/Los_Angeles"))
    assert isinstance(decide(replace(FACTS, phones=(both,))), Refused)


def test_no_zone_known_no_email() -> None:
    decision = decide(replace(FACTS, phones=()), channel=Channel.EMAIL)
    assert isinstance(decision, Refused) and decision.rule is Rule.QUIET_HOURS


def test_a_federal_holiday_is_quiet_like_for_calls() -> None:
    new_year = datetime(2027, 1, 1, 12, 0, tzinfo=NEW_YORK)
    decision = decide(now=new_year)
    assert isinstance(decision, Refused) and decision.rule is Rule.QUIET_HOURS
    assert decision.until == datetime(2027, 1, 2, 8, 0, tzinfo=NEW_YORK)


def test_the_caps_say_when_the_next_may_go() -> None:
    sent = (MORNING - timedelta(hours=3),)
    decision = decide(replace(FACTS, sent=sent))
    assert isinstance(decision, Refused) and decision.rule is Rule.DAILY_CAP
    assert decision.until == sent[0] + timedelta(days=1)
    week = tuple(MORNING - timedelta(days=d) for d in (2, 4, 6))
    decision = decide(replace(FACTS, sent=week))
    assert isinstance(decision, Refused) and decision.rule is Rule.WEEKLY_CAP
    assert decision.until == week[-1] + timedelta(days=7)
    assert decide(replace(FACTS, sent=week), Trigger.RECEIPT) == Allowed(MOBILE.number)


def test_the_caps_hold_over_a_simulated_fortnight() -> None:
    """A sender asking every 10 minutes for 14 days, a dunning message
    always due: what goes never breaks the caps nor the window, and the
    caps are used to the full."""
    caps = CAPS
    start = datetime(2027, 1, 4, 21, 30, tzinfo=NEW_YORK)  # a Monday night
    sent: list[datetime] = []
    refusals: set[Rule] = set()
    now = start
    while now < start + timedelta(days=14):
        decision = decide(replace(FACTS, sent=tuple(sent)), now=now, caps=caps)
        if isinstance(decision, Allowed):
            sent.append(now)
        else:
            refusals.add(decision.rule)
            assert decision.until is not None and decision.until > now
        now += timedelta(minutes=10)
    for moment in sent:
        assert sum(moment - timedelta(days=1) < t <= moment for t in sent) <= caps.daily
        assert sum(moment - timedelta(days=7) < t <= moment for t in sent) <= caps.weekly
        local = moment.astimezone(NEW_YORK)
        assert 8 <= local.hour < 21
    assert len(sent) == 6  # 3 in each rolling week
    # The first waited for the morning; the next for the daily cap.
    assert sent[:2] == [datetime(2027, 1, 5, 8, 0, tzinfo=NEW_YORK),
                        datetime(2027, 1, 6, 8, 0, tzinfo=NEW_YORK)]
    assert refusals == {Rule.DAILY_CAP, Rule.WEEKLY_CAP, Rule.QUIET_HOURS}
    # Receipts are not counted nor capped.
    facts = replace(FACTS, sent=tuple(sent))
    assert decide(facts, Trigger.RECEIPT, now=sent[-1] + timedelta(minutes=10)) == Allowed(
        MOBILE.number)
