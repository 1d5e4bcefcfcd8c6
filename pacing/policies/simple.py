"""Preview, progressive and fixed-ratio dialing: no prediction at all."""

from __future__ import annotations

from pacing.model import AgentState, PacingEvent, Snapshot


class Progressive:
    """One call in progress per ready agent: no abandons by construction."""

    name = "progressive"

    def observe(self, event: PacingEvent) -> None:
        pass

    def decide(self, snapshot: Snapshot) -> int:
        return max(0, snapshot.ready - len(snapshot.dialing) - len(snapshot.waiting))


class Preview:
    """Progressive, but each agent first reviews the account for
    preview_seconds: a call is placed for each agent ready that long."""

    name = "preview"

    def __init__(self, preview_seconds: float = 15.0) -> None:
        self.preview_seconds = preview_seconds

    def observe(self, event: PacingEvent) -> None:
        pass

    def decide(self, snapshot: Snapshot) -> int:
        reviewed = sum(1 for a in snapshot.agents if a.state is AgentState.READY
                       and snapshot.now - a.since >= self.preview_seconds)
        return max(0, reviewed - len(snapshot.dialing) - len(snapshot.waiting))


class FixedRatio:
    """`ratio` calls in progress per ready agent."""

    def __init__(self, ratio: float) -> None:
        if ratio < 1:
            raise ValueError(f"ratio must be at least 1, got {ratio}")
        self.ratio = ratio
        self.name = f"ratio {ratio:g}"

    def observe(self, event: PacingEvent) -> None:
        pass

    def decide(self, snapshot: Snapshot) -> int:
        return max(0, round(self.ratio * snapshot.ready) - len(snapshot.dialing))
