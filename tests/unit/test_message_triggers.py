"""What fires a message (issue 15), pure: a call's result and how soon the
debtor hung up against a campaign's setting; a payment event's values."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from dialer.messages.model import Channel, Trigger
from dialer.messages.triggers import (
    CAMPAIGN_TRIGGERS,
    PaymentEvent,
    TriggerSetting,
    call_fires,
    payment_values,
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


def test_payment_values_say_the_amount_card_and_dates_in_the_language() -> None:
    declined = PaymentEvent("declined", Decimal("1250.5"), "USD", "Visa", "0002",
                            date(2027, 1, 8), None)
    assert payment_values(declined, "es") == {
        "amount": "1.250,50 USD", "card": "Visa 0002", "retry_date": "8 de enero de 2027"}
    last = PaymentEvent("declined", Decimal(10), "EUR", None, None, None, None)
    assert payment_values(last, "en") == {"amount": "10.00 EUR", "card": "", "retry_date": ""}
    broken = PaymentEvent("plan_broken", Decimal(50), "USD", None, None, None, date(2027, 2, 1))
    assert payment_values(broken, "en") == {"amount": "50.00 USD",
                                            "due_date": "February 1, 2027"}
