"""What fires a message (issue 15), pure: a call's result and how soon the
debtor hung up against a campaign's setting; the values an event gives
its template."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from dialer.messages.model import Channel, Trigger
from dialer.messages.triggers import (
    CAMPAIGN_TRIGGERS,
    DEFAULT_DAYS_BEFORE,
    TriggerEvent,
    TriggerSetting,
    call_fires,
    event_values,
    pre_due_key,
)

ENDED = datetime(2027, 1, 5, 15, 0, tzinfo=UTC)


def test_a_silent_hang_up_fires_only_within_its_seconds() -> None:
    setting = TriggerSetting(Trigger.NO_INTERACTION, Channel.SMS, 10)
    assert call_fires(setting, "hung_up", ENDED - timedelta(seconds=10), ENDED)
    assert not call_fires(setting, "hung_up", ENDED - timedelta(seconds=11), ENDED)
    assert not call_fires(setting, "hung_up", None, ENDED)  # never answered: no one was there
    assert not call_fires(setting, "machine", ENDED - timedelta(seconds=1), ENDED)
    whenever = TriggerSetting(Trigger.NO_INTERACTION, Channel.SMS)
    assert call_fires(whenever, "hung_up", ENDED - timedelta(hours=1), ENDED)


def test_machines_and_abandons_fire_their_own_triggers() -> None:
    for result, trigger in (("machine", Trigger.MACHINE), ("abandoned", Trigger.ABANDONED)):
        setting = TriggerSetting(trigger, Channel.EMAIL)
        assert call_fires(setting, result, ENDED, ENDED)
        assert not call_fires(setting, "busy", ENDED, ENDED)
        assert not call_fires(setting, "conversation", ENDED, ENDED)


def test_settings_refuse_what_a_campaign_cannot_switch_on() -> None:
    assert Trigger.AGENT_LINK not in CAMPAIGN_TRIGGERS
    with pytest.raises(ValueError, match="trigger agent_link: not a campaign setting"):
        TriggerSetting(Trigger.AGENT_LINK, Channel.SMS)
    with pytest.raises(ValueError, match="within: only for the no_interaction trigger"):
        TriggerSetting(Trigger.MACHINE, Channel.SMS, 5)
    with pytest.raises(ValueError, match="within: 0 s, 1 to 3600"):
        TriggerSetting(Trigger.NO_INTERACTION, Channel.SMS, 0)


def test_a_pre_due_reminder_goes_days_before_the_due_date() -> None:
    assert TriggerSetting(Trigger.PRE_DUE, Channel.SMS).days_before == DEFAULT_DAYS_BEFORE == 3
    assert TriggerSetting(Trigger.PRE_DUE, Channel.EMAIL, days_before=1).days_before == 1
    assert TriggerSetting(Trigger.PRE_DUE, Channel.SMS, days_before=30).days_before == 30
    for days in (0, 31, -3):
        with pytest.raises(ValueError, match=f"days-before: {days} days, 1 to 30"):
            TriggerSetting(Trigger.PRE_DUE, Channel.SMS, days_before=days)
    with pytest.raises(ValueError, match="days-before: only for the pre_due trigger"):
        TriggerSetting(Trigger.PROMISE_REMINDER, Channel.SMS, days_before=3)
    with pytest.raises(ValueError, match="within: only for the no_interaction trigger"):
        TriggerSetting(Trigger.PRE_DUE, Channel.SMS, 10)
    assert TriggerSetting(Trigger.MACHINE, Channel.SMS).days_before is None


def test_a_pre_due_key_names_the_account_and_its_due_date() -> None:
    assert pre_due_key(42, date(2027, 1, 8)) == "pre_due:42:2027-01-08"
    assert pre_due_key(42, date(2027, 2, 8)) != pre_due_key(42, date(2027, 1, 8))


def test_a_pre_due_event_says_the_amount_and_the_due_date() -> None:
    event = TriggerEvent(Trigger.PRE_DUE, Decimal("1234.5"), "USD", due=date(2027, 1, 8))
    assert event_values(event, "es") == {"amount": "1.234,50 USD",
                                         "due_date": "8 de enero de 2027"}
    assert event_values(event, "en") == {"amount": "1,234.50 USD", "due_date": "January 8, 2027"}
    assert TriggerEvent.from_json(Trigger.PRE_DUE, event.to_json()) == event


def test_event_values_say_the_amount_card_and_dates_in_the_language() -> None:
    declined = TriggerEvent(Trigger.DECLINED, Decimal("1250.5"), "USD", "Visa", "0002",
                            retry_on=date(2027, 1, 8))
    assert event_values(declined, "es") == {
        "amount": "1.250,50 USD", "card": "Visa 0002", "retry_date": "8 de enero de 2027"}
    last = TriggerEvent(Trigger.DECLINED, Decimal(10), "EUR")
    assert event_values(last, "en") == {"amount": "10.00 EUR", "card": "", "retry_date": ""}
    # Each trigger's own variables only (a reminder has no card).
    reminder = TriggerEvent(Trigger.PROMISE_REMINDER, Decimal(50), "USD", "Visa", "0002",
                            due=date(2027, 2, 1))
    assert event_values(reminder, "en") == {"amount": "50.00 USD",
                                            "due_date": "February 1, 2027"}
    assert TriggerEvent.from_json(Trigger.PROMISE_REMINDER, reminder.to_json()) == reminder
    assert TriggerEvent.from_json(Trigger.MACHINE, "{}") is None
