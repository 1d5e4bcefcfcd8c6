"""The API's routes: agents (list, log in and out, pause with a reason,
ready), dispositions, pausing and resuming a call's recording, and each
agent's event WebSocket (screen pops, and pauses the dialer made).
Errors are JSON {"error": "..."} naming what is wrong. Every request shows
the token (Authorization: Bearer ..., or ?token= for a WebSocket)."""

from __future__ import annotations

import asyncio
import hmac
import json
import re
import uuid
from datetime import UTC, datetime
from urllib.parse import unquote_to_bytes

import asyncpg
from aiohttp import WSMsgType, web

from dialer.agents.state import PERSON_ACTIONS, AgentTransitionError, MissingPauseReason
from dialer.api.agent_events import AgentEvents
from dialer.calls.control import CallControl
from dialer.errors import CallControlError, ChannelGone
from dialer.store import hopper
from dialer.store.agents import (
    AgentStore,
    UnknownAgent,
    UnknownAttempt,
    UnknownDisposition,
)

STORE = web.AppKey("store", AgentStore)
POOL = web.AppKey("pool", asyncpg.Pool)
CALLS = web.AppKey("calls", CallControl)
EVENTS = web.AppKey("agent_events", AgentEvents)
TOKEN = web.AppKey("token", str)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _http_error(kind: type[web.HTTPException], message: str) -> web.HTTPException:
    """An HTTP error to raise, with the same JSON body as _error's."""
    return kind(text=json.dumps({"error": message}), content_type="application/json")


# No client has a reason to send these: C0 and C1 control characters (a
# NUL above all: PostgreSQL cannot store one) and lone surrogates (not
# characters; no UTF-8 encodes them). Text in a JSON body may hold tabs and
# line breaks (a disposition's note).
_ODD = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_ODD_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def _odd_character(text: str, pattern: re.Pattern[str] = _ODD) -> str | None:
    """What is wrong with text, or None: the first character no client
    should send, named."""
    found = pattern.search(text)
    if found is None:
        return None
    code = ord(found.group())
    if code == 0:
        return "a NUL (U+0000)"
    if 0xD800 <= code <= 0xDFFF:
        return f"a lone surrogate (U+{code:04X}), which is not a character"
    return f"a control character (U+{code:04X})"


def _utf8(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise _http_error(web.HTTPBadRequest, f"{what} is not valid UTF-8 (byte "
                                              f"{error.start + 1} is 0x{raw[error.start]:02X})")


def _check_url(raw_path: str) -> None:
    """The path and the query, percent-decoded, are UTF-8 text without odd
    characters; HTTPBadRequest names the part that is not."""
    # Bytes outside ASCII reach aiohttp's parser as they were sent and come
    # here as surrogate escapes: back to those bytes first.
    raw = raw_path.encode("utf-8", "surrogateescape")
    path, _, query = raw.partition(b"?")
    odd = _odd_character(_utf8(unquote_to_bytes(path), "the path"))
    if odd:
        raise _http_error(web.HTTPBadRequest, f"the path holds {odd}")
    for pair in filter(None, query.split(b"&")):
        name_bytes, _, value_bytes = pair.replace(b"+", b" ").partition(b"=")
        name = _utf8(unquote_to_bytes(name_bytes), "a query parameter's name")
        if _odd_character(name):
            raise _http_error(web.HTTPBadRequest,
                              f"a query parameter's name holds {_odd_character(name)}")
        # The name is clean; the value is named by it but never quoted
        # (it may be the token).
        value = _utf8(unquote_to_bytes(value_bytes), f"the query parameter {name!r}")
        odd = _odd_character(value)
        if odd:
            raise _http_error(web.HTTPBadRequest, f"the query parameter {name!r} holds {odd}")


def _check_json(value: object, path: str = "") -> None:
    """Every key and text in a parsed JSON body, down to the leaves;
    HTTPBadRequest names where (the body's "note", the body's "a"[2])."""
    where = f"the body's {path}" if path else "the body"
    if isinstance(value, str):
        odd = _odd_character(value, _ODD_IN_TEXT)
        if odd:
            raise _http_error(web.HTTPBadRequest, f"{where} holds {odd}")
    elif isinstance(value, dict):
        for key, item in value.items():
            odd = _odd_character(key)
            if odd:
                raise _http_error(web.HTTPBadRequest, f"a key in {where} holds {odd}")
            _check_json(item, f"{path}{json.dumps(key, ensure_ascii=False)}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_json(item, f"{path}[{index}]")


@web.middleware
async def refuse_odd_input(request: web.Request, handler):
    """A NUL, a control character or a byte that is not UTF-8 in the path,
    the query or the JSON body is a 400 naming the part, before any handler
    (or PostgreSQL, which cannot store a NUL) sees it."""
    _check_url(request.raw_path)
    if request.body_exists:
        text = _utf8(await request.read(), "the body")  # kept: handlers read it again
        try:
            body = json.loads(text)
        except ValueError:
            body = None  # not JSON: the handler says so
        _check_json(body)
    try:
        return await handler(request)
    except (asyncpg.DataError, asyncpg.exceptions._base.DataError):
        # A value PostgreSQL (or asyncpg, before it) cannot take that the
        # checks above let through: the client's input, so a 400.
        return _error(400, "a value in the request cannot be stored (too long, too large "
                           "or not text)")


@web.middleware
async def authenticate(request: web.Request, handler):
    header = request.headers.get("Authorization", "")
    shown = header.removeprefix("Bearer ") if header.startswith("Bearer ") \
        else request.query.get("token", "")
    # surrogateescape: a header holding bytes that are not UTF-8 is a wrong
    # token (a 401), not an error.
    if not hmac.compare_digest(shown.encode("utf-8", "surrogateescape"),
                               request.app[TOKEN].encode()):
        return _error(401, "a valid token is needed (Authorization: Bearer RECOBRO_API_TOKEN)")
    return await handler(request)


async def _body(request: web.Request) -> dict:
    # body_exists, not can_read_body: refuse_odd_input has read it already.
    if not request.body_exists:
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
    try:
        await request.app[CALLS].mute_recording(str(attempt_id), paused)
    except ChannelGone:
        return _error(409, f"the call of attempt {attempt_id} has ended")
    except CallControlError as error:
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


def build_app(pool: asyncpg.Pool, events: AgentEvents, calls: CallControl,
              token: str) -> web.Application:
    """The aiohttp application with its routes."""
    app = web.Application(middlewares=[refuse_odd_input, authenticate])
    app[STORE], app[POOL], app[EVENTS], app[TOKEN] = AgentStore(pool), pool, events, token
    app[CALLS] = calls
    app.add_routes([
        web.get("/agents", list_agents),
        web.post("/agents/{endpoint}/{action}", agent_action),
        web.get("/agents/{endpoint}/events", agent_events),
        web.post("/attempts/{attempt}/disposition", dispose),
        web.post("/attempts/{attempt}/recording/{action}", recording),
    ])
    return app
