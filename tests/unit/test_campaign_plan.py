"""The pure parts of a campaign tick: snapshot, claim split, attempt
results, contact rates by hour, segments."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from dialer.calls.outcome import AttemptResult, CallOutcome, Connection, attempt_result
from dialer.calls.state import CallRecord, CallState
from dialer.outbound.plan import (
    AgentRow,
    AgentStatus,
    CallInFlight,
    PbxHold,
    build_pools,
    plan_claims,
)
from dialer.portfolio.contact import HourTally, contact_rates
from dialer.portfolio.model import (
    Campaign,
    DialMode,
    Segment,
    SegmentThresholds,
    default_strategies,
)
from pacing.model import (
    AgentState,
)
from pacing.pools import LanguageShare

ES = frozenset({"es"})
SPANISH_ONLY = (LanguageShare("es", 1.0),)

EPOCH = datetime(2026, 11, 24, tzinfo=UTC)
NOW = EPOCH + timedelta(hours=15)


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


def campaign(mode=DialMode.PREDICTIVE, late_mode=None) -> Campaign:
    strategies = default_strategies(mode)
    if late_mode is not None:
        strategies = tuple(replace(s, dial_mode=late_mode) if s.segment is Segment.LATE else s
                           for s in strategies)
    return Campaign(id=1, name="c", dial_mode=mode, dial_ratio=2.0, abandon_target=0.03,
                    caller_id="+1", window_profile="us", ring_timeout_s=25, wrap_up_s=5,
                    thresholds=SegmentThresholds(), segments=tuple(Segment),
                    strategies=strategies)


def test_snapshot_from_agents_and_calls():
    agents = [
        AgentRow(AgentStatus.READY, at(-10), None, languages=ES),
        AgentRow(AgentStatus.ON_CALL, at(-60), None, languages=ES),
        AgentRow(AgentStatus.RESERVED, at(-1), None, languages=ES),
        AgentRow(AgentStatus.WRAP_UP, at(-8), at(-3), languages=ES),  # its timer ran out: ready
        AgentRow(AgentStatus.WRAP_UP, at(-2), at(3), languages=ES),
        AgentRow(AgentStatus.PAUSED, at(-100), None, languages=ES),
        AgentRow(AgentStatus.LOGGED_OUT, at(-100), None, languages=ES),
    ]
    calls = [CallInFlight(at(-5), None, None, "es"), CallInFlight(at(-9), at(-1), None, "es"),
             CallInFlight(at(-30), at(-20), at(-19), "es")]
    [pool] = build_pools(NOW, EPOCH, agents, calls, SPANISH_ONLY)
    snapshot = pool.snapshot
    assert pool.language == "es"
    states = [a.state for a in snapshot.agents]
    assert states == [AgentState.READY, AgentState.TALKING, AgentState.TALKING,
                      AgentState.READY, AgentState.WRAP_UP, AgentState.PAUSED]
    assert snapshot.agents[3].since == 15 * 3600 - 3
    assert snapshot.now == 15 * 3600
    assert snapshot.dialing == (15 * 3600 - 5,)
    assert snapshot.waiting == (15 * 3600 - 1,)


def snapshot_with(ready: int, dialing: int):
    agents = [AgentRow(AgentStatus.READY, at(-1), None, languages=ES)] * ready
    calls = [CallInFlight(at(-1), None, None, "es")] * dialing
    return build_pools(NOW, EPOCH, agents, calls, SPANISH_ONLY)[0].snapshot


def test_each_language_is_paced_with_its_own_agents_and_calls():
    """70% Spanish, 30% English debtors: two pools. The English agent and
    call are the English pool's; the agent who speaks no debtor's language
    is nobody's; of the two bilingual agents one joins each pool (the
    Spanish pool has two agents for 0.7 of the debtors, 2.9 per share, the
    English one 3.3: the first goes to Spanish, then Spanish has 4.3)."""
    both = frozenset({"es", "en"})
    agents = [AgentRow(AgentStatus.READY, at(-5), None, "a1", ES),
              AgentRow(AgentStatus.ON_CALL, at(-50), None, "a2", ES),
              AgentRow(AgentStatus.READY, at(-9), None, "a3", frozenset({"en"})),
              AgentRow(AgentStatus.READY, at(-7), None, "a4", both),
              AgentRow(AgentStatus.WRAP_UP, at(-2), at(3), "a5", both),
              AgentRow(AgentStatus.READY, at(-1), None, "a6", frozenset({"fr"}))]
    calls = [CallInFlight(at(-4), None, None, "es"), CallInFlight(at(-6), at(-1), None, "en"),
             CallInFlight(at(-3), None, None, "en")]
    spanish, english = build_pools(NOW, EPOCH, agents, calls,
                                   (LanguageShare("es", 0.7), LanguageShare("en", 0.3)))
    assert (spanish.language, english.language) == ("es", "en")
    assert [a.state for a in spanish.snapshot.agents] == [
        AgentState.READY, AgentState.TALKING, AgentState.READY]
    assert [a.state for a in english.snapshot.agents] == [AgentState.READY, AgentState.WRAP_UP]
    assert spanish.snapshot.dialing == (15 * 3600 - 4,) and spanish.snapshot.waiting == ()
    assert english.snapshot.dialing == (15 * 3600 - 3,)
    assert english.snapshot.waiting == (15 * 3600 - 1,)
    plan = plan_claims(campaign(), 3, english.snapshot, english.language)
    assert (plan.guaranteed, plan.extra, plan.language) == (0, 3, "en")


def test_progressive_segments_get_no_more_than_free_agents():
    plan = plan_claims(campaign(late_mode=DialMode.PROGRESSIVE), 7, snapshot_with(4, 1))
    assert (plan.guaranteed, plan.extra) == (3, 4)
    assert Segment.LATE in plan.all_segments and Segment.LATE not in plan.overdial_segments
    progressive = plan_claims(campaign(DialMode.PROGRESSIVE), 7, snapshot_with(4, 1))
    assert (progressive.guaranteed, progressive.extra) == (3, 0)


def call(**changes) -> CallRecord:
    base = CallRecord(call_id="c1", number="+1", originated_at=at(0), state=CallState.ENDED,
                      ended_at=at(20), outcome=CallOutcome.NO_ANSWER)
    return replace(base, **changes)


@pytest.mark.parametrize("record, connection, expected", [
    (call(), Connection(), AttemptResult.NO_ANSWER),
    (call(outcome=CallOutcome.BUSY), Connection(), AttemptResult.BUSY),
    (call(outcome=CallOutcome.FAILED, hangup_cause=1), Connection(), AttemptResult.FAILED),
    (call(outcome=CallOutcome.FAILED, ringing_at=at(1)), Connection(), AttemptResult.FAILED),
    # Asterisk never placed it (out of RTP ports, no such trunk): no attempt.
    (call(outcome=CallOutcome.FAILED, originate_reason=0), Connection(),
     AttemptResult.NOT_PLACED),
    (call(outcome=CallOutcome.FAILED, hangup_cause=0), Connection(), AttemptResult.NOT_PLACED),
    (call(outcome=CallOutcome.FAILED, lost=True), Connection(), AttemptResult.LOST),
    (call(answered_at=at(5), outcome=CallOutcome.ANSWERED), Connection("a", at(5.3)),
     AttemptResult.CONVERSATION),
    (call(answered_at=at(5), outcome=CallOutcome.ANSWERED), Connection(abandoned=True),
     AttemptResult.ABANDONED),
    (call(answered_at=at(5), outcome=CallOutcome.CALLEE_HUNG_UP), Connection(),
     AttemptResult.HUNG_UP),
])
def test_attempt_results(record, connection, expected):
    assert attempt_result(record, connection) is expected


def test_contact_rates_start_at_the_prior_and_learn_by_hour():
    cold = contact_rates([])
    assert len(cold) == 24 and set(cold) == {0.25}
    learned = contact_rates([HourTally(19, 80, 40), HourTally(10, 80, 4)])
    assert learned[19] == pytest.approx((5 + 40) / 100)
    assert learned[10] == pytest.approx((5 + 4) / 100)
    assert learned[3] == 0.25
    with pytest.raises(ValueError, match="local_hour 24"):
        contact_rates([HourTally(24, 1, 1)])


def test_new_calls_are_held_while_the_pbx_refuses_them():
    hold = PbxHold()
    assert not hold.holding(0.0)
    assert hold.refused(0.0) == 1.0 and hold.holding(0.5)
    assert hold.refused(0.5) is None  # the same burst
    assert hold.refused(1.2) == 2.0 and hold.refused(3.5) == 4.0
    for now in (8.0, 17.0, 34.0, 67.0):
        hold.refused(now)
    assert hold.delay_s == PbxHold.LONGEST_S
    hold.placed()
    assert hold.refused(200.0) == 1.0
