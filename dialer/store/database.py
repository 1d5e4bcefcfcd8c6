"""Opening the asyncpg pool, with errors that name DATABASE_URL."""

from __future__ import annotations

import asyncpg

from dialer.errors import DatabaseError
from dialer.store.migrate import describe

CONNECT_TIMEOUT_S = 5.0


async def open_pool(database_url: str, max_size: int = 10) -> asyncpg.Pool:
    """A connection pool on DATABASE_URL whose schema is migrated."""
    where = describe(database_url)
    try:
        pool = await asyncpg.create_pool(database_url, min_size=1, max_size=max_size,
                                         timeout=CONNECT_TIMEOUT_S)
    except (TimeoutError, OSError) as error:
        raise DatabaseError(f"cannot reach PostgreSQL at {where} (DATABASE_URL): "
                            f"{error or 'timed out'}; is it running? (`recobro lab up`)") from None
    except asyncpg.PostgresError as error:
        raise DatabaseError(f"PostgreSQL at {where} refused the connection (DATABASE_URL): "
                            f"{error}") from None
    # The newest migration's table: an older schema needs migrating too.
    migrated = await pool.fetchval("SELECT to_regclass('public.leads') IS NOT NULL")
    if not migrated:
        await pool.close()
        raise DatabaseError(f"the database at {where} has no up-to-date Recobro schema: "
                            "run `recobro db migrate`")
    return pool
