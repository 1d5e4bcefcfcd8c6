"""Events from the dialers to agents' desktops: a dialer NOTIFYs on a
PostgreSQL channel (dialer.store.agents) when it reserves an agent (the
screen pop) or pauses one whose phone did not take a call; the API LISTENs
there and hands each event to the WebSockets of that agent."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict

import asyncpg

from dialer.store.agents import AGENT_EVENTS_CHANNEL

log = logging.getLogger(__name__)


class AgentEvents:
    """Who listens for which agent's events."""

    def __init__(self) -> None:
        self._queues: dict[str, set[asyncio.Queue[dict]]] = defaultdict(set)
        self._connection: asyncpg.Connection | None = None

    async def start(self, database_url: str) -> None:
        self._connection = await asyncpg.connect(database_url)
        await self._connection.add_listener(AGENT_EVENTS_CHANNEL, self._heard)

    async def stop(self) -> None:
        if self._connection is not None:
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
