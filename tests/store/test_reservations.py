"""Reserving an agent for an answered call, against the real PostgreSQL:
the reservation names the agent's session line, read in the same
statement that takes the agent (no round trip more before the debtor
joins), and an agent whose row another transaction holds is passed over,
not waited for (two calls answered at once choose the same agent)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from dialer.agents import routing
from dialer.agents.state import AgentAction
from dialer.agents.store import AgentStore, Reservation

pytestmark = pytest.mark.lab

NOW = datetime(2026, 12, 3, 9, tzinfo=UTC)
ANYONE = routing.CallNeeds(required={})


async def test_an_agent_on_a_session_is_reserved_with_its_line(pool):
    agents = AgentStore(pool)
    await agents.open_session("agent1001", "session-a", NOW)
    await agents.act("agent1002", AgentAction.LOG_IN, NOW + timedelta(seconds=1))
    first = await agents.reserve(uuid.uuid4(), NOW + timedelta(seconds=2), ANYONE)
    second = await agents.reserve(uuid.uuid4(), NOW + timedelta(seconds=2), ANYONE)
    # Longest idle first: the agent on its session, then the one rung per call.
    assert (first, second) == (Reservation("agent1001", "session-a"),
                               Reservation("agent1002", None))


async def test_an_agent_whose_row_is_held_is_passed_over_not_waited_for(pool):
    agents = AgentStore(pool)
    await agents.act("agent1001", AgentAction.LOG_IN, NOW)  # the longest idle
    await agents.act("agent1002", AgentAction.LOG_IN, NOW + timedelta(seconds=1))
    async with pool.acquire() as other, other.transaction():
        # Another dialer's reservation of agent1001, not yet committed.
        await other.execute("SELECT 1 FROM agents WHERE endpoint = 'agent1001' FOR UPDATE")
        reserved = await asyncio.wait_for(
            agents.reserve(uuid.uuid4(), NOW + timedelta(seconds=2), ANYONE), 2.0)
    assert reserved == Reservation("agent1002", None)
