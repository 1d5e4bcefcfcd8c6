"""What `recobro report` does: a strategy report (of calls or of
messages) of the filters asked for, as a terminal table, CSV or JSON on
stdout, and the calls' contact-rate chart as a PNG file when asked."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from dialer.errors import ConfigError
from dialer.reports import messaging, strategy
from dialer.reports.cells import (
    Dimension,
    Filters,
    Report,
    parse_dimensions,
    to_csv,
    to_json,
    to_table,
)
from dialer.reports.chart import chart_title, contact_rate_png, require_matplotlib
from dialer.reports.store import report_attempts, report_currency, report_messages
from dialer.store.database import configured_database

FORMATS = ("table", "csv", "json")
@dataclass(frozen=True)
class Kind:
    """What a report may be of: the dimensions it is split by unless told,
    those it may be split by, and its table's column titles."""

    default: tuple[Dimension, ...]
    choices: tuple[Dimension, ...]
    headings: dict[str, str]


KINDS = {"calls": Kind(strategy.CALL_DIMENSIONS, strategy.CALL_CHOICES, strategy.HEADINGS),
         "messages": Kind(messaging.MESSAGE_DIMENSIONS, messaging.MESSAGE_CHOICES,
                          messaging.HEADINGS)}


def dimensions_of(of: str, by: str | None) -> tuple[Dimension, ...]:
    """The dimensions --by or ?by= names for a report of this kind (None:
    its default); ValueError naming what is wrong."""
    kind = KINDS[of]
    return kind.default if by is None else parse_dimensions(by, kind.choices)
_CURRENCY = re.compile(r"[A-Z]{3}")


def currency_code(text: str) -> str:
    """An ISO 4217 code as --currency or ?currency= gives it; ValueError
    naming the setting."""
    code = text.strip().upper()
    if not _CURRENCY.fullmatch(code):
        raise ValueError(f"currency {text!r}: a three-letter ISO 4217 code (USD, EUR, MXN)")
    return code


async def gather(pool: asyncpg.Pool, of: str, filters: Filters,
                 dimensions: tuple[Dimension, ...], as_of: datetime) -> Report:
    """Read what the report covers and build it (promises and follow-up
    windows judged as of as_of)."""
    currency = await report_currency(pool, filters, of)
    if of == "messages":
        messages = ([] if currency is None
                    else await report_messages(pool, filters, currency, as_of))
        return messaging.messages_report(messages, dimensions, filters, as_of, currency)
    attempts = [] if currency is None else await report_attempts(pool, filters, currency, as_of)
    return strategy.calls_report(attempts, dimensions, filters, as_of, currency)


async def chart_png(pool: asyncpg.Pool, filters: Filters) -> bytes:
    """The chart of the calls the filters cover."""
    currency = await report_currency(pool, filters, "calls")
    attempts = ([] if currency is None
                else await report_attempts(pool, filters, currency, datetime.now(UTC)))
    return contact_rate_png(attempts, chart_title(filters))


def render(report: Report, form: str) -> str:
    """The report in one of FORMATS."""
    if form == "csv":
        return to_csv(report)
    if form == "json":
        return to_json(report) + "\n"
    return to_table(report, KINDS[report.of].headings)


async def report_command(of: str, filters: Filters, dimensions: tuple[Dimension, ...],
                         form: str, chart: Path | None) -> int:
    """Print the report; write the chart's PNG when asked (checked before
    the database is read: a missing extra fails fast)."""
    if chart is not None:
        require_matplotlib()
        if not chart.parent.is_dir():
            raise ConfigError(f"--chart {chart}: no directory {chart.parent}")
    async with configured_database() as pool:
        report = await gather(pool, of, filters, dimensions, datetime.now(UTC))
        if chart is not None:
            chart.write_bytes(await chart_png(pool, filters))
            print(f"chart: {chart}", file=sys.stderr)
    sys.stdout.write(render(report, form))
    return 0
