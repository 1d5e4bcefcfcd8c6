"""Estimators learned online from the campaign's own outcomes."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats
from scipy.special import ndtr

from pacing.model import hour_of_day


class AnswerRate:
    """Live-answer probability by hour of day.

    Each hour's estimate is a Beta posterior: its own live/dialed counts over
    a prior centred on the campaign's recent rate (an exponentially weighted
    mean over the last ~recent_window dials), or on prior_rate on a cold
    start. So a new hour starts from what the campaign sees now."""

    def __init__(self, prior_rate: float = 0.25, prior_strength: float = 20.0,
                 recent_window: int = 200) -> None:
        if not 0 < prior_rate < 1:
            raise ValueError(f"prior_rate must be in (0, 1), got {prior_rate}")
        self.prior_strength = prior_strength
        self.recent = prior_rate
        self._decay = 1.0 / recent_window
        self.live = np.zeros(24)
        self.dialed = np.zeros(24)

    def record(self, dialed_at: float, live: bool) -> None:
        hour = hour_of_day(dialed_at)
        self.dialed[hour] += 1
        self.live[hour] += live
        self.recent += self._decay * (float(live) - self.recent)

    def rate(self, at: float) -> float:
        """The estimated live-answer probability of a call dialed at `at`."""
        hour = hour_of_day(at)
        prior_live = self.prior_strength * self.recent
        return (prior_live + self.live[hour]) / (self.prior_strength + self.dialed[hour])


class EmpiricalDuration:
    """A duration distribution learned from samples (no shape assumed).

    Keeps the last `capacity` samples; until real samples arrive it stands on
    pseudo-samples at the quantiles of an exponential with prior_mean."""

    def __init__(self, prior_mean: float, capacity: int = 4000, prior_points: int = 40) -> None:
        if prior_mean <= 0:
            raise ValueError(f"prior_mean must be positive, got {prior_mean}")
        quantiles = (np.arange(prior_points) + 0.5) / prior_points
        self._prior = -prior_mean * np.log1p(-quantiles)
        self._samples = np.empty(capacity)
        self._count = 0
        self._next = 0
        self._sorted: np.ndarray = np.sort(self._prior)
        self._dirty = False

    def record(self, seconds: float) -> None:
        self._samples[self._next] = seconds
        self._next = (self._next + 1) % len(self._samples)
        self._count = min(self._count + 1, len(self._samples))
        self._dirty = True

    @property
    def count(self) -> int:
        return self._count

    def sorted_samples(self) -> np.ndarray:
        if self._dirty:
            real = self._samples[: self._count]
            # The prior fades out as real samples accumulate.
            self._sorted = np.sort(real if self._count >= 4 * len(self._prior)
                                   else np.concatenate([real, self._prior]))
            self._dirty = False
        return self._sorted

    def mean(self) -> float:
        return float(self.sorted_samples().mean())

    def with_censored(self, running: np.ndarray) -> EmpiricalDuration:
        """This distribution counting durations still running (each at
        least its elapsed time) as right-censored samples: the Kaplan-Meier
        estimate over both, as pseudo-samples at its quantiles. Early on the
        ended durations are the short ones; the running ones correct that.
        Mass the estimate leaves past the longest duration seen goes on a
        memoryless tail from there with the ended samples' mean."""
        ended = self.sorted_samples()
        running = np.asarray(running, dtype=float)
        if running.size == 0:
            return self
        points = max(len(ended) + running.size, len(self._prior))
        view = EmpiricalDuration.__new__(EmpiricalDuration)
        view._prior = self._prior
        view._samples = view._sorted = kaplan_meier_samples(ended, running, points)
        view._count = len(view._samples)
        view._next = 0
        view._dirty = False
        return view

    def quantiles(self, levels: tuple[float, ...]) -> np.ndarray:
        """The samples' quantiles at levels (nearest rank: they are sorted)."""
        samples = self.sorted_samples()
        return samples[(np.asarray(levels) * (len(samples) - 1)).astype(int)]

    def survival(self, x: np.ndarray | float) -> np.ndarray:
        """P(duration > x)."""
        samples = self.sorted_samples()
        return 1.0 - np.searchsorted(samples, x, side="right") / len(samples)

    def ends_within(self, elapsed: np.ndarray, horizon: float) -> np.ndarray:
        """P(duration <= elapsed + horizon | duration > elapsed), per element.

        Past the largest sample the empirical tail is unknown; there the
        chance falls back to a memoryless tail with the samples' mean."""
        samples = self.sorted_samples()
        n = len(samples)
        alive = n - np.searchsorted(samples, elapsed, side="right")
        later = n - np.searchsorted(samples, elapsed + horizon, side="right")
        tail = 1.0 - math.exp(-horizon / max(self.mean(), 1e-9))
        with np.errstate(divide="ignore", invalid="ignore"):
            within = np.where(alive > 0, (alive - later) / np.maximum(alive, 1), tail)
        return within


def kaplan_meier_samples(ended: np.ndarray, running: np.ndarray, points: int) -> np.ndarray:
    """`points` sorted pseudo-samples at the quantiles of the Kaplan-Meier
    estimate of durations, some ended (`ended`) and some still running at
    least `running` long (right-censored; scipy.stats.ecdf). The mass past
    the longest duration seen (a censored one) lies on a memoryless tail
    with the ended durations' mean."""
    ended = np.asarray(ended, dtype=float)
    running = np.asarray(running, dtype=float)
    if ended.size == 0:
        raise ValueError("kaplan_meier_samples needs at least one ended duration")
    result = stats.ecdf(stats.CensoredData(uncensored=ended, right=running))
    times, survival = result.sf.quantiles, result.sf.probabilities
    levels = (np.arange(points) + 0.5) / points  # of the distribution function
    # The k-th time is the q-quantile for q in [1 - S(t_{k-1}), 1 - S(t_k)).
    cdf = 1.0 - survival
    index = np.searchsorted(cdf, levels, side="right")
    beyond = index >= len(times)
    out = np.empty(points)
    out[~beyond] = times[index[~beyond]]
    if beyond.any():
        left = survival[-1]  # the mass past the last time
        tail = (levels[beyond] - cdf[-1]) / left  # its own quantile levels
        out[beyond] = times[-1] - float(ended.mean()) * np.log1p(-np.minimum(tail, 1 - 1e-9))
    return np.sort(out)


def expected_shortfall(mean: np.ndarray, var: np.ndarray) -> np.ndarray:
    """E[max(X, 0)] for X normal with the given mean and variance."""
    sd = np.sqrt(np.maximum(var, 1e-12))
    z = mean / sd
    return mean * ndtr(z) + sd * np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
