from datetime import UTC, datetime, timedelta

from dialer.calls.events import (
    CallAnswered,
    CallEnteredApp,
    CallHungUp,
    CallLost,
    CallOriginated,
    CallRinging,
    DtmfReceived,
    HangupRequested,
    OriginateFailed,
)
from dialer.calls.outcome import CallOutcome
from dialer.calls.state import CallState, apply, originate

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
ID = "c1"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def run(*events):
    call = originate(CallOriginated(call_id=ID, at=T0, number="+15550101200"))
    for event in events:
        call = apply(call, event)
    return call


def test_answered_and_ended_by_the_app():
    call = run(CallRinging(ID, at(1)), CallAnswered(ID, at(3)), CallEnteredApp(ID, at(3.1)),
               DtmfReceived(ID, at(4), digit="5"), HangupRequested(ID, at(8), reason="done"),
               CallHungUp(ID, at(8.2), cause=16, cause_text="Normal Clearing"))
    assert call.state is CallState.ENDED
    assert call.outcome is CallOutcome.ANSWERED
    assert call.ring_seconds == 3.0
    assert call.talk_seconds == 5.2
    assert call.dtmf_count == 1
    assert (call.hangup_cause, call.hangup_cause_text) == (16, "Normal Clearing")


def test_callee_hangs_up_first():
    call = run(CallRinging(ID, at(1)), CallAnswered(ID, at(2)),
               CallHungUp(ID, at(2.5), cause=16, cause_text="Normal Clearing"))
    assert call.outcome is CallOutcome.CALLEE_HUNG_UP


def test_entering_the_app_counts_as_answer_when_newstate_was_missed():
    call = run(CallEnteredApp(ID, at(2)), CallHungUp(ID, at(4), cause=16, cause_text=""))
    assert call.answered_at == at(2)
    assert call.outcome is CallOutcome.CALLEE_HUNG_UP


def test_busy_never_rings():
    call = run(CallHungUp(ID, at(0.1), cause=17, cause_text="User busy"))
    assert call.outcome is CallOutcome.BUSY
    assert call.ring_seconds == 0.1
    assert call.talk_seconds is None


def test_no_answer():
    call = run(CallRinging(ID, at(0.5)), CallHungUp(ID, at(25), cause=19, cause_text="x"))
    assert call.outcome is CallOutcome.NO_ANSWER
    assert call.ringing_at == at(0.5)


def test_late_events_do_not_reopen_an_ended_call():
    call = run(CallHungUp(ID, at(1), cause=34, cause_text="Circuit/channel congestion"),
               CallAnswered(ID, at(2)), CallHungUp(ID, at(3), cause=16, cause_text="x"))
    assert call.outcome is CallOutcome.FAILED
    assert call.hangup_cause == 34
    assert call.answered_at is None


def test_originate_failure_alone_ends_the_call_and_a_later_hangup_adds_the_cause():
    failed = run(OriginateFailed(ID, at(1), reason=5))
    assert failed.ended and failed.outcome is CallOutcome.BUSY and failed.hangup_cause is None
    refined = apply(failed, CallHungUp(ID, at(1.1), cause=17, cause_text="User busy"))
    assert refined.hangup_cause == 17 and refined.outcome is CallOutcome.BUSY
    assert refined.ended_at == at(1)


def test_a_call_lost_in_a_reconnect_is_failed():
    call = run(CallAnswered(ID, at(1)), CallLost(ID, at(9)))
    assert call.outcome is CallOutcome.FAILED
    assert call.lost
    assert "lost" in call.hangup_cause_text


def test_dtmf_digit_is_not_in_the_events_repr():
    text = repr(DtmfReceived(ID, T0, digit="7"))
    assert "digit" not in text and "'7'" not in text
