"""Dialer processes in PostgreSQL: each holds a session advisory lock for
life, so another can tell a dead dialer's attempts from a live one's and
adopt them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from dialer.agents.state import AgentAction, AgentState, apply
from dialer.outbound.lifecycles import LeadAction, LeadState, lead_after
from dialer.portfolio.model import Language, Segment


async def register_dialer(connection: asyncpg.Connection, dialer_id: uuid.UUID, campaign_id: int,
                          pid: int, asterisk: str) -> None:
    """Record this dialer, bound to the Asterisk server named asterisk, and
    take its session lock on connection, which the dialer keeps open for
    life: the lock is released when the process dies."""
    key = await connection.fetchval(
        "INSERT INTO dialers (id, campaign_id, pid, asterisk) VALUES ($1, $2, $3, $4) "
        "RETURNING lock_key", dialer_id, campaign_id, pid, asterisk)
    await connection.execute("SELECT pg_advisory_lock($1)", key)


async def dead_dialers(connection: asyncpg.Connection, campaign_id: int,
                       me: uuid.UUID) -> list[uuid.UUID]:
    """Dialers of the campaign whose process is gone (their lock is free),
    of me's Asterisk server: another server's calls are not me's to follow
    (its next dialer adopts them)."""
    rows = await connection.fetch(
        "SELECT id FROM dialers WHERE campaign_id = $1 AND id <> $2 "
        "AND asterisk = (SELECT asterisk FROM dialers WHERE id = $2) "
        "AND pg_try_advisory_xact_lock(lock_key)", campaign_id, me)
    return [r["id"] for r in rows]


async def dialers_with_open_attempts(connection: asyncpg.Connection, campaign_id: int,
                                     dialers: Sequence[uuid.UUID]) -> list[uuid.UUID]:
    """Which of these dialers hold attempts without a result."""
    rows = await connection.fetch(
        "SELECT DISTINCT dialer_id FROM attempts WHERE campaign_id = $1 "
        "AND dialer_id = ANY ($2::uuid[]) AND result IS NULL", campaign_id, list(dialers))
    return [r["dialer_id"] for r in rows]


@dataclass(frozen=True)
class OrphanAttempt:
    """An attempt a dead dialer left without a final result."""

    attempt_id: uuid.UUID
    number: str
    started_at: datetime
    answered_at: datetime | None
    agent: str | None
    agent_channel: str | None
    connected_at: datetime | None
    language: Language
    segment: Segment


async def adopt_orphans(connection: asyncpg.Connection, campaign_id: int,
                        dead: Sequence[uuid.UUID], me: uuid.UUID) -> list[OrphanAttempt]:
    """Take over what dead dialers held: their open attempts become this
    dialer's, their leads claimed but never dialed go back to ready."""
    dead_ids = list(dead)
    rows = await connection.fetch(
        "UPDATE attempts a SET dialer_id = $3 FROM accounts c "
        "WHERE a.campaign_id = $1 AND a.dialer_id = ANY ($2::uuid[]) AND a.result IS NULL "
        "AND c.id = a.account_id "
        "RETURNING a.id, a.number, a.started_at, a.answered_at, a.agent, a.agent_channel, "
        "a.connected_at, c.language, a.segment", campaign_id, dead_ids, me)
    # An agent reserved for a call the dead dialer never connected waits for
    # nobody: ready again (a connected one is followed to its wrap-up).
    await connection.execute(
        "UPDATE agents SET state = $2, attempt_id = NULL WHERE state = 'reserved' "
        "AND attempt_id = ANY ($1::uuid[])",
        [r["id"] for r in rows if r["connected_at"] is None],
        apply(AgentState.RESERVED, AgentAction.RELEASE).value)
    await connection.execute(
        "UPDATE leads l SET dialer_id = $3 WHERE campaign_id = $1 AND dialer_id = ANY ($2::uuid[]) "
        "AND EXISTS (SELECT 1 FROM attempts a WHERE a.campaign_id = l.campaign_id "
        "AND a.account_id = l.account_id AND a.result IS NULL)", campaign_id, dead_ids, me)
    await connection.execute(
        "UPDATE leads SET state = $3, dialer_id = NULL "
        "WHERE campaign_id = $1 AND dialer_id = ANY ($2::uuid[])", campaign_id, dead_ids,
        lead_after(LeadState.DIALING, LeadAction.RELEASE).value)
    await connection.execute("DELETE FROM dialers WHERE id = ANY ($1::uuid[]) AND NOT EXISTS "
                             "(SELECT 1 FROM attempts WHERE dialer_id = dialers.id)", dead_ids)
    return [OrphanAttempt(r["id"], r["number"], r["started_at"], r["answered_at"], r["agent"],
                          r["agent_channel"], r["connected_at"], Language(r["language"]),
                          Segment(r["segment"]))
            for r in rows]
