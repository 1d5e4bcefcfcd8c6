"""The free agents a dialer last read, kept while no agent has come free
since: an answered debtor's reservation takes the agent routing picks
among them at once, one round trip to PostgreSQL on the way to the agent
instead of two (the 2-second rule, and issue 18's 20 ms).

Kept only while it holds: dialer.agents.freed hears every agent that may
have come free (ready, a wrap-up's end, skills changed, moved to another
Asterisk server: migrations 0023 and 0027) from whichever process made
the change; a read is good until the next such hint, and
only while that LISTEN is up (without it nothing says the read is stale).
Each hint starts another read in the background, so the next answer finds
it done. Agents in the read that are no longer free (taken by another
dialer, paused) cost a reservation nothing but a try: the statement that
takes an agent takes it only if it is still free."""

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
# free: a notification is a hint, not the truth (a change made by hand in
# the database announces nothing). Longer than a debtor's phone rings, so
# an answer on a quiet floor still finds the read made as the call began.
SEEN_FOR_S = 30.0


@dataclass(frozen=True)
class _Read:
    mark: int  # FreedAgents' mark taken before the read
    at: float  # the loop's clock when the read began
    agents: tuple[Candidate, ...]


class FreeAgentsSeen:
    """The free agents of one Asterisk server as last read, while good."""

    def __init__(self, freed: FreedAgents,
                 read: Callable[[], Awaitable[list[Candidate]]]) -> None:
        self._freed = freed
        self._read_free = read  # the free agents, read now
        self._read: _Read | None = None
        self._reading: asyncio.Task[None] | None = None
        self._ahead = False  # whether each hint starts a read
        freed.on_free(self._read_again)

    def start(self) -> None:
        """Read again in the background each time an agent may have come
        free (the process that reserves agents for answered calls)."""
        self._ahead = True

    def mark(self) -> int:
        """Taken before a read that remember is then given."""
        return self._freed.mark()

    def agents(self) -> list[Candidate] | None:
        """The free agents last read (a copy), or None when no read is
        good now: an agent may have come free since, the read is older
        than SEEN_FOR_S, or agents coming free are not heard."""
        read = self._read
        if read is None or read.mark != self._freed.mark() or not self._freed.listening \
                or asyncio.get_running_loop().time() - read.at > SEEN_FOR_S:
            return None
        return list(read.agents)

    def remember(self, mark: int, agents: list[Candidate], began: float) -> None:
        """A read of the free agents, begun at the loop's time began after
        mark was taken."""
        if self._read is None or began >= self._read.at:
            self._read = _Read(mark, began, tuple(agents))

    def taken(self, endpoint: str) -> None:
        """The agent endpoint is not free any more (reserved, or found not
        free): left out of the read."""
        read = self._read
        if read is not None:
            self._read = _Read(read.mark, read.at,
                               tuple(a for a in read.agents if a.endpoint != endpoint))

    def _read_again(self) -> None:
        if self._ahead and (self._reading is None or self._reading.done()):
            self._reading = asyncio.get_running_loop().create_task(self._read_until_good())

    async def _read_until_good(self) -> None:
        # A hint heard during a read makes it stale at once: read again.
        loop = asyncio.get_running_loop()
        while self._freed.listening:
            mark, began = self._freed.mark(), loop.time()
            try:
                agents = await self._read_free()
            except (*CONNECTION_LOST, asyncpg.PostgresError) as error:
                # The next reservation reads them itself.
                log.info("free agents not read ahead: %s", str(error) or type(error).__name__)
                return
            self.remember(mark, agents, began)
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
