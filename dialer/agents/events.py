"""Events from the dialers to agents' desktops: a dialer NOTIFYs on a
PostgreSQL channel (dialer.agents.store) when it reserves an agent (the
screen pop) or pauses one whose phone did not take a call; the API LISTENs
there and hands each event to the WebSockets of that agent. The LISTEN
connection is kept up by dialer.reconnect's Supervisor: lost (PostgreSQL
restarted, the backend terminated) or silent, it is made again."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict

import asyncpg

from dialer.agents.store import AGENT_EVENTS_CHANNEL
from dialer.reconnect import Supervisor
from dialer.store.outage import CONNECTION_LOST

log = logging.getLogger(__name__)

# A connection the server dropped without a word is found by a query this
# often (answered within as long).
CHECK_EVERY_S = 15.0
# How the LISTEN connection shows in pg_stat_activity.
APPLICATION_NAME = "recobro agent events"


class AgentEvents:
    """Who listens for which agent's events."""

    def __init__(self) -> None:
        self._queues: dict[str, set[asyncio.Queue[dict]]] = defaultdict(set)
        self._database_url = ""
        self._connection: asyncpg.Connection | None = None
        self._lost: asyncio.Future[str] | None = None
        self._link = Supervisor("agent events LISTEN on PostgreSQL", connect=self._listen,
                                until_lost=self._until_lost, drop=self._drop,
                                failures=(TimeoutError, *CONNECTION_LOST), check=self._alive,
                                check_every_s=CHECK_EVERY_S, link="agent_events")

    async def start(self, database_url: str) -> None:
        """LISTEN for agents' events (a first failure raises), and keep
        listening through PostgreSQL restarts and lost connections."""
        self._database_url = database_url
        await self._link.start()

    async def _listen(self) -> None:
        connection = await asyncpg.connect(
            self._database_url, timeout=CHECK_EVERY_S,
            server_settings={"application_name": APPLICATION_NAME})
        lost = asyncio.get_running_loop().create_future()

        def terminated(_: object) -> None:
            if not lost.done():
                lost.set_result("the connection to PostgreSQL was lost")

        connection.add_termination_listener(terminated)
        try:
            await connection.add_listener(AGENT_EVENTS_CHANNEL, self._heard)
        except BaseException:
            connection.terminate()
            raise
        self._connection, self._lost = connection, lost

    async def _until_lost(self) -> str:
        assert self._lost is not None
        return await self._lost

    async def _alive(self) -> str | None:
        """None while the LISTEN connection answers a query in time; a
        timeout or a connection error tells the Supervisor it is lost."""
        assert self._connection is not None
        await asyncio.wait_for(self._connection.fetchval("SELECT 1"), CHECK_EVERY_S)
        return None

    def _drop(self) -> None:
        if self._connection is not None:
            self._connection.terminate()
            self._connection = None

    async def stop(self) -> None:
        """Stop listening (and reconnecting)."""
        await self._link.close()
        if self._connection is not None and not self._connection.is_closed():
            await self._connection.close()
        self._connection = None

    def subscribe(self, agent: str) -> asyncio.Queue[dict]:
        queue: asyncio.Queue[dict] = asyncio.Queue()
        self._queues[agent].add(queue)
        return queue

    def unsubscribe(self, agent: str, queue: asyncio.Queue[dict]) -> None:
        self._queues[agent].discard(queue)

    def _heard(self, connection: object, pid: int, channel: str, payload: str) -> None:
        try:
            event = json.loads(payload)
        except ValueError:
            log.warning("an agent event that is not JSON")
            return
        for queue in self._queues.get(event.get("agent", ""), ()):
            queue.put_nowait(event)
