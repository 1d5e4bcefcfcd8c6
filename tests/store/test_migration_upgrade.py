"""Upgrading a database (issue 13), against the real PostgreSQL: one built
by yoyo at the baseline (0001 and 0002) and holding a campaign's history,
then brought to the head by `apply_migrations`, has the schema a fresh
install has (tables, columns, constraints with their CHECK and FK
definitions, indexes, sequences, functions, triggers), and its rows
survive. The freshness check (`open_pool`) refuses it before the upgrade,
naming the missing migrations, and opens it after."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from yoyo import get_backend, read_migrations
from yoyo.migrations import get_migration_hash

from dialer.errors import DatabaseError
from dialer.settings import Settings
from dialer.store.database import open_pool
from dialer.store.migrate import MIGRATION_TABLE, MIGRATIONS, apply_migrations, describe

pytestmark = pytest.mark.lab

BASELINE = ("0001.calls", "0002.campaigns")
IDS = [m.id for m in read_migrations(str(MIGRATIONS))]

# yoyo's own tables: bookkeeping, not Recobro's schema.
YOYO_TABLES = ("_yoyo_migration", "_yoyo_log", "_yoyo_version", "yoyo_lock")


@contextmanager
def new_database(settings: Settings) -> Iterator[str]:
    """An empty database in the lab's PostgreSQL, dropped afterwards."""
    admin = settings.database_url.rsplit("/", 1)[0] + "/postgres"
    name = f"recobro_t_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    try:
        yield settings.database_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f"DROP DATABASE {name} WITH (FORCE)")


def migrate_to(url: str, ids: tuple[str, ...]) -> None:
    """Apply only these migrations, with yoyo, as an older Recobro did."""
    backend = get_backend("postgresql+psycopg://" + url.partition("://")[2])
    try:
        wanted = read_migrations(str(MIGRATIONS)).filter(lambda m: m.id in ids)
        with backend.lock():
            backend.apply_migrations(backend.to_apply(wanted))
    finally:
        backend.connection.close()


# A campaign's history, in the baseline's columns: an account with two
# phones, a campaign and its strategy, the account's lead, a dialer, an
# attempt that reached the debtor with its call, call events and the
# agent's disposition, a do-not-call entry and a refusal of the gate.
HISTORY = """
INSERT INTO accounts (id, reference, debtor_name, balance, currency, days_past_due,
                      risk_score, language, time_zone)
    VALUES (1, 'A1', 'Ana', 120.50, 'USD', 40, 0.3, 'es', 'America/New_York');
INSERT INTO phones (id, account_id, position, number, kind, sms_capable, consent,
                    region, time_zones)
    VALUES (1, 1, 1, '+12125551030', 'mobile', true, true, 'US', '{America/New_York}'),
           (2, 1, 2, '+12125551031', 'home', false, false, 'US', '{America/New_York}');
INSERT INTO campaigns (id, name, dial_mode, caller_id, window_profile)
    VALUES (1, 'upgrade', 'progressive', '+15550100000', 'us');
INSERT INTO strategies (campaign_id, segment, dial_mode, priority, max_attempts,
                        retry_busy_s, retry_no_answer_s, retry_machine_s,
                        retry_abandoned_s, retry_failed_s, retry_hung_up_s)
    VALUES (1, 'mid', 'progressive', 2, 5, 600, 3600, 7200, 3600, 600, 3600);
INSERT INTO leads (campaign_id, account_id, segment, priority, value, time_zone, attempts,
                   next_callable_at)
    VALUES (1, 1, 'mid', 2, 36.15, 'America/New_York', 1, '2026-11-25 15:00+00');
INSERT INTO dialers (id, campaign_id, pid)
    VALUES ('00000000-0000-0000-0000-00000000d1a1', 1, 4242);
INSERT INTO calls (id, number, state, outcome, originated_at, ringing_at, answered_at,
                   ended_at, hangup_cause, hangup_cause_text, hung_up_by_app)
    VALUES ('00000000-0000-0000-0000-0000000ca111', '+12125551030', 'ended', 'answered',
            '2026-11-24 18:00+00', '2026-11-24 18:00:02+00', '2026-11-24 18:00:09+00',
            '2026-11-24 18:03:09+00', 16, 'Normal Clearing', true);
INSERT INTO call_events (call_id, at, kind, detail)
    VALUES ('00000000-0000-0000-0000-0000000ca111', '2026-11-24 18:00+00',
            'call_originated', '{"number": "+12125551030"}'),
           ('00000000-0000-0000-0000-0000000ca111', '2026-11-24 18:00:09+00',
            'call_answered', '{}');
INSERT INTO attempts (id, campaign_id, account_id, phone_id, number, dialer_id, segment,
                      started_at, answered_at, agent, connected_at, ended_at, result)
    VALUES ('00000000-0000-0000-0000-0000000ca111', 1, 1, 1, '+12125551030',
            '00000000-0000-0000-0000-00000000d1a1', 'mid', '2026-11-24 18:00+00',
            '2026-11-24 18:00:09+00', 'agent1001', '2026-11-24 18:00:10+00',
            '2026-11-24 18:03:09+00', 'conversation');
INSERT INTO dispositions (attempt_id, code, agent, note, at)
    VALUES ('00000000-0000-0000-0000-0000000ca111', 'PTP', 'agent1001', 'pays Friday',
            '2026-11-24 18:03:30+00');
INSERT INTO do_not_call (number, reason) VALUES ('+12125559999', 'dnc');
INSERT INTO compliance_refusals (campaign_id, account_id, stage, rule, detail, at)
    VALUES (1, 1, 'claim', 'reg_f_7_in_7', '7 calls in 7 days', '2026-11-25 14:00+00');
"""
HISTORY_TABLES = ("accounts", "phones", "campaigns", "strategies", "leads", "dialers", "calls",
                  "call_events", "attempts", "dispositions", "do_not_call",
                  "compliance_refusals")


