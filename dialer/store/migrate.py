"""Schema migrations with yoyo (plain SQL files in migrations/)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from yoyo import get_backend, read_migrations

from dialer.errors import DatabaseError
from dialer.settings import check_database_url

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


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
        raise DatabaseError(f"cannot connect to PostgreSQL at {where} "
                            f"(DATABASE_URL): {_first_line(error)}") from None
    migrations = read_migrations(str(MIGRATIONS))
    try:
        with backend.lock():
            pending = backend.to_apply(migrations)
            backend.apply_migrations(pending)
    except psycopg.Error as error:
        # A user without the right to create tables, say, or the server gone.
        raise DatabaseError(f"PostgreSQL at {where} (DATABASE_URL) refused the migrations: "
                            f"{_first_line(error)}") from None
    return len(pending)
