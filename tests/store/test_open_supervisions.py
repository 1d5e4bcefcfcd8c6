"""The supervisions whose start the call's events hold and whose end they
do not (issue 18): what an API that starts after another reads, to end the
supervisions whose legs went while no API ran. Real PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg
import pytest

from dialer.calls.events import SupervisionEnded, SupervisionStarted
from dialer.store.calls import (
    OpenSupervision,
    append_event,
    open_supervisions,
    storage_id,
    supervision_started,
)

pytestmark = pytest.mark.lab

AT = datetime(2026, 12, 4, 21, 0, tzinfo=UTC)
INBOUND = "1764882000.41"  # an inbound call's channel: Asterisk's own id


@pytest.fixture
async def pool(fresh_database):
    pool = await asyncpg.create_pool(fresh_database, min_size=1, max_size=2)
    yield pool
    await pool.close()


async def a_call(pool: asyncpg.Pool, channel: str) -> None:
    await pool.execute("INSERT INTO calls (id, number, state, originated_at) "
                       "VALUES ($1, '+12125550186', 'answered', $2)", storage_id(channel), AT)


def started(channel: str, leg: str, mode: str = "listen") -> SupervisionStarted:
    return SupervisionStarted(call_id=channel, at=AT, supervisor="agent1003", mode=mode,
                              by="admin", leg=leg)


def ended(channel: str, leg: str, mode: str = "listen") -> SupervisionEnded:
    return SupervisionEnded(call_id=channel, at=AT, supervisor="agent1003", mode=mode,
                            reason="supervisor_hung_up", leg=leg)


async def test_only_the_supervisions_started_and_never_ended_are_open(pool):
    outbound = str(uuid.uuid4())
    for channel in (outbound, INBOUND):
        await a_call(pool, channel)
    await append_event(pool, outbound, started(outbound, "supervise-agent1003-aaaa0001"))
    await append_event(pool, outbound, ended(outbound, "supervise-agent1003-aaaa0001"))
    await append_event(pool, outbound, started(outbound, "supervise-agent1003-aaaa0002",
                                               "barge"))
    await append_event(pool, INBOUND, started(INBOUND, "supervise-agent1003-aaaa0003"))
    # Written before the events named the leg: never matched.
    await pool.execute("INSERT INTO call_events (call_id, at, kind, detail) VALUES "
                       "($1, $2, 'supervision_started', '{\"supervisor\": \"x\"}')",
                       storage_id(outbound), AT)

    assert await open_supervisions(pool) == [
        OpenSupervision(uuid.UUID(outbound), "supervise-agent1003-aaaa0002", "agent1003",
                        "barge"),
        OpenSupervision(storage_id(INBOUND), "supervise-agent1003-aaaa0003", "agent1003",
                        "listen")]

    # The end written under the stored id lands on the inbound call's events.
    (left,) = [s for s in await open_supervisions(pool) if s.mode == "listen"]
    await append_event(pool, str(left.call_id), ended(str(left.call_id), left.leg))
    assert [s.leg for s in await open_supervisions(pool)] == ["supervise-agent1003-aaaa0002"]
    assert await pool.fetchval("SELECT count(*) FROM call_events WHERE call_id = $1 "
                               "AND kind = 'supervision_ended'", storage_id(INBOUND)) == 1


async def test_a_start_is_found_by_its_leg_or_one_written_before_legs_by_the_call(pool):
    """What an API adopting a supervisor's leg asks: was its start written?
    A start from before the events named the leg counts for its call,
    supervisor and mode."""
    call, older = str(uuid.uuid4()), str(uuid.uuid4())
    for channel in (call, older):
        await a_call(pool, channel)
    await append_event(pool, call, started(call, "supervise-agent1003-aaaa0001"))
    await pool.execute("INSERT INTO call_events (call_id, at, kind, detail) VALUES ($1, $2, "
                       "'supervision_started', '{\"supervisor\": \"agent1003\", "
                       "\"mode\": \"whisper\", \"by\": \"admin\"}')",
                       storage_id(older), AT)

    assert await supervision_started(pool, "supervise-agent1003-aaaa0001", call, "agent1003",
                                     "listen")
    # Its leg answered, but the API went before writing the start.
    assert not await supervision_started(pool, "supervise-agent1003-aaaa0002", call,
                                         "agent1003", "listen")
    assert await supervision_started(pool, "supervise-agent1003-aaaa0003", older,
                                     "agent1003", "whisper")
    assert not await supervision_started(pool, "supervise-agent1003-aaaa0003", older,
                                         "agent1003", "barge")


async def test_the_look_can_use_the_supervisions_index(pool):
    """An end is looked up by its leg through the partial index (migration
    0024), not by reading every call event (forced: a fresh table is too
    small for the planner to choose it)."""
    async with pool.acquire() as connection:
        await connection.execute("SET enable_seqscan = off")
        plan = "\n".join(r[0] for r in await connection.fetch(
            "EXPLAIN SELECT 1 FROM call_events WHERE kind = 'supervision_ended' "
            "AND (detail ->> 'leg') = 'x'"))
        await connection.execute("RESET enable_seqscan")
    assert "call_events_supervision_legs" in plan, plan
