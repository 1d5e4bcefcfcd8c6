"""An answered campaign call's way to an agent (dialer.outbound.stasis)
against fakes: the debtor's answer is written once the agent is reserved,
beside the join; it is in before the agent's connection is written;
and when it cannot be written (PostgreSQL lost) after the debtor has
reached the agent, the conversation still goes on."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import asyncpg

from dialer.agents.store import Reservation
from dialer.calls.control import CallEvents
from dialer.calls.events import CallEnteredApp
from dialer.outbound import stasis
from dialer.outbound.stasis import AnsweredCalls

NOW = datetime(2026, 12, 5, tzinfo=UTC)
CALL = "2d8c1f4e-9f5b-4a53-8d1e-5b0f3c1a7e11"
AGENT = "agent1001"


class FakeControl:
    def __init__(self) -> None:
        self.flows: dict = {}

    def register_flow(self, name, run) -> None:
        self.flows[name] = run

    def add_listener(self, listener) -> None:
        pass

    def record(self, call_id):
        return None  # answered now, no AMD

    def clock(self) -> datetime:
        return NOW

    def language_of(self, call_id) -> str:
        return "es"


class FakePool:
    """Writes in the order they finish; the answer's waits for a gate and
    then succeeds or fails as told."""

    def __init__(self, done: list[str], answer_fails: bool = False) -> None:
        self.done = done
        self.answer_gate = asyncio.Event()
        self.answer_fails = answer_fails

    async def execute(self, query: str, *args) -> str:
        if "answered_at" in query:
            self.done.append("answer started")
            await self.answer_gate.wait()
            if self.answer_fails:
                raise asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed")
            self.done.append("answer written")
        elif "connected_at" in query:
            self.done.append("connection written")
        return "UPDATE 1"


class FakeAgents:
    def __init__(self, pool: FakePool) -> None:
        self.pool = pool

    async def reserve(self, attempt_id, now, needs, seen=None) -> Reservation:
        await asyncio.sleep(0)  # a round trip: anything already started runs meanwhile
        self.pool.done.append("agent reserved")
        return Reservation(AGENT, None)


class FakeFreed:
    def mark(self) -> int:
        return 0


class FakeConnector:
    """An agent free at once and bridged at once; the conversation notes
    the connection (as the real one does, first thing) and ends."""

    def __init__(self, pool: FakePool) -> None:
        self.pool = pool
        self.agents = FakeAgents(pool)
        self.freed = FakeFreed()
        self.free_seen = None

    def shown_to_agent(self, debtor) -> str:
        return ""

    def leg_of(self, call_id: str) -> str:
        return f"{call_id}-{AGENT}"

    async def connect(self, call_id, reserved, deadline, ended, shown) -> datetime:
        self.pool.done.append("bridged")
        # The answer's write is let through only once the debtor is with
        # the agent: it went side by side with the search.
        self.pool.answer_gate.set()
        await asyncio.sleep(0)
        return NOW

    async def converse(self, call_id, agent, events, note_connected, while_connected,
                       handover) -> None:
        await note_connected()
        self.pool.done.append("conversation")


class FakeFeed:
    def answered(self, *args) -> None:
        pass

    def connected(self, *args) -> None:
        pass


async def answer(answer_fails: bool = False) -> tuple[list[str], AnsweredCalls]:
    done: list[str] = []
    pool = FakePool(done, answer_fails)
    control = FakeControl()
    calls = AnsweredCalls(control, pool, FakeConnector(pool), FakeFeed(), "+15550100")
    events = CallEvents(CallEnteredApp(call_id=CALL, at=NOW, flow=stasis.CAMPAIGN_FLOW))
    await asyncio.wait_for(control.flows[stasis.CAMPAIGN_FLOW](CALL, events), 5)
    return done, calls


async def test_the_answer_is_written_beside_the_join_and_before_the_connection():
    # Not beside the reservation: its round trips to PostgreSQL would share
    # the server with the answer's (the 2-second rule's path).
    done, calls = await answer()
    assert done == ["agent reserved", "bridged", "answer started", "answer written",
                    "connection written", "conversation"]
    assert calls.connection(CALL).agent == AGENT


async def test_an_answer_not_written_after_the_bridge_leaves_the_conversation_going(caplog):
    done, calls = await answer(answer_fails=True)
    assert done == ["agent reserved", "bridged", "answer started", "connection written",
                    "conversation"]
    assert calls.connection(CALL).agent == AGENT  # not abandoned
    assert "its answer not written" in caplog.text
