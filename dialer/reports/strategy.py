"""The strategy report (pure): what each ended call attempt came to, the
rules that say so (right-party contact, promise, kept promise), cells of
attempts by segment x local hour x weekday x dial mode, each cell's rates
and amounts with their counts and 95% intervals, and the report as a
terminal table, CSV and JSON. docs/reports.md defines every figure."""

from __future__ import annotations

import csv
import enum
import io
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from dialer.reports.stats import Interval, bootstrap_mean, cost, wilson

# Disposition codes an agent gives only after speaking with the debtor about
# the debt. Not WRONG_NUMBER (someone else), nor OPT_OUT and CALLBACK,
# which whoever answers the phone may ask for.
RIGHT_PARTY_CODES = frozenset({"PTP", "PAID", "RPC", "REFUSED", "DISPUTE"})
PROMISE_CODE = "PTP"
# A self-service call whose debtor proved the account by keying its number.
SELF_SERVED = "self_served"
# An attempt the gate refused at the last moment: no call was placed, so
# it cost nothing and is no attempt here.
NOT_PLACED = "not_placed"

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")  # ISO 1..7


@dataclass(frozen=True)
class Attempt:
    """One ended attempt (a call placed), as the store read it: its
    segment, when it started in the debtor's time (hour 0-23, ISO weekday
    1-7), the campaign's dial mode when it was placed, its result, the
    disposition standing on it (the latest, a correction included), the
    promises made on the call (promise rows), how many of those were due
    by the report's time and how many of those were kept, and the money
    the call collected (approved charges taken on it)."""

    segment: str
    local_hour: int
    weekday: int
    dial_mode: str
    result: str
    disposition: str | None = None
    promises: int = 0
    promises_due: int = 0
    promises_kept: int = 0
    collected: Decimal = Decimal(0)

    @property
    def promised(self) -> bool:
        """An agent's PTP disposition, or a promise recorded on the call."""
        return self.disposition == PROMISE_CODE or self.promises > 0

    @property
    def right_party(self) -> bool:
        """The debtor was reached: self-service proved the account, an
        agent's disposition only the debtor can earn, or a promise or a
        payment made on the call."""
        return (self.result == SELF_SERVED or self.disposition in RIGHT_PARTY_CODES
                or self.promised or self.collected > 0)


class Dimension(enum.Enum):
    """What a report's cells are split by."""

    SEGMENT = "segment"
    HOUR = "local_hour"
    WEEKDAY = "weekday"
    DIAL_MODE = "dial_mode"


ALL_DIMENSIONS = tuple(Dimension)
# --by's words for the dimensions.
DIMENSION_WORDS = {"segment": Dimension.SEGMENT, "hour": Dimension.HOUR,
                   "weekday": Dimension.WEEKDAY, "mode": Dimension.DIAL_MODE}


def parse_dimensions(text: str) -> tuple[Dimension, ...]:
    """`segment,hour` -> the dimensions, in the report's order; ValueError
    naming the word that is none."""
    words = [w.strip() for w in text.split(",") if w.strip()]
    unknown = [w for w in words if w not in DIMENSION_WORDS]
    if unknown or not words:
        raise ValueError(f"{text!r}: a comma-separated list of "
                         f"{', '.join(DIMENSION_WORDS)}")
    chosen = {DIMENSION_WORDS[w] for w in words}
    return tuple(d for d in ALL_DIMENSIONS if d in chosen)


def _value(attempt: Attempt, dimension: Dimension) -> object:
    return getattr(attempt, dimension.value)


@dataclass(frozen=True)
class Rate:
    """successes of n, and the rate with its Wilson interval."""

    n: int
    successes: int
    interval: Interval


@dataclass(frozen=True)
class Cell:
    """One cell's figures. key: its value of each dimension reported."""

    key: tuple[object, ...]
    attempts: int
    right_party: Rate  # of attempts
    promise: Rate  # of right-party contacts
    kept: Rate  # of promises due by the report's time
    collected: Decimal  # total
    collected_per_attempt: Interval  # mean, bootstrap interval
    attempts_per_contact: Interval
    attempts_per_promise: Interval


def _rate(successes: int, n: int) -> Rate:
    return Rate(n, successes, wilson(successes, n))


