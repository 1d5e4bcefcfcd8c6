"""Occupancy and agents' wait between calls over a window, from the log of
agents' state changes (migration 0020), measured as the pacing benchmarks
measure a stretch (pacing.figures): occupancy is the time agents worked a
call (reserved, on call, wrap-up) over the time they were logged in and not
paused; the wait is their ready time over the calls they took."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby

from dialer.agents.state import AgentState

WORKING = frozenset({AgentState.RESERVED, AgentState.ON_CALL, AgentState.WRAP_UP})


@dataclass(frozen=True)
class StateChange:
    """An agent's state from a moment on (a row of agent_state_log)."""

    endpoint: str
    state: AgentState
    since: datetime
    wrap_up_until: datetime | None = None


@dataclass(frozen=True)
class FloorTime:
    """What agents did with their time in a window, in seconds."""

    worked_s: float
    ready_s: float
    connects: int  # calls that reached an agent in the window

    @property
    def occupancy(self) -> float | None:
        """Worked over logged-in, unpaused time; None when nobody was."""
        available = self.worked_s + self.ready_s
        return self.worked_s / available if available > 0 else None

    @property
    def wait_s(self) -> float | None:
        """Agents' ready time per call taken; None without a call."""
        return self.ready_s / self.connects if self.connects else None


def _seconds(start: datetime, end: datetime, lo: datetime, hi: datetime) -> float:
    return max(0.0, (min(end, hi) - max(start, lo)).total_seconds())


def floor_time(changes: Iterable[StateChange], start: datetime, end: datetime) -> FloorTime:
    """The floor's time in [start, end): changes hold, for each agent, the
    state it was in at start (its last change before) and every change
    after; a wrap-up counts as work until its timer and as ready after it,
    as dialer.agents.state.settled has it."""
    worked = ready = 0.0
    connects = 0
    ordered = sorted(changes, key=lambda c: (c.endpoint, c.since))
    for _, stints in groupby(ordered, key=lambda c: c.endpoint):
        agent = list(stints)
        for change, after in zip(agent, [*agent[1:], None], strict=True):
            until = end if after is None else min(after.since, end)
            if change.state is AgentState.ON_CALL and start <= change.since < end:
                connects += 1
            if change.state is AgentState.WRAP_UP:
                timer = change.wrap_up_until or change.since
                worked += _seconds(change.since, min(timer, until), start, end)
                ready += _seconds(max(timer, change.since), until, start, end)
            elif change.state in WORKING:
                worked += _seconds(change.since, until, start, end)
            elif change.state is AgentState.READY:
                ready += _seconds(change.since, until, start, end)
    return FloorTime(worked_s=worked, ready_s=ready, connects=connects)
