"""With the abandon budget (Predictive's abandon_budget option), the closed
loop settles within the first hour for small teams: in the
simulator, lambda at the end of hour one is at its level of the hours after
it, and so is the dial level of the first hour's second half (once the cold
start's 20 talks have ended: for 8 agents; 3 agents are still dialing
progressively then, the 20 talks take them most of the hour)."""

import math
import statistics
from dataclasses import replace
from functools import cache

import pytest

from lab.bench import DEFAULT_MATRIX, read_matrix
from pacing.model import PacingEvent, Snapshot
from pacing.policies.predictive import Predictive
from pacing.simulator import LAST_DIAL_S, Simulation

HOUR_S = 3600.0
SLOT_S = 600.0
SHIFT_HOURS = 2.5
SETTLED_S = 1800.0  # the cold start is over by then for 3 to 8 agents
SMALL_TEAMS = DEFAULT_MATRIX.parent / "small_teams.toml"


class _Watched:
    """A predictive policy, noting lambda every ten minutes of the shift."""

    def __init__(self, policy: Predictive, shift_start: float) -> None:
        self.policy = policy
        self.name = policy.name
        self.shift_start = shift_start
        self.lambdas: dict[int, float] = {}

    def observe(self, event: PacingEvent) -> None:
        self.policy.observe(event)

    def decide(self, snapshot: Snapshot) -> int:
        slot = int((snapshot.now - self.shift_start) // SLOT_S)
        self.lambdas.setdefault(slot, math.exp(self.policy.log_lambda))
        return self.policy.decide(snapshot)


@cache
def _levels(team: str, seed_offset: int) -> tuple[float, float, dict[int, float]]:
    """Dials per agent-hour in the second half of hour one and after it (to
    the end of dialing), and lambda every ten minutes."""
    scenario = next(s for s in read_matrix(SMALL_TEAMS) if s.name.startswith(team))
    scenario = replace(scenario, seed=scenario.seed + seed_offset, shift_hours=SHIFT_HOURS)
    start = scenario.start_hour * HOUR_S
    policy = Predictive(cap=scenario.cap, day_end_s=start + scenario.shift_hours * HOUR_S,
                        amd_false_positive_rate=scenario.amd_false_positive,
                        abandon_budget=True)
    watched = _Watched(policy, start)
    simulation = Simulation(scenario, watched)
    simulation.run()
    since = [m.dialed_at - start for m in simulation.moments.values()]
    first = sum(SETTLED_S <= t < HOUR_S for t in since) / ((HOUR_S - SETTLED_S) / HOUR_S)
    end = SHIFT_HOURS * HOUR_S - LAST_DIAL_S
    after = sum(t >= HOUR_S for t in since) / ((end - HOUR_S) / HOUR_S)
    return first / scenario.agents, after / scenario.agents, watched.lambdas


@pytest.mark.parametrize("team", ["S3", "S8"])
def test_lambda_reaches_its_level_within_the_first_hour(team):
    for offset in (0, 1000):
        lambdas = _levels(team, offset)[2]
        later = statistics.median(lambdas[slot] for slot in range(7, 15))
        assert lambdas[6] == pytest.approx(later, rel=0.5), (lambdas[6], later)


def test_eight_agents_dial_in_the_first_hour_as_they_do_after():
    runs = [_levels("S8", offset) for offset in (0, 1000)]
    first = statistics.mean(run[0] for run in runs)
    after = statistics.mean(run[1] for run in runs)
    assert first == pytest.approx(after, rel=0.15), (first, after)
