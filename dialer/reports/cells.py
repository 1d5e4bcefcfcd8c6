"""A report's cells (pure): things counted (call attempts, messages)
grouped by dimensions (segment, the debtor's local hour and weekday, dial
mode, channel, template version, portfolio), each cell's figures (a rate with its
counts and Wilson interval, an amount with its bootstrap interval, a cost
in attempts or messages), and the report as a terminal table, CSV and
JSON."""

from __future__ import annotations

import csv
import enum
import io
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from dialer.reports.stats import (
    BOOTSTRAP_RESAMPLES,
    Interval,
    bootstrap_mean,
    cost,
    wilson,
)

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")  # ISO 1..7


class Dimension(enum.Enum):
    """What a report's cells are split by (the attribute of what is counted)."""

    PORTFOLIO = "portfolio"  # the account's client_segment, as its file named it
    SEGMENT = "segment"
    HOUR = "local_hour"
    WEEKDAY = "weekday"
    DIAL_MODE = "dial_mode"
    CHANNEL = "channel"
    TEMPLATE = "template"


# --by's words for the dimensions.
DIMENSION_WORDS = {"portfolio": Dimension.PORTFOLIO, "segment": Dimension.SEGMENT, "hour": Dimension.HOUR,
                   "weekday": Dimension.WEEKDAY, "mode": Dimension.DIAL_MODE,
                   "channel": Dimension.CHANNEL, "template": Dimension.TEMPLATE}


def parse_dimensions(text: str, allowed: Sequence[Dimension]) -> tuple[Dimension, ...]:
    """`segment,hour` -> those dimensions, in the order of allowed;
    ValueError naming what is wrong."""
    words = {w: d for w, d in DIMENSION_WORDS.items() if d in allowed}
    chosen = [w.strip() for w in text.split(",") if w.strip()]
    if not chosen or any(w not in words for w in chosen):
        raise ValueError(f"{text!r}: a comma-separated list of {', '.join(words)}")
    return tuple(d for d in allowed if d in {words[w] for w in chosen})


@dataclass(frozen=True)
class Rate:
    """successes of n, the rate and its 95% Wilson interval."""

    name: str
    n: int
    successes: int
    interval: Interval


@dataclass(frozen=True)
class Amount:
    """Money: the total over n things and the mean per thing, with its 95%
    bootstrap interval."""

    name: str
    n: int
    total: Decimal
    per_item: Interval


@dataclass(frozen=True)
class Cost:
    """Things (attempts, messages) per success, with the reciprocal of the
    rate's Wilson bounds as its 95% interval."""

    name: str
    interval: Interval


Figure = Rate | Amount | Cost


def rate(name: str, successes: int, n: int) -> Rate:
    """A rate of successes in n."""
    return Rate(name, n, successes, wilson(successes, n))


def amount(name: str, values: Sequence[Decimal], seed_key: str) -> Amount:
    """An amount over values (one per thing, 0 for none)."""
    return Amount(name, len(values), sum(values, Decimal(0)),
                  bootstrap_mean([float(v) for v in values], seed_key))


def per_success(name: str, successes: int, n: int) -> Cost:
    """n things per success."""
    return Cost(name, cost(successes, n))


@dataclass(frozen=True)
class Cell:
    """One cell: its value of each dimension, how many things it holds, its
    figures."""

    key: tuple[Any, ...]
    count: int
    figures: tuple[Figure, ...]

    def __getitem__(self, name: str) -> Figure:
        for figure in self.figures:
            if figure.name == name:
                return figure
        raise KeyError(name)


@dataclass(frozen=True)
class Filters:
    """What a report covers: a campaign (None: all), the debtor's local
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
    """A report: of what (calls, messages), counting what (attempts,
    messages), its cells and their totals, what it covers, as of when."""

    of: str
    unit: str
    dimensions: tuple[Dimension, ...]
    cells: tuple[Cell, ...]
    totals: Cell
    filters: Filters
    as_of: datetime
    currency: str | None


Figures = Callable[[Sequence[Any], str], tuple[Figure, ...]]


def build_report(of: str, unit: str, things: Iterable[Any], dimensions: Sequence[Dimension],
                 figures: Figures, filters: Filters, as_of: datetime,
                 currency: str | None) -> Report:
    """Things grouped into cells by the dimensions (sorted by them), each
    cell's figures, and the totals over all."""
    everything = list(things)
    groups: dict[tuple[Any, ...], list[Any]] = defaultdict(list)
    for thing in everything:
        groups[tuple(getattr(thing, d.value) for d in dimensions)].append(thing)
    names = [d.value for d in dimensions]
    cells = tuple(
        Cell(key, len(groups[key]),
             figures(groups[key], "|".join(f"{n}={v}" for n, v in zip(names, key))))
        for key in sorted(groups))
    return Report(of, unit, tuple(dimensions), cells,
                  Cell((), len(everything), figures(everything, "totals")), filters, as_of,
                  currency)


