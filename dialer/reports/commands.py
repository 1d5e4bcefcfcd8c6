"""What `recobro report` does: the strategy report of the filters asked
for, as a terminal table, CSV or JSON on stdout, and the chart as a PNG
file when asked."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from dialer.errors import ConfigError
from dialer.reports.chart import chart_title, contact_rate_png, require_matplotlib
from dialer.reports.store import report_attempts, report_currency
from dialer.reports.strategy import (
    Attempt,
    Dimension,
    Filters,
    Report,
    build_report,
    to_csv,
    to_json,
    to_table,
)
from dialer.store.database import configured_database

FORMATS = ("table", "csv", "json")
_CURRENCY = re.compile(r"[A-Z]{3}")


def currency_code(text: str) -> str:
    """An ISO 4217 code as --currency or ?currency= gives it; ValueError
    naming the setting."""
    code = text.strip().upper()
    if not _CURRENCY.fullmatch(code):
        raise ValueError(f"currency {text!r}: a three-letter ISO 4217 code (USD, EUR, MXN)")
    return code


@dataclass(frozen=True)
class Gathered:
    """The report and the attempts it came from (the chart's too)."""

    report: Report
    attempts: list[Attempt]


async def gather(pool: asyncpg.Pool, filters: Filters, dimensions: tuple[Dimension, ...],
                 as_of: datetime) -> Gathered:
    """Read the covered attempts and build the report (promises judged as
    of as_of)."""
    currency = await report_currency(pool, filters)
    attempts = [] if currency is None else await report_attempts(pool, filters, currency, as_of)
    return Gathered(build_report(attempts, dimensions, filters, as_of, currency), attempts)


def render(report: Report, form: str) -> str:
    """The report in one of FORMATS."""
    if form == "csv":
        return to_csv(report)
    if form == "json":
        return to_json(report) + "\n"
    return to_table(report)


async def report_command(filters: Filters, dimensions: tuple[Dimension, ...], form: str,
                         chart: Path | None) -> int:
    """Print the report; write the chart's PNG when asked (before the
    database is read: a missing extra fails fast)."""
    if chart is not None:
        require_matplotlib()
        if not chart.parent.is_dir():
            raise ConfigError(f"--chart {chart}: no directory {chart.parent}")
    async with configured_database() as pool:
        gathered = await gather(pool, filters, dimensions, datetime.now(UTC))
    if chart is not None:
        chart.write_bytes(contact_rate_png(gathered.attempts, chart_title(filters)))
        print(f"chart: {chart}", file=sys.stderr)
    sys.stdout.write(render(gathered.report, form))
    return 0
