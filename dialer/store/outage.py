"""What a lost PostgreSQL looks like to Recobro (the errors asyncpg raises
when the server is gone, shutting down or refusing connections), and how
long a long-running process rides such an outage out before it gives up."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from dialer.errors import DatabaseError

# The server went away, is shutting down or not accepting connections yet,
# or the connection broke under a query.
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
