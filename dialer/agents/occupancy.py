"""Occupancy and agents' wait between calls over a window, from the log of
agents' state changes (migration 0020), measured as the pacing benchmarks
measure a stretch (pacing.figures): occupancy is the time agents worked a
call (reserved, on call, wrap-up) over the time they were logged in and not
paused; the wait is their ready time over the calls they took."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter

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


def _seconds(start: float, end: float, lo: float, hi: float) -> float:
    return max(0.0, min(end, hi) - max(start, lo))


def floor_time(changes: Iterable[StateChange], start: datetime, end: datetime) -> FloorTime:
    """The floor's time in [start, end): changes hold, for each agent, the
    state it was in at start (its last change before) and every change
    after; earlier ones (a longer window's) are clipped away. Changes of
    an agent at the same moment count in the order given (the last holds).
    A wrap-up
    counts as work until its timer and as ready after it, as
    dialer.agents.state.settled has it."""
    # In seconds since the epoch: the API measures an hour of the floor's
    # changes at every scrape, and datetime arithmetic is most of the cost.
    lo, hi = start.timestamp(), end.timestamp()
    by_agent: dict[str, list[tuple[float, StateChange]]] = defaultdict(list)
    for change in changes:
        by_agent[change.endpoint].append((change.since.timestamp(), change))
    worked = ready = 0.0
    connects = 0
    for stints in by_agent.values():
        stints.sort(key=itemgetter(0))
        for index, (since, change) in enumerate(stints):
            if since >= hi:
                break
            until = min(stints[index + 1][0], hi) if index + 1 < len(stints) else hi
            if until <= lo:
                continue  # over before the window opened
            if change.state is AgentState.ON_CALL and since >= lo:
                connects += 1
            if change.state is AgentState.WRAP_UP:
                timer = change.wrap_up_until.timestamp() if change.wrap_up_until else since
                worked += _seconds(since, min(timer, until), lo, hi)
                ready += _seconds(max(timer, since), until, lo, hi)
            elif change.state in WORKING:
                worked += _seconds(since, until, lo, hi)
            elif change.state is AgentState.READY:
                ready += _seconds(since, until, lo, hi)
    return FloorTime(worked_s=worked, ready_s=ready, connects=connects)
