"""What pacing hears of a campaign's calls: each outcome when it happens
(the answer or AMD's verdict, the connection to an agent, the abandon, the
end of the talk, the end of the agent's wrap-up), as the simulator feeds
its policy (pacing.timeline), in pacing's own vocabulary (pacing.model)
mapped in this one place; and the 2-second rule's deadline.

The dialer learns each moment in a different place: the answer and the
connection or abandon in the campaign's Stasis flow (stasis.py), a call's
end when its attempt is settled (placing.py), a wrap-up's end from the
agents' rows the tick reads (dialer.py). Each tells the PacingFeed, which
tells the policy at once and keeps what it heard for the campaign's
history in PostgreSQL (history.py). What the campaign's other dialers
heard of their calls comes back from that history at each tick
(heard_elsewhere): the policy hears it, but it is theirs to keep."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from dialer.agents.state import AgentState as AgentStatus
from dialer.calls.outcome import AttemptResult, Connection
from dialer.calls.state import CallRecord
from dialer.outbound.plan import AgentRow
from pacing.model import (
    CallAbandoned,
    CallConnected,
    CallResolved,
    DialResult,
    PacingEvent,
    PacingPolicy,
    TalkEnded,
    WrapUpEnded,
)

# The 2-second rule: a live answer not connected to an agent within this is
# abandoned (FCC 47 CFR 64.1200(a)(7); Ofcom's policy uses the same 2 s).
AGENT_DEADLINE = timedelta(seconds=2)

_DIAL_RESULT = {
    AttemptResult.BUSY: DialResult.BUSY,
    AttemptResult.NO_ANSWER: DialResult.NO_ANSWER,
    AttemptResult.FAILED: DialResult.FAILED,
    AttemptResult.LOST: DialResult.FAILED,
}
# An agent's row in these states is still busy with the call it took.
_ON_THE_CALL = frozenset({AgentStatus.RESERVED, AgentStatus.ON_CALL})
# Calls settled lately: a flow that starts only after its call was settled
# (the debtor hung up at once) tells pacing nothing more of it.
_SETTLED_KEPT = 1000


def unanswered_result(result: AttemptResult) -> DialResult:
    """What pacing hears of a call that ended without an answer."""
    return _DIAL_RESULT[result]


@dataclass(frozen=True, slots=True)
class Heard:
    """One outcome the policy heard, and when it heard it."""

    event: PacingEvent
    heard_at: datetime


class PacingFeed:
    """Tells the campaign's policy each outcome of its calls as it happens,
    in seconds since epoch, and keeps what it heard until taken."""

    def __init__(self, policy: PacingPolicy, epoch: datetime,
                 clock: Callable[[], datetime]) -> None:
        self.policy = policy
        self.epoch = epoch
        self.clock = clock
        self._answered: dict[str, float] = {}  # call id -> live answer (or verdict)
        self._heard_answer: set[str] = set()  # calls whose answer pacing heard
        self._talking: dict[str, tuple[str, float]] = {}  # call id -> (agent, connected)
        self._wrapping: dict[str, float] = {}  # agent -> when its talk ended
        self._settled: deque[str] = deque(maxlen=_SETTLED_KEPT)
        self._heard: list[Heard] = []
        self.elsewhere = 0  # outcomes heard from the campaign's other dialers

    def _t(self, moment: datetime) -> float:
        return (moment - self.epoch).total_seconds()

    def _hear(self, event: PacingEvent) -> None:
        self.policy.observe(event)
        self._heard.append(Heard(event, self.clock()))

    def heard_elsewhere(self, events: Iterable[PacingEvent]) -> None:
        """Outcomes of the campaign's other dialers' calls, as they kept them
        (in their order): the policy hears them; they are not kept again."""
        for event in events:
            self.policy.observe(event)
            self.elsewhere += 1

    def take(self) -> list[Heard]:
        """What the policy heard since the last take (for the history)."""
        heard, self._heard = self._heard, []
        return heard

    def give_back(self, heard: list[Heard]) -> None:
        """Taken but not kept (PostgreSQL was lost): the next take has it first."""
        self._heard = heard + self._heard

    def answered(self, call_id: str, dialed_at: datetime, answered_at: datetime,
                 verdict_at: datetime | None, machine: bool) -> None:
        """The call was answered (with AMD, its verdict came): it stopped
        ringing. With AMD, the 2-second rule and pacing count from the
        verdict."""
        if call_id in self._heard_answer or call_id in self._settled:
            return
        self._heard_answer.add(call_id)
        at = self._t(verdict_at or answered_at)
        result = DialResult.MACHINE if machine else DialResult.LIVE
        if not machine:
            self._answered[call_id] = at
        self._hear(CallResolved(at=at, dialed_at=self._t(dialed_at), result=result))

    def connected(self, call_id: str, agent: str, connected_at: datetime) -> None:
        """An agent was bridged to the answered call."""
        if call_id in self._settled:
            return
        answered = self._answered.get(call_id)
        at = self._t(connected_at)
        if answered is None:  # adopted already answered: its answer was heard before
            answered = at
        self._talking[call_id] = (agent, at)
        self._hear(CallConnected(at=at, answered_at=answered))

    def abandoned(self, call_id: str, answered_at: datetime | None = None) -> None:
        """No agent within the 2-second rule: abandoned at its deadline
        (answered_at: of a call adopted from a dead dialer, which heard the
        answer)."""
        if call_id in self._settled:
            return
        answered = self._answered.get(call_id)
        if answered is None:
            moment = answered_at or self.clock() - AGENT_DEADLINE
            answered = self._t(moment)
        self._hear(CallAbandoned(at=answered + AGENT_DEADLINE.total_seconds(),
                                 answered_at=answered))

    def ended(self, call: CallRecord, connection: Connection, result: AttemptResult) -> None:
        """The call ended and its attempt was settled: a call that never
        stopped ringing resolves now, a conversation's talk ends now (and
        its agent's wrap-up begins)."""
        call_id = call.call_id
        self._answered.pop(call_id, None)
        heard_answer = call_id in self._heard_answer
        self._heard_answer.discard(call_id)
        talking = self._talking.pop(call_id, None)
        if result is AttemptResult.NOT_PLACED:
            return  # no call was made: nothing for pacing to learn
        ended = call.ended_at or self.clock()
        if call.answered_at is None:
            self._hear(CallResolved(at=self._t(ended), dialed_at=self._t(call.originated_at),
                                    result=unanswered_result(result)))
            self._settled.append(call_id)
            return
        if not heard_answer and connection.connected_at is None \
                and result is not AttemptResult.ABANDONED:
            # Answered and ended before its flow began (adopted calls aside).
            verdict = call.entered_app_at if call.amd_status else None
            self.answered(call_id, call.originated_at, call.answered_at, verdict,
                          result is AttemptResult.MACHINE)
            self._answered.pop(call_id, None)
            self._heard_answer.discard(call_id)
        self._settled.append(call_id)
        if talking is None and connection.connected_at is not None and connection.agent:
            talking = (connection.agent, self._t(connection.connected_at))  # adopted
        if talking is not None:
            agent, connected = talking
            end = max(self._t(ended), connected)
            self._hear(TalkEnded(at=end, seconds=end - connected))
            self._wrapping[agent] = end

    def agents_seen(self, agents: Iterable[AgentRow]) -> None:
        """The agents' rows at a tick: the wrap-ups after this campaign's
        calls that ended (the timer ran out, or the agent ended it early)."""
        for agent in agents:
            began = self._wrapping.get(agent.endpoint)
            if began is None:
                continue
            end = self._wrap_up_end(agent, began)
            if end is None:
                continue
            del self._wrapping[agent.endpoint]
            if end > began:  # a wrap-up of no length is none (as the simulator has it)
                self._hear(WrapUpEnded(at=end, seconds=end - began))

    def _wrap_up_end(self, agent: AgentRow, began: float) -> float | None:
        """When the agent's wrap-up that began at `began` ended, or None if
        it goes on (or has not begun: the agent is still on the call)."""
        now = self._t(self.clock())
        if agent.status is AgentStatus.WRAP_UP:
            if agent.wrap_up_until is not None and self._t(agent.wrap_up_until) <= now:
                return max(began, self._t(agent.wrap_up_until))
            return None if agent.wrap_up_until is not None else max(began, now)
        if agent.status in _ON_THE_CALL and self._t(agent.since) <= began:
            return None  # the connector has not moved the agent to wrap-up yet
        # Ready, paused, logged out or on the next call: ended then at the
        # latest (a timer that ran out less than a tick before the agent took
        # the next call is read as ending when it did).
        return max(began, self._t(agent.since))
