"""Agents' states in PostgreSQL, shared by every dialer process: a ready
agent is reserved for one answered call with SKIP LOCKED, longest idle
first; a wrap-up ends by itself when its timer runs out."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from dialer.errors import ConfigError

# Ready, or in a wrap-up whose timer ran out (then idle since it did).
_FREE = "(state = 'ready' OR (state = 'wrap_up' AND wrap_up_until <= $1))"
_RESERVE = f"""
UPDATE agents SET state = 'reserved', state_since = $1, attempt_id = $2, wrap_up_until = NULL
WHERE endpoint = (
    SELECT endpoint FROM agents WHERE {_FREE}
    ORDER BY CASE WHEN state = 'wrap_up' THEN wrap_up_until ELSE state_since END
    LIMIT 1 FOR UPDATE SKIP LOCKED)
RETURNING endpoint
"""


class AgentStore:
    """The agents table."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def set_ready(self, endpoint: str, now: datetime) -> None:
        """Log in (or come back from a pause): ready for calls."""
        await self._set(endpoint, "ready", now, "state IN ('logged_out', 'paused', 'wrap_up')")

    async def log_out(self, endpoint: str, now: datetime) -> None:
        await self._set(endpoint, "logged_out", now, "state IN ('ready', 'paused', 'wrap_up')")

    async def _set(self, endpoint: str, state: str, now: datetime, allowed_from: str) -> None:
        row = await self.pool.fetchrow(
            f"UPDATE agents SET state = CASE WHEN {allowed_from} THEN $2 ELSE state END, "
            f"state_since = CASE WHEN {allowed_from} THEN $3 ELSE state_since END "
            "WHERE endpoint = $1 RETURNING state", endpoint, state, now)
        if row is None:
            raise ConfigError(f"no agent {endpoint!r}")
        if row["state"] != state:
            raise ConfigError(f"agent {endpoint} is {row['state']}: cannot become {state} now")

    async def reserve(self, attempt_id: uuid.UUID, now: datetime) -> str | None:
        """Reserve the longest-idle free agent for an answered call."""
        return await self.pool.fetchval(_RESERVE, now, attempt_id)

    async def release(self, endpoint: str, now: datetime, *, reachable: bool) -> None:
        """A reserved agent not connected after all: ready again, or logged
        out when the softphone could not be reached (so it is not tried
        again and again)."""
        await self.pool.execute(
            "UPDATE agents SET state = $3, state_since = $2, attempt_id = NULL "
            "WHERE endpoint = $1 AND state = 'reserved'",
            endpoint, now, "ready" if reachable else "logged_out")

    async def on_call(self, endpoint: str, now: datetime) -> None:
        await self.pool.execute(
            "UPDATE agents SET state = 'on_call', state_since = $2 WHERE endpoint = $1",
            endpoint, now)

    async def wrap_up(self, endpoint: str, now: datetime, seconds: float) -> None:
        """The call ended: wrap-up, ready again by itself after seconds."""
        await self.pool.execute(
            "UPDATE agents SET state = 'wrap_up', state_since = $2, "
            "wrap_up_until = $2::timestamptz + make_interval(secs => $3::float8), "
            "attempt_id = NULL "
            "WHERE endpoint = $1 AND state IN ('reserved', 'on_call')", endpoint, now, seconds)
