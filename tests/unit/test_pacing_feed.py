"""What pacing hears of a campaign's calls, and when: each outcome at the
moment the dialer learns it (PacingFeed), not all at the call's end."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from dialer.calls.outcome import AttemptResult, CallOutcome, Connection
from dialer.calls.state import CallRecord, CallState
from dialer.outbound.plan import AgentRow, AgentStatus
from dialer.outbound.results import PacingFeed
from pacing.model import (
    CallAbandoned,
    CallConnected,
    CallResolved,
    DialResult,
    PacingEvent,
    Snapshot,
    TalkEnded,
    WrapUpEnded,
)

EPOCH = datetime(2026, 11, 24, tzinfo=UTC)
T0 = 15 * 3600.0
NOW = EPOCH + timedelta(seconds=T0)


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


class Listening:
    """A policy that only listens: what it heard, with the clock then."""

    name = "listening"

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.heard: list[tuple[float, PacingEvent]] = []

    def observe(self, event: PacingEvent) -> None:
        self.heard.append(((self.clock() - NOW).total_seconds(), event))

    def decide(self, snapshot: Snapshot) -> int:
        return 0


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now

    def to(self, seconds: float) -> None:
        self.now = at(seconds)


def feed() -> tuple[PacingFeed, Listening, Clock]:
    clock = Clock()
    policy = Listening(clock)
    return PacingFeed(policy, EPOCH, clock), policy, clock


def call(**changes) -> CallRecord:
    base = CallRecord(call_id="c1", number="+1", originated_at=at(0), state=CallState.ENDED,
                      ended_at=at(20), outcome=CallOutcome.NO_ANSWER)
    return replace(base, **changes)


def test_a_conversation_is_heard_as_it_happens_answer_connect_talk_end_wrap_up_end():
    pacing, policy, clock = feed()
    clock.to(5)
    pacing.answered("c1", at(0), at(5), None, machine=False)
    clock.to(5.5)
    pacing.connected("c1", "agent1001", at(5.5))
    # The answer and the connection are heard during the call, not after it.
    assert policy.heard == [(5, CallResolved(T0 + 5, T0, DialResult.LIVE)),
                            (5.5, CallConnected(T0 + 5.5, T0 + 5))]
    clock.to(65.1)
    record = call(answered_at=at(5), ended_at=at(65), outcome=CallOutcome.ANSWERED)
    pacing.ended(record, Connection("agent1001", at(5.5)), AttemptResult.CONVERSATION)
    assert policy.heard[-1] == (65.1, TalkEnded(T0 + 65, 59.5))
    # The agent's wrap-up runs: nothing more is heard until it ends.
    clock.to(66)
    pacing.agents_seen([AgentRow(AgentStatus.WRAP_UP, at(65), at(69), "agent1001")])
    assert len(policy.heard) == 3
    clock.to(69.5)
    pacing.agents_seen([AgentRow(AgentStatus.WRAP_UP, at(65), at(69), "agent1001"),
                        AgentRow(AgentStatus.WRAP_UP, at(60), at(61), "agent1002")])
    assert policy.heard[-1] == (69.5, WrapUpEnded(T0 + 69, 4.0))
    pacing.agents_seen([AgentRow(AgentStatus.READY, at(69), None, "agent1001")])
    assert len(policy.heard) == 4  # heard once; and only of this campaign's calls
    assert [h.event for h in pacing.take()] == [event for _, event in policy.heard]
    assert pacing.take() == []


def test_a_wrap_up_the_agent_ends_early_or_that_ends_between_ticks():
    pacing, policy, clock = feed()
    for agent, connected in (("a1", 1.0), ("a2", 2.0)):
        pacing.answered(agent, at(0), at(connected - 0.5), None, machine=False)
        pacing.connected(agent, agent, at(connected))
        pacing.ended(call(call_id=agent, answered_at=at(connected - 0.5), ended_at=at(30),
                          outcome=CallOutcome.ANSWERED),
                     Connection(agent, at(connected)), AttemptResult.CONVERSATION)
    clock.to(33)
    pacing.agents_seen([
        AgentRow(AgentStatus.ON_CALL, at(2), None, "a1"),  # not moved to wrap-up yet
        AgentRow(AgentStatus.READY, at(32), None, "a2"),  # ended early, at 32
    ])
    assert policy.heard[-1][1] == WrapUpEnded(T0 + 32, 2.0)
    clock.to(50)
    pacing.agents_seen([AgentRow(AgentStatus.RESERVED, at(49.5), None, "a1")])
    assert policy.heard[-1][1] == WrapUpEnded(T0 + 49.5, 19.5)  # on its next call


def test_an_abandon_is_heard_at_the_deadline_not_at_the_calls_end():
    pacing, policy, clock = feed()
    clock.to(5)
    pacing.answered("c1", at(0), at(5), None, machine=False)
    clock.to(7)
    pacing.abandoned("c1")
    assert policy.heard[-1] == (7, CallAbandoned(T0 + 7, T0 + 5))
    clock.to(30)  # the safe-harbour message played, then the call ended
    pacing.ended(call(answered_at=at(5), ended_at=at(30), outcome=CallOutcome.ANSWERED),
                 Connection(abandoned=True), AttemptResult.ABANDONED)
    assert len(policy.heard) == 2


def test_an_adopted_calls_abandon_counts_from_its_recorded_answer():
    pacing, policy, clock = feed()
    clock.to(40)
    pacing.abandoned("c1", at(10))
    assert policy.heard == [(40, CallAbandoned(T0 + 12, T0 + 10))]


def test_amd_counts_from_the_verdict_and_a_machine_is_no_live_answer():
    pacing, policy, _ = feed()
    pacing.answered("c1", at(0), at(5), at(8), machine=False)
    pacing.answered("c2", at(1), at(6), at(9.5), machine=True)
    pacing.abandoned("c1")
    assert [e for _, e in policy.heard] == [CallResolved(T0 + 8, T0, DialResult.LIVE),
                                            CallResolved(T0 + 9.5, T0 + 1, DialResult.MACHINE),
                                            CallAbandoned(T0 + 10, T0 + 8)]


def test_a_call_that_never_stopped_ringing_resolves_at_its_end():
    pacing, policy, _ = feed()
    pacing.ended(call(), Connection(), AttemptResult.NO_ANSWER)
    pacing.ended(call(call_id="c2", outcome=CallOutcome.BUSY, ended_at=at(3)), Connection(),
                 AttemptResult.BUSY)
    assert [e for _, e in policy.heard] == [CallResolved(T0 + 20, T0, DialResult.NO_ANSWER),
                                            CallResolved(T0 + 3, T0, DialResult.BUSY)]


def test_a_call_never_placed_teaches_pacing_nothing():
    pacing, policy, _ = feed()
    pacing.ended(call(outcome=CallOutcome.FAILED, originate_reason=0), Connection(),
                 AttemptResult.NOT_PLACED)
    assert policy.heard == []


def test_an_answer_the_flow_never_saw_is_heard_at_the_end_once():
    pacing, policy, _ = feed()
    record = call(answered_at=at(5), ended_at=at(6), outcome=CallOutcome.CALLEE_HUNG_UP)
    pacing.ended(record, Connection(), AttemptResult.HUNG_UP)
    assert [e for _, e in policy.heard] == [CallResolved(T0 + 5, T0, DialResult.LIVE)]


def test_a_flow_that_starts_after_its_call_was_settled_tells_pacing_nothing_more():
    pacing, policy, _ = feed()
    record = call(answered_at=at(5), ended_at=at(5.01), outcome=CallOutcome.CALLEE_HUNG_UP)
    pacing.ended(record, Connection(), AttemptResult.HUNG_UP)
    pacing.answered("c1", at(0), at(5), None, machine=False)  # the late flow
    pacing.abandoned("c1")
    assert [e for _, e in policy.heard] == [CallResolved(T0 + 5, T0, DialResult.LIVE)]
