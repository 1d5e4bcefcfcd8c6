"""What a finished campaign call came to: the attempt's result for the retry
rules and Reg F, and the outcomes pacing learns from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from dialer.calls.outcome import CallOutcome
from dialer.calls.state import CallRecord
from dialer.compliance.gate import AttemptResult
from pacing.model import (
    CallAbandoned,
    CallConnected,
    CallResolved,
    DialResult,
    PacingEvent,
    TalkEnded,
    WrapUpEnded,
)

# The 2-second rule: a live answer not connected to an agent within this is
# abandoned (FCC 47 CFR 64.1200(a)(7); Ofcom's policy uses the same 2 s).
AGENT_DEADLINE = timedelta(seconds=2)

_UNANSWERED = {
    CallOutcome.BUSY: AttemptResult.BUSY,
    CallOutcome.NO_ANSWER: AttemptResult.NO_ANSWER,
    CallOutcome.FAILED: AttemptResult.FAILED,
}
_DIAL_RESULT = {
    AttemptResult.BUSY: DialResult.BUSY,
    AttemptResult.NO_ANSWER: DialResult.NO_ANSWER,
    AttemptResult.FAILED: DialResult.FAILED,
    AttemptResult.LOST: DialResult.FAILED,
}


@dataclass(frozen=True)
class Connection:
    """What the dialer did with an answered call."""

    agent: str | None = None
    connected_at: datetime | None = None
    abandoned: bool = False  # no agent in time: Recobro ended the call
    machine: bool = False  # AMD heard an answering machine


def not_placed(call: CallRecord) -> bool:
    """Whether the PBX never placed the call: the originate failed before a
    channel rang or answered, with no cause from the far end (Asterisk out
    of channels or RTP ports, the trunk missing or down)."""
    return (call.outcome is CallOutcome.FAILED and call.answered_at is None
            and call.ringing_at is None and call.originate_reason in (None, 0)
            and call.hangup_cause in (None, 0) and not call.lost)


def attempt_result(call: CallRecord, connection: Connection) -> AttemptResult:
    """The attempt's result from the finished call and its connection. A
    call bridged to an agent was a conversation even when its end was lost
    (the dialer died, PostgreSQL went away)."""
    if call.lost:
        return AttemptResult.CONVERSATION if connection.connected_at else AttemptResult.LOST
    if call.answered_at is None:
        if not_placed(call):
            return AttemptResult.NOT_PLACED
        return _UNANSWERED.get(call.outcome, AttemptResult.FAILED)  # type: ignore[arg-type]
    if connection.machine:
        return AttemptResult.MACHINE
    if connection.connected_at is not None:
        return AttemptResult.CONVERSATION
    return AttemptResult.ABANDONED if connection.abandoned else AttemptResult.HUNG_UP


def pacing_events(call: CallRecord, connection: Connection, result: AttemptResult,
                  wrap_up_s: float, epoch: datetime) -> list[PacingEvent]:
    """The outcomes pacing learns from, in seconds since epoch."""
    def t(moment: datetime) -> float:
        return (moment - epoch).total_seconds()

    dialed = t(call.originated_at)
    if result is AttemptResult.NOT_PLACED:
        return []  # no call was made: nothing for pacing to learn
    if call.answered_at is None:
        ended = call.ended_at or call.originated_at
        return [CallResolved(at=t(ended), dialed_at=dialed, result=_DIAL_RESULT[result])]
    answered = t(call.answered_at)
    if result is AttemptResult.MACHINE:
        return [CallResolved(at=answered, dialed_at=dialed, result=DialResult.MACHINE)]
    # With AMD, the 2-second rule and pacing count from the verdict.
    answered = t(call.entered_app_at) if call.amd_status and call.entered_app_at else answered
    events: list[PacingEvent] = [CallResolved(at=answered, dialed_at=dialed,
                                              result=DialResult.LIVE)]
    if connection.connected_at is not None:
        connected = t(connection.connected_at)
        ended = t(call.ended_at) if call.ended_at else connected
        events += [CallConnected(at=connected, answered_at=answered),
                   TalkEnded(at=ended, seconds=ended - connected),
                   WrapUpEnded(at=ended + wrap_up_s, seconds=wrap_up_s)]
    elif result is AttemptResult.ABANDONED:
        events.append(CallAbandoned(at=answered + AGENT_DEADLINE.total_seconds(),
                                    answered_at=answered))
    return events