def _number(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _interval_json(interval: Interval, digits: int) -> dict[str, object]:
    return {"estimate": _number(interval.estimate, digits),
            "low": _number(interval.low, digits), "high": _number(interval.high, digits)}


def _figure_json(figure: Figure) -> dict[str, object]:
    if isinstance(figure, Rate):
        return {"n": figure.n, "successes": figure.successes,
                "rate": _number(figure.interval.estimate, 4),
                "low": _number(figure.interval.low, 4), "high": _number(figure.interval.high, 4)}
    if isinstance(figure, Amount):
        return {"total": f"{figure.total:.2f}", "n": figure.n,
                "per_item": _interval_json(figure.per_item, 2)}
    return _interval_json(figure.interval, 2)


def _key(dimensions: Sequence[Dimension], key: tuple[Any, ...]) -> dict[str, object]:
    return {d.value: WEEKDAYS[v - 1] if d is Dimension.WEEKDAY else v
            for d, v in zip(dimensions, key)}


def _cell_json(report: Report, cell: Cell) -> dict[str, object]:
    return {**_key(report.dimensions, cell.key), report.unit: cell.count,
            **{f.name: _figure_json(f) for f in cell.figures}}


def to_json(report: Report) -> str:
    """The report as a JSON document."""
    filters = report.filters
    return json.dumps({
        "report": report.of,
        "as_of": report.as_of.isoformat(),
        "filters": {"campaign": filters.campaign,
                    "from": filters.date_from and filters.date_from.isoformat(),
                    "to": filters.date_to and filters.date_to.isoformat(),
                    "dates_in": "the debtor's local time"},
        "currency": report.currency,
        "dimensions": [d.value for d in report.dimensions],
        "intervals": {"rates": "Wilson score, 95%",
                      "amounts": "percentile bootstrap of the mean, 95%, "
                                 f"{BOOTSTRAP_RESAMPLES} resamples, seeded by the cell",
                      "costs": "reciprocal of the rate's Wilson bounds, 95%"},
        "cells": [_cell_json(report, c) for c in report.cells],
        "totals": _cell_json(report, report.totals),
    }, indent=2)


def _blank(value: float | None, digits: int) -> object:
    return "" if value is None else round(value, digits)


def _csv_columns(figure: Figure) -> list[tuple[str, object]]:
    name = figure.name
    if isinstance(figure, Rate):
        i = figure.interval
        return [(f"{name}_n", figure.n), (f"{name}_successes", figure.successes),
                (f"{name}_rate", _blank(i.estimate, 4)), (f"{name}_low", _blank(i.low, 4)),
                (f"{name}_high", _blank(i.high, 4))]
    if isinstance(figure, Amount):
        i = figure.per_item
        return [(f"{name}_total", f"{figure.total:.2f}"), (f"{name}_per_item", _blank(i.estimate, 2)),
                (f"{name}_low", _blank(i.low, 2)), (f"{name}_high", _blank(i.high, 2))]
    i = figure.interval
    return [(name, _blank(i.estimate, 2)), (f"{name}_low", _blank(i.low, 2)),
            (f"{name}_high", _blank(i.high, 2))]


def to_csv(report: Report) -> str:
    """The report as CSV: one row per cell, its key then every figure
    (counts, estimate, 95% bounds; empty where there is none)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    header = [d.value for d in report.dimensions] + [report.unit] + [
        column for figure in report.totals.figures for column, _ in _csv_columns(figure)]
    writer.writerow(header)
    for cell in report.cells:
        key = _key(report.dimensions, cell.key)
        writer.writerow([key[d.value] for d in report.dimensions] + [cell.count] + [
            value for figure in cell.figures for _, value in _csv_columns(figure)])
    return out.getvalue()


def _shown(figure: Figure) -> str:
    """A figure in a table's column: successes/n percent [interval]; an
    amount per thing [interval] (total); a cost [interval]."""
    if isinstance(figure, Rate):
        i = figure.interval
        if i.estimate is None or i.low is None or i.high is None:
            return "-"
        return (f"{figure.successes}/{figure.n} {100 * i.estimate:.0f}% "
                f"[{100 * i.low:.0f}-{100 * i.high:.0f}]")
    if isinstance(figure, Amount):
        i = figure.per_item
        if i.estimate is None:
            return "-"
        return f"{i.estimate:.2f} [{i.low:.2f}-{i.high:.2f}] ({figure.total:.2f})"
    i = figure.interval
    if i.low is None:
        return "-"
    estimate = "-" if i.estimate is None else f"{i.estimate:.1f}"
    high = "inf" if i.high is None else f"{i.high:.1f}"
    return f"{estimate} [{i.low:.1f}-{high}]"


def to_table(report: Report, headings: dict[str, str]) -> str:
    """The report as a terminal table (headings: each figure's column
    title), with what it covers under it."""
    headers = [d.value for d in report.dimensions] + [report.unit] + [
        headings.get(f.name, f.name) for f in report.totals.figures]
    rows = []
    for cell in (*report.cells, report.totals):
        key = _key(report.dimensions, cell.key)
        label = ([str(key[d.value]) for d in report.dimensions] if cell.key
                 else ["all"] + [""] * (len(report.dimensions) - 1))
        rows.append(label + [str(cell.count)] + [_shown(f) for f in cell.figures])
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.ljust(w) for v, w in zip(values, widths)).rstrip()

    rule = line(["-" * w for w in widths])
    covers = report.filters
    return "\n".join([
        line(headers), rule, *(line(r) for r in rows[:-1]), rule, line(rows[-1]),
        (f"{report.of}: campaign {covers.campaign or 'all'}, local dates "
        f"{covers.date_from or 'any'} to {covers.date_to or 'any'}, amounts in "
        f"{report.currency or '-'}, as of {report.as_of:%Y-%m-%d %H:%M %Z}; rates "
        "successes/n % [95% Wilson], amounts per item [95% bootstrap] (total)")]) + "\n"
