"""What a lost PostgreSQL looks like to Recobro (the errors asyncpg raises
when the server is gone, shutting down or refusing connections), how long
a long-running process rides such an outage out before it gives up, and a
write tried again through one."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import asyncpg

from dialer.errors import DatabaseError

T = TypeVar("T")

FIRST_RETRY_S = 0.5
LAST_RETRY_S = 5.0

# The server went away, is shutting down or not accepting connections yet,
# the connection broke under a query, or a query went unanswered past the
# pool's timeout (TimeoutError, an OSError: a network dropping packets).
CONNECTION_LOST: tuple[type[BaseException], ...] = (
    OSError, asyncpg.PostgresConnectionError, asyncpg.exceptions.OperatorInterventionError,
    asyncpg.InterfaceError, asyncpg.exceptions.InternalClientError)


@dataclass
class Outage:
    """Since when PostgreSQL has been unreachable (event-loop time), if it is."""

    since: float | None = None
    reason: str = ""

    def lost(self, now: float, error: BaseException) -> bool:
        """Note the failure; whether this is the start of an outage."""
        if self.since is not None:
            return False
        self.since, self.reason = now, str(error) or type(error).__name__
        return True

    def back(self, now: float) -> float | None:
        """PostgreSQL answered: how long it was gone, if it was."""
        if self.since is None:
            return None
        gone, self.since = now - self.since, None
        return gone

    def give_up(self, now: float, where: str, limit_s: float) -> DatabaseError | None:
        """The error to stop with once the outage lasted longer than limit_s."""
        if self.since is None or now - self.since <= limit_s:
            return None
        return DatabaseError(f"PostgreSQL at {where} (DATABASE_URL) has been unreachable for "
                             f"{now - self.since:.0f} s ({self.reason}): stopped dialing; calls "
                             "in flight are left to Asterisk and the next dialer to start "
                             "adopts them")


async def through_outage(write: Callable[[], Awaitable[T]], limit_s: float) -> T:
    """write() (one transaction, safe to run again), tried again while
    PostgreSQL is unreachable, every 0.5 s at first and 5 s at most, for
    limit_s in all; then the outage's error. A call's last writes (its
    attempt's result, its agent's wrap-up) go through a restart this way
    instead of leaving the attempt open."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + limit_s
    delay = FIRST_RETRY_S
    while True:
        try:
            return await write()
        except CONNECTION_LOST:
            if loop.time() + delay > give_up:
                raise
        await asyncio.sleep(delay)
        delay = min(2 * delay, LAST_RETRY_S)
