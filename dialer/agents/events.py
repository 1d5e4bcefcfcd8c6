"""Events from the dialers to agents' desktops: a dialer NOTIFYs on a
PostgreSQL channel (dialer.agents.store) when it reserves an agent (the
screen pop) or pauses one whose phone did not take a call; the API LISTENs
there and hands each event to the WebSockets of that agent. The LISTEN
connection is kept: lost (PostgreSQL restarted), it is made again."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict

import asyncpg

from dialer.agents.store import AGENT_EVENTS_CHANNEL
from dialer.backoff import backoff_delays
from dialer.store.outage import CONNECTION_LOST

log = logging.getLogger(__name__)

CHECK_EVERY_S = 15.0  # a connection the server dropped without a word is found by this


class AgentEvents:
    """Who listens for which agent's events."""

    def __init__(self) -> None:
        self._queues: dict[str, set[asyncio.Queue[dict]]] = defaultdict(set)
        self._database_url = ""
        self._connection: asyncpg.Connection | None = None
        self._lost = asyncio.Event()
        self._keeper: asyncio.Task[None] | None = None

    async def start(self, database_url: str) -> None:
        """LISTEN for agents' events (a first failure raises), and keep
        listening through PostgreSQL restarts."""
        self._database_url = database_url
        await self._listen()
        self._keeper = asyncio.create_task(self._keep_listening(), name="agent-events")

    async def _listen(self) -> None:
        connection = await asyncpg.connect(self._database_url)
        self._lost.clear()
        connection.add_termination_listener(lambda _: self._lost.set())
        await connection.add_listener(AGENT_EVENTS_CHANNEL, self._heard)
        self._connection = connection

    async def _alive(self) -> bool:
        """Whether the LISTEN connection still answers."""
        assert self._connection is not None
        if self._lost.is_set() or self._connection.is_closed():
            return False
        try:
            await asyncio.wait_for(self._connection.fetchval("SELECT 1"), CHECK_EVERY_S)
        except (TimeoutError, *CONNECTION_LOST):
            return False
        return True

    async def _keep_listening(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._lost.wait(), CHECK_EVERY_S)
            except TimeoutError:
                pass
            if await self._alive():
                continue
            assert self._connection is not None
            self._connection.terminate()
            log.warning("agent events: the connection to PostgreSQL was lost; reconnecting")
            for delay in backoff_delays():
                await asyncio.sleep(delay)
                try:
                    await self._listen()
                except CONNECTION_LOST:
                    continue
                log.warning("agent events: listening again")
                break

    async def stop(self) -> None:
        if self._keeper is not None:
            self._keeper.cancel()
        if self._connection is not None and not self._connection.is_closed():
            await self._connection.close()

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
