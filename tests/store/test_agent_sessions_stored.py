"""Agent sessions in PostgreSQL (issue 18, migration 0021): opening one
logs the agent in and records the line; one agent has one open session at
most; closing it logs the agent out in the same transaction, whatever the
agent was doing, with the reason kept. The lab's e2e tests drive the same
store through a real softphone (tests/e2e/test_agent_sessions.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from dialer.agents.state import (
    SESSION_HUNG_UP,
    SESSION_LOGGED_OUT,
    AgentAction,
    AgentState,
)
from dialer.agents.store import AgentStore, OpenSession, SessionRefused, UnknownAgent

pytestmark = pytest.mark.lab

NOW = datetime(2026, 12, 3, 9, tzinfo=UTC)
AGENT = "agent1001"



async def test_a_session_logs_the_agent_in_and_is_the_only_one_open(pool):
    agents = AgentStore(pool)
    moved = await agents.open_session(AGENT, "session-a", NOW)
    assert (moved.before, moved.after) == (AgentState.LOGGED_OUT, AgentState.READY)
    assert await agents.session_line(AGENT) == "session-a"
    with pytest.raises(SessionRefused, match="line session-a"):
        await agents.open_session(AGENT, "session-b", NOW)
    with pytest.raises(UnknownAgent):
        await agents.open_session("agent9999", "session-c", NOW)
    assert await pool.fetchval("SELECT count(*) FROM agent_sessions") == 1


async def test_closing_a_session_logs_the_agent_out_with_the_reason(pool):
    agents = AgentStore(pool)
    await agents.open_session(AGENT, "session-a", NOW)
    await pool.execute("UPDATE agents SET state = 'on_call' WHERE endpoint = $1", AGENT)
    later = NOW + timedelta(minutes=5)
    assert await agents.close_session("session-a", later, SESSION_HUNG_UP) == AGENT
    agent = await agents.agent(AGENT, later)
    assert agent is not None and agent.state is AgentState.LOGGED_OUT
    assert await agents.session_line(AGENT) is None
    row = await pool.fetchrow("SELECT closed_at, close_reason FROM agent_sessions")
    assert (row["closed_at"], row["close_reason"]) == (later, SESSION_HUNG_UP)
    # Closed once: closing again finds nothing, and the agent logged in by
    # hand afterwards is not logged out by it.
    await agents.act(AGENT, AgentAction.LOG_IN, later)
    assert await agents.close_session("session-a", later, SESSION_LOGGED_OUT) is None
    agent = await agents.agent(AGENT, later)
    assert agent is not None and agent.state is AgentState.READY
    # A new session may open once the last is closed.
    await agents.open_session(AGENT, "session-b", later)
    assert await agents.session_line(AGENT) == "session-b"


async def test_the_table_takes_only_known_reasons(pool):
    await AgentStore(pool).open_session(AGENT, "session-a", NOW)
    with pytest.raises(asyncpg.CheckViolationError):
        await pool.execute("UPDATE agent_sessions SET closed_at = $1, close_reason = 'bored'",
                           NOW)


async def test_the_open_sessions_are_read_back_oldest_first(pool):
    # What a restarted API holds again (dialer.agents.sessions.resume).
    agents = AgentStore(pool)
    await agents.open_session("agent1002", "session-b", NOW + timedelta(seconds=1))
    await agents.open_session(AGENT, "session-a", NOW)
    await agents.open_session("agent1003", "session-c", NOW + timedelta(seconds=2))
    await agents.close_session("session-c", NOW + timedelta(minutes=1), SESSION_HUNG_UP)
    assert await agents.open_sessions() == [OpenSession(AGENT, "session-a"),
                                            OpenSession("agent1002", "session-b")]
