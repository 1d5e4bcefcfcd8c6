"""The campaigns' routes (supervisors and admins: dialer.access.roles):
list, create, show with live figures (once, or as server-sent events),
start, pause, resume, stop, and set a stopped campaign's dial mode or
abandon target. Each does what `recobro
campaign ...` does, through the same functions (dialer.outbound.commands,
.store, .reports); a lifecycle refusal is a 409 naming the fix."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime

import asyncpg
from aiohttp import web

from dialer.errors import ConfigError
from dialer.http import json_body, json_error, page_of, page_response
from dialer.outbound import reports
from dialer.outbound.commands import build_campaign, check_abandon_target, pacing
from dialer.outbound.defaults import CAMPAIGN_DEFAULTS
from dialer.outbound.lifecycles import CampaignAction
from dialer.outbound.store import (
    CampaignExists,
    CampaignRefused,
    CampaignStore,
    CampaignSummary,
    UnknownCampaign,
)
from dialer.portfolio.model import DialMode

STORE = web.AppKey("campaigns", CampaignStore)
# A live-figures stream: an event every EVERY_S seconds unless asked
# otherwise, for STREAM_S (then the client connects again, as EventSource does).
EVERY_S = 2
MAX_EVERY_S = 60
STREAM_S = 300
# The payment terms a body may give for every segment (as the CLI's options).
_PAYMENT = ("settlement_percent", "instalments", "promise_days")
_OPTION = re.compile(r"--([a-z][a-z-]*)")


def _in_body_words(error: ConfigError) -> str:
    """A campaign setting's error as the body names it: the CLI's option
    --ring-timeout is the body's "ring_timeout" (the body's fields are the
    options' names)."""
    return _OPTION.sub(lambda m: f"the body's \"{m.group(1).replace('-', '_')}\"", str(error))


def _summary(campaign: CampaignSummary) -> dict[str, object]:
    return {"id": campaign.id, "name": campaign.name, "state": campaign.state.value,
            "dial_mode": campaign.dial_mode.value, "abandon_target": campaign.abandon_target,
            "answered_to": campaign.answered_to.value,
            "created_at": campaign.created_at.isoformat()}


async def list_campaigns(request: web.Request) -> web.Response:
    """A page of the campaigns, oldest first."""
    page = page_of(request)
    campaigns = await request.app[STORE].page(page.after, page.limit)
    return page_response([_summary(c) for c in campaigns], page, lambda item: item["id"])


async def create_campaign(request: web.Request) -> web.Response:
    """A new campaign (stopped) with its leads drawn; 400 naming the field
    that is wrong, 409 a name taken."""
    body = await json_body(request)  # its fields and their types: the document's
    given = {**CAMPAIGN_DEFAULTS, **body}
    segments = given["segments"]
    try:
        campaign = build_campaign(
            given["name"], given["mode"], ratio=given["ratio"],
            abandon_target=given["abandon_target"], caller_id=given["caller_id"],
            window=given["window"], ring_timeout_s=given["ring_timeout"],
            wrap_up_s=given["wrap_up"], early_max_dpd=given["early_max_dpd"],
            mid_max_dpd=given["mid_max_dpd"],
            segments=segments if isinstance(segments, str) else ",".join(segments),
            strategies=None, portfolio=given["portfolio"], amd=given.get("amd", False),
            machine_action=given["machine_action"],
            allow_above_cap=given.get("allow_abandon_above_cap", False),
            payment={name: None if body.get(name) is None else str(body[name])
                     for name in _PAYMENT},
            answered_to=given["answered_to"], lines=given.get("lines"))
    except ConfigError as error:
        return json_error(400, _in_body_words(error))
    try:
        _, leads = await request.app[STORE].create_with_leads(campaign)
    except CampaignExists as error:
        return json_error(409, str(error))
    except ConfigError as error:  # a value PostgreSQL refused that no check caught
        return json_error(400, str(error))
    return web.json_response({**await _shown(request, campaign.name), "leads_drawn": leads},
                             status=201)


async def _shown(request: web.Request, name: str) -> dict[str, object]:
    """The campaign, its settings and its live figures; UnknownCampaign."""
    store, now = request.app[STORE], datetime.now(UTC)
    campaign = await store.load(name)
    figures = await reports.campaign_figures(store.pool, campaign.id, now)
    leads = figures.leads
    return {
        "id": campaign.id, "name": campaign.name,
        "state": (await store.state(campaign.id)).value,
        "dial_mode": campaign.dial_mode.value, "pacing": pacing(campaign),
        "abandon_target": campaign.abandon_target, "answered_to": campaign.answered_to.value,
        "max_lines": campaign.max_lines, "window": campaign.window_profile,
        "caller_id": campaign.caller_id, "segments": [s.value for s in campaign.segments],
        "calls_in_flight": figures.in_flight,
        "today": {"answered": figures.answered_today, "live_answers": figures.today.live,
                  "abandoned": figures.today.abandoned,
                  "abandon_rate": figures.today.rate},
        "leads": {"left": figures.leads_left, "callable_now": leads.callable_now,
                  "waiting": leads.waiting,
                  "next_callable_at": leads.next_callable_at and
                  leads.next_callable_at.isoformat(),
                  "dialing": leads.dialing, "done": leads.done},
    }


