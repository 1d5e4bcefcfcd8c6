"""Attempts in PostgreSQL, from the moment before a call is originated to
its one final result (dialer.outbound.lifecycles.AttemptStage), and what
an ended attempt does to its lead (dialer.outbound.lifecycles)."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from dialer.calls.outcome import AttemptResult
from dialer.outbound.leads import LeadContext
from dialer.outbound.lifecycles import LeadState, after_attempt, lead_after
from dialer.portfolio.model import DoNotCall, DoNotCallReason, Phone
from dialer.portfolio.store import add_do_not_call

_NO_INTERACTION = frozenset({AttemptResult.MACHINE, AttemptResult.ABANDONED,
                             AttemptResult.HUNG_UP})


def reached_no_one(result: AttemptResult, keyed: bool) -> bool:
    """Whether an ended attempt reached no one to talk to, so the
    follow-up's outbox (no_interaction) gets it: a machine, an abandon, a
    hang-up before an agent, or a self-service call hung up without a key.
    Not a self-service call that keyed and did not prove the account: it
    may have reached a wrong party, whom a message about the debt must not
    reach either."""
    return result in _NO_INTERACTION or (result is AttemptResult.UNVERIFIED and not keyed)


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


async def hand_over(pool: asyncpg.Pool, attempt_id: uuid.UUID, agent: str,
                    agent_channel: str) -> None:
    """A transfer handed the call to agent (its channel: agent_channel): the
    attempt is agent's from now on (its disposition, its result's agent);
    connected_at stays when the debtor first reached an agent."""
    await pool.execute("UPDATE attempts SET agent = $2, agent_channel = $3 WHERE id = $1",
                       attempt_id, agent, agent_channel)


async def opt_out(pool: asyncpg.Pool, attempt_id: uuid.UUID) -> None:
    """The debtor of this attempt asked not to be called (the opt-out key):
    the whole account goes on the do-not-call list."""
    reference = await pool.fetchval(
        "SELECT c.reference FROM attempts a JOIN accounts c ON c.id = a.account_id "
        "WHERE a.id = $1", attempt_id)
    if reference is not None:
        await add_do_not_call(pool, DoNotCall(DoNotCallReason.OPT_OUT, reference=reference))


async def finish_attempt(connection: asyncpg.Connection, attempt_id: uuid.UUID,
                         result: AttemptResult, ended_at: datetime, answered_at: datetime | None,
                         next_callable_at: datetime, max_attempts: int, *,
                         keyed: bool = False) -> bool:
    """Record the attempt's one final result and free its lead; False when
    it already had one (then nothing changes). keyed: the debtor pressed a
    key on the call (reached_no_one)."""
    # The lead's count is stable here: only the dialer holding it changes it.
    row = await connection.fetchrow(
        "UPDATE attempts t SET result = $2, ended_at = $3, "
        "answered_at = coalesce(answered_at, $4) WHERE id = $1 AND result IS NULL "
        "RETURNING campaign_id, account_id, (SELECT l.attempts FROM leads l "
        "WHERE l.campaign_id = t.campaign_id AND l.account_id = t.account_id) AS attempts",
        attempt_id, result.value, ended_at, answered_at)
    if row is None:
        return False
    if reached_no_one(result, keyed):
        await connection.execute(
            "INSERT INTO no_interaction (attempt_id, account_id, number, result, at) "
            "SELECT id, account_id, number, result, ended_at FROM attempts WHERE id = $1",
            attempt_id)
    # A call the PBX never placed gives the lead its attempt back.
    made = row["attempts"] - (1 if result is AttemptResult.NOT_PLACED else 0)
    action, done_reason = after_attempt(made, max_attempts)
    await connection.execute(
        "UPDATE leads SET attempts = $3, state = $4, done_reason = $5, next_callable_at = $6, "
        "dialer_id = NULL WHERE campaign_id = $1 AND account_id = $2",
        row["campaign_id"], row["account_id"], made,
        lead_after(LeadState.DIALING, action).value, done_reason, next_callable_at)
    return True
