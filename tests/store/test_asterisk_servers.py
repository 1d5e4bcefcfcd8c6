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
from dialer.agents.transfers import TransferRefused, request_transfer
from dialer.calls.events import SupervisionStarted
from dialer.outbound import dialers, floor
from dialer.settings import DEFAULT_ASTERISK_NAME
from dialer.store.calls import append_event, open_supervisions, storage_id
from tests.store.test_history import import_text

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
    with pytest.raises(AgentNotFree, match="agent agent1001 is on Asterisk server 'a', "
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
    await AgentStore(pool, "a").open_session("agent1001", "session-a", NOW)
    await AgentStore(pool, "b").open_session("agent1002", "session-b", NOW)
    # agent1003 names no server: its session's line is on a.
    await AgentStore(pool, "a").open_session("agent1003", "session-a2", NOW)
    assert [s.channel for s in await AgentStore(pool, "b").open_sessions()] == ["session-b"]
    assert {s.channel for s in await store.open_sessions()} == {"session-a", "session-b",
                                                                "session-a2"}


async def test_an_agent_on_a_session_is_reached_on_its_lines_server_only(pool):
    """agent1003 names no server, but its line is on a: b's calls cannot
    join it (b reserves its own agent1002, then nobody)."""
    await _servers(AgentStore(pool))
    await AgentStore(pool, "a").open_session("agent1003", "session-a", NOW)
    later = NOW + timedelta(seconds=10)
    on_b = AgentStore(pool, "b")
    assert await on_b.server_of("agent1003") == "a"
    assert [await on_b.reserve(uuid.uuid4(), later, ANYONE) for _ in range(2)] == \
        [Reservation("agent1002", None), None]
    assert await AgentStore(pool, "a").reserve(uuid.uuid4(), later, ANYONE) == \
        Reservation("agent1001", None)


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


async def _campaign_with_dialers(pool, tmp_path, servers: dict[str, str]) -> dict[str, uuid.UUID]:
    """A campaign of one account, a dead dialer on each server (name ->
    server), and a call of each dialer's in flight, whose lead it dials;
    the dialers' ids by name."""
    await import_text(pool, tmp_path, "reference,debtor_name,balance,days_past_due,phone1\n"
                                      "R1,Ana,100,10,+12125550186\nR2,Eva,100,10,+12125550187\n")
    campaign = await pool.fetchval(
        "INSERT INTO campaigns (name, dial_mode, caller_id, window_profile) "
        "VALUES ('spread', 'progressive', '+15550100000', '00:00-24:00') RETURNING id")
    ids = {name: uuid.uuid4() for name in servers}
    for (name, server), reference in zip(servers.items(), ("R1", "R2"), strict=False):
        await pool.execute("INSERT INTO dialers (id, campaign_id, pid, asterisk) "
                           "VALUES ($1, $2, 1, $3)", ids[name], campaign, server)
        await pool.execute(
            "INSERT INTO attempts (id, campaign_id, account_id, phone_id, number, dialer_id, "
            "segment, started_at) SELECT $1, $2, a.id, p.id, p.number, $1, 'early', $3 "
            "FROM accounts a JOIN phones p ON p.account_id = a.id WHERE a.reference = $4",
            ids[name], campaign, NOW, reference)
        await pool.execute(
            "INSERT INTO leads (campaign_id, account_id, segment, state, dialer_id, priority, "
            "value, time_zone) SELECT $1, id, 'early', 'dialing', $2, 0, 1, 'America/New_York' "
            "FROM accounts WHERE reference = $3 ON CONFLICT (campaign_id, account_id) "
            "DO UPDATE SET state = 'dialing', dialer_id = $2", campaign, ids[name], reference)
    return ids


async def test_a_dead_dialers_agent_is_freed_only_from_its_own_server(pool, tmp_path):
    """A dead dialer's call whose debtor this server's Asterisk no longer
    has frees its agent; another server's call may be up there."""
    ids = await _campaign_with_dialers(pool, tmp_path, {"on_b": "b"})
    await pool.execute("UPDATE agents SET state = 'on_call', attempt_id = $1 "
                       "WHERE endpoint = 'agent1001'", ids["on_b"])
    async with pool.acquire() as connection, connection.transaction():
        assert await AgentStore(pool, "a").free_stranded(connection, NOW, alive=[]) == []
    async with pool.acquire() as connection, connection.transaction():
        assert await AgentStore(pool, "b").free_stranded(connection, NOW, alive=[]) == \
            [("agent1001", None)]


async def test_an_api_transfers_no_call_of_another_server(pool, tmp_path):
    """agent1001 (server a) talks to a debtor; b's API is asked to bring
    agent1002 in: refused naming the server, nothing reserved, no process
    asked."""
    ids = await _campaign_with_dialers(pool, tmp_path, {"on_a": "a"})
    await _servers(AgentStore(pool))
    await pool.execute("UPDATE attempts SET agent = 'agent1001', connected_at = $1", NOW)
    await pool.execute("UPDATE agents SET state = 'on_call', attempt_id = $1 "
                       "WHERE endpoint = 'agent1001'", ids["on_a"])
    with pytest.raises(TransferRefused, match="the call of .* is on Asterisk server 'a': the "
                                              "API of that server transfers it") as refused:
        await request_transfer(AgentStore(pool, "b"), _NoPhoneCalled(), ids["on_a"],
                               "agent1002", None, None, NOW)
    assert refused.value.status == 409
    assert await pool.fetchval("SELECT count(*) FROM agents WHERE state = 'reserved'") == 0


async def test_pacing_counts_its_own_servers_calls(pool, tmp_path):
    ids = await _campaign_with_dialers(pool, tmp_path, {"on_a": "a", "on_b": "b"})
    campaign = await pool.fetchval("SELECT id FROM campaigns")
    async with pool.acquire() as connection:
        on_a = await floor.calls_in_flight(connection, campaign, NOW, "a")
        everywhere = await floor.calls_in_flight(connection, campaign, NOW)
    assert len(on_a) == 1 and len(everywhere) == 2, ids


async def test_an_api_ends_only_its_own_servers_supervisions(pool):
    call = str(uuid.uuid4())
    await pool.execute("INSERT INTO calls (id, number, state, originated_at) "
                       "VALUES ($1, '+12125550186', 'answered', $2)", storage_id(call), NOW)
    for leg, server in (("supervise-x-1", "a"), ("supervise-x-2", "b"),
                        ("supervise-x-3", DEFAULT_ASTERISK_NAME)):
        await append_event(pool, call, SupervisionStarted(
            call_id=call, at=NOW, supervisor="agent1003", mode="listen", by="admin", leg=leg,
            asterisk=server))
    # Written before servers had names: the default server's.
    await pool.execute("INSERT INTO call_events (call_id, at, kind, detail) VALUES ($1, $2, "
                       "'supervision_started', '{\"supervisor\": \"agent1003\", "
                       "\"mode\": \"listen\", \"leg\": \"supervise-x-4\"}')",
                       storage_id(call), NOW)
    assert [s.leg for s in await open_supervisions(pool, "b")] == ["supervise-x-2"]
    assert [s.leg for s in await open_supervisions(pool, DEFAULT_ASTERISK_NAME)] == \
        ["supervise-x-3", "supervise-x-4"]
    assert len(await open_supervisions(pool)) == 4
