"""The events AMI and ARI handed over that the engine has not handled yet,
with a bound: past INTAKE_PAUSE_AT of them every link stops reading its
socket (asyncio's pause_reading), so the kernel's buffers fill and TCP
pushes back on Asterisk instead of the dialer's memory growing; at
INTAKE_RESUME_AT they read again. Nothing is dropped: what a link had read
before it paused (one socket read, 256 KiB at most) is still taken.

Asterisk's side of a paused link: manager.c writes each AMI event with a
timeout (manager.conf's writetimeout, in ms); a write that does not finish
in it ends the session, its events dropped, and the dialer reconnects and
reconciles (dialer.engine.Engine.reconcile). The dialer's keepalive Ping,
unanswered while the link reads nothing, has the same end after
RECOBRO_AMI_PING_S and 5 s. ARI's WebSocket is paused by taking no
message from it: aiohttp then stops reading its socket once it holds
512 KiB (twice its 256 KiB chunk)."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Protocol

from dialer.calls.events import CallEvent
from dialer.metrics.definitions import EVENTS_WAITING, INTAKE_PAUSES

log = logging.getLogger(__name__)

# A burst of a few hundred answers is a few thousand events, handled in
# milliseconds: more waiting than this means the dialer is not keeping up.
INTAKE_PAUSE_AT = 5_000
INTAKE_RESUME_AT = 1_000


class Reader(Protocol):
    """A link whose reading can stop and start again (AMI, an ARI app)."""

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...


class EventIntake:
    """A first-in first-out of call events that pauses its readers while
    it holds pause_at or more, until it is down to resume_at."""

    def __init__(self, pause_at: int = INTAKE_PAUSE_AT,
                 resume_at: int = INTAKE_RESUME_AT) -> None:
        if not 0 <= resume_at < pause_at:
            raise ValueError(f"resume_at ({resume_at}) must be below pause_at ({pause_at})")
        self.pause_at = pause_at
        self.resume_at = resume_at
        self._events: deque[CallEvent] = deque()
        self._readers: list[Reader] = []
        self._ready = asyncio.Event()
        self.paused = False
        self.pauses = 0  # how often the readers were paused, since the start
        self.most_waiting = 0  # the most events that ever waited at once
        self._flowing = asyncio.Event()
        self._flowing.set()
        # Counted when scraped, not on each event: put and get are the hot path.
        EVENTS_WAITING.set_function(lambda: len(self._events))

    @property
    def waiting(self) -> int:
        """Events handed over and not taken yet."""
        return len(self._events)

    def add_reader(self, reader: Reader) -> None:
        """reader is paused and resumed with the others from now on."""
        self._readers.append(reader)
        if self.paused:
            reader.pause_reading()

    def put(self, event: CallEvent) -> None:
        """Take an event from a link (never refused); pause the links when
        it makes pause_at."""
        self._events.append(event)
        self._ready.set()
        self.most_waiting = max(self.most_waiting, len(self._events))
        if not self.paused and len(self._events) >= self.pause_at:
            self.paused = True
            self.pauses += 1
            INTAKE_PAUSES.inc()
            self._flowing.clear()
            log.warning("%d call events wait to be handled: reading AMI and ARI paused until "
                        "%d are left", len(self._events), self.resume_at)
            for reader in self._readers:
                reader.pause_reading()

    async def get(self) -> CallEvent:
        """The oldest event, once there is one; the links read again once
        only resume_at are left."""
        while not self._events:
            self._ready.clear()
            await self._ready.wait()
        event = self._events.popleft()
        if self.paused and len(self._events) <= self.resume_at:
            self.paused = False
            self._flowing.set()
            log.warning("call events handled down to %d: reading AMI and ARI again",
                        len(self._events))
            for reader in self._readers:
                reader.resume_reading()
        return event

    async def flowing(self) -> None:
        """Return once the links are not paused (at once if they are not)."""
        await self._flowing.wait()
