"""Accounts, phones, do-not-call entries and import quarantine in
PostgreSQL. An import is one transaction: accepted rows are upserted by
reference, rejected rows go to the quarantine with their line and reason.
Phones are never deleted: one a re-import no longer lists is retired, so
the attempts made to it (and every rule computed from them) stay."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from dialer.errors import DatabaseError
from dialer.portfolio.importing import RowError
from dialer.portfolio.model import Account, DoNotCall, DoNotCallReason


@dataclass(frozen=True)
class ImportReport:
    batch_id: int
    inserted: int
    updated: int
    quarantined: int
    retired: int = 0  # phones a re-import no longer lists
    restored: int = 0  # retired phones listed again


@dataclass(frozen=True)
class ImportBatch:
    """One import: where from, when, and how many rows it took and quarantined."""

    id: int
    source: str
    at: datetime
    accepted: int
    quarantined: int


@dataclass(frozen=True)
class QuarantinedRow:
    batch_id: int
    source: str
    line: int
    reason: str
    raw: str


_STAGE_ACCOUNTS = """
CREATE TEMP TABLE import_accounts (
    reference text, debtor_name text, balance numeric, currency text, days_past_due integer,
    client_segment text, risk_score double precision, language text, time_zone text,
    status text, email text, due_date date
) ON COMMIT DROP
"""
_STAGE_PHONES = """
CREATE TEMP TABLE import_phones (
    reference text, position integer, number text, kind text, sms_capable boolean,
    consent boolean, region text, time_zones text[]
) ON COMMIT DROP
"""
# A re-import updates the account; it never brings back to life an account
# Recobro has seen paid, settled, disputed or closed.
_UPSERT_ACCOUNTS = """
WITH upserted AS (
    INSERT INTO accounts AS a (reference, debtor_name, balance, currency, days_past_due,
                               client_segment, risk_score, language, time_zone, status, email,
                               due_date)
    SELECT reference, debtor_name, balance, currency, days_past_due, client_segment,
           risk_score, language, time_zone, status, email, due_date FROM import_accounts
    ON CONFLICT (reference) DO UPDATE SET
        debtor_name = EXCLUDED.debtor_name, balance = EXCLUDED.balance,
        currency = EXCLUDED.currency, days_past_due = EXCLUDED.days_past_due,
        client_segment = EXCLUDED.client_segment, risk_score = EXCLUDED.risk_score,
        language = EXCLUDED.language, time_zone = EXCLUDED.time_zone, email = EXCLUDED.email,
        due_date = EXCLUDED.due_date,
        status = CASE WHEN a.status <> 'active' AND EXCLUDED.status = 'active'
                      THEN a.status ELSE EXCLUDED.status END,
        updated_at = now()
    RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM upserted
"""
# Phones of the accounts in the file that the file no longer lists retire
# (their positions become free).
_RETIRE_PHONES = """
UPDATE phones p SET retired_at = now()
FROM accounts a JOIN import_accounts i ON i.reference = a.reference
WHERE p.account_id = a.id AND p.retired_at IS NULL
  AND NOT EXISTS (SELECT 1 FROM import_phones ip
                  WHERE ip.reference = i.reference AND ip.number = p.number)
"""
# Current phones the file moves to another position step aside (negative
# positions), so that no position is held twice while the phones are
# upserted: current positions are unique (phones_current_position).
_MOVE_ASIDE = """
UPDATE phones p SET position = -p.position
FROM accounts a JOIN import_phones ip ON ip.reference = a.reference
WHERE p.account_id = a.id AND p.number = ip.number AND p.retired_at IS NULL
  AND p.position <> ip.position
"""
# A number the account already had keeps its row (and its attempts), and
# is current again if it had been retired; a row is written only when
# something changed, so re-importing the same file rewrites no phone.
_UPSERT_PHONES = """
WITH upserted AS (
    INSERT INTO phones AS p (account_id, position, number, kind, sms_capable, consent, region,
                             time_zones)
    SELECT a.id, ip.position, ip.number, ip.kind, ip.sms_capable, ip.consent, ip.region,
           ip.time_zones
    FROM import_phones ip JOIN accounts a ON a.reference = ip.reference
    ON CONFLICT (account_id, number) DO UPDATE SET
        position = EXCLUDED.position, kind = EXCLUDED.kind,
        sms_capable = EXCLUDED.sms_capable, consent = EXCLUDED.consent,
        region = EXCLUDED.region, time_zones = EXCLUDED.time_zones, retired_at = NULL
    WHERE (p.position, p.kind, p.sms_capable, p.consent, p.region, p.time_zones, p.retired_at)
          IS DISTINCT FROM (EXCLUDED.position, EXCLUDED.kind, EXCLUDED.sms_capable,
                            EXCLUDED.consent, EXCLUDED.region, EXCLUDED.time_zones, NULL)
    -- xmax = 0: inserted (as for accounts). The subquery reads an updated
    -- row as it was before this statement.
    RETURNING CASE WHEN p.xmax = 0 THEN false ELSE
        (SELECT q.retired_at IS NOT NULL FROM phones q WHERE q.id = p.id) END AS restored
)
SELECT count(*) FILTER (WHERE restored) FROM upserted
"""


def _account_record(account: Account) -> tuple:
    return (account.reference, account.debtor_name, account.balance, account.currency,
            account.days_past_due, account.client_segment, account.risk_score,
            account.language.value, account.time_zone, account.status.value, account.email,
            account.due_date)


def _phone_records(account: Account) -> list[tuple]:
    return [(account.reference, position, phone.number, phone.kind.value, phone.sms_capable,
             phone.consent, phone.region, list(phone.time_zones))
            for position, phone in enumerate(account.phones, start=1)]


class AccountStore:
    """Accounts and what comes with them."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def import_accounts(self, source: str, accounts: Sequence[Account],
                              rejected: Sequence[RowError], raw_lines: dict[int, str]) -> ImportReport:
        """Upsert accounts and their phones (retiring the phones an account
        no longer lists) and quarantine rejected rows, all or nothing."""
        try:
            async with self.pool.acquire() as connection, connection.transaction():
                batch_id = await connection.fetchval(
                    "INSERT INTO import_batches (source, accepted, quarantined) "
                    "VALUES ($1, $2, $3) RETURNING id", source, len(accounts), len(rejected))
                await connection.execute(_STAGE_ACCOUNTS)
                await connection.execute(_STAGE_PHONES)
                await connection.copy_records_to_table(
                    "import_accounts", records=[_account_record(a) for a in accounts])
                await connection.copy_records_to_table(
                    "import_phones", records=[r for a in accounts for r in _phone_records(a)])
                # Temporary tables get no statistics by themselves; the
                # joins below want them.
                await connection.execute("ANALYZE import_accounts, import_phones")
                inserted, updated = await connection.fetchrow(_UPSERT_ACCOUNTS)
                retired = int((await connection.execute(_RETIRE_PHONES)).split()[-1])
                await connection.execute(_MOVE_ASIDE)
                restored = await connection.fetchval(_UPSERT_PHONES)
                await connection.copy_records_to_table(
                    "import_quarantine", columns=["batch_id", "line", "reason", "raw"],
                    records=[(batch_id, e.line, e.reason, raw_lines.get(e.line, ""))
                             for e in rejected])
        except (asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            # The parser checks every value the schema would refuse, so this
            # is a bug or a schema it does not know: say so, without a trace.
            first = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise DatabaseError(f"PostgreSQL refused the import of {source}, so nothing was "
                                f"imported ({type(error).__name__}: {first})") from None
        return ImportReport(batch_id, inserted, updated, len(rejected), retired, restored)

    async def quarantine(self, batch_id: int | None = None) -> list[QuarantinedRow]:
        """Rejected rows, of one batch or of every batch, oldest first."""
        rows = await self.pool.fetch(
            "SELECT q.batch_id, b.source, q.line, q.reason, q.raw FROM import_quarantine q "
            "JOIN import_batches b ON b.id = q.batch_id "
            "WHERE $1::bigint IS NULL OR q.batch_id = $1 ORDER BY q.batch_id, q.line", batch_id)
        return [QuarantinedRow(*row) for row in rows]

    async def batch(self, batch_id: int) -> ImportBatch | None:
        """One import batch, or None."""
        row = await self.pool.fetchrow("SELECT id, source, at, accepted, quarantined "
                                       "FROM import_batches WHERE id = $1", batch_id)
        return None if row is None else ImportBatch(*row)

    async def add_do_not_call(self, entry: DoNotCall, at: datetime | None = None) -> int | None:
        """Put a number, or a whole account (by reference), on the list: the
        new entry's id, None when it was there already."""
        return await add_do_not_call(self.pool, entry, at)

    async def set_status(self, reference: str, status: str) -> bool:
        """Change an account's status (a payment arrives: 'paid'); whether
        the account exists."""
        result = await self.pool.execute(
            "UPDATE accounts SET status = $2, updated_at = now() WHERE reference = $1",
            reference, status)
        return result != "UPDATE 0"


async def add_do_not_call(connection: asyncpg.Pool | asyncpg.Connection, entry: DoNotCall,
                          at: datetime | None = None) -> int | None:
    """The one way onto the do-not-call list (an operator's entry, the
    opt-out key, an agent's disposition): an entry already there is kept
    as it was, with its first reason and time. The new entry's id, or
    None when there was one already."""
    conflict = "(number) WHERE number IS NOT NULL" if entry.number else \
        "(reference) WHERE reference IS NOT NULL"
    return await connection.fetchval(
        f"INSERT INTO do_not_call (number, reference, reason, added_at) "
        f"VALUES ($1, $2, $3, coalesce($4, now())) ON CONFLICT {conflict} DO NOTHING "
        f"RETURNING id", entry.number, entry.reference, entry.reason.value, at)


@dataclass(frozen=True)
class DoNotCallEntry:
    """An entry on the do-not-call list as stored."""

    id: int
    entry: DoNotCall
    added_at: datetime


def _entry(row: asyncpg.Record) -> DoNotCallEntry:
    return DoNotCallEntry(row["id"], DoNotCall(DoNotCallReason(row["reason"]), row["number"],
                                               row["reference"]), row["added_at"])


async def do_not_call_page(pool: asyncpg.Pool, reason: DoNotCallReason | None,
                           after: int | None, limit: int) -> list[DoNotCallEntry]:
    """Entries by id (of one reason, or all), the first limit after the id `after`."""
    rows = await pool.fetch(
        "SELECT id, number, reference, reason, added_at FROM do_not_call "
        "WHERE ($1::text IS NULL OR reason = $1) AND ($2::bigint IS NULL OR id > $2) "
        "ORDER BY id LIMIT $3", None if reason is None else reason.value, after, limit)
    return [_entry(r) for r in rows]


async def do_not_call_of(pool: asyncpg.Pool, entry: DoNotCall) -> DoNotCallEntry:
    """The stored entry for entry's number or account (it is on the list)."""
    row = await pool.fetchrow(
        "SELECT id, number, reference, reason, added_at FROM do_not_call "
        "WHERE number = $1 OR reference = $2", entry.number, entry.reference)
    return _entry(row)


async def remove_do_not_call(pool: asyncpg.Pool, entry_id: int) -> DoNotCallEntry | None:
    """Take an entry off the list (an administrator's correction); the
    entry removed, or None when there is no such entry."""
    row = await pool.fetchrow(
        "DELETE FROM do_not_call WHERE id = $1 "
        "RETURNING id, number, reference, reason, added_at", entry_id)
    return None if row is None else _entry(row)


async def number_on_do_not_call(connection: asyncpg.Pool | asyncpg.Connection,
                                number: str) -> bool:
    """Whether the number itself (not an account) is on the do-not-call list."""
    return await connection.fetchval(
        "SELECT EXISTS (SELECT 1 FROM do_not_call WHERE number = $1)", number)
