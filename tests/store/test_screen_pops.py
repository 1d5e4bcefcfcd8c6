"""The screen pop of an inbound call (issue 14), against the real
PostgreSQL: reserving an agent for a caller NOTIFYs the agent's desktop
with the inbound call's id (what the payment hand-off route takes), the
account the caller was identified as, its latest attempts and messages; a caller
nobody identified pops too, with the account's fields empty. The lab's
e2e test of an agent-assisted payment takes the id from a real pop."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from dialer.agents.routing import language_only
from dialer.agents.state import AgentAction
from dialer.agents.store import AGENT_EVENTS_CHANNEL, AgentStore, CallKind, Reservation
from dialer.inbound import store as inbound
from dialer.store.calls import storage_id

pytestmark = pytest.mark.lab

NOW = datetime(2026, 12, 3, 9, tzinfo=UTC)
AGENT = "agent1001"



async def _caller(pool: asyncpg.Pool, channel: str, account_id: int | None,
                  identified_by: str) -> uuid.UUID:
    """An inbound call arrived from +12125550186 on channel."""
    await pool.execute("INSERT INTO calls (id, number, state, originated_at, direction) "
                       "VALUES ($1, '+12125550186', 'answered', $2, 'inbound')",
                       storage_id(channel), NOW)
    inbound_id = uuid.uuid4()
    await inbound.arrived(pool, inbound_id, channel, "+12125550186", account_id, identified_by,
                          NOW)
    return inbound_id


async def _pop_for(pool: asyncpg.Pool, inbound_id: uuid.UUID) -> dict:
    """The event the agent's desktop gets when the agent is reserved for
    the inbound call."""
    heard: asyncio.Queue[str] = asyncio.Queue()

    def hear(connection, pid, channel, payload: str) -> None:
        heard.put_nowait(payload)

    async with pool.acquire() as listening:
        await listening.add_listener(AGENT_EVENTS_CHANNEL, hear)
        agents = AgentStore(pool)
        await agents.act(AGENT, AgentAction.LOG_IN, NOW)
        assert await agents.reserve(inbound_id, NOW, language_only("es"),
                                    CallKind.INBOUND) == Reservation(AGENT, None)
        pop = json.loads(await asyncio.wait_for(heard.get(), 10))
        await listening.remove_listener(AGENT_EVENTS_CHANNEL, hear)
    return pop


async def test_an_inbound_caller_pops_with_the_inbound_call_id(pool):
    account_id = await pool.fetchval(
        "INSERT INTO accounts (reference, debtor_name, balance, currency, days_past_due, "
        "risk_score, language) VALUES ('AS-1', 'Marta', 180.25, 'USD', 30, 0.7, 'es') "
        "RETURNING id")
    campaign = await pool.fetchval(
        "INSERT INTO campaigns (name, dial_mode, caller_id, window_profile) "
        "VALUES ('spring', 'progressive', '+15550100000', 'us') RETURNING id")
    # The account's messages (issue 15): what went, what was held and why.
    for trigger, status, rule, at in (("no_interaction", "pending", None, NOW),
                                      ("machine", "refused", "opt_out",
                                       NOW - timedelta(hours=1))):
        await pool.execute(
            "INSERT INTO messages (account_id, campaign_id, trigger, channel, idempotency_key, "
            "status, created_at, refused_rule) VALUES ($1, $2, $3, 'sms', $3, $4, $5, $6)",
            account_id, campaign, trigger, status, at, rule)
    inbound_id = await _caller(pool, "1796274970.0", account_id, "caller_id")
    pop = await _pop_for(pool, inbound_id)
    messages = pop.pop("last_messages")
    assert [(m["trigger"], m["channel"], m["status"], m["refused_rule"]) for m in messages] == [
        ("no_interaction", "sms", "pending", None), ("machine", "sms", "refused", "opt_out")]
    assert pop == {"type": "screen_pop", "kind": "inbound", "agent": AGENT,
                   "inbound_call": str(inbound_id), "reference": "AS-1",
                   "debtor_name": "Marta", "balance": "180.25", "currency": "USD",
                   "days_past_due": 30, "language": "es", "status": "active",
                   "number": "+12125550186", "identified_by": "caller_id",
                   "last_interactions": []}


async def test_a_caller_nobody_identified_pops_without_an_account(pool):
    inbound_id = await _caller(pool, "1796274971.4", None, "none")
    pop = await _pop_for(pool, inbound_id)
    assert (pop["kind"], pop["inbound_call"], pop["number"], pop["identified_by"]) == (
        "inbound", str(inbound_id), "+12125550186", "none")
    assert pop["reference"] is None and pop["balance"] is None
    assert pop["last_interactions"] == [] and "attempt" not in pop
    assert pop["last_messages"] == []
