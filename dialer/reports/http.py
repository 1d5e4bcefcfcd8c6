"""The strategy report's route: GET /reports/strategy (supervisors and
admins: dialer.access.roles), the report as JSON (default), CSV, or the
contact-rate chart as PNG. Query: campaign, from, to (the debtor's local
dates, inclusive), currency, by (dimensions), format."""

from __future__ import annotations

from datetime import UTC, date, datetime

import asyncpg
from aiohttp import web

from dialer.errors import ConfigError
from dialer.http import json_error
from dialer.reports.chart import chart_title, contact_rate_png, require_matplotlib
from dialer.reports.commands import currency_code, gather, render
from dialer.reports.strategy import ALL_DIMENSIONS, Filters, parse_dimensions

POOL = web.AppKey("reports_pool", asyncpg.Pool)
FORMATS = {"json": "application/json", "csv": "text/csv", "png": "image/png"}
_QUERY = ("campaign", "from", "to", "currency", "by", "format")


def _date(request: web.Request, name: str) -> date | None:
    text = request.query.get(name)
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"the query's {name!r}: {text!r} is not a date (YYYY-MM-DD)") from None


def _filters(request: web.Request) -> Filters:
    """The report's filters from the query; ConfigError naming the field."""
    unknown = sorted(set(request.query) - set(_QUERY))
    if unknown:
        raise ConfigError(f"the query's {unknown[0]!r}: not a parameter of this route "
                          f"({', '.join(_QUERY)})")
    currency = request.query.get("currency")
    try:
        return Filters(request.query.get("campaign"), _date(request, "from"),
                       _date(request, "to"), currency and currency_code(currency))
    except ValueError as error:
        raise ConfigError(f"the query: {error}") from None


async def strategy_report(request: web.Request) -> web.Response:
    """The strategy report; 400 naming the query field that is wrong."""
    form = request.query.get("format", "json")
    if form == "png":
        try:
            require_matplotlib()
        except ConfigError as error:
            return json_error(501, str(error))
    try:
        if form not in FORMATS:
            raise ConfigError(f"the query's 'format': {form!r} is not one of "
                              f"{', '.join(FORMATS)}")
        filters = _filters(request)
        by = request.query.get("by")
        dimensions = ALL_DIMENSIONS if by is None else parse_dimensions(by)
        gathered = await gather(request.app[POOL], filters, dimensions, datetime.now(UTC))
        if form == "png":
            return web.Response(body=contact_rate_png(gathered.attempts, chart_title(filters)),
                                content_type=FORMATS[form])
    except ValueError as error:
        return json_error(400, f"the query's 'by': {error}")
    except ConfigError as error:
        return json_error(400, str(error))
    return web.Response(text=render(gathered.report, form), content_type=FORMATS[form])


def installer(pool: asyncpg.Pool):
    """What puts the reports' route on the API's application."""
    def install(app: web.Application) -> None:
        app[POOL] = pool
        app.add_routes([web.get("/reports/strategy", strategy_report)])
    return install
