"""How every long-running command (`campaign run`, `inbound`, `api`, `agi`,
`messages`) settles once started, and how it stops: SIGINT or SIGTERM asks
it to, and it winds down in its own way."""

from __future__ import annotations

import asyncio
import gc
import signal
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def started() -> None:
    """Once the command is up: what it has made so far (its imported
    libraries above all: numpy, scipy, aiohttp, asyncpg) is left out of
    the garbage collector's full passes, which walked all of it and paused
    the event loop tens of milliseconds each (a debtor on the way to an
    agent waited that much longer; docs/benchmarks.md). The price: what
    was made before and later becomes garbage in a cycle is never freed,
    at most one start's worth."""
    gc.collect()
    gc.freeze()


def stop_requested() -> asyncio.Event:
    """An event set when SIGINT or SIGTERM arrives."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    return stop


async def run_until_stopped(work: Awaitable[T], wind_down: Callable[[], None]) -> T:
    """Run work; on SIGINT or SIGTERM call wind_down (work then ends by
    itself, calls in flight first). Work's result, or its error."""
    stop = stop_requested()
    task = asyncio.ensure_future(work)
    stopper = asyncio.ensure_future(stop.wait())
    await asyncio.wait([task, stopper], return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    if not task.done():
        wind_down()
    return await task
