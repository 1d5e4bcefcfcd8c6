"""Call events written in the order they came, through a PostgreSQL outage:
while PostgreSQL is unreachable each event waits in memory, in order,
behind the first one that could not be written, and all are written once
it is back. The wait is bounded (RECOBRO_EVENT_BUFFER): a dialer stops
originating during an outage, so only the calls in flight add events, and
one that would pass the bound is logged as not recorded. What still waits
when the process exits is lost, and said so."""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from dialer.calls.events import CallEvent
from dialer.calls.state import CallRecord
from dialer.store.calls import CallStore, event_kind
from dialer.store.outage import CONNECTION_LOST, FIRST_RETRY_S, LAST_RETRY_S

log = logging.getLogger(__name__)


class CallJournal:
    """CallStore.record, in order, with a bounded wait through an outage."""

    def __init__(self, store: CallStore, limit: int) -> None:
        self.store = store
        self.limit = limit
        self._waiting: deque[tuple[CallEvent, CallRecord]] = deque()
        self._writer: asyncio.Task[None] | None = None
        self.unrecorded = 0  # events past the bound, never written

    @property
    def waiting(self) -> int:
        """Events waiting for PostgreSQL now."""
        return len(self._waiting)

    async def record(self, event: CallEvent, call: CallRecord) -> None:
        """Write event and the call as it is after it, or queue them behind
        the events already waiting for PostgreSQL."""
        if not self._waiting:
            try:
                await self.store.record(event, call)
                return
            except CONNECTION_LOST as error:
                log.warning("PostgreSQL unreachable (%s): call events wait in memory, at most "
                            "%d (RECOBRO_EVENT_BUFFER), until it is back",
                            str(error) or type(error).__name__, self.limit)
        if len(self._waiting) >= self.limit:
            self.unrecorded += 1
            log.error("call %s: %s not recorded: %d events already wait for PostgreSQL "
                      "(RECOBRO_EVENT_BUFFER)", event.call_id, event_kind(event), self.limit)
            return
        self._waiting.append((event, call))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_waiting(), name="call-journal")

    async def _write_waiting(self) -> None:
        delay = FIRST_RETRY_S
        written = 0
        while self._waiting:
            event, call = self._waiting[0]
            try:
                await self.store.record(event, call)
            except CONNECTION_LOST:
                await asyncio.sleep(delay)
                delay = min(2 * delay, LAST_RETRY_S)
                continue
            self._waiting.popleft()
            written += 1
            delay = FIRST_RETRY_S
        log.warning("PostgreSQL is back: %d call event(s) that waited are recorded", written)

    async def close(self, timeout_s: float) -> None:
        """Give the waiting events timeout_s to be written; say how many are
        lost if PostgreSQL is still gone."""
        if self._writer is not None and not self._writer.done():
            await asyncio.wait([self._writer], timeout=timeout_s)
            self._writer.cancel()
        if self._waiting:
            log.error("%d call event(s) not recorded: PostgreSQL unreachable as the process "
                      "stops", len(self._waiting))
