"""Events from the dialers to agents' desktops: a dialer NOTIFYs on a
PostgreSQL channel (dialer.agents.store) when it reserves an agent (the
screen pop) or pauses one whose phone did not take a call; the API LISTENs
there (dialer.store.listening, kept up through restarts) and hands each
event to the WebSockets of that agent."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict

from dialer.agents.store import AGENT_EVENTS_CHANNEL
from dialer.store.listening import Listening

log = logging.getLogger(__name__)

# How the LISTEN connection shows in pg_stat_activity.
APPLICATION_NAME = "recobro agent events"


class AgentEvents:
    """Who listens for which agent's events."""

    def __init__(self) -> None:
        self._queues: dict[str, set[asyncio.Queue[dict]]] = defaultdict(set)
        self._listening = Listening(AGENT_EVENTS_CHANNEL, self._heard,
                                    name="agent events LISTEN on PostgreSQL",
                                    application_name=APPLICATION_NAME, link="agent_events")

    async def start(self, database_url: str) -> None:
        """LISTEN for agents' events (a first failure raises), and keep
        listening through PostgreSQL restarts and lost connections."""
        await self._listening.start(database_url)

    async def stop(self) -> None:
        """Stop listening (and reconnecting)."""
        await self._listening.stop()

    def subscribe(self, agent: str) -> asyncio.Queue[dict]:
        queue: asyncio.Queue[dict] = asyncio.Queue()
        self._queues[agent].add(queue)
        return queue

    def unsubscribe(self, agent: str, queue: asyncio.Queue[dict]) -> None:
        self._queues[agent].discard(queue)

    def _heard(self, payload: str) -> None:
        try:
            event = json.loads(payload)
        except ValueError:
            log.warning("an agent event that is not JSON")
            return
        for queue in self._queues.get(event.get("agent", ""), ()):
            queue.put_nowait(event)
