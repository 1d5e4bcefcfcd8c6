"""The portfolio's routes. Imports: a CSV or JSON-lines file sent as the
body is imported as `recobro accounts import` imports it (the good rows
kept, each bad one quarantined and answered with its line and the field
at fault), and a batch's quarantine read back. The do-not-call list: a
page of its entries (numbers and whole accounts, do-not-call and
opt-outs), add an entry (supervisors and admins), take one off (admins:
dialer.access.roles). Each request that changes something is in the
API's audit (dialer.http); the list is changed through the same functions
as `recobro dnc add` and every opt-out (dialer.portfolio.store)."""

from __future__ import annotations

import io

import asyncpg
from aiohttp import web

from dialer.errors import ConfigError
from dialer.http import json_body, json_error, page_of, page_response
from dialer.portfolio.commands import import_defaults, parse_do_not_call
from dialer.portfolio.importer import import_upload
from dialer.portfolio.model import DoNotCallReason
from dialer.portfolio.store import (
    AccountStore,
    DoNotCallEntry,
    add_do_not_call,
    do_not_call_of,
    do_not_call_page,
    remove_do_not_call,
)

POOL = web.AppKey("portfolio_pool", asyncpg.Pool)
# What a number written without its country code is taken as by default.
DEFAULT_REGION = "US"


def entry_json(stored: DoNotCallEntry) -> dict[str, object]:
    return {"id": stored.id, "number": stored.entry.number, "account": stored.entry.reference,
            "reason": stored.entry.reason.value, "added_at": stored.added_at.isoformat()}


async def list_entries(request: web.Request) -> web.Response:
    """A page of the list, oldest first; ?reason=dnc|opt_out for one kind."""
    page = page_of(request)
    reason = request.query.get("reason")  # one of the enum's: the document's
    entries = await do_not_call_page(request.app[POOL],
                                     None if reason is None else DoNotCallReason(reason),
                                     page.after, page.limit)
    return page_response([entry_json(e) for e in entries], page, lambda item: item["id"])


async def add_entry(request: web.Request) -> web.Response:
    """A number or a whole account on the list: 201 with the new entry, 200
    with the entry that was there already (kept with its first reason)."""
    body = await json_body(request)  # its fields and their types: the document's
    try:
        entry = parse_do_not_call(body.get("number"), body.get("account"),
                                  body.get("reason", DoNotCallReason.DNC.value),
                                  body.get("region", DEFAULT_REGION))
    except ConfigError as error:
        return json_error(400, f"the body: {error}")
    pool = request.app[POOL]
    added = await add_do_not_call(pool, entry)
    stored = await do_not_call_of(pool, entry)
    return web.json_response({**entry_json(stored), "added": added is not None},
                             status=201 if added is not None else 200)


async def remove_entry(request: web.Request) -> web.Response:
    """Take an entry off the list; 404 no such entry."""
    entry_id = int(request.match_info["entry"])  # digits: the document's
    removed = await remove_do_not_call(request.app[POOL], entry_id)
    if removed is None:
        return json_error(404, f"no do-not-call entry {entry_id} (GET /dnc lists them)")
    return web.json_response(entry_json(removed))


async def import_accounts(request: web.Request) -> web.Response:
    """The body, a file of accounts, imported in one transaction: 201 with
    what was stored and every bad row's line and reason (quarantined in
    the batch); with ?strict=true any bad row stores nothing (422 with the
    rows); 400 a file that cannot be read at all (its header)."""
    query = request.query  # each parameter's form: the document's
    defaults = import_defaults(query.get("region", "US"), query.get("currency", "USD"),
                               query.get("language", "es"))
    source = query.get("source", "upload")
    data = await request.read()
    try:
        outcome = await import_upload(AccountStore(request.app[POOL]), f"api: {source}",
                                      io.BytesIO(data), {}, defaults,
                                      file_format=query.get("format", "csv"),
                                      strict=query.get("strict") == "true")
    except ConfigError as error:
        return json_error(400, str(error))
    errors = [{"line": e.line, "reason": e.reason} for e in outcome.errors]
    report = outcome.report
    if report is None:
        return web.json_response({"imported": False, "errors": errors}, status=422)
    return web.json_response({"imported": True, "batch": report.batch_id,
                              "inserted": report.inserted, "updated": report.updated,
                              "quarantined": report.quarantined, "phones_retired": report.retired,
                              "phones_restored": report.restored, "errors": errors},
                             status=201)


async def import_batch(request: web.Request) -> web.Response:
    """A batch and its quarantined rows (line and reason); 404 unknown."""
    batch_id = int(request.match_info["batch"])  # digits: the document's
    store = AccountStore(request.app[POOL])
    batch = await store.batch(batch_id)
    if batch is None:
        return json_error(404, f"no import batch {batch_id}")
    rows = await store.quarantine(batch_id)
    return web.json_response({"batch": batch.id, "source": batch.source,
                              "at": batch.at.isoformat(), "accepted": batch.accepted,
                              "quarantined": batch.quarantined,
                              "errors": [{"line": r.line, "reason": r.reason} for r in rows]})


def installer(pool: asyncpg.Pool):
    """What puts the imports' and the do-not-call list's routes on the API's
    application."""
    def install(app: web.Application) -> None:
        app[POOL] = pool
        app.add_routes([web.post("/imports", import_accounts),
                        web.get("/imports/{batch}", import_batch),
                        web.get("/dnc", list_entries), web.post("/dnc", add_entry),
                        web.delete("/dnc/{entry}", remove_entry)])
    return install
