"""Batches in waves: each key once a wave, order kept."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from dialer.messages.batches import waves


def test_a_key_seen_again_goes_to_the_next_wave_in_order() -> None:
    items = [(1, "a"), (2, "b"), (1, "c"), (1, "d"), (3, "e")]
    assert waves(items, key=lambda item: item[0]) == [
        [(1, "a"), (2, "b"), (3, "e")], [(1, "c")], [(1, "d")]]
    assert waves([], key=lambda item: item) == []


@given(st.lists(st.integers(0, 5)))
def test_every_item_once_no_key_twice_in_a_wave_and_each_keys_order_kept(keys) -> None:
    items = list(enumerate(keys))
    split = waves(items, key=lambda item: item[1])
    assert sorted(item for wave in split for item in wave) == items
    for wave in split:
        assert len({key for _, key in wave}) == len(wave)
    for key in set(keys):
        assert [i for wave in split for i, k in wave if k == key] == [
            i for i, k in items if k == key]
