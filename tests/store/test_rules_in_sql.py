"""Where SQL runs a rule for speed, the pure rule is its specification:
on generated cases the hopper's claim picks what plan.claim_order picks,
the reservation's "free agent" is agents.state.settled's, and the effects
the database allows are the disposition table's."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dialer.agents.disposition import DispositionEffect
from dialer.agents.state import AgentState, settled
from dialer.agents.store import free_agents
from dialer.outbound import leads
from dialer.outbound.lifecycles import LeadState
from dialer.outbound.plan import LeadInHopper, claim_order
from dialer.outbound.store import CampaignStore
from dialer.portfolio.model import Segment
from tests.store.test_hopper import campaign

pytestmark = pytest.mark.lab

NOW = datetime(2026, 12, 2, 15, tzinfo=UTC)
ZONES = ("America/New_York", "America/Chicago", "America/Los_Angeles")
ACCOUNTS = 40
EXAMPLES = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])

# Mostly ready and due, so that most cases claim something.
lead_rows = st.lists(st.tuples(
    st.sampled_from([LeadState.READY] * 3 + [LeadState.DIALING, LeadState.DONE]),
    st.sampled_from(list(Segment)), st.sampled_from(ZONES),
    st.integers(-120, 30),  # minutes from now to next_callable_at
    st.integers(1, 3),  # priority
    st.integers(0, 50)),  # value, integers so SQL and Python agree exactly
    min_size=5, max_size=ACCOUNTS)
open_zones = st.dictionaries(st.sampled_from(ZONES), st.sampled_from([0.05, 0.1, 0.2, 0.4]),
                             min_size=1)


def run(coroutine):
    return asyncio.run(coroutine)


async def _prepare(url: str) -> int:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(
            "INSERT INTO accounts (reference, debtor_name, balance, currency, days_past_due, "
            "risk_score, language) SELECT 'S' || i, 'Debtor', 100, 'USD', 10, 0.5, "
            "CASE WHEN i % 3 = 0 THEN 'en' ELSE 'es' END FROM generate_series(1, $1) i",
            ACCOUNTS)
    finally:
        await connection.close()
    pool = await asyncpg.create_pool(url, min_size=1, max_size=1)
    try:
        return await CampaignStore(pool).create(campaign("spec"))
    finally:
        await pool.close()


@pytest.fixture
def claim_campaign(fresh_database):
    return fresh_database, run(_prepare(fresh_database))


async def _claim_in_sql(url: str, campaign_id: int, hopper: list[LeadInHopper],
                        zones: dict[str, float], segments: list[Segment], limit: int,
                        language: str | None) -> list:
    connection = await asyncpg.connect(url)
    try:
        transaction = connection.transaction()
        await transaction.start()
        await connection.execute("DELETE FROM leads")
        ids = [r["id"] for r in await connection.fetch("SELECT id FROM accounts ORDER BY id")]
        await connection.executemany(
            "INSERT INTO leads (campaign_id, account_id, segment, state, next_callable_at, "
            "priority, value, time_zone) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            [(campaign_id, ids[lead.account_id], lead.segment.value, lead.state.value,
              lead.next_callable_at, lead.priority, lead.value, lead.time_zone)
             for lead in hopper])
        claimed = await leads.claim(connection, campaign_id, list(zones), list(zones.values()),
                                    segments, limit, NOW, language)
        await transaction.rollback()
        return [ids.index(c.account_id) for c in claimed]
    finally:
        await connection.close()


def _language(index: int) -> str:
    """The language of the index-th account (ids in order: 1-based i)."""
    return "en" if (index + 1) % 3 == 0 else "es"


@EXAMPLES
@given(lead_rows, open_zones, st.sets(st.sampled_from(list(Segment)), min_size=1),
       st.integers(1, 12), st.sampled_from([None, "es", "en"]))
def test_the_claim_in_sql_picks_what_its_specification_picks(claim_campaign, rows, zones,
                                                             segments, limit, language):
    url, campaign_id = claim_campaign
    hopper = [LeadInHopper(i, state, segment, zone, NOW + timedelta(minutes=due), priority,
                           float(value), _language(i))
              for i, (state, segment, zone, due, priority, value) in enumerate(rows)]
    wanted = claim_order(hopper, zones, segments, limit, NOW, language)
    claimed = run(_claim_in_sql(url, campaign_id, hopper, zones, sorted(segments, key=str),
                                limit, language))
    # Leads that tie on the order may come in either order: compare the
    # order's keys, and that every lead claimed is one the rule allows.
    by_id = {lead.account_id: lead for lead in hopper}

    def key(lead: LeadInHopper) -> tuple[int, float]:
        return lead.priority, lead.value * zones[lead.time_zone]

    assert [key(by_id[i]) for i in claimed] == [key(lead) for lead in wanted]
    allowed = {lead.account_id
               for lead in claim_order(hopper, zones, segments, ACCOUNTS, NOW, language)}
    assert set(claimed) <= allowed


agent_rows = st.lists(st.tuples(
    st.sampled_from(list(AgentState)),
    st.integers(-600, 0),  # seconds from now to state_since
    # to wrap_up_until, its edge (a timer ending right now) included
    st.one_of(st.none(), st.sampled_from([-1, 0, 1]), st.integers(-300, 300))),
    min_size=1, max_size=8)


async def _free_in_sql(url: str, agents: list[tuple[AgentState, datetime, datetime | None]]):
    connection = await asyncpg.connect(url)
    try:
        transaction = connection.transaction()
        await transaction.start()
        await connection.execute("DELETE FROM agents")
        await connection.executemany(
            "INSERT INTO agents (endpoint, name, state, state_since, wrap_up_until) "
            "VALUES ($1, $1, $2, $3, $4)",
            [(f"agent{i}", state.value, since, until)
             for i, (state, since, until) in enumerate(agents)])
        free = await free_agents(connection, NOW)
        await transaction.rollback()
        return {c.endpoint: c.idle_since for c in free}
    finally:
        await connection.close()


@EXAMPLES
@given(agent_rows)
@example([(AgentState.WRAP_UP, -60, 0), (AgentState.WRAP_UP, -60, None),
          (AgentState.WRAP_UP, -60, 1), (AgentState.READY, -5, -1)])
def test_a_free_agent_in_sql_is_one_settled_calls_ready(fresh_database, rows):
    agents = [(state, NOW + timedelta(seconds=since),
               None if until is None else NOW + timedelta(seconds=until))
              for state, since, until in rows]
    expected = {}
    for i, (state, since, until) in enumerate(agents):
        now_state, idle_since = settled(state, since, until, NOW)
        if now_state is AgentState.READY:
            expected[f"agent{i}"] = idle_since
    assert run(_free_in_sql(fresh_database, agents)) == expected


async def _effects(url: str) -> tuple[set[str], set[str]]:
    connection = await asyncpg.connect(url)
    try:
        check = await connection.fetchval(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = 'disposition_codes'::regclass AND contype = 'c'")
        used = {r["effect"] for r in await connection.fetch(
            "SELECT DISTINCT effect FROM disposition_codes")}
    finally:
        await connection.close()
    return set(re.findall(r"'(\w+)'::text", check)), used


def test_the_database_allows_exactly_the_disposition_effects(fresh_database):
    allowed, used = run(_effects(fresh_database))
    assert allowed == {e.value for e in DispositionEffect}
    assert used <= allowed
