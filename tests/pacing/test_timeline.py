"""The simulator's policy hears exactly pacing.timeline.heard of its
calls' moments: each outcome at its moment, in the order of the moments.
(The live dialer is held to the same in tests/e2e/test_campaign.py.)"""

from __future__ import annotations

import pytest

from pacing.model import PacingEvent, Snapshot
from pacing.policies.predictive import Predictive
from pacing.scenario import Duration, Scenario, Shape
from pacing.simulator import Simulation
from pacing.timeline import heard


class Recording:
    """A policy as it is, keeping what it heard."""

    def __init__(self, policy: Predictive) -> None:
        self.policy = policy
        self.name = policy.name
        self.heard: list[PacingEvent] = []

    def observe(self, event: PacingEvent) -> None:
        self.heard.append(event)
        self.policy.observe(event)

    def decide(self, snapshot: Snapshot) -> int:
        return self.policy.decide(snapshot)


@pytest.mark.parametrize("markovian", [False, True])
def test_the_simulator_feeds_each_outcome_at_its_moment_in_order(markovian):
    scenario = Scenario(
        name="timeline", agents=6, talk=Duration(Shape.LOGNORMAL, 60, 1.0),
        wrap=Duration(Shape.LOGNORMAL, 10, 0.5), live_start=0.35, live_end=0.25, machine=0.15,
        busy=0.05, failed=0.05, amd_false_positive=0.02, amd_false_negative=0.1,
        pause_per_hour=1.0, shift_hours=1, days=1, seed=4, markovian=markovian)
    policy = Recording(Predictive(amd_false_positive_rate=0.02))
    simulation = Simulation(scenario, policy)
    metrics = simulation.run()
    assert metrics.connects > 50 and metrics.abandoned + metrics.amd_false_positives > 0
    assert heard(simulation.moments.values()) == policy.heard
    times = [event.at for event in policy.heard]
    assert times == sorted(times)
