"""The outbound call as an explicit state machine: each event moves a
CallRecord to its next version, and events that do not fit the current
state leave it as it is (AMI and ARI may report the same fact twice)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum

from dialer.calls.events import (
    CallAnswered,
    CallArrived,
    CallEnteredApp,
    CallEvent,
    CallHungUp,
    CallLost,
    CallOriginated,
    CallRinging,
    DtmfReceived,
    HangupRequested,
    OriginateFailed,
)
from dialer.calls.outcome import CallOutcome, classify


class CallState(Enum):
    ORIGINATING = "originating"
    RINGING = "ringing"
    ANSWERED = "answered"
    ENDED = "ended"


@dataclass(frozen=True)
class CallRecord:
    """Everything known about one outbound call."""

    call_id: str
    number: str
    originated_at: datetime
    state: CallState = CallState.ORIGINATING
    ringing_at: datetime | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    hangup_cause: int | None = None
    hangup_cause_text: str = ""
    originate_reason: int | None = None
    hung_up_by_app: bool = False
    dtmf_count: int = 0
    entered_app_at: datetime | None = None  # with AMD: when its verdict came
    amd_status: str = ""  # HUMAN, MACHINE, NOTSURE, HANGUP; "" without AMD
    inbound: bool = False  # the debtor called in (number: the caller's)
    lost: bool = False
    outcome: CallOutcome | None = None

    @property
    def ended(self) -> bool:
        return self.state is CallState.ENDED

    @property
    def ring_seconds(self) -> float | None:
        """From origination to answer, or to the end of an unanswered call."""
        until = self.answered_at or self.ended_at
        return None if until is None else (until - self.originated_at).total_seconds()

    @property
    def talk_seconds(self) -> float | None:
        """From answer to hang-up."""
        if self.answered_at is None or self.ended_at is None:
            return None
        return (self.ended_at - self.answered_at).total_seconds()


def originate(event: CallOriginated) -> CallRecord:
    """The record of a call the dialer has just asked Asterisk to place."""
    return CallRecord(call_id=event.call_id, number=event.number, originated_at=event.at)


def arrive(event: CallArrived) -> CallRecord:
    """The record of a call that came in from the trunk."""
    return CallRecord(call_id=event.call_id, number=event.caller, originated_at=event.at,
                      inbound=True)


def _end(call: CallRecord, at: datetime, **changes: object) -> CallRecord:
    ended = replace(call, state=CallState.ENDED, ended_at=at, **changes)  # type: ignore[arg-type]
    return _reclassify(ended)


def _reclassify(call: CallRecord) -> CallRecord:
    outcome = classify(answered=call.answered_at is not None, hung_up_by_app=call.hung_up_by_app,
                       cause=call.hangup_cause, originate_reason=call.originate_reason,
                       lost=call.lost)
    return replace(call, outcome=outcome)


def apply(call: CallRecord, event: CallEvent) -> CallRecord:
    """The call after event. Pure: no I/O, no clock."""
    state = call.state
    match event:
        case CallRinging() if state is CallState.ORIGINATING:
            return replace(call, state=CallState.RINGING, ringing_at=event.at)
        case CallEnteredApp() if call.entered_app_at is None and state is not CallState.ENDED:
            return replace(call, state=CallState.ANSWERED, answered_at=call.answered_at or event.at,
                           entered_app_at=event.at, amd_status=event.amd_status)
        case CallAnswered() if state in (CallState.ORIGINATING, CallState.RINGING):
            return replace(call, state=CallState.ANSWERED, answered_at=event.at)
        case DtmfReceived() if state is CallState.ANSWERED:
            return replace(call, dtmf_count=call.dtmf_count + 1)
        case HangupRequested() if state is not CallState.ENDED:
            return replace(call, hung_up_by_app=True)
        case CallHungUp() if state is not CallState.ENDED:
            return _end(call, event.at, hangup_cause=event.cause,
                        hangup_cause_text=event.cause_text)
        case CallHungUp() if call.hangup_cause is None:
            # The originate failure came first; the hangup brings the cause.
            return _reclassify(replace(call, hangup_cause=event.cause,
                                       hangup_cause_text=event.cause_text))
        case OriginateFailed() if state is not CallState.ENDED:
            return _end(call, event.at, originate_reason=event.reason)
        case OriginateFailed():
            return _reclassify(replace(call, originate_reason=event.reason))
        case CallLost() if state is not CallState.ENDED:
            return _end(call, event.at, lost=True,
                        hangup_cause_text="lost: the channel was gone after a reconnect")
    return call
