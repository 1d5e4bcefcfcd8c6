"""Schema migrations with yoyo (plain SQL files in migrations/), and
whether a database has exactly the migrations this code knows."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from yoyo import get_backend, read_migrations
from yoyo.migrations import default_migration_table

from dialer.errors import DatabaseError
from dialer.settings import check_database_url

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

# yoyo's bookkeeping: one row per migration applied to the database.
MIGRATION_TABLE = default_migration_table


def describe(database_url: str) -> str:
    """host:port/dbname of a DATABASE_URL, without the user or password
    (for a URL check_database_url accepted; anything else is not quoted)."""
    try:
        parts = urlsplit(database_url)
        hosts = parts.netloc.rpartition("@")[2]
        if "," in hosts:  # several hosts: libpq tries each in turn
            return f"{hosts}{parts.path}"
        return f"{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path}"
    except ValueError:
        return "the server DATABASE_URL names"


def _first_line(error: psycopg.Error) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def cannot_connect(database_url: str, error: psycopg.Error) -> DatabaseError:
    """The error for a connection to database_url that psycopg could not
    open: where (never the password) and libpq's first line of why."""
    return DatabaseError(f"cannot connect to PostgreSQL at {describe(database_url)} "
                         f"(DATABASE_URL): {_first_line(error)}")


def apply_migrations(database_url: str) -> int:
    """Apply pending migrations under yoyo's lock; return how many ran."""
    if not database_url:
        raise DatabaseError("DATABASE_URL is not set (run `recobro lab up`, or set it)")
    check_database_url(database_url)
    _, _, rest = database_url.partition("://")
    where = describe(database_url)
    try:
        backend = get_backend(f"postgresql+psycopg://{rest}")
    except psycopg.Error as error:
        raise cannot_connect(database_url, error) from None
    migrations = read_migrations(str(MIGRATIONS))
    try:
        with backend.lock():
            pending = backend.to_apply(migrations)
            backend.apply_migrations(pending)
    except psycopg.Error as error:
        # A user without the right to create tables, say, or the server gone.
        raise DatabaseError(f"PostgreSQL at {where} (DATABASE_URL) refused the migrations: "
                            f"{_first_line(error)}") from None
    finally:
        # yoyo never closes it: the session would stay until the backend is
        # collected, keeping the database in use (a template cannot be copied).
        backend.connection.close()
    return len(pending)


@dataclass(frozen=True)
class SchemaGap:
    """How a database's applied migrations differ from this code's."""

    missing: tuple[str, ...]  # migrations here the database has not had
    unknown: tuple[str, ...]  # migrations the database had that are not here
    empty: bool = False  # the database has had no migration at all

    def __bool__(self) -> bool:
        return bool(self.missing or self.unknown)


def schema_gap(applied: Iterable[tuple[str, str | None]]) -> SchemaGap:
    """Compare the rows of yoyo's bookkeeping table, (migration_hash,
    migration_id), with the migration files here, the way yoyo's own
    `to_apply` does: a migration is applied when its hash is there."""
    rows = {row_hash: row_id for row_hash, row_id in applied}
    # read_migrations only lists the files (they are read when applied).
    known = read_migrations(str(MIGRATIONS))
    missing = tuple(m.id for m in known if m.hash not in rows)
    hashes = {m.hash for m in known}
    unknown = tuple(sorted(row_id or row_hash for row_hash, row_id in rows.items()
                           if row_hash not in hashes))
    return SchemaGap(missing, unknown, empty=not rows)


def _migrations(ids: tuple[str, ...]) -> str:
    return f"migration{'s' if len(ids) > 1 else ''} {', '.join(ids)}"


def gap_in_words(gap: SchemaGap, where: str) -> str:
    """One line naming what the database lacks or has in excess, and the fix."""
    # A database with migrations this code does not know is refused, not
    # warned about: older code could misread what a newer schema holds (an
    # attempt result it has never heard of, counted towards Reg F, say).
    if gap.empty:
        return f"the database at {where} has no Recobro schema: run `recobro db migrate`"
    if gap.missing and gap.unknown:
        return (f"the database at {where} lacks {_migrations(gap.missing)} and has "
                f"{_migrations(gap.unknown)}, which this Recobro does not know: run "
                "`recobro db migrate` with a Recobro that has them all")
    if gap.missing:
        return (f"the database at {where} lacks {_migrations(gap.missing)}: "
                "run `recobro db migrate`")
    return (f"the database at {where} has {_migrations(gap.unknown)}, which this Recobro "
            "does not know (a newer Recobro applied it): run that version, or upgrade "
            "this one")
