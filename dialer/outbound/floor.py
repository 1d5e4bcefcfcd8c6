"""What pacing needs to see of the floor, read from PostgreSQL: the
agents' states, the campaign's calls in flight (from every dialer), and
its attempts and contacts by the debtor's local hour."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from dialer.agents.routing import LANGUAGE_SKILL
from dialer.agents.store import on_server
from dialer.calls.outcome import RIGHT_PARTY_CONTACTS
from dialer.outbound.plan import AgentRow, AgentStatus, CallInFlight
from dialer.portfolio.contact import HourTally
from pacing.pools import LanguageShare


async def calls_in_flight(connection: asyncpg.Connection, campaign_id: int, now: datetime,
                          asterisk: str | None = None) -> list[CallInFlight]:
    """Every lead of the campaign being dialed, by any dialer (of the
    Asterisk server named asterisk, when given: the calls its agents take)."""
    rows = await connection.fetch(
        "SELECT coalesce(a.started_at, $2) AS dialed_at, a.answered_at, a.connected_at, "
        "c.language FROM leads l JOIN accounts c ON c.id = l.account_id "
        "LEFT JOIN attempts a ON a.campaign_id = l.campaign_id "
        "AND a.account_id = l.account_id AND a.ended_at IS NULL "
        "WHERE l.campaign_id = $1 AND l.state = 'dialing' AND ($3::text IS NULL OR "
        "l.dialer_id IN (SELECT d.id FROM dialers d WHERE d.asterisk = $3))",
        campaign_id, now, asterisk)
    return [CallInFlight(r["dialed_at"], r["answered_at"], r["connected_at"], r["language"])
            for r in rows]


async def agent_rows(connection: asyncpg.Connection,
                     asterisk: str | None = None) -> list[AgentRow]:
    """Every agent's state (of those whose phone is on the Asterisk server
    named asterisk, or on any, when given), and the languages they take
    calls in (their language:xx skills, as routing reads them)."""
    rows = await connection.fetch(
        "SELECT endpoint, state, state_since, wrap_up_until, "
        "ARRAY(SELECT substr(s.skill, length($1) + 1) FROM agent_skills s "
        "WHERE s.endpoint = a.endpoint AND s.skill LIKE $1 || '%') AS languages "
        f"FROM agents a WHERE {on_server(2)}", LANGUAGE_SKILL, asterisk)
    return [AgentRow(AgentStatus(r["state"]), r["state_since"], r["wrap_up_until"],
                     r["endpoint"], frozenset(r["languages"])) for r in rows]


async def language_shares(connection: asyncpg.Connection,
                          campaign_id: int) -> tuple[LanguageShare, ...]:
    """Each language's share of the campaign's ready leads (the pools the
    dialer paces), in the order of the languages' names."""
    rows = await connection.fetch(
        "SELECT c.language, count(*) AS leads FROM leads l JOIN accounts c ON c.id = l.account_id "
        "WHERE l.campaign_id = $1 AND l.state = 'ready' GROUP BY 1 ORDER BY 1", campaign_id)
    total = sum(r["leads"] for r in rows)
    return tuple(LanguageShare(r["language"], r["leads"] / total) for r in rows)


async def contact_tallies(connection: asyncpg.Connection, campaign_id: int) -> list[HourTally]:
    """Attempts and contacts (the right party reached) of the campaign by
    the debtor's local hour."""
    rows = await connection.fetch(
        "SELECT extract(hour FROM a.started_at AT TIME ZONE l.time_zone)::int AS hour, "
        "count(*) AS attempts, count(*) FILTER (WHERE a.result = ANY ($2::text[])) AS contacts "
        "FROM attempts a JOIN leads l ON l.campaign_id = a.campaign_id "
        "AND l.account_id = a.account_id WHERE a.campaign_id = $1 AND a.result IS NOT NULL "
        "AND a.result <> 'not_placed' "
        "GROUP BY 1", campaign_id, [result.value for result in RIGHT_PARTY_CONTACTS])
    return [HourTally(r["hour"], r["attempts"], r["contacts"]) for r in rows]
