"""An asyncio event loop on a virtual clock: when nothing is ready, time
jumps to the next timer instead of sleeping, so a flow's 15-second
timeouts pass in microseconds. For scripted calls only: a loop waiting on
nothing (no timer, no ready callback) is a deadlock, and raises."""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class _Jump(selectors.SelectSelector):
    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0

    def select(self, timeout: float | None = None):
        ready = super().select(0)
        if not ready:
            if timeout is None:
                raise RuntimeError("the loop waits for nothing: a deadlock")
            self.now += timeout
        return ready


class VirtualLoop(asyncio.SelectorEventLoop):
    """A selector event loop whose time() is the virtual clock."""

    def __init__(self) -> None:
        self._jump = _Jump()
        super().__init__(self._jump)

    def time(self) -> float:
        return self._jump.now


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run coroutine to its end on a fresh virtual-time loop."""
    loop = VirtualLoop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.close()
