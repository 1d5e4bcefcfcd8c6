"""When a message that failed is tried again: capped exponential backoff,
and a dead letter after the last try (shown, and replayable by hand)."""

from __future__ import annotations

from datetime import timedelta

FIRST_RETRY = timedelta(seconds=30)
MAX_RETRY = timedelta(hours=1)
MAX_ATTEMPTS = 10  # tries in all: about 3 hours from the first to the last


def next_retry(attempts: int) -> timedelta | None:
    """The wait after the attempts-th failed try (1 for the first), or None
    when that was the last and the message is dead-lettered."""
    if attempts >= MAX_ATTEMPTS:
        return None
    return min(FIRST_RETRY * 2 ** max(attempts - 1, 0), MAX_RETRY)
