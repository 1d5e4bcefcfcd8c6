"""Keeping a link up: the one reconnect supervisor for AMI, ARI and the
agents' events LISTEN.

A link is opened once by start(), where a failure raises (its error names
the setting to fix). Then it is watched until it is lost: the peer closes
it, or a periodic health check fails (a half-open TCP session, a frozen
peer or a firewall that dropped the session says nothing otherwise). A
loss is one warning line; the link is opened again after capped, jittered
delays (dialer.backoff), quietly (INFO) unless it stays down longer than
STILL_DOWN_S; its return is one warning line too, so that whoever saw it
go sees it come back. Then the owner's on_reconnect hook runs. close()
stops it at any point, in the middle of a backoff or of an opening too.

Only the errors the owner names (failures: its adapter's own, such as
AmiError, or asyncpg's connection errors) count as "the link is down, try
again"; anything else is a bug and ends the supervision loudly."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator

from dialer.backoff import backoff_delays
from dialer.metrics.definitions import LINK_RECONNECTS, LINK_UP

log = logging.getLogger(__name__)

STILL_DOWN_S = 60.0  # a link down this long is said again, with why


def _why(error: BaseException) -> str:
    return str(error) or type(error).__name__


class Supervisor:
    """Opens a link, watches it, and opens it again whenever it is lost.

    connect: open the link (and log in); raise one of failures, naming the
        setting, when it cannot. On a reconnect it may assume drop() was called.
    until_lost: return once the link is gone, saying why in a few words.
    drop: let go of a lost link at once, without a goodbye.
    check: optional health check, run every check_every_s while the link
        is up: None while the link answers, else why it does not. It bounds
        its own time (a Ping with a timeout); a loss during a check is seen
        at once all the same.
    failures: what connect, until_lost and check raise when the link is
        down or unreachable (each such error counts as a loss, or as one
        more failed attempt).
    """

    def __init__(self, name: str, *, connect: Callable[[], Awaitable[None]],
                 until_lost: Callable[[], Awaitable[str]], drop: Callable[[], None],
                 failures: tuple[type[Exception], ...],
                 check: Callable[[], Awaitable[str | None]] | None = None,
                 check_every_s: float = 10.0,
                 on_reconnect: Callable[[], Awaitable[None]] | None = None,
                 delays: Callable[[], Iterator[float]] = backoff_delays,
                 link: str | None = None) -> None:
        self.name = name
        self._link_up = LINK_UP.labels(link) if link else None
        self._link_reconnects = LINK_RECONNECTS.labels(link) if link else None
        self._connect = connect
        self._until_lost = until_lost
        self._drop = drop
        self._failures = failures
        self._check = check
        self.check_every_s = check_every_s
        self.on_reconnect = on_reconnect
        self._delays = delays
        self.up = asyncio.Event()  # the link is open (and not yet found lost)
        self.reconnects = 0
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    async def start(self) -> None:
        """Open the link (its error raises), then keep it up in the background."""
        await self._connect()
        self._set_up(True)
        self._task = asyncio.create_task(self._keep(), name=f"keep {self.name}")
        self._task.add_done_callback(self._ended)

    async def close(self) -> None:
        """Stop watching and reconnecting (the owner then closes the link
        with whatever goodbye it has)."""
        self._closing = True
        self._set_up(False)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def _ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self._set_up(False)
            log.error("%s: no longer kept up (a bug, not the link)", self.name,
                      exc_info=task.exception())

    async def _keep(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            reason = await self._watch()
            self._set_up(False)
            if self._closing:
                return
            self._drop()
            log.warning("%s lost (%s); reconnecting", self.name, reason)
            lost_at = loop.time()
            await self._reopen(lost_at)
            self._set_up(True)
            self.reconnects += 1
            if self._link_reconnects is not None:
                self._link_reconnects.inc()
            log.warning("%s back after %.1f s", self.name, loop.time() - lost_at)
            if self.on_reconnect is not None:
                try:
                    await self.on_reconnect()
                except Exception:
                    # Whatever the owner's hook does wrong, the link it is
                    # about stays up and watched.
                    log.exception("%s: after reconnecting", self.name)

    def _set_up(self, up: bool) -> None:
        if up:
            self.up.set()
        else:
            self.up.clear()
        if self._link_up is not None:
            self._link_up.set(1 if up else 0)

    async def _watch(self) -> str:
        """Wait until the link is lost or fails its health check; why."""
        lost = asyncio.ensure_future(self._lost())
        try:
            while True:
                if self._check is None:
                    return await lost
                done, _ = await asyncio.wait({lost}, timeout=self.check_every_s)
                if done:
                    return lost.result()
                check = asyncio.ensure_future(self._checked())
                done, _ = await asyncio.wait({lost, check},
                                             return_when=asyncio.FIRST_COMPLETED)
                if lost in done:
                    check.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await check
                    return lost.result()
                reason = check.result()
                if reason is not None:
                    return reason
        finally:
            lost.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await lost

    async def _lost(self) -> str:
        try:
            return await self._until_lost()
        except self._failures as error:  # a link's reader that broke: lost all the same
            return _why(error)

    async def _checked(self) -> str | None:
        assert self._check is not None
        try:
            return await self._check()
        except self._failures as error:
            return _why(error)

    async def _reopen(self, lost_at: float) -> None:
        """Open the link again, backing off, until it opens."""
        loop = asyncio.get_running_loop()
        said_long = False
        for delay in self._delays():
            await asyncio.sleep(delay)
            try:
                await self._connect()
            except self._failures as error:
                down_s = loop.time() - lost_at
                if not said_long and down_s >= STILL_DOWN_S:
                    log.warning("%s still down after %.0f s: %s", self.name, down_s,
                                _why(error))
                    said_long = True
                else:
                    log.info("%s: reconnecting failed: %s", self.name, _why(error))
                continue
            return
        raise AssertionError("backoff delays ran out")  # they are endless
