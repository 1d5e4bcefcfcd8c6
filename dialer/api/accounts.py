"""The accounts' routes: a page of accounts, searched (supervisors and
admins), and one account's 360 view (an agent's token: a debtor of its
own calls only, dialer.access.roles): the account, its phones, attempts,
dispositions, promises, payments (brand and last four at most) and
messages."""

from __future__ import annotations

import dataclasses
import json
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from uuid import UUID

import asyncpg
from aiohttp import web

from dialer.http import json_error, page_of, page_response
from dialer.messages.http import message_json
from dialer.messages.store import account_messages
from dialer.portfolio.model import AccountStatus
from dialer.portfolio.views import account_page, account_view

POOL = web.AppKey("accounts_pool", asyncpg.Pool)


def _plain(value: object) -> object:
    """A value JSON has no type for, as the API writes it: times and dates
    in ISO 8601, amounts as text (exact), ids as text, enums by value."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"{type(value).__name__} is not written as JSON here")


def _dumps(data: object) -> str:
    return json.dumps(data, default=_plain)


async def list_accounts(request: web.Request) -> web.Response:
    """A page of accounts by id; ?search= a reference's start, a part of the
    name or of a number; ?status= one status."""
    page = page_of(request)
    status = request.query.get("status")  # one of the enum's: the document's
    accounts = await account_page(request.app[POOL], request.query.get("search"),
                                  None if status is None else AccountStatus(status),
                                  page.after, page.limit)
    return page_response([dataclasses.asdict(a) for a in accounts], page, lambda item: item["id"],
                         _dumps)


async def show_account(request: web.Request) -> web.Response:
    """The account's 360 view; 404 unknown."""
    pool, reference = request.app[POOL], request.match_info["reference"]
    view = await account_view(pool, reference)
    if view is None:
        return json_error(404, f"no account with reference {reference!r}")
    shown = dataclasses.asdict(view)
    shown["messages"] = [message_json(m) for m in await account_messages(pool, view.account.id)]
    return web.json_response(shown, dumps=_dumps)


def installer(pool: asyncpg.Pool):
    """What puts the accounts' routes on the API's application."""
    def install(app: web.Application) -> None:
        app[POOL] = pool
        app.add_routes([web.get("/accounts", list_accounts),
                        web.get("/accounts/{reference}", show_account)])
    return install
