"""Reconnect delays: exponential, capped, with jitter so that several
dialers do not reconnect in lockstep after an Asterisk restart."""

from __future__ import annotations

import random
from collections.abc import Iterator


def backoff_delays(first_s: float = 0.25, cap_s: float = 8.0, jitter: float = 0.2,
                   rng: random.Random | None = None) -> Iterator[float]:
    """Endless delays: first_s, doubling up to cap_s, each +/- jitter."""
    rng = rng or random.Random()
    delay = first_s
    while True:
        yield delay * (1 + rng.uniform(-jitter, jitter))
        delay = min(delay * 2, cap_s)