def cell_of(key: tuple[object, ...], attempts: Sequence[Attempt], seed_key: str) -> Cell:
    """A cell's figures from its attempts."""
    contacts = sum(a.right_party for a in attempts)
    promised = sum(a.promised for a in attempts)
    due = sum(a.promises_due for a in attempts)
    kept = sum(a.promises_kept for a in attempts)
    amounts = [float(a.collected) for a in attempts]
    return Cell(key, len(attempts), _rate(contacts, len(attempts)), _rate(promised, contacts),
                _rate(kept, due), sum((a.collected for a in attempts), Decimal(0)),
                bootstrap_mean(amounts, seed_key), cost(contacts, len(attempts)),
                cost(promised, len(attempts)))


@dataclass(frozen=True)
class Filters:
    """What the report covers: a campaign (None: all), the debtor's local
    dates from and to (inclusive; None: open), the currency of amounts."""

    campaign: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    currency: str | None = None

    def __post_init__(self) -> None:
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ValueError(f"from {self.date_from} is after to {self.date_to}")


@dataclass(frozen=True)
class Report:
    """The report: its cells, what it covers, as of when (promises due by
    then are judged kept or not)."""

    dimensions: tuple[Dimension, ...]
    cells: tuple[Cell, ...]
    filters: Filters
    as_of: datetime
    currency: str | None
    totals: Cell = field(compare=False)


def build_report(attempts: Iterable[Attempt], dimensions: Sequence[Dimension],
                 filters: Filters, as_of: datetime, currency: str | None) -> Report:
    """Attempts grouped into cells by the dimensions (sorted by them), and
    the totals over all."""
    everything = list(attempts)
    groups: dict[tuple[object, ...], list[Attempt]] = defaultdict(list)
    for attempt in everything:
        groups[tuple(_value(attempt, d) for d in dimensions)].append(attempt)
    names = [d.value for d in dimensions]
    cells = tuple(cell_of(key, groups[key], "|".join(f"{n}={v}" for n, v in zip(names, key)))
                  for key in sorted(groups))
    return Report(tuple(dimensions), cells, filters, as_of, currency,
                  cell_of((), everything, "totals"))


