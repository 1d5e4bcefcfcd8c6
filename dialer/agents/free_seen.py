"""The free agents a dialer last read, kept while no agent has come free
since: an answered debtor's reservation takes the agent routing picks
among them at once, one round trip to PostgreSQL on the way to the agent
instead of two (the 2-second rule, and issue 18's 20 ms).

Kept only while it holds: dialer.agents.freed hears every agent that may
have come free (ready, a wrap-up's end, a skill given or taken away,
moved to another Asterisk server: migrations 0023, 0027 and 0028) from
whichever process made the change; a read is good until the next such
hint, and only while that LISTEN is up (without it nothing says the read
is stale). Each hint starts another read in the background, so the next
answer finds it done. Debtors answered at the same moment pick different
agents: one that another reservation of this dialer is taking is passed
over, in the read and in a fresh one. An agent of the read that is no
longer free (taken by another dialer, paused) costs a reservation one
try: the statement that takes an agent takes it only if it is still free,
and the reservation then reads afresh (dialer.agents.store)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg

from dialer.agents.freed import FreedAgents
from dialer.agents.routing import Candidate
from dialer.store.outage import CONNECTION_LOST

log = logging.getLogger(__name__)

# A read is not used older than this even when nothing said an agent came
# free: a notification is a hint, not the truth (a LISTEN whose connection
# died silently is found only by its health check; a change made by hand
# in the database announces nothing). On a busy floor agents come free
# more often than this, and each time the read is made again.
SEEN_FOR_S = 5.0

FreeAgentsRead = Callable[[], Awaitable[list[Candidate]]]


@dataclass(frozen=True)
class _Read:
    mark: int  # FreedAgents' mark taken before the read
    at: float  # the loop's clock when the read began
    agents: tuple[Candidate, ...]


class FreeAgentsSeen:
    """The free agents of one Asterisk server as last read, while good."""

    def __init__(self, freed: FreedAgents, read_free: FreeAgentsRead) -> None:
        self._freed = freed
        self._read_free = read_free  # reads the free agents now
        self._last: _Read | None = None
        # endpoint -> the loop's time it was taken: left out of a read that
        # began before (it may have seen the agent still free).
        self._taken: dict[str, float] = {}
        # Agents this process's reservations are taking now: debtors
        # answered at the same moment would otherwise pick the same agent,
        # and all but one pay a failed take and a fresh read.
        self._taking: set[str] = set()
        self._reading: asyncio.Task[None] | None = None
        self._ahead = False  # whether each hint starts a read
        freed.on_free(self._read_again)

    def start(self) -> None:
        """Read now, and again in the background each time an agent may
        have come free (the process that reserves agents for answered
        calls)."""
        self._ahead = True
        self._read_again()

    def agents(self) -> list[Candidate] | None:
        """The free agents last read (a copy), or None when no read is
        good now: an agent may have come free since, the read is older
        than SEEN_FOR_S, or agents coming free are not heard."""
        last = self._last
        if last is None or last.mark != self._freed.mark() or not self._freed.listening \
                or asyncio.get_running_loop().time() - last.at > SEEN_FOR_S:
            return None
        return list(last.agents)

    async def read(self, read_free: FreeAgentsRead | None = None) -> list[Candidate]:
        """The free agents read now (by read_free, else this one's own
        reader), kept as the last read unless a later one began first."""
        loop = asyncio.get_running_loop()
        mark, began = self._freed.mark(), loop.time()
        read = await (read_free or self._read_free)()
        now = loop.time()
        self._taken = {endpoint: at for endpoint, at in self._taken.items()
                       if now - at <= SEEN_FOR_S}
        agents = [a for a in read if self._taken.get(a.endpoint, began - 1.0) < began]
        if self._last is None or began >= self._last.at:
            self._last = _Read(mark, began, tuple(agents))
        return agents

    def taking(self, endpoint: str) -> None:
        """A reservation of this process is taking the agent endpoint: left
        out of what the others choose from until it is taken."""
        self._taking.add(endpoint)
        self._drop(endpoint)

    def untaken(self, candidates: list[Candidate]) -> list[Candidate]:
        """Candidates but the agents this process is taking now."""
        return [c for c in candidates if c.endpoint not in self._taking]

    def taken(self, endpoint: str) -> None:
        """The agent endpoint is not free any more (reserved, or found not
        free), or its take is over: left out of the read, and of reads under
        way."""
        self._taking.discard(endpoint)
        self._taken[endpoint] = asyncio.get_running_loop().time()
        self._drop(endpoint)

    def _drop(self, endpoint: str) -> None:
        last = self._last
        if last is not None:
            self._last = _Read(last.mark, last.at,
                               tuple(a for a in last.agents if a.endpoint != endpoint))

    def _read_again(self) -> None:
        if self._ahead and (self._reading is None or self._reading.done()):
            self._reading = asyncio.get_running_loop().create_task(self._read_until_good())
            self._reading.add_done_callback(_log_failure)

    async def _read_until_good(self) -> None:
        # A hint heard during a read makes it stale at once: read again.
        while self._freed.listening:
            mark = self._freed.mark()
            try:
                await self.read()
            except (*CONNECTION_LOST, asyncpg.PostgresError) as error:
                # The next reservation reads them itself.
                log.info("free agents not read ahead: %s", str(error) or type(error).__name__)
                return
            if self._freed.mark() == mark:
                return

    async def stop(self) -> None:
        """Stop reading ahead."""
        self._ahead = False
        if self._reading is not None and not self._reading.done():
            self._reading.cancel()
            try:
                await self._reading
            except asyncio.CancelledError:
                pass


def _log_failure(reading: asyncio.Task[None]) -> None:
    """A read ahead that failed otherwise than by PostgreSQL: in the log now."""
    if not reading.cancelled() and reading.exception() is not None:
        log.error("free agents not read ahead", exc_info=reading.exception())
