"""A LISTEN on a PostgreSQL channel kept up for the life of a process: a
connection of its own (NOTIFY needs one that stays open, outside the
pool), watched by dialer.reconnect's Supervisor: lost (PostgreSQL
restarted, the backend terminated) or silent, it is made again, and the
owner's hook runs (what it may have missed meanwhile is for it to catch up)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import asyncpg

from dialer.reconnect import Supervisor
from dialer.store.outage import CONNECTION_LOST

# A connection the server dropped without a word is found by a query this
# often (answered within as long).
CHECK_EVERY_S = 15.0

Heard = Callable[[str], None]  # a notification's payload


class Listening:
    """One channel LISTENed to on a connection of its own, kept up."""

    def __init__(self, channel: str, heard: Heard, *, name: str, application_name: str,
                 link: str, on_reconnect: Callable[[], Awaitable[None]] | None = None) -> None:
        self.channel = channel
        self._heard = heard
        self._application_name = application_name
        self._database_url = ""
        self._connection: asyncpg.Connection | None = None
        self._lost: asyncio.Future[str] | None = None
        self._link = Supervisor(name, connect=self._listen, until_lost=self._until_lost,
                                drop=self._drop, failures=(TimeoutError, *CONNECTION_LOST),
                                check=self._alive, check_every_s=CHECK_EVERY_S, link=link,
                                on_reconnect=on_reconnect)

    @property
    def up(self) -> bool:
        """Whether notifications are being heard now."""
        return self._link.up.is_set()

    async def start(self, database_url: str) -> None:
        """LISTEN (a first failure raises), and keep listening through
        PostgreSQL restarts and lost connections."""
        self._database_url = database_url
        await self._link.start()

    async def stop(self) -> None:
        """Stop listening (and reconnecting)."""
        await self._link.close()
        if self._connection is not None and not self._connection.is_closed():
            await self._connection.close()
        self._connection = None

    async def _listen(self) -> None:
        connection = await asyncpg.connect(
            self._database_url, timeout=CHECK_EVERY_S,
            server_settings={"application_name": self._application_name})
        lost = asyncio.get_running_loop().create_future()

        def terminated(_: object) -> None:
            if not lost.done():
                lost.set_result("the connection to PostgreSQL was lost")

        connection.add_termination_listener(terminated)
        try:
            await connection.add_listener(self.channel, self._notified)
        except BaseException:
            connection.terminate()
            raise
        self._connection, self._lost = connection, lost

    def _notified(self, connection: object, pid: int, channel: str, payload: str) -> None:
        self._heard(payload)

    async def _until_lost(self) -> str:
        assert self._lost is not None
        return await self._lost

    async def _alive(self) -> str | None:
        """None while the connection answers a query in time; a timeout or
        a connection error tells the Supervisor it is lost."""
        assert self._connection is not None
        await asyncio.wait_for(self._connection.fetchval("SELECT 1"), CHECK_EVERY_S)
        return None

    def _drop(self) -> None:
        if self._connection is not None:
            self._connection.terminate()
            self._connection = None
