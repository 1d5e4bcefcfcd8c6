from dataclasses import replace

import pytest

from pacing.model import DialResult
from pacing.policies.predictive import Predictive
from pacing.policies.simple import Progressive
from pacing.scenario import Duration, Scenario, Shape, exponential
from pacing.simulator import Restart, RunMetrics, Simulation, simulate

MARKOV = Scenario(name="closed form", agents=20, talk=exponential(180), live_start=0.3,
                  markovian=True, resolve_mean=20, days=2, seed=5)


def test_progressive_matches_the_closed_form():
    # Each agent's cycle: D/p seconds of dialing on average, then T talking.
    metrics = simulate(MARKOV, Progressive())
    expected = 180 / (180 + 20 / 0.3)
    assert metrics.occupancy == pytest.approx(expected, abs=0.015)
    assert metrics.abandoned == 0


def test_runs_are_reproducible():
    scenario = replace(MARKOV, days=1, shift_hours=1)
    first, second = simulate(scenario, Predictive()), simulate(scenario, Predictive())
    assert (first.dials, first.connects, first.abandoned) == \
        (second.dials, second.connects, second.abandoned)
    assert first.occupancy == second.occupancy


def test_a_realistic_shift_runs_every_feature():
    scenario = Scenario(
        name="everything", agents=8, talk=Duration(Shape.LOGNORMAL, 120, 1.0),
        wrap=Duration(Shape.LOGNORMAL, 15, 0.5), live_start=0.35, live_end=0.2, machine=0.15,
        busy=0.05, failed=0.05, amd_false_positive=0.02, amd_false_negative=0.1,
        pause_per_hour=1.0, login_stagger_minutes=20, shift_hours=2, days=2, seed=9)
    metrics = simulate(scenario, Predictive(amd_false_positive_rate=0.02))
    assert metrics.connects > 100
    assert metrics.amd_false_positives > 0
    assert metrics.paused_s > 0 and metrics.wrap_s > 0
    assert 0 < metrics.occupancy < 1
    assert metrics.abandon_rate >= metrics.amd_false_positives / (
        metrics.live_answers + metrics.amd_false_positives)


def test_worst_window():
    metrics = RunMetrics(policy="p", scenario="s", span_start=0.0, span_end=3 * 86400.0)
    day = 86400.0
    metrics.answer_log = [(t, 1, 0) for t in range(0, int(3 * day), 600)]
    metrics.answer_log[200] = (metrics.answer_log[200][0], 1, 1)  # one abandon on day 2
    worst = metrics.worst_window_abandon_rate()
    assert worst == pytest.approx(1 / 144, rel=0.01)  # 144 answers a day


def _restart_scenario() -> Scenario:
    return Scenario(name="restart", agents=6, talk=Duration(Shape.LOGNORMAL, 90, 1.0),
                    wrap=Duration(Shape.LOGNORMAL, 10, 0.5), live_start=0.3, machine=0.1,
                    busy=0.05, shift_hours=1.5, days=1, seed=21)


STOP = 9 * 3600.0 + 3600.0
PROBE = (STOP, STOP + 900.0)


def test_a_warm_restart_without_a_gap_changes_nothing():
    """The new policy reads back what the stopped one heard, and its closed
    loop's state: it decides as the stopped one would have, call for call."""
    scenario = _restart_scenario()

    def warm(history, stopped):
        policy = Predictive()
        policy.warm_start(history, stopped.log_lambda)
        return policy

    whole = Simulation(scenario, Predictive(), probe=PROBE).run()
    restarted = Simulation(scenario, Predictive(), Restart(STOP, 0.0, warm), PROBE).run()
    assert restarted.dials == whole.dials and restarted.connects == whole.connects
    assert restarted.probe_occupancy == whole.probe_occupancy
    assert 0 < whole.probe_occupancy < 1
    cold = Simulation(scenario, Predictive(), Restart(STOP, 0.0, lambda h, s: Predictive()),
                      PROBE).run()
    assert cold.probe_occupancy < whole.probe_occupancy  # it relearns from zero


def test_nobody_dials_connects_or_hears_while_the_dialer_is_down():
    scenario = replace(_restart_scenario(), agents=20)  # calls enough ringing at the stop
    heard = []

    class Listening(Predictive):
        def observe(self, event):
            heard.append(event)
            super().observe(event)

    gap = 60.0
    day_end = (scenario.start_hour + scenario.shift_hours) * 3600  # as the bench gives it
    simulation = Simulation(scenario, Listening(day_end_s=day_end),
                            Restart(STOP, gap, lambda history, stopped: stopped), PROBE)
    metrics = simulation.run()
    assert not any(STOP < event.at < STOP + gap for event in heard)
    answered_in_gap = [m for m in simulation.moments.values()
                       if m.result is DialResult.LIVE and STOP < m.resolved_at < STOP + gap]
    assert answered_in_gap and all(m.connected_at is None for m in answered_in_gap)
    # Each person who answered meanwhile was abandoned (no AMD here: all were people).
    abandoned = [t for t, _, ab in metrics.answer_log if ab and STOP < t < STOP + gap]
    assert len(abandoned) == len(answered_in_gap)


class Watching(Predictive):
    """The predictive policy, noting how many calls each snapshot shows ringing."""

    def __init__(self, **options) -> None:
        super().__init__(**options)
        self.seen: list[tuple[float, int]] = []

    def decide(self, snapshot) -> int:
        self.seen.append((snapshot.now, len(snapshot.dialing)))
        return super().decide(snapshot)


def test_the_policy_sees_each_moment_whole():
    # Fixed delays (the lab's: answers 0.35 s after the dial, whole-second
    # talks, a 5 s wrap-up) make events meet at one instant: a talk ends
    # just as calls placed 0.35 s before answer. Asked between them, the
    # policy took those calls for unanswered ones past their live delay and
    # dialed again for the same agents (abandons the lab never had).
    scenario = Scenario(name="lab-like", agents=12, talk=Duration(Shape.LOGNORMAL, 30, 0.5),
                        wrap=Duration(Shape.FIXED, 5, 0.0), live_start=0.3, busy=0.1,
                        answer_delay=Duration(Shape.FIXED, 0.35, 0.0), ring_timeout=15,
                        reject_delay=Duration(Shape.FIXED, 0.05, 0.0), shift_hours=0.25,
                        seed=61)
    policy = Watching(prior_wrap_s=5.0)
    simulation = Simulation(scenario, policy)
    simulation.run()
    calls = list(simulation.moments.values())
    assert len({now for now, _ in policy.seen}) == len(policy.seen)  # once an instant
    for now, ringing in policy.seen:
        assert ringing == sum(c.dialed_at < now < c.resolved_at for c in calls), now
