import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pacing.model import (
    AgentState,
    AgentView,
    CallAbandoned,
    CallConnected,
    CallResolved,
    DialResult,
    Snapshot,
    TalkEnded,
)
from pacing.policies.pi import PiAbandon
from pacing.policies.predictive import Predictive, Regulator
from pacing.policies.simple import FixedRatio, Preview, Progressive
from pacing.policies.vicidial import DropMode, VicidialAdaptive

T0 = 10 * 3600.0


def snap(now=T0, ready=0, talking=(), wrap=(), dialing=(), waiting=()):
    agents = [AgentView(AgentState.READY, now - 5) for _ in range(ready)]
    agents += [AgentView(AgentState.TALKING, now - e) for e in talking]
    agents += [AgentView(AgentState.WRAP_UP, now - e) for e in wrap]
    return Snapshot(now=now, agents=tuple(agents), dialing=tuple(now - e for e in dialing),
                    waiting=tuple(waiting))


def test_progressive_and_preview_and_ratio():
    s = snap(ready=5, talking=(10, 20), dialing=(3, 4))
    assert Progressive().decide(s) == 3
    assert Preview(preview_seconds=15).decide(s) == 0  # ready for 5 s only
    assert Preview(preview_seconds=5).decide(s) == 3
    assert FixedRatio(2.0).decide(s) == 8
    assert Progressive().decide(snap(ready=1, dialing=(1, 2))) == 0


def test_vicidial_dials_every_2_5_s_and_level_1_is_progressive():
    policy = VicidialAdaptive()
    s = snap(ready=4, talking=(10, 20, 30, 40), dialing=(3,))
    assert policy.decide(s) == 4 + 4 - (1 + 4)  # level 1: one call per agent in all
    assert policy.decide(snap(now=T0 + 1, ready=4, talking=(10, 20, 30, 40))) == 0


def test_vicidial_level_rises_with_idle_agents_and_is_clamped():
    policy = VicidialAdaptive(intensity=40)
    t = T0
    for _ in range(200):
        policy.decide(snap(now=t, ready=10))
        t += 2.5
    assert policy.level == 3.0


def test_vicidial_halves_when_most_of_the_last_minute_dropped_and_hard_limit():
    policy = VicidialAdaptive(mode=DropMode.HARD_LIMIT)
    policy.level = 2.8
    for i in range(60):
        policy.observe(CallConnected(at=T0 - 100 + i, answered_at=T0 - 100 + i))
    for i in range(10):
        policy.observe(CallAbandoned(at=T0 - 5 + i * 0.1, answered_at=T0 - 6))
    policy.decide(snap(now=T0, ready=0, talking=(1,) * 10))
    policy.decide(snap(now=T0 + 16, ready=0, talking=(1,) * 10))
    assert policy.level == 1.0  # day over target: HARD_LIMIT


def test_pi_raises_the_level_below_the_setpoint_and_lowers_it_above():
    low = PiAbandon()
    t = T0
    for _ in range(400):
        low.observe(CallConnected(at=t, answered_at=t))
        low.decide(snap(now=t, ready=2, talking=(5,) * 8))
        t += 5
    assert low.level > 1.2
    high = PiAbandon()
    high.level = 2.5
    for i in range(400):
        event = CallAbandoned if i % 5 == 0 else CallConnected
        high.observe(event(at=t, answered_at=t))
        high.decide(snap(now=t, ready=2, talking=(5,) * 8))
        t += 5
    assert high.level < 2.5


def test_predictive_waits_when_every_agent_just_started_a_long_call():
    policy = Predictive(prior_talk_s=300)
    assert policy.decide(snap(talking=(1,) * 20)) == 0


def test_predictive_dials_ahead_of_agents_about_to_free():
    policy = Predictive(prior_talk_s=180, initial_lambda=0.2)
    for t in range(400):  # every call has lasted exactly 180 s
        policy.talk.record(180.0)
    assert policy.decide(snap(talking=(178,) * 10 + (5,) * 10)) > 0


def test_predictive_lambda_follows_outcomes_and_brakes_near_the_cap():
    policy = Predictive()
    start = policy.log_lambda
    for i in range(100):
        policy.observe(CallConnected(at=T0 + i, answered_at=T0 + i))
    assert policy.log_lambda > start
    raised = policy.log_lambda
    policy.observe(CallAbandoned(at=T0 + 200, answered_at=T0 + 198))
    assert policy.log_lambda < raised
    for i in range(10):
        policy.observe(CallAbandoned(at=T0 + 300 + i, answered_at=T0 + 298))
    assert policy.braking
    s = snap(now=T0 + 400, ready=3, talking=(170,) * 10)
    assert policy.decide(s) == Progressive().decide(s)


