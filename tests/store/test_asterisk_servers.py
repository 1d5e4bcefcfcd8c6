"""Several Asterisk servers in one database (issue 20, item 2), against the
real PostgreSQL: a process bound to one server reserves, paces to and
opens sessions for that server's agents (and those naming none) only,
adopts only that server's dead dialers, and writes the ends of only that
server's supervisions."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from dialer.agents import routing
from dialer.agents.sessions import AgentSessions
from dialer.agents.state import AgentAction
from dialer.agents.store import (
    AgentNotFree,
    AgentStore,
    CallKind,
    Reservation,
    SessionRefused,
    UnknownAgent,
)
from dialer.calls.events import SupervisionStarted
from dialer.outbound import dialers, floor
from dialer.store.calls import append_event, open_supervisions, storage_id

pytestmark = pytest.mark.lab

NOW = datetime(2026, 12, 5, 9, tzinfo=UTC)
ANYONE = routing.CallNeeds(required={})


async def _servers(store: AgentStore) -> None:
    """agent1001 on server a, agent1002 on b, agent1003 on none (any);
    all three ready, agent1001 the longest idle."""
    await store.set_server("agent1001", "a")
    await store.set_server("agent1002", "b")
    for seconds, agent in enumerate(("agent1001", "agent1002", "agent1003")):
        await store.act(agent, AgentAction.LOG_IN, NOW + timedelta(seconds=seconds))


async def test_a_server_reserves_its_own_agents_and_those_naming_none(pool):
    await _servers(AgentStore(pool))
    on_b = AgentStore(pool, "b")
    later = NOW + timedelta(seconds=10)
    taken = [await on_b.reserve(uuid.uuid4(), later, ANYONE) for _ in range(3)]
    assert taken == [Reservation("agent1002", None), Reservation("agent1003", None), None]
    # Anywhere: the agent of server a, left free.
    assert await AgentStore(pool).reserve(uuid.uuid4(), later, ANYONE) == \
        Reservation("agent1001", None)


async def test_a_transfer_to_another_servers_agent_is_refused_naming_both(pool):
    await _servers(AgentStore(pool))
    with pytest.raises(AgentNotFree, match="agent1001's phone is on Asterisk server 'a', "
                                           "and the call on 'b'"):
        await AgentStore(pool, "b").reserve_named("agent1001", uuid.uuid4(), NOW,
                                                  CallKind.OUTBOUND)


async def test_pacing_sees_its_servers_agents(pool):
    await _servers(AgentStore(pool))
    async with pool.acquire() as connection:
        on_a = {row.endpoint for row in await floor.agent_rows(connection, "a")}
        everyone = {row.endpoint for row in await floor.agent_rows(connection)}
    assert on_a == {"agent1001", "agent1003", "agent1004"}  # agent1004 names none either
    assert everyone == on_a | {"agent1002"}


async def test_a_server_is_set_and_cleared_and_an_unknown_agent_named(pool):
    store = AgentStore(pool)
    await store.set_server("agent1001", "a")
    assert (await store.agent("agent1001", NOW)).asterisk == "a"
    await store.set_server("agent1001", None)
    assert (await store.agent("agent1001", NOW)).asterisk is None
    with pytest.raises(UnknownAgent, match="agent9999"):
        await store.set_server("agent9999", "a")


async def test_only_its_servers_open_sessions_are_its_to_resume(pool):
    store = AgentStore(pool)
    await _servers(store)
    await store.open_session("agent1001", "session-a", NOW)
    await store.open_session("agent1002", "session-b", NOW)
    assert [s.channel for s in await AgentStore(pool, "b").open_sessions()] == ["session-b"]
    assert {s.channel for s in await store.open_sessions()} == {"session-a", "session-b"}


class _NoPhoneCalled:
    """Call control that must call no phone."""

    def register_flow(self, *args: object, **kwargs: object) -> None:
        pass

    async def call_endpoint(self, *args: object, **kwargs: object) -> None:
        raise AssertionError("a phone was called")


async def test_an_api_opens_no_session_for_another_servers_agent(pool):
    await AgentStore(pool).set_server("agent1001", "a")
    sessions = AgentSessions(_NoPhoneCalled(), AgentStore(pool, "b"))
    with pytest.raises(SessionRefused, match="agent1001's phone is on Asterisk server 'a': "
                                             "the API of that server opens its session"):
        await sessions.open("agent1001", NOW)


async def test_a_dialer_adopts_the_dead_dialers_of_its_own_server_only(fresh_database, pool):
    campaign = await pool.fetchval(
        "INSERT INTO campaigns (name, dial_mode, caller_id, window_profile) "
        "VALUES ('spread', 'progressive', '+15550100000', 'us') RETURNING id")
    dead_on_a, dead_on_b, me = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    for dead, server in ((dead_on_a, "a"), (dead_on_b, "b")):
        # A dialer that registered and died: its lock went with it.
        connection = await asyncpg.connect(fresh_database)
        await dialers.register_dialer(connection, dead, campaign, os.getpid(), server)
        await connection.close()
    mine = await asyncpg.connect(fresh_database)
    try:
        await dialers.register_dialer(mine, me, campaign, os.getpid(), "a")
        async with pool.acquire() as connection, connection.transaction():
            assert await dialers.dead_dialers(connection, campaign, me) == [dead_on_a]
    finally:
        await mine.close()


async def test_an_api_ends_only_its_own_servers_supervisions(pool):
    call = str(uuid.uuid4())
    await pool.execute("INSERT INTO calls (id, number, state, originated_at) "
                       "VALUES ($1, '+12125550186', 'answered', $2)", storage_id(call), NOW)
    for leg, server in (("supervise-x-1", "a"), ("supervise-x-2", "b"), ("supervise-x-3", "")):
        await append_event(pool, call, SupervisionStarted(
            call_id=call, at=NOW, supervisor="agent1003", mode="listen", by="admin", leg=leg,
            asterisk=server))
    assert [s.leg for s in await open_supervisions(pool, "b")] == \
        ["supervise-x-2", "supervise-x-3"]
    assert len(await open_supervisions(pool)) == 3