def table_rows(url: str) -> dict[str, list[dict]]:
    """Every row of every Recobro table, as JSON objects."""
    with psycopg.connect(url) as connection:
        tables = [name for (name,) in connection.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
            if name not in YOYO_TABLES]
        return {table: [row for (row,) in connection.execute(
                    f"SELECT to_jsonb(t) FROM {table} t")] for table in tables}


def survived(before: list[dict], after: list[dict]) -> bool:
    """Every row before is a row after, with the same values in the columns
    it had (a migration may add columns)."""
    def as_before(rows: list[dict]) -> list[str]:
        return sorted(json.dumps({k: row[k] for k in before[0]}, sort_keys=True) for row in rows)
    return len(before) == len(after) and (not before or as_before(before) == as_before(after))


# What makes up the schema, each a query giving sortable rows. Definitions
# come from PostgreSQL's own deparser (pg_get_constraintdef, _indexdef...),
# so a CHECK's expression and an FK's ON DELETE are compared as written.
SCHEMA_QUERIES = {
    "relations": """
        SELECT c.relname, c.relkind::text, c.relpersistence::text FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'""",
    "columns": """
        SELECT c.relname, a.attname,
               row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum),
               format_type(a.atttypid, a.atttypmod), a.attnotnull,
               pg_get_expr(d.adbin, d.adrelid), a.attidentity::text, a.attgenerated::text,
               coalesce(a.attcollation::regcollation::text, '')
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
          AND a.attnum > 0 AND NOT a.attisdropped""",
    "constraints": """
        SELECT c.relname, k.conname, k.contype::text, pg_get_constraintdef(k.oid),
               k.condeferrable, k.condeferred, k.convalidated
        FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'""",
    "indexes": """
        SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'""",
    "sequences": """
        SELECT s.sequencename, s.data_type::text, s.start_value, s.increment_by,
               s.min_value, s.max_value, s.cycle, coalesce(d.refobjid::regclass::text, ''),
               coalesce(a.attname, '')
        FROM pg_sequences s
        JOIN pg_class c ON c.relname = s.sequencename
        JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = s.schemaname
        LEFT JOIN pg_depend d ON d.objid = c.oid AND d.classid = 'pg_class'::regclass
             AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
        LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
        WHERE s.schemaname = 'public'""",
    "functions": """
        SELECT p.proname, pg_get_function_identity_arguments(p.oid), pg_get_functiondef(p.oid)
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'public'""",
    "triggers": """
        SELECT c.relname, t.tgname, pg_get_triggerdef(t.oid), t.tgenabled::text
        FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND NOT t.tgisinternal""",
    "views": """
        SELECT viewname, definition FROM pg_views WHERE schemaname = 'public'""",
    "types": """
        SELECT t.typname, t.typtype::text,
               coalesce((SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
                         FROM pg_enum e WHERE e.enumtypid = t.oid), ''),
               coalesce(format_type(t.typbasetype, t.typtypmod), '')
        FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE n.nspname = 'public' AND t.typtype IN ('e', 'd', 'c')
          AND (t.typrelid = 0 OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')""",
    "comments": """
        SELECT c.relname, coalesce(a.attname, ''), d.description
        FROM pg_description d JOIN pg_class c ON c.oid = d.objoid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = d.objsubid
        WHERE d.classoid = 'pg_class'::regclass AND n.nspname = 'public'""",
    "extensions": "SELECT extname FROM pg_extension",
}


