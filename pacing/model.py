"""What a pacing policy sees and hears.

Times are seconds on the campaign's clock, counted from midnight of the
campaign's first day, so the hour of day is (t // 3600) % 24."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Protocol


class AgentState(Enum):
    READY = "ready"
    TALKING = "talking"
    WRAP_UP = "wrap_up"
    PAUSED = "paused"


@dataclass(frozen=True, slots=True)
class AgentView:
    """One logged-in agent: what they do and since when."""

    state: AgentState
    since: float


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The campaign at one instant."""

    now: float
    agents: tuple[AgentView, ...]
    dialing: tuple[float, ...]  # dial times of calls not yet resolved
    waiting: tuple[float, ...]  # answer times of live calls waiting for an agent

    @property
    def ready(self) -> int:
        return sum(1 for a in self.agents if a.state is AgentState.READY)

    @property
    def talking(self) -> int:
        return sum(1 for a in self.agents if a.state is AgentState.TALKING)

    @property
    def calls_in_progress(self) -> int:
        """Calls ringing, answered and waiting, or talking to an agent."""
        return len(self.dialing) + len(self.waiting) + self.talking

    @property
    def logged_in(self) -> int:
        return len(self.agents)


def hour_of_day(t: float) -> int:
    return int(t // 3600) % 24


class DialResult(Enum):
    """How a dialed call resolved."""

    LIVE = "live"  # a person answered (as AMD judged it)
    MACHINE = "machine"  # AMD judged an answering machine
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class CallResolved:
    """A dialed call stopped ringing, one way or another."""

    at: float
    dialed_at: float
    result: DialResult


@dataclass(frozen=True, slots=True)
class CallConnected:
    """A live call reached an agent, waited seconds after the answer."""

    at: float
    answered_at: float


@dataclass(frozen=True, slots=True)
class CallAbandoned:
    """A live call got no agent within the 2-second rule."""

    at: float
    answered_at: float


@dataclass(frozen=True, slots=True)
class TalkEnded:
    at: float
    seconds: float


@dataclass(frozen=True, slots=True)
class WrapUpEnded:
    at: float
    seconds: float


PacingEvent = CallResolved | CallConnected | CallAbandoned | TalkEnded | WrapUpEnded


class PacingPolicy(Protocol):
    """A pacing policy: hears outcomes, and says how many calls to launch."""

    name: str

    def observe(self, event: PacingEvent) -> None:
        """Learn from one outcome."""

    def decide(self, snapshot: Snapshot) -> int:
        """How many calls to launch now (0 or more)."""
