"""Opening the asyncpg pool, with errors that name DATABASE_URL; and
PostgreSQL's refusals (a constraint, a value it cannot store) in words."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import psycopg

from dialer.errors import DatabaseError
from dialer.settings import check_database_url, load_database_url
from dialer.store.migrate import (
    MIGRATION_TABLE,
    SchemaGap,
    describe,
    gap_in_words,
    schema_gap,
)

CONNECT_TIMEOUT_S = 5.0

# What a command may still send PostgreSQL that it refuses: a constraint
# (class 23), a value it cannot store (class 22: a NUL, a number too big),
# and what asyncpg refuses before sending (an integer out of int32 range).
REFUSALS: tuple[type[Exception], ...] = (
    asyncpg.IntegrityConstraintViolationError, asyncpg.DataError,
    asyncpg.exceptions._base.DataError, psycopg.IntegrityError, psycopg.DataError)

# The constraints a command can break, said as the fix. The campaign's are
# checked (with these ranges) before PostgreSQL sees them; these words are
# for whatever still gets through.
CONSTRAINT_WORDS = {
    "campaigns_name_key": "a campaign with this name already exists",
    "campaigns_abandon_target_check": "--abandon-target must be above 0 and below 1",
    "campaigns_dial_ratio_check": "--ratio must be 1 or more",
    "campaigns_ring_timeout_s_check": "--ring-timeout must be from 5 to 120 seconds",
    "campaigns_wrap_up_s_check": "--wrap-up must be 0 seconds or more",
    "campaigns_check": "--early-max-dpd must be above 0 and below --mid-max-dpd",
    "campaigns_machine_action_check": "--machine-action must be hang_up or leave_message",
    "strategies_max_attempts_check": "a strategy's max_attempts must be 1 or more",
    "agent_skills_level_check": "a skill's level must be from 1 to 5",
    "agent_skills_endpoint_fkey": "there is no agent with that endpoint",
    "accounts_reference_key": "an account with this reference already exists",
    "accounts_balance_check": "an account's balance must be 0 or more",
    "accounts_days_past_due_check": "an account's days_past_due must be 0 or more",
    "accounts_risk_score_check": "an account's risk_score must be from 0 to 1",
    "accounts_language_check": "an account's language must be es or en",
    "accounts_status_check": "an account's status must be active, paid, settled, disputed "
                             "or closed",
    "do_not_call_reason_check": "a do-not-call reason must be dnc or opt_out",
    "dispositions_code_fkey": "there is no such disposition code",
    "dispositions_attempt_id_fkey": "there is no such attempt",
}

# SQLSTATE of a value PostgreSQL cannot store, said as what is wrong.
DATA_WORDS = {
    "22021": "a text holds a NUL or a byte that is not UTF-8, which PostgreSQL cannot store",
    "22P05": "a text holds a character PostgreSQL cannot store",
    "22003": "a number is too large for the database",
    "22001": "a text is too long for the database",
    "22P02": "a value is not in the form the database expects",
    "22007": "a date or time is not in the form the database expects",
    "22008": "a date or time is out of range",
}


def refusal_in_words(error: Exception) -> str:
    """One line saying what PostgreSQL (or asyncpg, before it) refused,
    without the raw constraint text or any value (a value may be a
    debtor's data or a secret)."""
    constraint = getattr(error, "constraint_name", None) or getattr(
        getattr(error, "diag", None), "constraint_name", None)
    table = getattr(error, "table_name", None) or getattr(
        getattr(error, "diag", None), "table_name", None)
    sqlstate = getattr(error, "sqlstate", None)
    if constraint in CONSTRAINT_WORDS:
        return f"the database refused it: {CONSTRAINT_WORDS[constraint]}"
    where = f" in {table}" if table else ""
    if sqlstate == "23505":
        return f"the database refused it: a row{where} with the same key already exists"
    if sqlstate == "23503":
        return f"the database refused it: a row{where} refers to one that does not exist"
    if sqlstate == "23502":
        return f"the database refused it: a required value{where} is missing"
    if sqlstate is not None and sqlstate.startswith("23"):
        return f"the database refused it: a value{where} is outside what is allowed"
    if sqlstate in DATA_WORDS:
        return f"the database refused it: {DATA_WORDS[sqlstate]}"
    if isinstance(error, asyncpg.exceptions._base.DataError):
        # asyncpg's own check of a query argument (an integer past int32).
        return "the database refused it: a number is too large for the database"
    return "the database refused it: a value it cannot store"


async def _keep_session(connection: asyncpg.Connection) -> None:
    """A pool's reset that adds nothing to asyncpg's own (which still rolls
    back a transaction left open): no round trip on every release."""


async def open_pool(database_url: str, max_size: int = 10,
                    query_timeout_s: float | None = None,
                    session_reset: bool = True) -> asyncpg.Pool:
    """A connection pool on DATABASE_URL, whose database has had every
    migration this code has and none it does not (else a DatabaseError
    naming them and the fix). With query_timeout_s, a query unanswered that
    long raises TimeoutError (one of outage.CONNECTION_LOST): a dialer's
    PostgreSQL behind a silent network is then an outage, not a hang.
    session_reset=False: a connection given back keeps its session (advisory
    locks, LISTEN, settings), for pools whose users keep none there (the
    call engine's, whose every event and attempt takes a connection:
    asyncpg's default reset cost one more round trip each time)."""
    check_database_url(database_url)
    where = describe(database_url)
    try:
        pool = await asyncpg.create_pool(database_url, min_size=1, max_size=max_size,
                                         timeout=CONNECT_TIMEOUT_S,
                                         command_timeout=query_timeout_s,
                                         reset=None if session_reset else _keep_session)
    except (TimeoutError, OSError) as error:
        raise DatabaseError(f"cannot reach PostgreSQL at {where} (DATABASE_URL): "
                            f"{error or 'timed out'}; is it running? (`recobro lab up`)") from None
    except asyncpg.PostgresError as error:
        raise DatabaseError(f"PostgreSQL at {where} refused the connection (DATABASE_URL): "
                            f"{error}") from None
    except (asyncpg.InterfaceError, ValueError) as error:
        # A parameter asyncpg cannot use (sslmode=maybe, say); its message
        # names the parameter, never the password.
        raise DatabaseError(f"DATABASE_URL for {where} is not usable: {error}") from None
    try:
        gap = await migration_gap(pool)
    except asyncpg.InsufficientPrivilegeError:
        # A role granted only Recobro's own tables cannot read yoyo's.
        await pool.close()
        raise DatabaseError(f"the database at {where} does not let this user read "
                            f"{MIGRATION_TABLE}, where the applied migrations are listed: "
                            f"GRANT SELECT ON {MIGRATION_TABLE} to the DATABASE_URL user") from None
    if gap:
        await pool.close()
        raise DatabaseError(gap_in_words(gap, where))
    return pool


async def migration_gap(pool: asyncpg.Pool) -> SchemaGap:
    """Which of this code's migrations the database lacks, and which it has
    that this code does not know, from yoyo's bookkeeping table (one query
    on the open pool: yoyo's own check would open a second, psycopg,
    connection at every command's start)."""
    try:
        rows = await pool.fetch(f'SELECT migration_hash, migration_id FROM "{MIGRATION_TABLE}"')
    except asyncpg.UndefinedTableError:
        rows = []  # never migrated
    return schema_gap((row["migration_hash"], row["migration_id"]) for row in rows)


@asynccontextmanager
async def configured_database() -> AsyncIterator[asyncpg.Pool]:
    """A pool on the configured database (DATABASE_URL) for one command,
    closed after it."""
    pool = await open_pool(load_database_url())
    try:
        yield pool
    finally:
        await pool.close()
