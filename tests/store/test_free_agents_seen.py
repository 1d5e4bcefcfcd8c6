"""The free agents as last read (dialer.agents.free_seen), against the real
PostgreSQL and its notifications: read again in the background when an
agent comes free, so a reservation takes an agent in one round trip; a
read no longer good (an agent came free since, the LISTEN is down) is not
used; agents of the read that another process took, or that moved to
another Asterisk server, are passed over, never reserved twice."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import UTC, datetime

import asyncpg
import pytest

from dialer.agents import routing
from dialer.agents import store as store_module
from dialer.agents.free_seen import FreeAgentsSeen
from dialer.agents.freed import FreedAgents
from dialer.agents.state import AgentAction
from dialer.agents.store import AgentStore, Reservation

pytestmark = pytest.mark.lab

ANYONE = routing.CallNeeds(required={})
AGENTS = ("agent1001", "agent1002")


def now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
async def pool(fresh_database):
    pool = await asyncpg.create_pool(fresh_database, min_size=1, max_size=4)
    await pool.execute("DELETE FROM agents WHERE endpoint <> ALL($1::text[])", list(AGENTS))
    yield pool
    await pool.close()


@pytest.fixture
async def freed(pool, fresh_database):
    freed = FreedAgents(pool, now)
    await freed.start(fresh_database)
    yield freed
    await freed.stop()


@pytest.fixture
async def seen(pool, freed):
    """Reading ahead for a process on server "a" (the agents name none)."""
    store = AgentStore(pool, "a")
    seen = FreeAgentsSeen(freed, lambda: store.free_now(now()))
    seen.start()
    yield seen
    await seen.stop()


@pytest.fixture
def reads(monkeypatch) -> list[str]:
    """Each read of the free agents, by the task that made it."""
    made: list[str] = []
    read = store_module.free_agents

    async def counted(connection, at, asterisk=None):
        made.append(asyncio.current_task().get_name())
        return await read(connection, at, asterisk)

    monkeypatch.setattr(store_module, "free_agents", counted)
    return made


async def reserve_seen(store: AgentStore, seen: FreeAgentsSeen,
                       reads: list[str]) -> tuple[Reservation | None, int]:
    """A reservation with seen, and how many reads of the free agents it made."""
    name = f"the reservation {uuid.uuid4()}"
    reserved = await asyncio.create_task(
        store.reserve(uuid.uuid4(), now(), ANYONE, seen=seen), name=name)
    return reserved, reads.count(name)


async def seen_as(seen: FreeAgentsSeen, agents: list[str]) -> None:
    """Until the read ahead holds agents (the longest idle first)."""
    for _ in range(100):
        got = seen.agents()
        if got is not None and sorted(got, key=lambda a: a.idle_since) == got \
                and [a.endpoint for a in got] == agents:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"the read ahead holds {seen.agents()}, not {agents}")


async def test_an_agent_coming_free_is_read_ahead_and_reserved_in_one_round_trip(
        pool, seen, reads):
    store = AgentStore(pool, "a")
    await seen_as(seen, [])  # read as it started: nobody free
    await AgentStore(pool).act("agent1001", AgentAction.LOG_IN, now())  # another process
    await seen_as(seen, ["agent1001"])
    # Taken from the read ahead.
    assert await reserve_seen(store, seen, reads) == (Reservation("agent1001", None), 0)
    assert seen.agents() == []  # the agent taken is out of it


async def test_a_read_is_not_used_once_another_agent_came_free(pool, seen, freed):
    await AgentStore(pool).act("agent1001", AgentAction.LOG_IN, now())
    await seen_as(seen, ["agent1001"])
    mark = freed.mark()
    await AgentStore(pool).act("agent1002", AgentAction.LOG_IN, now())
    for _ in range(50):  # heard, and read again
        if freed.mark() != mark:
            break
        await asyncio.sleep(0.02)
    assert freed.mark() != mark
    await seen_as(seen, ["agent1001", "agent1002"])


async def test_agents_of_the_read_taken_elsewhere_are_passed_over_then_read_again(
        pool, seen, reads):
    store = AgentStore(pool, "a")
    for agent in AGENTS:
        await AgentStore(pool).act(agent, AgentAction.LOG_IN, now())
    await seen_as(seen, list(AGENTS))
    # Another dialer takes both (a reservation announces nothing): the
    # read still names them.
    other = AgentStore(pool)
    assert await other.reserve(uuid.uuid4(), now(), ANYONE) == Reservation("agent1001", None)
    assert [a.endpoint for a in seen.agents()] == list(AGENTS)
    # agent1001 tried, not free: read afresh once, agent1002 taken.
    assert await reserve_seen(store, seen, reads) == (Reservation("agent1002", None), 1)
    assert await other.release("agent1001", now()) is None  # ready: announced
    await seen_as(seen, ["agent1001"])
    assert await other.reserve(uuid.uuid4(), now(), ANYONE) == Reservation("agent1001", None)
    # The read names agent1001, taken: tried, then read again, nobody.
    assert await reserve_seen(store, seen, reads) == (None, 1)


async def test_an_agent_moved_to_another_server_is_announced_and_left_out(pool, seen):
    await AgentStore(pool).act("agent1001", AgentAction.LOG_IN, now())
    await seen_as(seen, ["agent1001"])
    await AgentStore(pool).set_server("agent1001", "b")  # migration 0027
    await seen_as(seen, [])
    await AgentStore(pool).set_server("agent1001", "a")
    await seen_as(seen, ["agent1001"])


async def test_a_skill_taken_away_is_announced_and_read_again(pool, seen):
    agents = AgentStore(pool)
    await agents.set_skills("agent1001", {"language:en": 3})
    await agents.act("agent1001", AgentAction.LOG_IN, now())
    await seen_as(seen, ["agent1001"])
    assert seen.agents()[0].skills == {"language:en": 3}
    await agents.remove_skill("agent1001", "language:en")  # migration 0028
    for _ in range(50):
        if (read := seen.agents()) and read[0].skills == {}:
            break
        await asyncio.sleep(0.02)
    assert seen.agents()[0].skills == {}


class HearsNothing:
    """Agents coming free as if nothing announced any: a read stays good."""

    listening = True

    def mark(self) -> int:
        return 0

    def on_free(self, hook) -> None:
        pass


async def test_an_agent_of_the_read_on_another_server_now_is_not_reserved(pool):
    store = AgentStore(pool, "a")
    await AgentStore(pool).act("agent1001", AgentAction.LOG_IN, now())
    seen = FreeAgentsSeen(HearsNothing(), lambda: store.free_now(now()))
    await seen.read()
    await AgentStore(pool).set_server("agent1001", "b")
    assert [a.endpoint for a in seen.agents()] == ["agent1001"]
    assert await store.reserve(uuid.uuid4(), now(), ANYONE, seen=seen) is None
    assert await AgentStore(pool, "b").reserve(uuid.uuid4(), now(), ANYONE) == \
        Reservation("agent1001", None)


async def test_no_read_is_used_while_agents_coming_free_are_not_heard(pool, seen, freed, reads):
    await AgentStore(pool).act("agent1001", AgentAction.LOG_IN, now())
    await seen_as(seen, ["agent1001"])
    await freed.stop()
    assert seen.agents() is None
    assert await reserve_seen(AgentStore(pool, "a"), seen, reads) == \
        (Reservation("agent1001", None), 1)


@pytest.fixture
def takes(monkeypatch) -> list[str]:
    """Each agent a take was sent for; the first take is held until a
    second one is sent (2 s at most), so two reservations overlap: the
    second chooses while the first's take is under way."""
    sent: list[str] = []
    second = asyncio.Event()
    fetchrow = asyncpg.Connection.fetchrow

    async def held(connection, query, *args, **kwargs):
        if query in store_module._TAKE_AND_POP.values():
            sent.append(args[1])
            if len(sent) == 1:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(second.wait(), 2.0)
            else:
                second.set()
        return await fetchrow(connection, query, *args, **kwargs)

    monkeypatch.setattr(asyncpg.Connection, "fetchrow", held)
    return sent


