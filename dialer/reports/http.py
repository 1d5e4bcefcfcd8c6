"""The strategy report's route: GET /reports/strategy (supervisors and
admins: dialer.access.roles), the report of calls (default) or messages
as JSON (default) or CSV, or the calls' contact-rate chart as PNG.
Query: of, campaign, from, to (the debtor's local dates, inclusive),
currency, by (dimensions), format."""

from __future__ import annotations

from datetime import UTC, date, datetime

import asyncpg
from aiohttp import web

from dialer.errors import ConfigError
from dialer.http import json_error
from dialer.reports.cells import Filters
from dialer.reports.chart import require_matplotlib
from dialer.reports.commands import (
    chart_png,
    currency_code,
    dimensions_of,
    gather,
    render,
)

POOL = web.AppKey("reports_pool", asyncpg.Pool)
FORMATS = {"json": "application/json", "csv": "text/csv", "png": "image/png"}
_QUERY = ("of", "campaign", "from", "to", "currency", "by", "format")


def _date(request: web.Request, name: str) -> date | None:
    # The document (dialer/openapi.yaml) holds the format: checked already.
    text = request.query.get(name)
    return None if text is None else date.fromisoformat(text)


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
    """The strategy report; 400 naming the query field that is wrong (501
    for a chart where matplotlib is not installed)."""
    # The document holds each field's choices (checked already) and defaults.
    form, of = request.query.get("format", "json"), request.query.get("of", "calls")
    try:
        if form == "png":
            try:
                require_matplotlib()
            except ConfigError as error:
                return json_error(501, str(error))
        filters = _filters(request)
        try:
            dimensions = dimensions_of(of, request.query.get("by"))
        except ValueError as error:
            raise ConfigError(f"the query's 'by': {error}") from None
        pool = request.app[POOL]
        if form == "png":
            return web.Response(body=await chart_png(pool, filters),
                                content_type=FORMATS[form])
        report = await gather(pool, of, filters, dimensions, datetime.now(UTC))
    except ConfigError as error:
        return json_error(400, str(error))
    return web.Response(text=render(report, form), content_type=FORMATS[form])


def installer(pool: asyncpg.Pool):
    """What puts the reports' route on the API's application."""
    def install(app: web.Application) -> None:
        app[POOL] = pool
        app.add_routes([web.get("/reports/strategy", strategy_report)])
    return install