def is_yoyo(row: tuple) -> bool:
    """A row about yoyo's own tables (or their indexes, sequences, keys)."""
    return any(isinstance(value, str) and value.startswith(YOYO_TABLES) for value in row[:2])


def schema(url: str) -> dict[str, list[tuple]]:
    """The database's schema, part by part, each part sorted."""
    with psycopg.connect(url) as connection:
        return {part: sorted((row for row in connection.execute(query) if not is_yoyo(row)),
                             key=repr)
                for part, query in SCHEMA_QUERIES.items()}


def differences(upgraded: dict[str, list[tuple]], fresh: dict[str, list[tuple]]) -> list[str]:
    """What only one of the two schemas has, part by part, for the failure."""
    lines = []
    for part in SCHEMA_QUERIES:
        lines += [f"{part}: only upgraded: {row}" for row in upgraded[part]
                  if row not in fresh[part]]
        lines += [f"{part}: only fresh:    {row}" for row in fresh[part]
                  if row not in upgraded[part]]
    return lines


@pytest.fixture
def baseline(lab_settings: Settings) -> Iterator[str]:
    """A database yoyo brought to the baseline, holding a campaign's history."""
    with new_database(lab_settings) as url:
        migrate_to(url, BASELINE)
        with psycopg.connect(url) as connection:
            connection.execute(HISTORY)
        yield url


def test_the_baseline_is_the_first_two_migrations() -> None:
    assert IDS[:2] == list(BASELINE)


def test_an_upgraded_database_has_a_fresh_installs_schema_and_keeps_its_rows(
        baseline: str, lab_settings: Settings) -> None:
    before = table_rows(baseline)
    assert apply_migrations(baseline) == len(IDS) - len(BASELINE)
    with new_database(lab_settings) as fresh:
        assert apply_migrations(fresh) == len(IDS)
        fresh_schema = schema(fresh)
    upgraded_schema = schema(baseline)
    assert fresh_schema["columns"] and fresh_schema["constraints"]  # the queries see it
    assert upgraded_schema == fresh_schema, "\n".join(differences(upgraded_schema,
                                                                  fresh_schema))
    after = table_rows(baseline)
    for table, rows in before.items():
        assert survived(rows, after[table]), f"{table}: {rows} became {after[table]}"
    assert all(before[table] for table in HISTORY_TABLES)  # the history was there
    # The phones are current (0003's retired_at), so still dialable.
    with psycopg.connect(baseline) as connection:
        assert connection.execute(
            "SELECT count(*) FROM phones WHERE retired_at IS NULL").fetchone() == (2,)


async def test_the_freshness_check_names_what_a_baseline_database_lacks(
        baseline: str) -> None:
    with pytest.raises(DatabaseError) as refused:
        await open_pool(baseline)
    assert str(refused.value) == (
        f"the database at {describe(baseline)} lacks migrations "
        f"{', '.join(IDS[len(BASELINE):])}: run `recobro db migrate`")
    apply_migrations(baseline)
    pool = await open_pool(baseline)
    await pool.close()


async def test_the_freshness_check_refuses_a_database_never_migrated(
        lab_settings: Settings) -> None:
    with (new_database(lab_settings) as url,
          pytest.raises(DatabaseError, match=r"has no Recobro schema: run `recobro db migrate`$")):
        await open_pool(url)


async def test_the_freshness_check_refuses_a_database_newer_code_migrated(
        fresh_database: str) -> None:
    with psycopg.connect(fresh_database) as connection:
        connection.execute(
            f"INSERT INTO {MIGRATION_TABLE} (migration_hash, migration_id, applied_at_utc) "
            "VALUES (%s, '9999.future', now())", (get_migration_hash("9999.future"),))
    with pytest.raises(DatabaseError, match=r"has migration 9999\.future, which this "
                                            r"Recobro does not know"):
        await open_pool(fresh_database)