async def test_debtors_answered_at_once_take_different_agents_from_the_read(
        pool, seen, reads, takes):
    store = AgentStore(pool, "a")
    for agent in AGENTS:
        await AgentStore(pool).act(agent, AgentAction.LOG_IN, now())
    await seen_as(seen, list(AGENTS))
    # The longest idle, agent1001, is being taken by the first: the second
    # takes agent1002, one take each and no read.
    first, second = await asyncio.gather(reserve_seen(store, seen, reads),
                                         reserve_seen(store, seen, reads))
    assert {first, second} == {(Reservation("agent1001", None), 0),
                               (Reservation("agent1002", None), 0)}
    assert sorted(takes) == list(AGENTS)


async def test_debtors_answered_at_once_take_different_agents_from_fresh_reads(
        pool, seen, freed, reads, takes):
    store = AgentStore(pool, "a")
    for agent in AGENTS:
        await AgentStore(pool).act(agent, AgentAction.LOG_IN, now())
    await seen_as(seen, list(AGENTS))
    await freed.stop()  # no read ahead is good: each reservation reads
    # The second's read still finds agent1001 free (the first's take is
    # held before it is sent): passed over all the same.
    first, second = await asyncio.gather(reserve_seen(store, seen, reads),
                                         reserve_seen(store, seen, reads))
    assert {first, second} == {(Reservation("agent1001", None), 1),
                               (Reservation("agent1002", None), 1)}
    assert sorted(takes) == list(AGENTS)
