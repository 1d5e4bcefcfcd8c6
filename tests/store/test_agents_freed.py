"""Agents coming free, heard as they do (migration 0023, dialer.agents.freed):
PostgreSQL announces an agent becoming ready, a wrap-up and its end, and a
skills change, from any connection; a call waiting for an agent wakes on
it instead of polling, and polls again while the LISTEN is down."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from dialer.agents import freed as freed_module
from dialer.agents import routing
from dialer.agents.freed import AGENT_FREE_CHANNEL, LOOK_ANYWAY_S, FreedAgents
from dialer.agents.state import AgentAction
from dialer.agents.store import AgentStore, Reservation

pytestmark = pytest.mark.lab

AGENT = "agent1001"
ANYONE = routing.CallNeeds(required={})


@pytest.fixture
async def pool(fresh_database):
    pool = await asyncpg.create_pool(fresh_database, min_size=1, max_size=3)
    await pool.execute("DELETE FROM agents WHERE endpoint <> $1", AGENT)
    yield pool
    await pool.close()


@pytest.fixture
def hints_only(monkeypatch):
    """Waiters do not look anyway in the test's time: what wakes them is
    what was heard."""
    monkeypatch.setattr(freed_module, "LOOK_ANYWAY_S", 30.0)


@pytest.fixture
async def freed(pool, fresh_database, hints_only):
    freed = FreedAgents(pool, lambda: datetime.now(UTC))
    await freed.start(fresh_database)
    yield freed
    await freed.stop()


async def heard(fresh_database: str, change) -> list[str]:
    """The payloads a LISTEN on the channel hears while change runs."""
    payloads: list[str] = []
    connection = await asyncpg.connect(fresh_database)
    try:
        await connection.add_listener(AGENT_FREE_CHANNEL, lambda *a: payloads.append(a[3]))
        await change()
        await asyncio.sleep(0.2)
    finally:
        await connection.close()
    return payloads


async def test_ready_and_a_wrap_up_are_announced_a_reservation_and_a_call_are_not(
        pool, fresh_database):
    store = AgentStore(pool)
    now = datetime.now(UTC)
    assert await heard(fresh_database, lambda: store.act(AGENT, AgentAction.LOG_IN, now)) == [""]
    assert await heard(fresh_database, lambda: store.reserve(uuid.uuid4(), now, ANYONE)) == []
    assert await heard(fresh_database, lambda: store.on_call(AGENT, now)) == []
    [wrap_up_end] = await heard(fresh_database, lambda: store.wrap_up(AGENT, now, 30))
    assert datetime.fromisoformat(wrap_up_end) == now + timedelta(seconds=30)
    assert await heard(fresh_database, lambda: store.set_skill(AGENT, "spanish", 3)) == [""]


async def test_a_waiting_call_wakes_when_an_agent_comes_free_not_at_its_next_look(
        pool, freed):
    store = AgentStore(pool)
    loop = asyncio.get_running_loop()
    mark = freed.mark()
    assert await store.reserve(uuid.uuid4(), datetime.now(UTC), ANYONE) is None  # logged out
    waiting = asyncio.create_task(freed.wait(mark, [], 0.02, 30.0))
    await asyncio.sleep(0.3)
    assert not waiting.done()  # nobody came free: no poll every 20 ms
    logged_in = loop.time()
    await store.act(AGENT, AgentAction.LOG_IN, datetime.now(UTC))  # another connection
    await asyncio.wait_for(waiting, 1.0)
    assert loop.time() - logged_in < 0.2
    assert await store.reserve(uuid.uuid4(), datetime.now(UTC), ANYONE) \
        == Reservation(AGENT, None)


async def test_an_agent_freed_while_the_call_looked_is_not_missed(pool, freed):
    store = AgentStore(pool)
    mark = freed.mark()
    await store.act(AGENT, AgentAction.LOG_IN, datetime.now(UTC))
    await asyncio.sleep(0.2)  # heard before the call starts waiting
    await asyncio.wait_for(freed.wait(mark, [], 0.02, 30.0), 0.05)


async def a_call_then_wrap_up(store: AgentStore, seconds: float) -> None:
    """The agent logs in, takes a call that ends now, and wraps up."""
    now = datetime.now(UTC)
    await store.act(AGENT, AgentAction.LOG_IN, now)
    assert await store.reserve(uuid.uuid4(), now, ANYONE) == Reservation(AGENT, None)
    await store.on_call(AGENT, now)
    await store.wrap_up(AGENT, now, seconds)


async def test_a_wrap_up_wakes_the_waiting_call_when_it_ends(pool, freed):
    store = AgentStore(pool)
    await a_call_then_wrap_up(store, 0.6)
    await asyncio.sleep(0.1)
    loop = asyncio.get_running_loop()
    mark = freed.mark()
    began = loop.time()
    assert await store.reserve(uuid.uuid4(), datetime.now(UTC), ANYONE) is None
    await freed.wait(mark, [], 0.02, 30.0)
    assert 0.3 < loop.time() - began < 0.9  # at the wrap-up's end, by a timer
    assert await store.reserve(uuid.uuid4(), datetime.now(UTC), ANYONE) \
        == Reservation(AGENT, None)


async def test_wrap_ups_running_before_the_listen_began_wake_their_waiters(
        pool, fresh_database, hints_only):
    store = AgentStore(pool)
    await a_call_then_wrap_up(store, 0.6)
    freed = FreedAgents(pool, lambda: datetime.now(UTC))
    await freed.start(fresh_database)
    try:
        loop = asyncio.get_running_loop()
        mark = freed.mark()
        began = loop.time()
        await freed.wait(mark, [], 0.02, 30.0)
        assert 0.3 < loop.time() - began < 0.9  # the wrap-up's end, read at the start
    finally:
        await freed.stop()


async def test_without_the_listen_a_waiting_call_polls_as_before(pool):
    freed = FreedAgents(pool, lambda: datetime.now(UTC))  # never started
    assert not freed.listening
    loop = asyncio.get_running_loop()
    began = loop.time()
    await freed.wait(freed.mark(), [], 0.02, 30.0)
    assert loop.time() - began < 0.5


async def test_with_nothing_heard_a_waiting_call_still_looks_now_and_then(pool, fresh_database):
    freed = FreedAgents(pool, lambda: datetime.now(UTC))
    await freed.start(fresh_database)
    try:
        await asyncio.sleep(0.1)  # the start's own wake is behind us
        loop = asyncio.get_running_loop()
        began = loop.time()
        await freed.wait(freed.mark(), [], 0.02, 30.0)
        assert LOOK_ANYWAY_S - 0.05 < loop.time() - began < LOOK_ANYWAY_S + 0.2
    finally:
        await freed.stop()
