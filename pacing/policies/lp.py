"""The LP's optimal stationary policy (pacing.optimum.lp_policy) run as a
pacing policy: a yardstick in the simulator, not a policy for a campaign,
as it is handed the scenario's truths (answer rate, talk and dial means)
that no dialer knows. It shows what the long-run optimum does to the
regulator's 24 h windows."""

from __future__ import annotations

import random

from pacing.model import PacingEvent, Snapshot
from pacing.optimum import LaunchTable


class LpOptimal:
    """Launches as the LP's table says, one call at a time: in each state
    it meets, a call with the state's chance, then the same in the state
    that call leads to, until it waits."""

    def __init__(self, table: LaunchTable, seed: int = 0) -> None:
        self.table = table
        self.name = f"LP policy at {100 * table.cap:g}%"
        self._rng = random.Random(seed)
        # The state the last decision left: asked again in it (the
        # simulator's one-second tick) the policy has decided already.
        self._settled: tuple[int, int, int] | None = None

    def observe(self, event: PacingEvent) -> None:
        pass

    def decide(self, snapshot: Snapshot) -> int:
        # Agents not logged in count as busy: the table is for the whole team.
        busy = self.table.agents - snapshot.ready
        ringing, waiting = len(snapshot.dialing), len(snapshot.waiting)
        if (busy, ringing, waiting) == self._settled:
            return 0
        launched = 0
        while self._rng.random() < self.table.launch_chance(busy, ringing + launched, waiting):
            launched += 1
        self._settled = (busy, ringing + launched, waiting)
        return launched
