"""The hopper: a campaign's leads in PostgreSQL. Ready leads are claimed
best first with FOR UPDATE SKIP LOCKED (several dialers share a campaign),
read with what the compliance gate needs to know of them, and moved only
through dialer.outbound.lifecycles' lead transitions. Each function runs
on a connection the caller holds (inside its transaction)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import asyncpg

from dialer.calls.outcome import AttemptResult
from dialer.compliance.gate import LeadFacts, PastAttempt
from dialer.outbound.lifecycles import LeadAction, LeadState, after_refusal, lead_after
from dialer.portfolio.model import AccountStatus, Language, Phone, PhoneKind, Segment

# Older attempts change no rule (Reg F looks back 7 days, retry delays and
# the 72-hour rule less), except the last one's retry delay, kept apart.
HISTORY_DAYS = 30

# dialer.outbound.plan.claim_order is this query's specification (a store
# test holds them together). Per open zone, the best ready leads by index;
# then the best of those by value at the zone's local hour. State 'ready' is
# written out: the leads_hopper index is partial on it. SKIP LOCKED: leads
# another dialer is claiming are passed over, never waited for or taken twice.
# A language ($7, NULL: any) keeps the debtors who speak it: a pool's claim.
_CLAIM = """
WITH zones AS (SELECT * FROM unnest($2::text[], $3::float8[]) AS z (zone, contact_rate))
SELECT l.account_id, l.segment
FROM zones z CROSS JOIN LATERAL (
    SELECT account_id, segment, priority, value FROM leads
    WHERE campaign_id = $1 AND state = 'ready' AND time_zone = z.zone
      AND next_callable_at <= $5 AND segment = ANY ($4::text[])
      AND ($7::text IS NULL OR EXISTS (SELECT 1 FROM accounts c
                                       WHERE c.id = leads.account_id AND c.language = $7))
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
                now: datetime, language: str | None = None) -> list[ClaimedLead]:
    """Lock up to limit ready leads, best first (they stay locked until the
    caller's transaction ends); with a language, only its debtors'."""
    if limit <= 0 or not zones or not segments:
        return []
    rows = await connection.fetch(_CLAIM, campaign_id, list(zones), list(contact_rates),
                                  [s.value for s in segments], now, limit, language)
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


async def accounts_with_number(connection: asyncpg.Connection, campaign_id: int,
                               number: str) -> list[int]:
    """The accounts of the campaign's leads with number (E.164) among their
    current phones, whatever the leads' states."""
    rows = await connection.fetch(
        "SELECT DISTINCT l.account_id FROM leads l JOIN phones p ON p.account_id = l.account_id "
        "WHERE l.campaign_id = $1 AND p.number = $2 AND p.retired_at IS NULL "
        "ORDER BY l.account_id", campaign_id, number)
    return [r["account_id"] for r in rows]


async def hold_leads(connection: asyncpg.Connection, campaign_id: int,
                     account_ids: Sequence[int], dialer_id: uuid.UUID) -> None:
    """Claimed leads become this dialer's, in state dialing."""
    await connection.execute(
        "UPDATE leads SET state = $4, dialer_id = $3 "
        "WHERE campaign_id = $1 AND account_id = ANY ($2::bigint[]) AND state = $5",
        campaign_id, list(account_ids), dialer_id,
        lead_after(LeadState.READY, LeadAction.CLAIM).value, LeadState.READY.value)


async def set_aside(connection: asyncpg.Connection, campaign_id: int, account_id: int,
                    stage: str, rule: str, detail: str, until: datetime | None,
                    now: datetime) -> None:
    """A lead the gate refused: back to ready until `until`, or done for
    good; the refusal and its rule are recorded."""
    action = after_refusal(until)
    await connection.execute(
        "UPDATE leads SET state = $5, next_callable_at = coalesce($3, next_callable_at), "
        "dialer_id = NULL, done_reason = $4 WHERE campaign_id = $1 AND account_id = $2",
        campaign_id, account_id, until, rule if action is LeadAction.RETIRE else "",
        lead_after(LeadState.DIALING, action).value)
    await connection.execute(
        "INSERT INTO compliance_refusals (campaign_id, account_id, stage, rule, detail, at) "
        "VALUES ($1, $2, $3, $4, $5, $6)", campaign_id, account_id, stage, rule, detail, now)


async def due_zones(connection: asyncpg.Connection, campaign_id: int,
                    segments: Sequence[Segment], now: datetime) -> list[str]:
    """The zones of the campaign's ready leads of segments that are due now
    (their retry delay over)."""
    rows = await connection.fetch(
        "SELECT DISTINCT time_zone FROM leads WHERE campaign_id = $1 AND state = 'ready' "
        "AND next_callable_at <= $3 AND segment = ANY ($2::text[])",
        campaign_id, [s.value for s in segments], now)
    return [r["time_zone"] for r in rows]


async def ready_zones(connection: asyncpg.Connection, campaign_id: int) -> list[str]:
    """The zones of the campaign's ready leads."""
    rows = await connection.fetch(
        "SELECT DISTINCT time_zone FROM leads WHERE campaign_id = $1 AND state = 'ready'",
        campaign_id)
    return [r["time_zone"] for r in rows]
