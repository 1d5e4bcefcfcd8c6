"""The API's routes: agents (list, log in and out, pause with a reason,
ready), dispositions, pausing and resuming a call's recording, and each
agent's event WebSocket (screen pops, and pauses the dialer made).
Errors are JSON {"error": "..."} naming what is wrong. Every request shows
the token (Authorization: Bearer ..., or ?token= for a WebSocket)."""

from __future__ import annotations

import asyncio
import hmac
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
from aiohttp import WSMsgType, web

from dialer.agents.state import PERSON_ACTIONS, AgentTransitionError, MissingPauseReason
from dialer.api.agent_events import AgentEvents
from dialer.errors import AmiError, AriError
from dialer.store import hopper
from dialer.store.agents import (
    AgentStore,
    UnknownAgent,
    UnknownAttempt,
    UnknownDisposition,
)
from dialer.telephony.ami import AmiClient
from dialer.telephony.ari import AriClient, AriNotFound


@dataclass(frozen=True)
class Telephony:
    """The API's own links to Asterisk (recording control)."""

    ami: AmiClient
    ari: AriClient


STORE = web.AppKey("store", AgentStore)
POOL = web.AppKey("pool", asyncpg.Pool)
TELEPHONY = web.AppKey("telephony", Telephony)
EVENTS = web.AppKey("agent_events", AgentEvents)
TOKEN = web.AppKey("token", str)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _http_error(kind: type[web.HTTPException], message: str) -> web.HTTPException:
    """An HTTP error to raise, with the same JSON body as _error's."""
    return kind(text=json.dumps({"error": message}), content_type="application/json")


@web.middleware
async def authenticate(request: web.Request, handler):
    header = request.headers.get("Authorization", "")
    shown = header.removeprefix("Bearer ") if header.startswith("Bearer ") \
        else request.query.get("token", "")
    if not hmac.compare_digest(shown.encode(), request.app[TOKEN].encode()):
        return _error(401, "a valid token is needed (Authorization: Bearer RECOBRO_API_TOKEN)")
    return await handler(request)


async def _body(request: web.Request) -> dict:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except ValueError:
        raise _http_error(web.HTTPBadRequest, "the body is not JSON") from None
    if not isinstance(body, dict):
        raise _http_error(web.HTTPBadRequest, "the body must be a JSON object")
    return body


async def list_agents(request: web.Request) -> web.Response:
    agents = await request.app[STORE].list(datetime.now(UTC))
    return web.json_response([{"endpoint": a.endpoint, "name": a.name, "state": a.state.value,
                               "since": a.since.isoformat(), "pause_reason": a.pause_reason,
                               "skills": dict(a.skills)} for a in agents])


async def agent_action(request: web.Request) -> web.Response:
    endpoint, name = request.match_info["endpoint"], request.match_info["action"]
    action = PERSON_ACTIONS.get(name)
    if action is None:
        return _error(404, f"no action {name!r}; actions: {', '.join(PERSON_ACTIONS)}")
    body = await _body(request)
    reason = str(body.get("reason", ""))
    try:
        moved = await request.app[STORE].act(endpoint, action, datetime.now(UTC), reason)
    except UnknownAgent as error:
        return _error(404, str(error))
    except MissingPauseReason as error:
        return _error(400, str(error))
    except AgentTransitionError as error:
        return _error(409, f"agent {endpoint}: {error}")
    return web.json_response({"endpoint": endpoint, "state": moved.after.value,
                              "pause_reason": reason if name == "pause" else ""})


def _attempt_id(request: web.Request) -> uuid.UUID:
    """The attempt the path names; a 404 when it is not an attempt id."""
    try:
        return uuid.UUID(request.match_info["attempt"])
    except ValueError:
        raise _http_error(web.HTTPNotFound,
                          f"{request.match_info['attempt']!r} is not an attempt id") from None


async def dispose(request: web.Request) -> web.Response:
    attempt_id = _attempt_id(request)
    body = await _body(request)
    code, agent = str(body.get("code", "")).upper(), str(body.get("agent", ""))
    if not code or not agent:
        return _error(400, "a disposition needs \"code\" and \"agent\"")
    try:
        effect = await request.app[STORE].dispose(attempt_id, code, agent,
                                                  str(body.get("note", "")), datetime.now(UTC))
    except (UnknownAgent, UnknownAttempt) as error:
        return _error(404, str(error))
    except UnknownDisposition as error:
        return _error(400, str(error))
    return web.json_response({"attempt": str(attempt_id), "code": code, "effect": effect},
                             status=201)


async def recording(request: web.Request) -> web.Response:
    """Pause (e.g. while the debtor reads a card number) or resume a call's
    recording."""
    attempt_id = _attempt_id(request)
    action = request.match_info["action"]
    if action not in ("pause", "resume"):
        return _error(404, f"no recording action {action!r}; actions: pause, resume")
    state = await hopper.recording_of(request.app[POOL], attempt_id)
    if state is None:
        return _error(404, f"no attempt {attempt_id}")
    if state.file is None:
        return _error(404, f"attempt {attempt_id} is not being recorded")
    if state.ended:
        return _error(409, f"the call of attempt {attempt_id} has ended")
    paused = action == "pause"
    telephony = request.app[TELEPHONY]
    try:
        await telephony.ami.mute_recording(
            await telephony.ari.channel_name(str(attempt_id)), paused)
    except AriNotFound:
        return _error(409, f"the call of attempt {attempt_id} has ended")
    except (AmiError, AriError) as error:
        return _error(502, f"Asterisk did not {action} the recording: {error}")
    await hopper.set_recording_paused(request.app[POOL], attempt_id, paused, datetime.now(UTC))
    return web.json_response({"attempt": str(attempt_id), "recording": state.file,
                              "paused": paused})


async def agent_events(request: web.Request) -> web.WebSocketResponse:
    endpoint = request.match_info["endpoint"]
    if endpoint not in {a.endpoint for a in await request.app[STORE].list(datetime.now(UTC))}:
        raise _http_error(web.HTTPNotFound, f"no agent {endpoint!r}")
    socket = web.WebSocketResponse(heartbeat=20.0)
    await socket.prepare(request)
    events = request.app[EVENTS]
    queue = events.subscribe(endpoint)
    try:
        reader = request.loop.create_task(_drain(socket))
        while not reader.done():
            getter = request.loop.create_task(queue.get())
            done, _ = await asyncio.wait([getter, reader], return_when=asyncio.FIRST_COMPLETED)
            if getter in done:
                await socket.send_json(getter.result())
            else:
                getter.cancel()
    finally:
        events.unsubscribe(endpoint, queue)
    return socket


async def _drain(socket: web.WebSocketResponse) -> None:
    async for message in socket:
        if message.type is WSMsgType.ERROR:
            return


def build_app(pool: asyncpg.Pool, events: AgentEvents, telephony: Telephony,
              token: str) -> web.Application:
    """The aiohttp application with its routes."""
    app = web.Application(middlewares=[authenticate])
    app[STORE], app[POOL], app[EVENTS], app[TOKEN] = AgentStore(pool), pool, events, token
    app[TELEPHONY] = telephony
    app.add_routes([
        web.get("/agents", list_agents),
        web.post("/agents/{endpoint}/{action}", agent_action),
        web.get("/agents/{endpoint}/events", agent_events),
        web.post("/attempts/{attempt}/disposition", dispose),
        web.post("/attempts/{attempt}/recording/{action}", recording),
    ])
    return app
