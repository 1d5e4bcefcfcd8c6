import json
from datetime import UTC, datetime

from dialer.calls.events import CallHungUp, DtmfReceived, OriginateFailed
from dialer.store.calls import event_detail, event_kind

NOW = datetime(2026, 11, 23, tzinfo=UTC)


def test_kinds_are_snake_case():
    assert event_kind(CallHungUp("c", NOW, cause=16, cause_text="x")) == "call_hung_up"
    assert event_kind(OriginateFailed("c", NOW, reason=5)) == "originate_failed"


def test_dtmf_digit_is_never_stored():
    assert json.loads(event_detail(DtmfReceived("c", NOW, digit="4"))) == {}


def test_detail_keeps_the_events_own_fields():
    assert json.loads(event_detail(CallHungUp("c", NOW, cause=17, cause_text="User busy"))) == {
        "cause": 17, "cause_text": "User busy"}
