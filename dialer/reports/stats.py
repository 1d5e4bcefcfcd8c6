"""Confidence intervals for the strategy report (pure): the Wilson score
interval of a rate, the same bounds inverted for a cost (attempts per
success), and a seeded percentile bootstrap of a mean amount.
docs/reports.md says why each."""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# 95% two-sided: the normal quantile the Wilson interval uses.
Z_95 = 1.959963984540054
BOOTSTRAP_RESAMPLES = 2000


@dataclass(frozen=True)
class Interval:
    """A point estimate and its 95% interval; None where the data cannot
    give one (no trials, or an unbounded cost)."""

    estimate: float | None
    low: float | None
    high: float | None


NO_DATA = Interval(None, None, None)


def wilson(successes: int, trials: int, z: float = Z_95) -> Interval:
    """The rate successes/trials with its Wilson score interval."""
    if trials < 0 or not 0 <= successes <= trials:
        raise ValueError(f"wilson: successes {successes} of trials {trials}")
    if trials == 0:
        return NO_DATA
    p = successes / trials
    z2 = z * z
    centre = (p + z2 / (2 * trials)) / (1 + z2 / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / (1 + z2 / trials)
    # Clamped: at 0 or n successes the bound is 0 or 1 exactly, not a
    # rounding error away.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return Interval(p, low, high)


def cost(successes: int, trials: int, z: float = Z_95) -> Interval:
    """Trials per success (attempts a contact or a promise cost): the
    reciprocal of the rate, its interval the reciprocal of the rate's
    Wilson bounds. No success: no estimate, and no upper bound."""
    rate = wilson(successes, trials, z)
    if rate.estimate is None:
        return NO_DATA
    assert rate.low is not None and rate.high is not None
    estimate = None if successes == 0 else trials / successes
    high = None if rate.low == 0 else 1 / rate.low
    return Interval(estimate, 1 / rate.high, high)


def bootstrap_mean(values: Sequence[float], seed_key: str,
                   resamples: int = BOOTSTRAP_RESAMPLES) -> Interval:
    """The mean of values with its 95% percentile bootstrap interval.
    Seeded by seed_key (the cell's name): the same data gives the same
    interval on every run, in whatever order the cells are computed and
    their values read."""
    if not values:
        return NO_DATA
    data = np.asarray(values, dtype=float)
    mean = float(data.mean())
    if np.all(data == data[0]):
        return Interval(mean, mean, mean)
    rng = np.random.default_rng(zlib.crc32(seed_key.encode()))
    # Resampling n items with replacement draws how many times each
    # distinct value comes up: one multinomial draw per resample, the same
    # distribution as picking items one by one, at a cost of the distinct
    # values (most attempts collect 0.00) rather than of n.
    distinct, counts = np.unique(data, return_counts=True)
    means = np.empty(resamples)
    # In chunks: never more than about two million counts at once.
    chunk = max(1, 2_000_000 // len(distinct))
    for start in range(0, resamples, chunk):
        stop = min(resamples, start + chunk)
        drawn = rng.multinomial(len(data), counts / len(data), size=stop - start)
        means[start:stop] = drawn @ distinct / len(data)
    low, high = np.percentile(means, [2.5, 97.5])
    return Interval(mean, float(low), float(high))
