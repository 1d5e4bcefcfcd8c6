"""Agents coming free, heard as they do: PostgreSQL NOTIFYs on
recobro_agent_free when an agent becomes ready, starts a wrap-up (its end
in the payload) or has its skills changed (migration 0023), from whichever
process made the change. A call waiting for an agent (an answered debtor,
a caller in line) sleeps until then instead of asking PostgreSQL every few
milliseconds; a wrap-up's end wakes it by a timer.

A notification is a hint, not the truth: waiters then try to reserve, and
still look now and then (LOOK_ANYWAY_S) for what nothing announced (a wrap-up
begun before this process listened, notifications lost while the LISTEN
was down). While the LISTEN is down they poll as often as they did before."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection
from datetime import datetime
from typing import Any

import asyncpg

from dialer.store.listening import Listening

log = logging.getLogger(__name__)

AGENT_FREE_CHANNEL = "recobro_agent_free"
# How the LISTEN connection shows in pg_stat_activity.
APPLICATION_NAME = "recobro agents freed"
# How often a waiter looks anyway while notifications are heard: a debtor's
# two seconds are 8 looks, not 100, and a missed hint costs a quarter second.
LOOK_ANYWAY_S = 0.25
# A wrap-up's timer fires this late: the loop's monotonic clock may fire it
# a moment before the wall clock reaches the wrap-up's end, and a look
# then would find the agent still wrapping up.
TIMER_LATE_S = 0.02
_RUNNING_WRAP_UPS = ("SELECT DISTINCT wrap_up_until FROM agents "
                     "WHERE state = 'wrap_up' AND wrap_up_until > $1")


class FreedAgents:
    """Wakes the calls waiting for an agent when one may have come free."""

    def __init__(self, pool: asyncpg.Pool, clock: Callable[[], datetime]) -> None:
        self._pool = pool
        self._clock = clock
        self._generation = 0  # one more each time an agent may have come free
        self._freed: asyncio.Future[None] | None = None
        self._timers: set[asyncio.TimerHandle] = set()
        self._hooks: list[Callable[[], None]] = []  # told each time one may have
        self._listening = Listening(AGENT_FREE_CHANNEL, self._heard,
                                    name="agents freed LISTEN on PostgreSQL",
                                    application_name=APPLICATION_NAME, link="agents_freed",
                                    on_reconnect=self._catch_up)

    @property
    def listening(self) -> bool:
        """Whether agents coming free are heard now (else waiters poll)."""
        return self._listening.up

    async def start(self, database_url: str) -> None:
        """LISTEN (a first failure raises) and set timers for the wrap-ups
        already running."""
        await self._listening.start(database_url)
        await self._catch_up()

    async def stop(self) -> None:
        """Stop listening; waiters poll from now on."""
        await self._listening.stop()
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()

    def on_free(self, hook: Callable[[], None]) -> None:
        """Call hook (not a coroutine) each time an agent may have come free."""
        self._hooks.append(hook)

    def mark(self) -> int:
        """Taken before looking for an agent: wait(mark) then returns at
        once if one came free while looking."""
        return self._generation

    async def wait(self, mark: int, also: Collection[asyncio.Future[Any]], poll_s: float,
                   timeout: float) -> None:
        """Until an agent may have come free since mark, one of also is
        done, or timeout; at most poll_s while nothing is heard (the
        LISTEN down), LOOK_ANYWAY_S while it is."""
        if self._generation != mark:
            return
        if self._freed is None:
            self._freed = asyncio.get_running_loop().create_future()
        limit = LOOK_ANYWAY_S if self.listening else poll_s
        await asyncio.wait([self._freed, *also], timeout=max(0.0, min(timeout, limit)))

    def _wake(self) -> None:
        self._generation += 1
        if self._freed is not None:
            self._freed.set_result(None)
            self._freed = None
        for hook in self._hooks:
            hook()

    def _heard(self, payload: str) -> None:
        if not payload:
            self._wake()
            return
        try:
            free_at = datetime.fromisoformat(payload)
        except ValueError:
            log.warning("agents freed: a notification that is not a time: %r", payload[:40])
            self._wake()
            return
        self._wake_at(free_at)

    def _wake_at(self, free_at: datetime) -> None:
        delay = (free_at - self._clock()).total_seconds() + TIMER_LATE_S
        if delay <= TIMER_LATE_S:
            self._wake()
            return
        timer: asyncio.TimerHandle

        def fire() -> None:
            self._timers.discard(timer)
            self._wake()

        timer = asyncio.get_running_loop().call_later(delay, fire)
        self._timers.add(timer)

    async def _catch_up(self) -> None:
        """After (re)connecting: whatever was missed meanwhile may have
        freed an agent, and wrap-ups running now end on their own."""
        self._wake()
        async with self._pool.acquire() as connection:
            for row in await connection.fetch(_RUNNING_WRAP_UPS, self._clock()):
                self._wake_at(row["wrap_up_until"])