def test_predictive_counts_estimated_amd_false_positives_under_ofcom():
    policy = Predictive(amd_false_positive_rate=0.02)
    policy.observe(CallResolved(at=T0, dialed_at=T0 - 10, result=DialResult.LIVE))
    assert math.isclose(policy.window_abandon_rate, 1.0)  # only the hidden ones so far
    policy.observe(CallConnected(at=T0, answered_at=T0))
    assert 0 < policy.window_abandon_rate < 0.03


def test_the_set_point_leaves_more_margin_for_small_windows():
    small, large = Predictive(), Predictive()
    for i in range(20_000):
        large.observe(CallConnected(at=T0 + i, answered_at=T0 + i))
    assert small.target < large.target < large.cap


def _hear_hours(policy, first_hour, hours, per_hour, abandoned_in=()):
    """per_hour live answers an hour, evenly; in the hours of abandoned_in
    a tenth of them abandoned."""
    for hour in range(first_hour, first_hour + hours):
        for i in range(per_hour):
            at = hour * 3600.0 + i * 3600.0 / per_hour
            if hour in abandoned_in and i % 10 == 0:
                policy.observe(CallAbandoned(at=at, answered_at=at - 2))
            else:
                policy.observe(CallConnected(at=at, answered_at=at))


def test_small_teams_keep_a_larger_reserve():
    """The reserve for the noise still to land is larger against fewer live
    answers to come: a team with a tenth of the answers aims lower."""
    small, large = Predictive(day_end_s=17 * 3600, abandon_budget=True), Predictive(day_end_s=17 * 3600, abandon_budget=True)
    _hear_hours(small, 9, 1, 30)
    _hear_hours(large, 9, 1, 300)
    assert 0 < small.target < large.target < large.cap


def test_the_budget_spends_what_the_window_left():
    """A morning that abandoned less than its share leaves more to spend in
    the afternoon than one that abandoned more."""
    thrifty, spender = Predictive(day_end_s=17 * 3600, abandon_budget=True), Predictive(day_end_s=17 * 3600, abandon_budget=True)
    _hear_hours(thrifty, 9, 3, 100)
    _hear_hours(spender, 9, 3, 100, abandoned_in={10})  # 10 of 300: 3.3%
    assert spender.window_abandon_rate > thrifty.window_abandon_rate
    assert 0 <= spender.target < thrifty.target <= 0.9 * thrifty.cap
    # Not over the cap even for the thrifty: the afternoon's answers are also
    # in windows that end tomorrow, which do not hold the thrifty morning.
    assert spender.budget_rate(12 * 3600.0) < thrifty.budget_rate(12 * 3600.0) < thrifty.cap


def test_on_a_rolling_window_abandons_that_leave_it_free_their_share():
    """Yesterday's abandons weigh on today's budget only in the windows they
    are still in: the same abandons leaving at noon today cost less than
    those staying in until the end of today's dialing."""
    leaving, staying = Predictive(day_end_s=17 * 3600, abandon_budget=True), Predictive(day_end_s=17 * 3600, abandon_budget=True)
    _hear_hours(leaving, 9, 8, 100, abandoned_in={11})
    _hear_hours(staying, 9, 8, 100, abandoned_in={16})
    for policy in (leaving, staying):
        _hear_hours(policy, 24 + 9, 1, 100)  # today's first hour, clean
    assert leaving.window_abandon_rate == staying.window_abandon_rate > 0
    assert staying.budget_rate(34 * 3600.0) < leaving.budget_rate(34 * 3600.0)


def test_the_days_last_answers_are_budgeted_against_tomorrows_windows_too():
    """A clean day leaves the day's window a large budget for its last hour,
    but that hour's answers stay in the windows that end tomorrow, which
    hold little else yet: the rate it may spend stays under the cap (it
    went to 0.9 of the cap, and one 24 h window of scenario B over it,
    when only the windows ending today were checked)."""
    policy = Predictive(day_end_s=17 * 3600, abandon_budget=True)
    _hear_hours(policy, 9, 7, 100)  # 09:00-16:00, 700 live answers, none abandoned
    today_only = 0.03 + 0.03 * 700 / 100 - 2 * math.sqrt(0.03 * 0.97 / 100)
    assert today_only > 0.03
    assert 0 < policy.budget_rate(16 * 3600.0) < policy.cap


def test_a_day_of_dialing_that_ends_past_the_clocks_midnight_is_planned_to_its_end():
    """A campaign on a UTC clock calling New York until 21:00 stops at 02:00
    on the clock: at 20:00 the budget counts six more hours of answers, as
    for the same day six hours earlier on the clock, not one hour at a time
    as when it had planned to 21:00."""
    late, early = (Predictive(day_end_s=26 * 3600, abandon_budget=True),
                   Predictive(day_end_s=20 * 3600, abandon_budget=True))
    _hear_hours(late, 12, 8, 100)  # 12:00-20:00
    _hear_hours(early, 6, 8, 100)  # 06:00-14:00
    assert late.budget_rate(20 * 3600.0) == pytest.approx(early.budget_rate(14 * 3600.0))
    an_hour_left = Predictive(day_end_s=21 * 3600, abandon_budget=True)
    _hear_hours(an_hour_left, 12, 8, 100)
    assert late.budget_rate(20 * 3600.0) != pytest.approx(an_hour_left.budget_rate(20 * 3600.0))


