"""Debtors' fates drawn ahead (pacing.fates), the simulator dialing them in
order, and a stretch's figures from calls' moments (pacing.figures)."""

from dataclasses import replace

import pytest

from pacing.fates import Fate, draw_fates
from pacing.figures import stretch_figures
from pacing.model import DialResult
from pacing.policies.simple import Progressive
from pacing.scenario import Duration, Scenario, ScenarioError, Shape, fixed
from pacing.simulator import Simulation
from pacing.timeline import CallMoments

LIVE = Scenario(name="live", agents=3, talk=Duration(Shape.LOGNORMAL, 30.0, 0.5),
                live_start=0.3, busy=0.1, failed=0.05, wrap=fixed(5.0),
                answer_delay=fixed(0.35), reject_delay=fixed(0.05), ring_timeout=15.0,
                shift_hours=0.25, seed=61)


def test_fates_follow_the_scenario_and_its_seed():
    fates = draw_fates(LIVE, 20000, max_talk_s=99)
    assert fates == draw_fates(LIVE, 20000, max_talk_s=99)
    share = {result: sum(f.result is result for f in fates) / len(fates) for result in DialResult}
    assert share[DialResult.LIVE] == pytest.approx(0.3, abs=0.01)
    assert share[DialResult.BUSY] == pytest.approx(0.1, abs=0.01)
    assert share[DialResult.FAILED] == pytest.approx(0.05, abs=0.01)
    assert share[DialResult.NO_ANSWER] == pytest.approx(0.55, abs=0.01)
    assert share[DialResult.MACHINE] == 0
    talks = [f.talk_s for f in fates if f.result is DialResult.LIVE]
    assert sum(talks) / len(talks) == pytest.approx(30.0, rel=0.03)
    assert all(f.talk_s == 0 for f in fates if f.result is not DialResult.LIVE)


def test_talk_is_whole_seconds_within_what_a_lab_number_can_say():
    long_talk = replace(LIVE, talk=Duration(Shape.LOGNORMAL, 90.0, 1.0))
    talks = [f.talk_s for f in draw_fates(long_talk, 5000, max_talk_s=99)
             if f.result is DialResult.LIVE]
    assert min(talks) >= 1 and max(talks) == 99
    assert all(isinstance(t, int) for t in talks)


@pytest.mark.parametrize(("change", "field"), [({"live_end": 0.2}, "live_end"),
                                               ({"machine": 0.1}, "machine")])
def test_what_fates_cannot_honour_is_named(change, field):
    with pytest.raises(ScenarioError, match=field):
        draw_fates(replace(LIVE, **change), 10, max_talk_s=99)


def test_the_simulator_dials_the_fates_in_order_and_stops_when_they_run_out():
    fates = draw_fates(LIVE, 60, max_talk_s=99)
    simulation = Simulation(LIVE, Progressive(), fates=fates)
    metrics = simulation.run()
    assert metrics.dials == len(fates)  # the quarter hour outlasts 60 leads
    calls = [simulation.moments[i] for i in range(len(fates))]
    assert [c.result for c in calls] == [f.result for f in fates]
    for call, fate in zip(calls, fates, strict=True):
        delay = call.resolved_at - call.dialed_at
        expected = {DialResult.LIVE: 0.35, DialResult.BUSY: 0.05, DialResult.FAILED: 0.05,
                    DialResult.NO_ANSWER: 15.0}[fate.result]
        assert delay == pytest.approx(expected)
        if call.connected_at is not None:  # progressive: every person gets an agent
            assert call.talk_ended_at - call.talk_started_at == pytest.approx(fate.talk_s)
            assert call.wrap_up_ended_at - call.talk_ended_at == pytest.approx(5.0)
    assert all(c.connected_at is not None for c in calls if c.result is DialResult.LIVE)


def test_a_stretch_is_measured_from_its_calls_moments_alone():
    calls = [
        # dialed at 0, answered at 1, talks 1-31, wraps up to 36
        CallMoments(0.0, 1.0, DialResult.LIVE, answered_at=1.0, connected_at=1.0,
                    talk_started_at=1.0, talk_ended_at=31.0, wrap_up_ended_at=36.0),
        CallMoments(2.0, 17.0, DialResult.NO_ANSWER),  # rings 15 s
        # answered at 50, nobody free: abandoned 2 s later
        CallMoments(49.0, 50.0, DialResult.LIVE, answered_at=50.0, abandoned_at=52.0),
        # half of its talk inside the stretch
        CallMoments(80.0, 90.0, DialResult.LIVE, answered_at=90.0, connected_at=90.0,
                    talk_started_at=90.0, talk_ended_at=110.0, wrap_up_ended_at=115.0),
    ]
    figures = stretch_figures(calls, agents=2, start=0.0, end=100.0)
    assert figures.occupancy == pytest.approx((35.0 + 10.0) / 200.0)
    assert figures.abandon_rate == pytest.approx(1 / 3)
    assert (figures.people, figures.connects, figures.abandoned, figures.dials) == (3, 2, 1, 4)
    assert figures.agent_wait_s == pytest.approx((200.0 - 45.0) / 2)
    assert figures.talk_s == pytest.approx((30.0 + 20.0) / 2)  # whole talks, by connection
    assert figures.dial_level == pytest.approx((1.0 + 15.0 + 1.0 + 10.0) / 200.0)
    assert figures.dials_per_agent_hour == pytest.approx(4 / (200.0 / 3600.0))
    later = stretch_figures(calls, agents=2, start=60.0, end=100.0)
    assert (later.people, later.dials) == (1, 1)


def test_a_stretch_without_time_or_agents_is_refused():
    with pytest.raises(ValueError, match="end > start"):
        stretch_figures([], agents=2, start=10.0, end=10.0)
    assert Fate(DialResult.BUSY).talk_s == 0
