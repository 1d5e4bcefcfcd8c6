"""The hopper's SQL: leads claimed with FOR UPDATE SKIP LOCKED, what the
compliance gate needs to know about them, attempts from start to final
result, and the dialer processes that hold them. Each function runs on a
connection the caller holds (inside its transaction)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import asyncpg

from dialer.agents.state import AgentAction, AgentState, apply
from dialer.calls.outcome import AttemptResult
from dialer.compliance.gate import LeadFacts, PastAttempt
from dialer.outbound.plan import AgentRow, AgentStatus, CallInFlight
from dialer.portfolio.contact import HourTally
from dialer.portfolio.model import AccountStatus, Language, Phone, PhoneKind, Segment

# Results that reached no one to talk to: the follow-up's outbox gets them.
NO_INTERACTION = frozenset({AttemptResult.MACHINE, AttemptResult.ABANDONED,
                            AttemptResult.HUNG_UP})
# Older attempts change no rule (Reg F looks back 7 days, retry delays and
# the 72-hour rule less), except the last one's retry delay, kept apart.
HISTORY_DAYS = 30

# Per open zone, the best ready leads by index; then the best of those by
# value at the zone's local hour. SKIP LOCKED: leads another dialer is
# claiming are passed over, never waited for or taken twice.
_CLAIM = """
WITH zones AS (SELECT * FROM unnest($2::text[], $3::float8[]) AS z (zone, contact_rate))
SELECT l.account_id, l.segment
FROM zones z CROSS JOIN LATERAL (
    SELECT account_id, segment, priority, value FROM leads
    WHERE campaign_id = $1 AND state = 'ready' AND time_zone = z.zone
      AND next_callable_at <= $5 AND segment = ANY ($4::text[])
    ORDER BY priority DESC, value DESC
    LIMIT $6
    FOR UPDATE SKIP LOCKED
) l
ORDER BY l.priority DESC, l.value * z.contact_rate DESC
LIMIT $6
"""


@dataclass(frozen=True)
class ClaimedLead:
    account_id: int
    segment: Segment


@dataclass(frozen=True)
class LeadContext:
    """A claimed lead with what the gate and the call need."""

    account_id: int
    segment: Segment
    language: Language
    balance: Decimal
    risk_score: float
    debtor_name: str
    facts: LeadFacts
    phone_ids: dict[str, int]  # E.164 -> phones.id


async def claim(connection: asyncpg.Connection, campaign_id: int, zones: Sequence[str],
                contact_rates: Sequence[float], segments: Sequence[Segment], limit: int,
                now: datetime) -> list[ClaimedLead]:
    """Lock up to limit ready leads, best first (they stay locked until the
    caller's transaction ends)."""
    if limit <= 0 or not zones or not segments:
        return []
    rows = await connection.fetch(_CLAIM, campaign_id, list(zones), list(contact_rates),
                                  [s.value for s in segments], now, limit)
    return [ClaimedLead(r["account_id"], Segment(r["segment"])) for r in rows]


async def lead_contexts(connection: asyncpg.Connection, campaign_id: int,
                        account_ids: Sequence[int], now: datetime) -> list[LeadContext]:
    """Fresh facts for these leads, read in four queries."""
    ids = list(account_ids)
    accounts = await connection.fetch(
        "SELECT a.id, a.reference, a.status, a.language, a.time_zone, a.balance, a.risk_score, "
        "a.debtor_name, l.attempts, l.segment, "
        "EXISTS (SELECT 1 FROM do_not_call d WHERE d.reference = a.reference) AS opted_out "
        "FROM accounts a JOIN leads l ON l.account_id = a.id AND l.campaign_id = $1 "
        "WHERE a.id = ANY ($2::bigint[])", campaign_id, ids)
    # Current phones only: a phone a re-import no longer lists is retired,
    # never dialed again. Its attempts still count below: the history is
    # read by account, whatever phone each attempt dialed.
    phones = await connection.fetch(
        "SELECT p.*, EXISTS (SELECT 1 FROM do_not_call d WHERE d.number = p.number) AS dnc "
        "FROM phones p WHERE p.account_id = ANY ($1::bigint[]) AND p.retired_at IS NULL "
        "ORDER BY p.position", ids)
    history = await connection.fetch(
        "SELECT account_id, started_at, result FROM attempts WHERE account_id = ANY ($1::bigint[]) "
        "AND started_at > $2::timestamptz - make_interval(days => $3) "
        "UNION ALL (SELECT DISTINCT ON (account_id) account_id, started_at, result FROM attempts "
        "WHERE account_id = ANY ($1::bigint[]) ORDER BY account_id, started_at DESC)",
        ids, now, HISTORY_DAYS)
    by_account: dict[int, list[asyncpg.Record]] = {}
    for phone in phones:
        by_account.setdefault(phone["account_id"], []).append(phone)
    past: dict[int, set[PastAttempt]] = {}
    for attempt in history:
        result = AttemptResult(attempt["result"]) if attempt["result"] else None
        past.setdefault(attempt["account_id"], set()).add(PastAttempt(attempt["started_at"], result))
    contexts = []
    for account in accounts:
        account_phones = by_account.get(account["id"], [])
        facts = LeadFacts(
            reference=account["reference"],
            status=AccountStatus(account["status"]),
            account_opted_out=account["opted_out"],
            account_time_zone=account["time_zone"],
            phones=tuple(Phone(p["number"], PhoneKind(p["kind"]), p["sms_capable"], p["consent"],
                               p["region"], tuple(p["time_zones"])) for p in account_phones),
            numbers_on_dnc=frozenset(p["number"] for p in account_phones if p["dnc"]),
            campaign_attempts=account["attempts"],
            history=tuple(past.get(account["id"], ())))
        contexts.append(LeadContext(account["id"], Segment(account["segment"]),
                                    Language(account["language"]), account["balance"],
                                    account["risk_score"], account["debtor_name"], facts,
                                    {p["number"]: p["id"] for p in account_phones}))
    return contexts


async def hold_leads(connection: asyncpg.Connection, campaign_id: int,
                     account_ids: Sequence[int], dialer_id: uuid.UUID) -> None:
    """Claimed leads become this dialer's, in state dialing."""
    await connection.execute(
        "UPDATE leads SET state = 'dialing', dialer_id = $3 "
        "WHERE campaign_id = $1 AND account_id = ANY ($2::bigint[])",
        campaign_id, list(account_ids), dialer_id)


async def set_aside(connection: asyncpg.Connection, campaign_id: int, account_id: int,
                    stage: str, rule: str, detail: str, until: datetime | None,
                    now: datetime) -> None:
    """A lead the gate refused: back to ready until `until`, or done for
    good; the refusal and its rule are recorded."""
    await connection.execute(
        "UPDATE leads SET state = CASE WHEN $3::timestamptz IS NULL THEN 'done' ELSE 'ready' END, "
        "next_callable_at = coalesce($3, next_callable_at), dialer_id = NULL, "
        "done_reason = CASE WHEN $3::timestamptz IS NULL THEN $4 ELSE '' END "
        "WHERE campaign_id = $1 AND account_id = $2", campaign_id, account_id, until, rule)
    await connection.execute(
        "INSERT INTO compliance_refusals (campaign_id, account_id, stage, rule, detail, at) "
        "VALUES ($1, $2, $3, $4, $5, $6)", campaign_id, account_id, stage, rule, detail, now)


async def start_attempt(connection: asyncpg.Connection, attempt_id: uuid.UUID, campaign_id: int,
                        lead: LeadContext, phone: Phone, dialer_id: uuid.UUID,
                        now: datetime) -> None:
    """The attempt exists before its call is originated: a crash after this
    leaves a trace to reconcile, never a call nobody knows of."""
    await connection.execute(
        "INSERT INTO attempts (id, campaign_id, account_id, phone_id, number, dialer_id, segment, "
        "started_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)", attempt_id, campaign_id,
        lead.account_id, lead.phone_ids[phone.number], phone.number, dialer_id,
        lead.segment.value, now)
    await connection.execute(
        "UPDATE leads SET attempts = attempts + 1 WHERE campaign_id = $1 AND account_id = $2",
        campaign_id, lead.account_id)


async def mark_answered(pool: asyncpg.Pool, attempt_id: uuid.UUID, answered_at: datetime,
                        verdict_at: datetime | None, amd_status: str) -> None:
    """The call was answered (and, with AMD, judged)."""
    await pool.execute(
        "UPDATE attempts SET answered_at = coalesce(answered_at, $2), verdict_at = $3, "
        "amd_status = $4 WHERE id = $1", attempt_id, answered_at, verdict_at, amd_status)


async def mark_connected(pool: asyncpg.Pool, attempt_id: uuid.UUID, agent: str,
                         agent_channel: str, at: datetime) -> None:
    await pool.execute("UPDATE attempts SET agent = $2, agent_channel = $3, connected_at = $4 "
                       "WHERE id = $1", attempt_id, agent, agent_channel, at)


async def opt_out(pool: asyncpg.Pool, attempt_id: uuid.UUID) -> None:
    """The debtor of this attempt asked not to be called (the opt-out key)."""
    await pool.execute(
        "INSERT INTO do_not_call (reference, reason) SELECT c.reference, 'opt_out' "
        "FROM attempts a JOIN accounts c ON c.id = a.account_id WHERE a.id = $1 "
        "ON CONFLICT DO NOTHING", attempt_id)


async def finish_attempt(connection: asyncpg.Connection, attempt_id: uuid.UUID,
                         result: AttemptResult, ended_at: datetime, answered_at: datetime | None,
                         next_callable_at: datetime, max_attempts: int) -> bool:
    """Record the attempt's one final result and free its lead; False when
    it already had one (then nothing changes)."""
    row = await connection.fetchrow(
        "UPDATE attempts SET result = $2, ended_at = $3, answered_at = coalesce(answered_at, $4) "
        "WHERE id = $1 AND result IS NULL RETURNING campaign_id, account_id",
        attempt_id, result.value, ended_at, answered_at)
    if row is None:
        return False
    if result in NO_INTERACTION:
        await connection.execute(
            "INSERT INTO no_interaction (attempt_id, account_id, number, result, at) "
            "SELECT id, account_id, number, result, ended_at FROM attempts WHERE id = $1",
            attempt_id)
    # A call the PBX never placed gives the lead its attempt back.
    uncounted = 1 if result is AttemptResult.NOT_PLACED else 0
    await connection.execute(
        "UPDATE leads SET attempts = attempts - $5, "
        "state = CASE WHEN attempts - $5 >= $3 THEN 'done' ELSE 'ready' END, "
        "done_reason = CASE WHEN attempts - $5 >= $3 THEN 'max_attempts' ELSE '' END, "
        "next_callable_at = $4, dialer_id = NULL WHERE campaign_id = $1 AND account_id = $2",
        row["campaign_id"], row["account_id"], max_attempts, next_callable_at, uncounted)
    return True


async def calls_in_flight(connection: asyncpg.Connection, campaign_id: int,
                          now: datetime) -> list[CallInFlight]:
    """Every lead of the campaign being dialed, by any dialer."""
    rows = await connection.fetch(
        "SELECT coalesce(a.started_at, $2) AS dialed_at, a.answered_at, a.connected_at "
        "FROM leads l LEFT JOIN attempts a ON a.campaign_id = l.campaign_id "
        "AND a.account_id = l.account_id AND a.ended_at IS NULL "
        "WHERE l.campaign_id = $1 AND l.state = 'dialing'", campaign_id, now)
    return [CallInFlight(r["dialed_at"], r["answered_at"], r["connected_at"]) for r in rows]


async def agent_rows(connection: asyncpg.Connection) -> list[AgentRow]:
    rows = await connection.fetch("SELECT state, state_since, wrap_up_until FROM agents")
    return [AgentRow(AgentStatus(r["state"]), r["state_since"], r["wrap_up_until"]) for r in rows]


async def contact_tallies(connection: asyncpg.Connection, campaign_id: int) -> list[HourTally]:
    """Attempts and contacts of the campaign by the debtor's local hour."""
    rows = await connection.fetch(
        "SELECT extract(hour FROM a.started_at AT TIME ZONE l.time_zone)::int AS hour, "
        "count(*) AS attempts, count(*) FILTER (WHERE a.result = 'conversation') AS contacts "
        "FROM attempts a JOIN leads l ON l.campaign_id = a.campaign_id "
        "AND l.account_id = a.account_id WHERE a.campaign_id = $1 AND a.result IS NOT NULL "
        "AND a.result <> 'not_placed' "
        "GROUP BY 1", campaign_id)
    return [HourTally(r["hour"], r["attempts"], r["contacts"]) for r in rows]


async def ready_zones(connection: asyncpg.Connection, campaign_id: int) -> list[str]:
    """The zones of the campaign's ready leads."""
    rows = await connection.fetch(
        "SELECT DISTINCT time_zone FROM leads WHERE campaign_id = $1 AND state = 'ready'",
        campaign_id)
    return [r["time_zone"] for r in rows]


# Dialer processes.

async def register_dialer(connection: asyncpg.Connection, dialer_id: uuid.UUID, campaign_id: int,
                          pid: int) -> None:
    """Record this dialer and take its session lock on connection, which the
    dialer keeps open for life: the lock is released when the process dies."""
    key = await connection.fetchval(
        "INSERT INTO dialers (id, campaign_id, pid) VALUES ($1, $2, $3) RETURNING lock_key",
        dialer_id, campaign_id, pid)
    await connection.execute("SELECT pg_advisory_lock($1)", key)


async def dead_dialers(connection: asyncpg.Connection, campaign_id: int,
                       me: uuid.UUID) -> list[uuid.UUID]:
    """Dialers of the campaign whose process is gone (their lock is free)."""
    rows = await connection.fetch(
        "SELECT id FROM dialers WHERE campaign_id = $1 AND id <> $2 "
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
        "UPDATE leads SET state = 'ready', dialer_id = NULL "
        "WHERE campaign_id = $1 AND dialer_id = ANY ($2::uuid[])", campaign_id, dead_ids)
    await connection.execute("DELETE FROM dialers WHERE id = ANY ($1::uuid[]) AND NOT EXISTS "
                             "(SELECT 1 FROM attempts WHERE dialer_id = dialers.id)", dead_ids)
    return [OrphanAttempt(r["id"], r["number"], r["started_at"], r["answered_at"], r["agent"],
                          r["agent_channel"], r["connected_at"], Language(r["language"]),
                          Segment(r["segment"]))
            for r in rows]
