"""What the lab's Prometheus scraped, for the tests that hold it to what
happened (metrics, payments)."""

from __future__ import annotations

import time

from lab import prometheus


def scraped(cfg, promql: str, wanted: int = 1, timeout_s: float = 20.0) -> list[dict]:
    """The query's result once it holds at least wanted series (Prometheus
    scrapes every second, and finds a new target within a second or two)."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = prometheus.query(cfg, promql)
        if len(result) >= wanted or time.monotonic() > deadline:
            return result
        time.sleep(0.5)


def value(series: dict) -> float:
    """An instant query's series' value."""
    return float(series["value"][1])
