"""A stretch of a shift's figures from its calls' moments alone, so that a
lab campaign (its calls as PostgreSQL recorded them) and a simulated one
(Simulation.moments) are measured the same way. Every agent is taken to be
logged in and unpaused throughout the stretch (the caller checks it)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pacing.model import DialResult
from pacing.timeline import CallMoments


@dataclass(frozen=True)
class StretchFigures:
    """What agents and calls did between two moments."""

    occupancy: float  # talk and wrap-up over the agents' time
    abandon_rate: float  # abandoned people over people who answered
    agent_wait_s: float  # mean ready time before each connection
    talk_s: float  # mean talk of the calls connected in the stretch
    dial_level: float  # calls ringing per agent, on average over the stretch
    dials: int
    people: int  # live answers
    connects: int
    abandoned: int
    agent_hours: float

    @property
    def dials_per_agent_hour(self) -> float:
        return self.dials / self.agent_hours


def _overlap(start: float, end: float, lo: float, hi: float) -> float:
    return max(0.0, min(end, hi) - max(start, lo))


def stretch_figures(calls: Iterable[CallMoments], agents: int, start: float,
                    end: float) -> StretchFigures:
    """The figures of [start, end): agents' time worked (from a call's talk
    to its wrap-up's end, or its talk's end without one) and ringing (dial
    to resolution) inside it; people who answered, connections and
    abandons inside it; an agent's wait is the agents' ready time over the
    connections."""
    if not end > start or agents < 1:
        raise ValueError(f"a stretch needs end > start and agents, got [{start}, {end}) "
                         f"and {agents}")
    worked = ringing = talked = 0.0
    dials = people = connects = abandoned = 0
    for call in calls:
        ringing += _overlap(call.dialed_at, call.resolved_at, start, end)
        dials += start <= call.dialed_at < end
        if call.talk_started_at is not None:
            done = call.wrap_up_ended_at or call.talk_ended_at or call.talk_started_at
            worked += _overlap(call.talk_started_at, done, start, end)
        answered = call.answered_at
        if call.result is DialResult.LIVE and answered is not None and start <= answered < end:
            people += 1
            if call.connected_at is not None:
                connects += 1
                talked += (call.talk_ended_at or call.connected_at) - call.connected_at
            abandoned += call.abandoned_at is not None
    capacity = agents * (end - start)
    return StretchFigures(
        occupancy=worked / capacity, abandon_rate=abandoned / people if people else 0.0,
        agent_wait_s=(capacity - worked) / connects if connects else 0.0,
        talk_s=talked / connects if connects else 0.0,
        dial_level=ringing / capacity, dials=dials, people=people, connects=connects,
        abandoned=abandoned, agent_hours=capacity / 3600.0)