def test_the_regulators_window_is_kept_a_minute_at_a_time():
    """A day and two hours of a busy floor's outcomes (one a second, one in
    ten abandoned) under Ofcom's 24 h window: the window's sums are those
    of the outcomes of the last 24 h, give or take the minute an outcome
    may stay over, and it keeps an entry a minute, not one an outcome."""
    policy = Predictive(regulator=Regulator.OFCOM)
    start, seconds = T0, 26 * 3600
    for i in range(seconds):
        at = start + i
        policy.observe(CallAbandoned(at=at, answered_at=at - 2) if i % 10 == 0
                       else CallConnected(at=at, answered_at=at - 1))
    now = start + seconds - 1
    exact = sum(1 for i in range(seconds) if start + i >= now - 86400)
    assert exact <= policy.window_live <= exact + 60
    assert policy.window_abandoned == pytest.approx(policy.window_live / 10, abs=7)
    assert len(policy._window) <= 24 * 60 + 2


def test_predictive_decision_for_200_agents():
    policy = Predictive()
    s = snap(ready=3, talking=tuple(range(1, 600, 3)), dialing=tuple(range(40)))
    assert 0 <= policy.decide(s) <= 800


@given(st.lists(st.tuples(st.integers(0, 15), st.integers(0, 15), st.integers(0, 3),
                          st.booleans()), min_size=1, max_size=120),
       st.sampled_from(list(DropMode)), st.sampled_from([-40.0, 0.0, 40.0]))
def test_vicidial_level_stays_within_its_bounds(steps, mode, intensity):
    policy = VicidialAdaptive(mode=mode, intensity=intensity, max_level=2.0)
    t = T0
    for ready, talking, waiting, dropped in steps:
        event = CallAbandoned if dropped else CallConnected
        policy.observe(event(at=t, answered_at=t))
        launch = policy.decide(snap(now=t, ready=ready, talking=(10,) * talking,
                                    waiting=(t,) * waiting))
        assert launch >= 0
        assert 1.0 <= policy.level <= 2.0
        t += 7.5


@given(st.lists(st.booleans(), min_size=1, max_size=300))
def test_predictive_lambda_stays_bounded(outcomes):
    policy = Predictive()
    for i, abandoned in enumerate(outcomes):
        event = CallAbandoned if abandoned else CallConnected
        policy.observe(event(at=T0 + i, answered_at=T0 + i))
    assert math.log(1e-4) <= policy.log_lambda <= math.log(10.0)
    assert 0 <= policy.target <= policy.cap


def test_a_warm_start_takes_up_where_the_stopped_policy_was():
    """A policy that read back what another heard, and its closed loop's
    state, decides as that one does."""
    heard = []
    t = 9 * 3600.0
    for i in range(120):
        dialed = t + 15 * i
        if i % 4:
            heard.append(CallResolved(dialed + 25, dialed, DialResult.NO_ANSWER))
            continue
        heard += [CallResolved(dialed + 10, dialed, DialResult.LIVE)]
        if i % 24 == 0:
            heard.append(CallAbandoned(dialed + 12, dialed + 10))
        else:
            heard += [CallConnected(dialed + 10.5, dialed + 10),
                      TalkEnded(dialed + 10.5 + 100 + i, 100.0 + i)]
    heard.sort(key=lambda e: e.at)
    running = Predictive()
    for event in heard:
        running.observe(event)
    running.log_lambda = -2.0  # moved by the live loop since
    restarted, cold = Predictive(), Predictive()
    restarted.warm_start(heard, running.log_lambda)
    cold.warm_start([], None)
    now = t + 15 * 121
    snapshot = Snapshot(now=now, agents=(
        AgentView(AgentState.READY, now - 3), AgentView(AgentState.READY, now - 1),
        AgentView(AgentState.TALKING, now - 80), AgentView(AgentState.TALKING, now - 20)),
        dialing=(now - 5,), waiting=())
    assert restarted.log_lambda == running.log_lambda
    assert restarted.window_abandon_rate == running.window_abandon_rate > 0
    assert restarted.decide(snapshot) == running.decide(snapshot) > cold.decide(snapshot)


