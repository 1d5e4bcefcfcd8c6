"""Call events written in the order they came, by a writer of their own:
whoever hears an event (the engine's pump) hands it over and goes on, so
no call's flow waits for PostgreSQL, and the events that came meanwhile
are written together, in batches of one transaction each (one round trip
per batch, not four per event). While PostgreSQL is unreachable (or slow)
the events wait in memory, in order; the wait is bounded
(RECOBRO_EVENT_BUFFER), and one that would pass the bound is logged as not
recorded. A dialer stops originating while they wait (`behind`), so only
its calls in flight add events. What still waits when the process exits is
lost, and said so."""

from __future__ import annotations

import asyncio
import logging
from collections import deque

import asyncpg

from dialer.calls.events import CallEvent
from dialer.calls.state import CallRecord
from dialer.store.calls import CallStore, event_kind
from dialer.store.outage import CONNECTION_LOST, FIRST_RETRY_S, LAST_RETRY_S

log = logging.getLogger(__name__)

# The most events one transaction writes: a burst of answers is a few
# hundred events; a longer wait is written in several.
BATCH = 500
# Events waiting past which a dialer holds new calls (see `behind`): a
# burst of a few hundred answers is written in well under a second; more
# than this waiting means PostgreSQL is not keeping up.
BEHIND_AT = 1_000


class CallJournal:
    """CallStore's writes, in order, batched, with a bounded wait."""

    def __init__(self, store: CallStore, limit: int) -> None:
        self.store = store
        self.limit = limit
        self._waiting: deque[tuple[CallEvent, CallRecord]] = deque()
        self._written = 0  # events written since the start: a position in the order
        self._queued = 0  # events accepted since the start
        self._progress = asyncio.Condition()
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._unreachable = False
        self._waited_from = 0  # position of the first event an outage held
        self._waited_until = 0  # ... and of the last one queued before it ended
        self.unrecorded = 0  # events past the bound, never written

    @property
    def waiting(self) -> int:
        """Events not written yet."""
        return len(self._waiting)

    @property
    def behind(self) -> bool:
        """Whether PostgreSQL is not keeping up with the events (unreachable,
        or BEHIND_AT of them waiting): no new call should add to them."""
        return self._unreachable or len(self._waiting) >= min(BEHIND_AT, self.limit)

    def record(self, event: CallEvent, call: CallRecord) -> int:
        """Queue event and the call as it is after it, behind the events
        already waiting; its position, for `written_through` (0: past the
        bound, not recorded)."""
        if len(self._waiting) >= self.limit:
            self.unrecorded += 1
            log.error("call %s: %s not recorded: %d events already wait for PostgreSQL "
                      "(RECOBRO_EVENT_BUFFER)", event.call_id, event_kind(event), self.limit)
            return 0
        self._waiting.append((event, call))
        self._queued += 1
        self._wake.set()
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write_waiting(),
                                                                  name="call-journal")
        return self._queued

    async def written_through(self, position: int) -> None:
        """Wait until the event at position (from `record`) and all before
        it are in PostgreSQL (a call's origination, before it is placed)."""
        async with self._progress:
            await self._progress.wait_for(lambda: self._written >= position)

    async def _write_waiting(self) -> None:
        delay = FIRST_RETRY_S
        while True:
            if not self._waiting:
                self._wake.clear()
                await self._wake.wait()
                continue
            batch = [self._waiting[i] for i in range(min(BATCH, len(self._waiting)))]
            try:
                await self._write(batch)
            except Exception as error:
                if not isinstance(error, CONNECTION_LOST):
                    log.exception("%d call event(s) not recorded", len(batch))
                    self.unrecorded += len(batch)
                    for _ in batch:
                        self._waiting.popleft()
                    async with self._progress:
                        self._written += len(batch)
                        self._progress.notify_all()
                    continue
                if not self._unreachable:
                    self._unreachable = True
                    self._waited_from = self._written + 1
                    log.warning("PostgreSQL unreachable (%s): call events wait in memory, at "
                                "most %d (RECOBRO_EVENT_BUFFER), until it is back",
                                str(error) or type(error).__name__, self.limit)
                await asyncio.sleep(delay)
                delay = min(2 * delay, LAST_RETRY_S)
                continue
            for _ in batch:
                self._waiting.popleft()
            if self._unreachable:
                self._unreachable = False
                self._waited_until = self._queued
            delay = FIRST_RETRY_S
            async with self._progress:
                self._written += len(batch)
                self._progress.notify_all()
            if self._waited_until and self._written >= self._waited_until:
                log.warning("PostgreSQL is back: %d call event(s) that waited are recorded",
                            self._waited_until - self._waited_from + 1)
                self._waited_until = 0

    async def _write(self, batch: list[tuple[CallEvent, CallRecord]]) -> None:
        try:
            await self.store.record_all(batch)
        except asyncpg.PostgresError as error:
            if len(batch) == 1:
                event = batch[0][0]
                self.unrecorded += 1
                log.error("call %s: %s not recorded: %s", event.call_id, event_kind(event),
                          error)
                return
            # One event PostgreSQL refuses must not lose the others with it.
            for one in batch:
                await self._write([one])

    async def close(self, timeout_s: float) -> None:
        """Give the waiting events timeout_s to be written; say how many are
        lost if PostgreSQL is still gone."""
        if self._writer is not None:
            if self._waiting:
                try:
                    async with asyncio.timeout(timeout_s):
                        await self.written_through(self._queued)
                except TimeoutError:
                    pass
            self._writer.cancel()
        if self._waiting:
            log.error("%d call event(s) not recorded: PostgreSQL unreachable as the process "
                      "stops", len(self._waiting))
