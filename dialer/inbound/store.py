"""Inbound calls in PostgreSQL: finding the caller's account, and the
inbound_calls rows (how the debtor was identified, who took the call)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from dialer.store.calls import storage_id


@dataclass(frozen=True)
class Caller:
    """The account a caller was identified as."""

    account_id: int
    language: str
    balance: str
    risk_score: float
    reference: str
    debtor_name: str


_ACCOUNT = ("SELECT a.id, a.language, a.balance::text AS balance, a.risk_score, a.reference, "
            "a.debtor_name FROM accounts a ")


async def by_phone(pool: asyncpg.Pool, number: str) -> Caller | None:
    """The account with this phone as a current phone, if exactly one has
    it. A retired phone identifies no one: the creditor stopped listing it,
    often because it is no longer the debtor's, and identifying a caller
    tells them the debt (screen pop, self-service balance). A caller on a
    retired number can still key the account number."""
    rows = await pool.fetch(_ACCOUNT + "JOIN phones p ON p.account_id = a.id "
                            "WHERE p.number = $1 AND p.retired_at IS NULL LIMIT 2", number)
    return Caller(*rows[0]) if len(rows) == 1 else None


async def by_reference(pool: asyncpg.Pool, reference: str) -> Caller | None:
    row = await pool.fetchrow(_ACCOUNT + "WHERE a.reference = $1", reference)
    return None if row is None else Caller(*row)


async def by_attempt(pool: asyncpg.Pool, attempt_id: uuid.UUID) -> Caller | None:
    """The account an outbound attempt called (None: no such attempt)."""
    row = await pool.fetchrow(_ACCOUNT + "JOIN attempts t ON t.account_id = a.id "
                              "WHERE t.id = $1", attempt_id)
    return None if row is None else Caller(*row)


async def arrived(pool: asyncpg.Pool, inbound_id: uuid.UUID, channel: str, caller: str,
                  account_id: int | None, identified_by: str, at: datetime,
                  from_attempt: uuid.UUID | None = None) -> None:
    """An inbound call taken on channel (its ARI id; the calls table keeps
    it as storage_id(channel)); from_attempt: the outbound attempt an
    agent sent to the inbound queue, whose channel it is."""
    await pool.execute(
        "INSERT INTO inbound_calls (id, call_id, channel, caller, account_id, identified_by, "
        "arrived_at, from_attempt) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)", inbound_id,
        storage_id(channel), channel, caller, account_id, identified_by, at, from_attempt)


async def connected(pool: asyncpg.Pool, inbound_id: uuid.UUID, agent: str, at: datetime) -> None:
    await pool.execute("UPDATE inbound_calls SET agent = $2, connected_at = $3 WHERE id = $1",
                       inbound_id, agent, at)


async def hand_over(pool: asyncpg.Pool, inbound_id: uuid.UUID, agent: str,
                    agent_channel: str) -> None:
    """A transfer handed the call to agent: the call is agent's from now
    on (an inbound call keeps no agent's channel)."""
    await pool.execute("UPDATE inbound_calls SET agent = $2 WHERE id = $1", inbound_id, agent)


async def ended(pool: asyncpg.Pool, inbound_id: uuid.UUID, at: datetime) -> None:
    await pool.execute("UPDATE inbound_calls SET ended_at = $2 WHERE id = $1", inbound_id, at)


async def callback_requested(pool: asyncpg.Pool, inbound_id: uuid.UUID, at: datetime) -> None:
    """The waiting caller chose a call back (the caller's number)."""
    await pool.execute(
        "INSERT INTO callbacks (inbound_id, account_id, number, requested_at) "
        "SELECT id, account_id, caller, $2 FROM inbound_calls WHERE id = $1", inbound_id, at)


async def promise(pool: asyncpg.Pool, inbound_id: uuid.UUID, account_id: int, days: int,
                  at: datetime) -> None:
    """A promise to pay the whole balance within days, made in the IVR."""
    await pool.execute(
        "INSERT INTO promises (account_id, inbound_id, amount, due_by, source, at) "
        "SELECT id, $2, balance, ($4::timestamptz + make_interval(days => $3))::date, 'ivr', $4 "
        "FROM accounts WHERE id = $1", account_id, inbound_id, days, at)
