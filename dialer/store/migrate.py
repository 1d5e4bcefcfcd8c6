"""Schema migrations with yoyo (plain SQL files in migrations/)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from yoyo import get_backend, read_migrations

from dialer.errors import DatabaseError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def describe(database_url: str) -> str:
    """host:port/dbname of a DATABASE_URL, without the password."""
    parts = urlsplit(database_url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path}"


def apply_migrations(database_url: str) -> int:
    """Apply pending migrations under yoyo's lock; return how many ran."""
    if not database_url:
        raise DatabaseError("DATABASE_URL is not set (run `recobro lab up`, or set it)")
    scheme, sep, rest = database_url.partition("://")
    if not sep or scheme not in ("postgres", "postgresql"):
        raise DatabaseError("DATABASE_URL must start with postgresql://")
    try:
        backend = get_backend(f"postgresql+psycopg://{rest}")
    except psycopg.Error as error:
        raise DatabaseError(f"cannot connect to PostgreSQL at {describe(database_url)} "
                            f"(DATABASE_URL): {str(error).strip().splitlines()[0]}") from None
    migrations = read_migrations(str(MIGRATIONS))
    with backend.lock():
        pending = backend.to_apply(migrations)
        backend.apply_migrations(pending)
    return len(pending)