def _number(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def _rate_json(rate: Rate) -> dict[str, object]:
    return {"n": rate.n, "successes": rate.successes, "rate": _number(rate.interval.estimate),
            "low": _number(rate.interval.low), "high": _number(rate.interval.high)}


def _interval_json(interval: Interval, digits: int) -> dict[str, object]:
    return {"estimate": _number(interval.estimate, digits), "low": _number(interval.low, digits),
            "high": _number(interval.high, digits)}


def _key_json(dimensions: Sequence[Dimension], key: tuple[object, ...]) -> dict[str, object]:
    out: dict[str, object] = {}
    for dimension, value in zip(dimensions, key):
        out[dimension.value] = WEEKDAYS[value - 1] if dimension is Dimension.WEEKDAY else value
    return out


def cell_json(dimensions: Sequence[Dimension], cell: Cell) -> dict[str, object]:
    """A cell as JSON: its key, every figure with its counts and interval."""
    return {**_key_json(dimensions, cell.key), "attempts": cell.attempts,
            "right_party_contact": _rate_json(cell.right_party),
            "promise": _rate_json(cell.promise), "kept_promise": _rate_json(cell.kept),
            "collected": {"total": str(cell.collected), "n": cell.attempts,
                          "per_attempt": _interval_json(cell.collected_per_attempt, 2)},
            "attempts_per_contact": _interval_json(cell.attempts_per_contact, 2),
            "attempts_per_promise": _interval_json(cell.attempts_per_promise, 2)}


def to_json(report: Report) -> str:
    """The report as a JSON document."""
    filters = report.filters
    return json.dumps({
        "as_of": report.as_of.isoformat(),
        "filters": {"campaign": filters.campaign,
                    "from": filters.date_from and filters.date_from.isoformat(),
                    "to": filters.date_to and filters.date_to.isoformat(),
                    "dates_in": "the debtor's local time"},
        "currency": report.currency,
        "dimensions": [d.value for d in report.dimensions],
        "intervals": {"rates": "Wilson score, 95%",
                      "amounts": "percentile bootstrap of the mean, 95%, "
                                 f"{BOOTSTRAP_NOTE}",
                      "costs": "reciprocal of the Wilson bounds, 95%"},
        "cells": [cell_json(report.dimensions, c) for c in report.cells],
        "totals": cell_json((), report.totals),
    }, indent=2)


BOOTSTRAP_NOTE = "2000 resamples, seeded by the cell"

CSV_FIGURES = (
    "attempts",
    "right_party_contacts", "right_party_rate", "right_party_low", "right_party_high",
    "promises", "promise_rate", "promise_low", "promise_high",
    "promises_due", "promises_kept", "kept_rate", "kept_low", "kept_high",
    "collected", "collected_per_attempt", "collected_per_attempt_low",
    "collected_per_attempt_high",
    "attempts_per_contact", "attempts_per_contact_low", "attempts_per_contact_high",
    "attempts_per_promise", "attempts_per_promise_low", "attempts_per_promise_high",
)


def _csv_row(cell: Cell) -> list[object]:
    def interval(i: Interval, digits: int) -> list[object]:
        return ["" if v is None else round(v, digits) for v in (i.estimate, i.low, i.high)]

    def rate(r: Rate) -> list[object]:
        return [r.successes, *interval(r.interval, 4)]

    return [cell.attempts, *rate(cell.right_party), *rate(cell.promise), cell.kept.n,
            *rate(cell.kept), cell.collected, *interval(cell.collected_per_attempt, 2),
            *interval(cell.attempts_per_contact, 2), *interval(cell.attempts_per_promise, 2)]


def to_csv(report: Report) -> str:
    """The report as CSV: one row per cell, its key then every figure
    (counts, estimate, 95% bounds; empty where there is none)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([d.value for d in report.dimensions] + list(CSV_FIGURES))
    for cell in report.cells:
        key = _key_json(report.dimensions, cell.key)
        writer.writerow([key[d.value] for d in report.dimensions] + _csv_row(cell))
    return out.getvalue()


def _percent(rate: Rate) -> str:
    i = rate.interval
    if i.estimate is None:
        return "-"
    assert i.low is not None and i.high is not None
    return (f"{rate.successes}/{rate.n} {100 * i.estimate:.0f}% "
            f"[{100 * i.low:.0f}-{100 * i.high:.0f}]")


def _amount(interval: Interval) -> str:
    if interval.estimate is None:
        return "-"
    return f"{interval.estimate:.2f} [{interval.low:.2f}-{interval.high:.2f}]"


def _cost(interval: Interval) -> str:
    if interval.low is None:
        return "-"
    estimate = "-" if interval.estimate is None else f"{interval.estimate:.1f}"
    high = "inf" if interval.high is None else f"{interval.high:.1f}"
    return f"{estimate} [{interval.low:.1f}-{high}]"


def to_table(report: Report) -> str:
    """The report as a terminal table: each rate as successes/n, percent
    and [95% interval]; amounts per attempt; attempts per contact."""
    headers = [d.value for d in report.dimensions] + [
        "attempts", "right-party contact", "promise (of contacts)", "kept (of due)",
        "collected", "per attempt", "attempts/contact"]
    rows = []
    for cell in (*report.cells, report.totals):
        key = _key_json(report.dimensions, cell.key)
        label = ([str(key[d.value]) for d in report.dimensions] if cell.key
                 else ["all"] + [""] * (len(report.dimensions) - 1))
        rows.append(label + [str(cell.attempts), _percent(cell.right_party),
                             _percent(cell.promise), _percent(cell.kept), str(cell.collected),
                             _amount(cell.collected_per_attempt),
                             _cost(cell.attempts_per_contact)])
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in rows[:-1]]
    lines.append("  ".join("-" * w for w in widths))
    lines.append("  ".join(v.ljust(w) for v, w in zip(rows[-1], widths)))
    covers = report.filters
    lines.append(
        f"campaign {covers.campaign or 'all'}, local dates {covers.date_from or 'any'} to "
        f"{covers.date_to or 'any'}, amounts in {report.currency or '-'}, promises judged "
        f"as of {report.as_of:%Y-%m-%d %H:%M %Z}; [95%: Wilson for rates, bootstrap for "
        "amounts]")
    return "\n".join(line.rstrip() for line in lines) + "\n"