async def show_campaign(request: web.Request) -> web.Response:
    """The campaign with its live figures; 404 unknown."""
    try:
        return web.json_response(await _shown(request, request.match_info["campaign"]))
    except UnknownCampaign as error:
        return json_error(404, str(error))


async def steer_campaign(request: web.Request) -> web.Response:
    """Start, pause, resume or stop; running dialers obey within a tick.
    404 unknown, 409 not from this state (the error names the fix)."""
    name = request.match_info["campaign"]
    action = CampaignAction(request.match_info["action"])  # the document's enum
    try:
        state = await request.app[STORE].steer(name, action)
    except UnknownCampaign as error:
        return json_error(404, str(error))
    except CampaignRefused as error:
        return json_error(409, str(error))
    return web.json_response({"campaign": name, "state": state.value})


async def set_dial_mode(request: web.Request) -> web.Response:
    """A stopped campaign's dial mode (every segment's too); 409 while it runs
    or is paused (stop it first)."""
    name = request.match_info["campaign"]
    mode = DialMode((await json_body(request))["dial_mode"])  # the document's enum
    try:
        await request.app[STORE].set_dial_mode(name, mode)
        return web.json_response(await _shown(request, name))
    except UnknownCampaign as error:
        return json_error(404, str(error))
    except CampaignRefused as error:
        return json_error(409, str(error))


async def set_abandon_target(request: web.Request) -> web.Response:
    """A stopped campaign's abandon target: at most the 3% cap unless the
    body allows more (allow_abandon_above_cap); 409 while it runs or is
    paused (stop it first)."""
    name = request.match_info["campaign"]
    body = await json_body(request)
    target = float(body["abandon_target"])  # a number: the document's
    try:
        check_abandon_target(target, body.get("allow_abandon_above_cap", False))
    except ConfigError as error:
        return json_error(400, _in_body_words(error))
    try:
        await request.app[STORE].set_abandon_target(name, target)
        return web.json_response(await _shown(request, name))
    except UnknownCampaign as error:
        return json_error(404, str(error))
    except CampaignRefused as error:
        return json_error(409, str(error))


async def campaign_events(request: web.Request) -> web.StreamResponse:
    """The campaign's live figures (as GET /campaigns/{campaign} shows them)
    as server-sent events, one `figures` event every ?every= seconds (1 to
    60, 2 by default), for STREAM_S; a browser's EventSource then connects
    again by itself. 404 unknown."""
    name = request.match_info["campaign"]
    every = int(request.query.get("every", EVERY_S))  # digits: the document's
    if not 1 <= every <= MAX_EVERY_S:
        return json_error(400, f"the query's 'every' must be 1 to {MAX_EVERY_S} (seconds)")
    try:
        shown = await _shown(request, name)
    except UnknownCampaign as error:
        return json_error(404, str(error))
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-cache"})
    await response.prepare(request)
    loop = asyncio.get_running_loop()
    ends = loop.time() + STREAM_S
    try:
        await response.write(f"retry: {every * 1000}\n\n".encode())
        while True:
            await response.write(f"event: figures\ndata: {json.dumps(shown)}\n\n".encode())
            if loop.time() + every > ends:
                break
            await asyncio.sleep(every)
            shown = await _shown(request, name)
    except ConnectionResetError:
        pass  # the client went away: nobody to tell
    return response


def installer(pool: asyncpg.Pool):
    """What puts the campaigns' routes on the API's application."""
    def install(app: web.Application) -> None:
        app[STORE] = CampaignStore(pool)
        app.add_routes([
            web.get("/campaigns", list_campaigns),
            web.post("/campaigns", create_campaign),
            web.get("/campaigns/{campaign}", show_campaign),
            web.get("/campaigns/{campaign}/events", campaign_events),
            web.put("/campaigns/{campaign}/dial-mode", set_dial_mode),
            web.put("/campaigns/{campaign}/abandon-target", set_abandon_target),
            web.post("/campaigns/{campaign}/{action}", steer_campaign),
        ])
    return install