def test_an_hour_cap_brakes_on_the_last_hour_alone():
    """An operator's cap on any hour (5%) brakes on the last hour's rate,
    though the regulator's 24 h window is far from its cap; once that hour
    has passed, it lets go."""
    capped, uncapped = Predictive(hour_cap=0.05), Predictive()
    t = 9 * 3600.0
    for policy in (capped, uncapped):
        for i in range(400):  # a calm morning: 400 connects, no abandon
            policy.observe(CallConnected(at=t + 10 * i, answered_at=t + 10 * i))
        late = t + 4000 + 3600
        for i in range(30):  # then an hour of 30 answers with 3 abandons: 10%
            at = late + 60 * i
            event = (CallAbandoned(at=at, answered_at=at - 2) if i % 10 == 0
                     else CallConnected(at=at, answered_at=at))
            policy.observe(event)
    assert uncapped.window_abandon_rate < 0.03 and not uncapped.braking
    assert capped.braking
    capped.observe(CallConnected(at=late + 2 * 3600, answered_at=late + 2 * 3600))
    assert not capped.braking  # the bad hour is over


def _two_dialers_outcomes() -> list[tuple[str, list]]:
    """Three hours of one campaign's calls, dialed four by four by dialers "a"
    and "b", each call's outcomes as its dialer hears them (answer,
    connection or abandon, talk's end), sorted by when they happen."""
    heard: list[tuple[str, object]] = []
    t = 9 * 3600.0
    for i in range(720):
        dialer = "ab"[i // 4 % 2]
        dialed = t + 15 * i
        if i % 4:
            heard.append((dialer, CallResolved(dialed + 25, dialed, DialResult.NO_ANSWER)))
            continue
        heard.append((dialer, CallResolved(dialed + 10, dialed, DialResult.LIVE)))
        if i % 36 == 0:
            heard.append((dialer, CallAbandoned(dialed + 12, dialed + 10)))
        else:
            talk = 100.0 + i % 150
            heard += [(dialer, CallConnected(dialed + 10.5, dialed + 10)),
                      (dialer, TalkEnded(dialed + 10.5 + talk, talk))]
    heard.sort(key=lambda pair: pair[1].at)
    return heard


def test_two_dialers_hearing_the_campaigns_outcomes_agree_with_one():
    """Two dialers of one campaign: each policy hears its own calls'
    outcomes at once and the other's at its next tick (0.5 s), in the
    other's order (dialer.outbound.history). Both then hold the campaign's
    regulator's window and estimates, as one policy hearing every outcome
    does, their closed loops agree with it, and they decide alike; a policy
    hearing only its own dialer's half counts half the window."""
    outcomes = _two_dialers_outcomes()
    one = Predictive()
    mine = {"a": Predictive(), "b": Predictive()}
    halves = {"a": Predictive(), "b": Predictive()}
    pending: dict[str, list] = {"a": [], "b": []}  # kept by the other, not yet read
    next_tick = outcomes[0][1].at
    for dialer, event in outcomes:
        while event.at >= next_tick:  # each dialer's tick reads what the other kept
            for name, policy in mine.items():
                for kept in pending[name]:
                    policy.observe(kept)
                pending[name] = []
            next_tick += 0.5
        one.observe(event)
        mine[dialer].observe(event)
        halves[dialer].observe(event)
        pending["b" if dialer == "a" else "a"].append(event)
    for name, policy in mine.items():
        for kept in pending[name]:
            policy.observe(kept)
    live = sum(isinstance(e, CallConnected | CallAbandoned) for _, e in outcomes)
    abandoned = sum(isinstance(e, CallAbandoned) for _, e in outcomes)
    now = outcomes[-1][1].at + 1
    snapshot = Snapshot(now=now, agents=(
        AgentView(AgentState.READY, now - 3), AgentView(AgentState.READY, now - 1),
        AgentView(AgentState.TALKING, now - 80), AgentView(AgentState.TALKING, now - 20),
        AgentView(AgentState.WRAP_UP, now - 1)), dialing=(now - 5,), waiting=())
    for policy in mine.values():
        assert (policy.window_live, policy.window_abandoned) == (live, abandoned)
        assert (policy.window_live, policy.window_abandoned) == (one.window_live,
                                                                 one.window_abandoned)
        assert policy.talk.count == one.talk.count
        assert (policy.answer_rate.dialed == one.answer_rate.dialed).all()
        assert (policy.answer_rate.live == one.answer_rate.live).all()
        # (The recent rate a new hour starts from weighs recent dials more:
        # hearing the other's calls a tick late moves it a little.)
        assert policy.answer_rate.rate(now) == pytest.approx(one.answer_rate.rate(now),
                                                             rel=0.01)
        assert policy.log_lambda == pytest.approx(one.log_lambda, abs=1e-9)
        assert policy.decide(snapshot) == one.decide(snapshot)
    for policy in halves.values():
        assert policy.window_live == pytest.approx(live / 2, abs=1)
