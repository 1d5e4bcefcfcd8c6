"""The log of agents' state changes (migration 0020) and the floor's
occupancy, wait and dial level the API exports from it: every change the
agents' store makes is logged by the database itself, read back as each
agent's state at a window's start and its changes after, and measured as
dialer.agents.occupancy has it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from dialer.agents.occupancy import StateChange
from dialer.agents.state import AgentAction
from dialer.agents.state import AgentState as S
from dialer.agents.store import AgentStore
from dialer.api.floor_metrics import FloorFigures
from dialer.metrics.definitions import AGENT_WAIT, AGENTS, DIAL_LEVEL, OCCUPANCY
from tests.store.test_history import import_text

pytestmark = pytest.mark.lab

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)


ACCOUNTS = ("reference,debtor_name,balance,days_past_due,risk_score,language,time_zone,phone1\n"
            "RA-1,Alma Aguirre,120.00,10,0.5,es,America/New_York,+12125550101\n"
            "RB-2,Bruno Benítez,980.00,40,0.5,es,America/New_York,+12125550102\n")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
async def pool(fresh_database):
    pool = await asyncpg.create_pool(fresh_database, min_size=1, max_size=2)
    await pool.execute("DELETE FROM agents WHERE endpoint <> 'agent1001'")
    yield pool
    await pool.close()


async def _a_shift(pool: asyncpg.Pool) -> AgentStore:
    """Agent 1001 logs in, takes a call of 60 s with 10 s of wrap-up, waits,
    is reserved for a second call that is still ringing."""
    store = AgentStore(pool)
    await store.act("agent1001", AgentAction.LOG_IN, at(0))
    await pool.execute("UPDATE agents SET state = 'reserved', state_since = $1, wrap_up_until = NULL "
                       "WHERE endpoint = 'agent1001'", at(30))
    await store.on_call("agent1001", at(31))
    await store.wrap_up("agent1001", at(91), 10)
    await pool.execute("UPDATE agents SET state = 'reserved', state_since = $1, wrap_up_until = NULL "
                       "WHERE endpoint = 'agent1001'", at(160))
    return store


async def test_every_change_is_logged_and_read_back_from_a_windows_start(pool):
    store = await _a_shift(pool)
    changes = await store.state_changes(at(20), at(600))
    assert changes == [
        StateChange("agent1001", S.READY, at(0)),  # its state when the window opened
        StateChange("agent1001", S.RESERVED, at(30)),
        StateChange("agent1001", S.ON_CALL, at(31)),
        StateChange("agent1001", S.WRAP_UP, at(91), at(101)),
        StateChange("agent1001", S.RESERVED, at(160)),
    ]


async def test_a_change_without_a_new_since_is_logged_at_its_moment(pool):
    await pool.execute("UPDATE agents SET state = 'ready' WHERE endpoint = 'agent1001'")
    [change] = await AgentStore(pool).state_changes(datetime.now(UTC), datetime.now(UTC))
    assert change.state is S.READY
    assert abs(change.since - datetime.now(UTC)) < timedelta(seconds=30)
    assert await pool.fetchval(  # enrolled, then ready
        "SELECT count(*) FROM agent_state_log WHERE endpoint = 'agent1001'") == 2


async def test_changes_at_the_same_moment_come_in_the_order_they_were_made(pool):
    # Two changes in one transaction: both logged at its now().
    async with pool.acquire() as connection, connection.transaction():
        for state in ("ready", "paused", "ready", "paused"):
            await connection.execute("UPDATE agents SET state = $1, pause_reason = 'break', "
                                     "state_since = now() WHERE endpoint = 'agent1001'", state)
        moment = await connection.fetchval("SELECT now()")
    store = AgentStore(pool)
    changes = await store.state_changes(moment - timedelta(seconds=1), moment + timedelta(1))
    assert [(c.state, c.since) for c in changes[-4:]] == [
        (S.READY, moment), (S.PAUSED, moment), (S.READY, moment), (S.PAUSED, moment)]
    # From that moment on: the last of them holds.
    assert [c.state for c in await store.state_changes(moment, moment)] == [S.PAUSED]


async def test_the_api_exports_occupancy_wait_and_dial_level_from_the_log(pool, tmp_path):
    await _a_shift(pool)
    await import_text(pool, tmp_path, ACCOUNTS)
    await pool.execute("INSERT INTO campaigns (name, dial_mode, caller_id, window_profile) "
                       "VALUES ('floor', 'progressive', '+15550100000', '00:00-24:00')")
    await pool.execute("INSERT INTO dialers (id, campaign_id, pid) SELECT $1, id, 1 "
                       "FROM campaigns", uuid.uuid4())
    await pool.execute(  # two calls ringing, one agent logged in
        "INSERT INTO attempts (id, campaign_id, account_id, phone_id, number, dialer_id, "
        "segment, started_at) SELECT gen_random_uuid(), c.id, a.id, p.id, p.number, d.id, "
        "'early', now() FROM campaigns c, dialers d, accounts a JOIN phones p "
        "ON p.account_id = a.id")
    floor = FloorFigures(pool, clock=lambda: at(300))
    try:
        await floor.refresh()
    finally:
        await floor.close()
    # The last 15 minutes hold the whole shift: worked 1 + 60 + 10, and 140
    # reserved (160 to 300); ready 30 + 59 (the wrap-up's timer ran out at
    # 101); one call taken.
    assert OCCUPANCY.labels("15m")._value.get() == pytest.approx(211 / 300)
    assert AGENT_WAIT.labels("15m")._value.get() == pytest.approx(89)
    assert DIAL_LEVEL.labels("floor")._value.get() == 2.0


async def test_one_exporter_of_the_floor_per_database(pool):
    """Two APIs' floor figures on one database: the first to take the lock
    exports, the other exports none until the first lets go (or its
    connection breaks)."""
    first, second = FloorFigures(pool), FloorFigures(pool)
    try:
        await first.refresh()
        assert first.exporting and AGENTS.labels("ready") in AGENTS._metrics.values()
        await second.refresh()
        assert not second.exporting
        assert not AGENTS._metrics  # this process's registry: the other exports them
        await first.refresh()
        assert first.exporting  # kept, scrape after scrape
        await first.close()
        await second.refresh()
        assert second.exporting and AGENTS._metrics
        # The exporter's connection broken (PostgreSQL restarted, say): the
        # next scrape finds its lock gone and takes it again.
        await pool.execute("SELECT pg_terminate_backend(pid) FROM pg_locks "
                           "WHERE locktype = 'advisory' AND objid = "
                           "hashtext('recobro.floor-exporter')::oid")
        await second.refresh()  # no error: left out this time
        assert not second.exporting and not AGENTS._metrics
        await first.refresh()
        assert first.exporting and AGENTS._metrics
    finally:
        await first.close()
        await second.close()
