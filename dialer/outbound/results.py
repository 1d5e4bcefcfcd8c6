"""What pacing learns from a finished campaign call: its own vocabulary
(pacing.model), mapped from the attempt's result in this one place; and
the 2-second rule's deadline."""

from __future__ import annotations

from datetime import datetime, timedelta

from dialer.calls.outcome import AttemptResult, Connection
from dialer.calls.state import CallRecord
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

_DIAL_RESULT = {
    AttemptResult.BUSY: DialResult.BUSY,
    AttemptResult.NO_ANSWER: DialResult.NO_ANSWER,
    AttemptResult.FAILED: DialResult.FAILED,
    AttemptResult.LOST: DialResult.FAILED,
}


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
