"""A failed message is tried again after a capped, doubling wait, and
dead-lettered after the last try."""

from __future__ import annotations

from datetime import timedelta

from dialer.messages.delivery import MAX_ATTEMPTS, MAX_RETRY, next_retry


def test_the_waits_double_up_to_the_cap_then_the_message_is_dead() -> None:
    waits = [next_retry(n) for n in range(1, MAX_ATTEMPTS + 1)]
    assert waits[:4] == [timedelta(seconds=s) for s in (30, 60, 120, 240)]
    assert all(w is not None and w <= MAX_RETRY for w in waits[:-1])
    assert waits[-2] == MAX_RETRY and waits[-1] is None
