"""What the operations API shows of accounts (issue 17): a page of them,
searched by reference, name or number, and one account's 360 view, its
phones, attempts, dispositions, promises, payments (a card's brand and
last four at most: no column here holds more) in PostgreSQL. The
account's messages are the messages' own (dialer.messages.store)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from uuid import UUID

import asyncpg

from dialer.portfolio.model import AccountStatus

# The latest rows of each kind a 360 view shows (an account with more is
# an outlier: the strategy report and the database hold the rest).
VIEW_ROWS = 100


@dataclass(frozen=True)
class AccountSummary:
    """An account as a list shows it."""

    id: int
    reference: str
    debtor_name: str
    balance: Decimal
    currency: str
    days_past_due: int
    status: AccountStatus
    client_segment: str


@dataclass(frozen=True)
class PhoneLine:
    position: int
    number: str
    kind: str
    sms_capable: bool
    consent: bool
    retired_at: datetime | None
    do_not_call: bool  # the number itself is on the list


@dataclass(frozen=True)
class AttemptLine:
    """A call made to the account."""

    id: UUID
    campaign: str
    number: str
    dial_mode: str
    started_at: datetime
    answered_at: datetime | None
    connected_at: datetime | None
    ended_at: datetime | None
    result: str | None  # None: in flight
    agent: str | None


@dataclass(frozen=True)
class DispositionLine:
    id: int
    attempt: UUID
    code: str
    agent: str
    note: str
    at: datetime
    corrects: int | None  # the disposition this one corrects


@dataclass(frozen=True)
class PromiseLine:
    amount: Decimal
    due_by: date
    source: str  # ivr or agent
    at: datetime


@dataclass(frozen=True)
class PaymentLine:
    """How one card capture ended: never more of the card than its brand
    and last four."""

    outcome: str
    option: str | None
    amount: Decimal | None
    currency: str | None
    brand: str | None
    last4: str | None
    gateway_reference: str | None
    promise_date: date | None
    recorded_at: datetime


@dataclass(frozen=True)
class AccountView:
    """One account and what happened to it, the latest first."""

    account: AccountSummary
    risk_score: float
    language: str
    time_zone: str
    email: str | None
    due_date: date | None
    on_do_not_call: str | None  # the whole account's entry's reason, if any
    phones: tuple[PhoneLine, ...]
    attempts: tuple[AttemptLine, ...]
    dispositions: tuple[DispositionLine, ...]
    promises: tuple[PromiseLine, ...]
    payments: tuple[PaymentLine, ...]


_SUMMARY = ("a.id, a.reference, a.debtor_name, a.balance, a.currency, a.days_past_due, "
            "a.status, a.client_segment")


def _summary(row: asyncpg.Record) -> AccountSummary:
    return AccountSummary(row["id"], row["reference"], row["debtor_name"], row["balance"],
                          row["currency"], row["days_past_due"], AccountStatus(row["status"]),
                          row["client_segment"])


def _like(text: str) -> str:
    """text as a LIKE pattern matching itself (its wildcards escaped)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def account_page(pool: asyncpg.Pool, search: str | None, status: AccountStatus | None,
                       after: int | None, limit: int) -> list[AccountSummary]:
    """Accounts by id, the first limit after the id `after`; search: a
    reference's start, a part of the debtor's name (any case), or a part of
    one of its numbers."""
    pattern = None if search is None else _like(search)
    rows = await pool.fetch(
        f"SELECT {_SUMMARY} FROM accounts a WHERE ($1::bigint IS NULL OR a.id > $1) "
        "AND ($2::text IS NULL OR a.status = $2) AND ($3::text IS NULL "
        "OR a.reference LIKE $3 || '%' OR a.debtor_name ILIKE '%' || $3 || '%' "
        "OR EXISTS (SELECT 1 FROM phones p WHERE p.account_id = a.id "
        "AND p.number LIKE '%' || $3 || '%')) ORDER BY a.id LIMIT $4",
        after, None if status is None else status.value, pattern, limit)
    return [_summary(r) for r in rows]


async def account_view(pool: asyncpg.Pool, reference: str) -> AccountView | None:
    """The account's 360 view (the latest VIEW_ROWS of each kind), or None."""
    async with pool.acquire() as connection, connection.transaction(isolation="repeatable_read",
                                                                    readonly=True):
        row = await connection.fetchrow(
            f"SELECT {_SUMMARY}, a.risk_score, a.language, a.time_zone, a.email, a.due_date, "
            "(SELECT d.reason FROM do_not_call d WHERE d.reference = a.reference) AS dnc "
            "FROM accounts a WHERE a.reference = $1", reference)
        if row is None:
            return None
        account = row["id"]
        phones = await connection.fetch(
            "SELECT p.position, p.number, p.kind, p.sms_capable, p.consent, p.retired_at, "
            "EXISTS (SELECT 1 FROM do_not_call d WHERE d.number = p.number) AS dnc "
            "FROM phones p WHERE p.account_id = $1 "
            "ORDER BY p.retired_at IS NOT NULL, p.position", account)
        attempts = await connection.fetch(
            "SELECT t.id, c.name, t.number, t.dial_mode, t.started_at, t.answered_at, "
            "t.connected_at, t.ended_at, t.result, t.agent FROM attempts t "
            "JOIN campaigns c ON c.id = t.campaign_id WHERE t.account_id = $1 "
            "ORDER BY t.started_at DESC LIMIT $2", account, VIEW_ROWS)
        dispositions = await connection.fetch(
            "SELECT d.id, d.attempt_id, d.code, d.agent, d.note, d.at, d.corrects "
            "FROM dispositions d JOIN attempts t ON t.id = d.attempt_id "
            "WHERE t.account_id = $1 ORDER BY d.at DESC, d.id DESC LIMIT $2", account, VIEW_ROWS)
        promises = await connection.fetch(
            "SELECT amount, due_by, source, at FROM promises WHERE account_id = $1 "
            "ORDER BY at DESC LIMIT $2", account, VIEW_ROWS)
        payments = await connection.fetch(
            "SELECT outcome, option, amount, currency, brand, last4, gateway_reference, "
            "promise_date, recorded_at FROM payment_captures WHERE account_id = $1 "
            "ORDER BY recorded_at DESC LIMIT $2", account, VIEW_ROWS)
    return AccountView(
        _summary(row), row["risk_score"], row["language"], row["time_zone"], row["email"],
        row["due_date"], row["dnc"],
        tuple(PhoneLine(*p) for p in phones), tuple(AttemptLine(*t) for t in attempts),
        tuple(DispositionLine(*d) for d in dispositions),
        tuple(PromiseLine(*p) for p in promises), tuple(PaymentLine(*p) for p in payments))
