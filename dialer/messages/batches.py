"""Batches split so that each key comes once per wave. Pure."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import TypeVar

Item = TypeVar("Item")


def waves(items: Iterable[Item], key: Callable[[Item], Hashable]) -> list[list[Item]]:
    """items in waves that hold each key at most once, keeping their order:
    the first of each key in the first wave, the second in the second...
    What a wave writes or decides about a key then never races with
    another item of that key in the same statement."""
    split: list[list[Item]] = []
    seen: dict[Hashable, int] = {}
    for item in items:
        wave = seen.get(key(item), 0)
        seen[key(item)] = wave + 1
        if wave == len(split):
            split.append([])
        split[wave].append(item)
    return split
