"""What the store tests share: a connection pool on a fresh, migrated
database of the lab's PostgreSQL (tests/conftest.py's fresh_database)."""

from __future__ import annotations

import asyncpg
import pytest


@pytest.fixture
async def pool(fresh_database):
    """A small pool on the test's own database; a test that needs more
    connections defines its own."""
    pool = await asyncpg.create_pool(fresh_database, min_size=1, max_size=4)
    yield pool
    await pool.close()
