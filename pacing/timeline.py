"""What a policy hears of calls, given each call's moments: every outcome
at the moment it happens, in the order of the moments. The simulator feeds
its policy exactly this (Simulation.moments); the live dialer must too,
which tests check by replaying a lab campaign's recorded moments."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pacing.model import (
    CallAbandoned,
    CallConnected,
    CallResolved,
    DialResult,
    PacingEvent,
    TalkEnded,
    WrapUpEnded,
)


@dataclass(slots=True)
class CallMoments:
    """One call's moments on the campaign's clock (seconds). resolved_at:
    it stopped ringing (the answer, AMD's verdict, or the end of a call
    never answered), with the result pacing heard. A call AMD let through
    may reach an agent without a live connection (a machine): it has a
    talk and a wrap-up but no connected_at."""

    dialed_at: float
    resolved_at: float
    result: DialResult
    answered_at: float | None = None  # what the 2-second rule counts from
    connected_at: float | None = None
    abandoned_at: float | None = None
    talk_started_at: float | None = None
    talk_ended_at: float | None = None
    wrap_up_ended_at: float | None = None

    def events(self) -> list[PacingEvent]:
        """This call's outcomes, in the order they happen."""
        events: list[PacingEvent] = [CallResolved(at=self.resolved_at, dialed_at=self.dialed_at,
                                                  result=self.result)]
        answered = self.answered_at if self.answered_at is not None else self.resolved_at
        if self.connected_at is not None:
            events.append(CallConnected(at=self.connected_at, answered_at=answered))
        if self.abandoned_at is not None:
            events.append(CallAbandoned(at=self.abandoned_at, answered_at=answered))
        if self.talk_ended_at is not None and self.talk_started_at is not None:
            events.append(TalkEnded(at=self.talk_ended_at,
                                    seconds=self.talk_ended_at - self.talk_started_at))
            if self.wrap_up_ended_at is not None:
                events.append(WrapUpEnded(at=self.wrap_up_ended_at,
                                          seconds=self.wrap_up_ended_at - self.talk_ended_at))
        return events


def heard(calls: Iterable[CallMoments]) -> list[PacingEvent]:
    """Every outcome of these calls at its moment, in the order of the
    moments (a call's own order where two coincide)."""
    timed = [(event.at, index, step, event) for index, call in enumerate(calls)
             for step, event in enumerate(call.events())]
    timed.sort(key=lambda item: (item[0], item[1], item[2]))
    return [event for *_, event in timed]
