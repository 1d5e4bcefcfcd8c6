"""Delivery reports written in batches: Kannel calls back twice on every
text it sends, and one UPDATE per report would cost the outbox a round
trip (and a commit) each. A report waits for the statement that writes it,
so the listener answers Kannel only once it is stored."""

from __future__ import annotations

import asyncio

import asyncpg

from dialer.messages.batches import waves
from dialer.messages.store import DeliveryReport, record_deliveries


class DeliveryWriter:
    """Writes the reports that come while one statement runs with the next:
    no timer, so a lone report is written at once and a burst in a few
    statements."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._waiting: list[tuple[DeliveryReport, asyncio.Future[bool]]] = []
        self._writing: asyncio.Task[None] | None = None

    async def record(self, report: DeliveryReport) -> bool:
        """Store report; whether it was recorded (False: no such message,
        or it came after a final report). Raises what writing it raised."""
        written: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((report, written))
        if self._writing is None or self._writing.done():
            self._writing = asyncio.create_task(self._write())
        return await written

    async def _write(self) -> None:
        while self._waiting:
            taken, self._waiting = self._waiting, []
            try:
                # Two reports on one message keep their order, a statement apart.
                for wave in waves(taken, key=lambda waiting: waiting[0].message_id):
                    recorded = await record_deliveries(self._pool, [r for r, _ in wave])
                    for report, written in wave:
                        if not written.done():
                            written.set_result(report.message_id in recorded)
            except BaseException as error:
                # Every request still waiting answers with the error (Kannel
                # is told 500), none waits for ever.
                for _, written in taken:
                    if not written.done():
                        written.set_exception(error)
                if not isinstance(error, Exception):
                    raise
