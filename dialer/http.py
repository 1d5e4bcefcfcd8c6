"""The API's HTTP plumbing every feature's routes share: the application,
the token every request shows (Authorization: Bearer ..., or ?token= for a
WebSocket) and what its role may do (dialer.access.roles), the audit of
requests that change something, input with odd bytes refused, and errors
as JSON {"error": "..."} naming what is wrong. The routes are the
features' own (dialer.agents.http)."""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import unquote_to_bytes

import asyncpg
from aiohttp import web

from dialer.access.roles import (
    BOOTSTRAP,
    OWNED_PARAMETER,
    SECRET_PREFIX,
    Own,
    Principal,
    Role,
    Rule,
    audited,
    refusal,
    rule_for,
)
from dialer.access.tokens import TokenStore
from dialer.openapi import NO_BODY, docs_page, document, operations, request_refusal

TOKEN = web.AppKey("token", str)
TOKENS = web.AppKey("tokens", TokenStore)
PRINCIPAL = web.RequestKey("principal", Principal)


def json_error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def http_error(kind: type[web.HTTPException], message: str) -> web.HTTPException:
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
        raise http_error(web.HTTPBadRequest, f"{what} is not valid UTF-8 (byte "
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
        raise http_error(web.HTTPBadRequest, f"the path holds {odd}")
    for pair in filter(None, query.split(b"&")):
        name_bytes, _, value_bytes = pair.replace(b"+", b" ").partition(b"=")
        name = _utf8(unquote_to_bytes(name_bytes), "a query parameter's name")
        if _odd_character(name):
            raise http_error(web.HTTPBadRequest,
                              f"a query parameter's name holds {_odd_character(name)}")
        # The name is clean; the value is named by it but never quoted
        # (it may be the token).
        value = _utf8(unquote_to_bytes(value_bytes), f"the query parameter {name!r}")
        odd = _odd_character(value)
        if odd:
            raise http_error(web.HTTPBadRequest, f"the query parameter {name!r} holds {odd}")


def _check_json(value: object, path: str = "") -> None:
    """Every key and text in a parsed JSON body, down to the leaves;
    HTTPBadRequest names where (the body's "note", the body's "a"[2])."""
    where = f"the body's {path}" if path else "the body"
    if isinstance(value, str):
        odd = _odd_character(value, _ODD_IN_TEXT)
        if odd:
            raise http_error(web.HTTPBadRequest, f"{where} holds {odd}")
    elif isinstance(value, dict):
        for key, item in value.items():
            odd = _odd_character(key)
            if odd:
                raise http_error(web.HTTPBadRequest, f"a key in {where} holds {odd}")
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
        return json_error(400, "a value in the request cannot be stored (too long, too large "
                           "or not text)")


def _shown_token(request: web.Request, rule: Rule | None) -> str:
    """The token the request shows: the Authorization header's bearer
    token, or on a WebSocket route only, the query's token (a browser's
    WebSocket cannot send headers)."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header.removeprefix("Bearer ")
    if rule is not None and rule.websocket:
        return request.query.get("token", "")
    return ""


async def _principal(request: web.Request, shown: str) -> Principal | None:
    """Who the token is: the bootstrap admin (RECOBRO_API_TOKEN, compared in
    constant time), an issued token that is neither expired nor revoked, or
    None."""
    if not shown:
        return None
    bootstrap = request.app[TOKEN]
    # surrogateescape: a header holding bytes that are not UTF-8 is a wrong
    # token (a 401), not an error.
    if bootstrap and hmac.compare_digest(shown.encode("utf-8", "surrogateescape"),
                                         bootstrap.encode()):
        return BOOTSTRAP
    if not shown.startswith(SECRET_PREFIX):
        return None
    return await request.app[TOKENS].principal(shown, datetime.now(UTC))


async def _forbidden(request: web.Request, principal: Principal, rule: Rule | None) -> str | None:
    """Why this token may not use this route on what the path names (a
    403), or None."""
    refused = refusal(principal, rule)
    if refused or principal.role is not Role.AGENT:
        return refused
    assert rule is not None and principal.agent is not None
    if rule.own is None or rule.own is Own.FILTERED:
        return None
    value = request.match_info[OWNED_PARAMETER[rule.own]]
    if rule.own is Own.ENDPOINT:
        owned = value == principal.agent
    else:
        owned = await request.app[TOKENS].owns(principal.agent, rule.own, value)
    if owned:
        return None
    what = {Own.ENDPOINT: "agent", Own.CALL: "call", Own.ACCOUNT: "debtor"}[rule.own]
    return f"the token of {principal.agent} may act on its own {what} only"


@web.middleware
async def authenticate(request: web.Request, handler):
    """Who the request is (401 when no valid token shows), whether its role
    and, for an agent, what the path names fit the route (403:
    dialer.access.roles), and an audit row for every request that changes
    something or reads what the roles' table audits (a recording)."""
    resource = request.match_info.route.resource
    rule = None if resource is None else rule_for(request.method, resource.canonical)
    if rule is not None and rule.public:
        return await handler(request)
    principal = await _principal(request, _shown_token(request, rule))
    if principal is None:
        if "token" in request.query and not (rule and rule.websocket):
            return json_error(401, "a valid token is needed in the Authorization header "
                                   "(Bearer ...): ?token= is for the WebSocket only")
        return json_error(401, "a valid token is needed (Authorization: Bearer ...): "
                               "none was shown, or it is unknown, expired or revoked")
    request[PRINCIPAL] = principal
    status = 500
    try:
        if resource is None or request.match_info.http_exception is not None:
            response = await handler(request)  # no such route: its 404 or 405
        elif (refused := await _forbidden(request, principal, rule)) is not None:
            response = json_error(403, refused)
        else:
            response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as error:
        status = error.status
        raise
    finally:
        if audited(request.method, rule):
            await request.app[TOKENS].audit(principal, request.method, request.path, status,
                                            request.remote or "", datetime.now(UTC))


@web.middleware
async def validate_request(request: web.Request, handler):
    """The request's path and query parameters and JSON body checked
    against its operation in the OpenAPI document (dialer.openapi): a 400
    naming the field before the route sees it."""
    resource = request.match_info.route.resource
    method = "GET" if request.method == "HEAD" else request.method
    operation = None if resource is None or request.match_info.http_exception is not None \
        else operations().get((method, resource.canonical))
    if operation is None:
        return await handler(request)  # no such route: its 404 or 405
    body: object = NO_BODY
    if operation.body is not None and request.body_exists:
        try:
            body = json.loads(await request.text())  # read already: refuse_odd_input
        except ValueError:
            return json_error(400, "the body is not JSON")
    refused = request_refusal(operation, request.match_info, request.query, body)
    if refused:
        return json_error(400, refused)
    return await handler(request)


async def _openapi_json(request: web.Request) -> web.Response:
    return web.json_response(document())


async def _docs(request: web.Request) -> web.Response:
    return web.Response(text=docs_page(), content_type="text/html")


def principal_of(request: web.Request) -> Principal:
    """Who the request is (set by the authenticate middleware)."""
    return request[PRINCIPAL]


async def json_body(request: web.Request) -> dict:
    # body_exists, not can_read_body: refuse_odd_input has read it already.
    if not request.body_exists:
        return {}
    try:
        body = await request.json()
    except ValueError:
        raise http_error(web.HTTPBadRequest, "the body is not JSON") from None
    if not isinstance(body, dict):
        raise http_error(web.HTTPBadRequest, "the body must be a JSON object")
    return body


# A list's page: at most LIMIT items unless the query's limit asks for
# fewer or more (up to MAX_LIMIT); the query's `after` is the cursor the
# previous page's `next` gave.
LIMIT = 50
MAX_LIMIT = 500


@dataclass(frozen=True)
class Page:
    """Which page of a list a request asks for."""

    after: int | None  # the last id of the page before; None: the first page
    limit: int


def page_of(request: web.Request) -> Page:
    """The page the query asks for (its limit and after are digits: the
    document's, checked already); HTTPBadRequest for a limit out of range."""
    limit = int(request.query.get("limit", LIMIT))
    if not 1 <= limit <= MAX_LIMIT:
        raise http_error(web.HTTPBadRequest, f"the query's 'limit' must be 1 to {MAX_LIMIT}")
    after = request.query.get("after")
    return Page(None if after is None else int(after), limit)


def page_response(items: Sequence[dict[str, object]], page: Page,
                  cursor: Callable[[dict[str, object]], int],
                  dumps: Callable[[object], str] = json.dumps) -> web.Response:
    """A page of a list: its items, and the cursor of the next page (the
    query's `after`), null on the last page; dumps writes the JSON (a
    feature's own, for values JSON has no type for)."""
    last = len(items) < page.limit
    return web.json_response({"items": list(items),
                              "next": None if last else cursor(items[-1])}, dumps=dumps)


def build_app(token: str, pool: asyncpg.Pool,
              features: Sequence[Callable[[web.Application], None]]) -> web.Application:
    """The aiohttp application: the shared middlewares, and each feature's
    routes (a feature installs its own on the app). token: the bootstrap
    admin token (RECOBRO_API_TOKEN; empty: none); pool: where the issued
    tokens and the audit are. Every request is checked against the OpenAPI
    document (dialer/openapi.yaml), served at /openapi.json and /docs."""
    app = web.Application(middlewares=[refuse_odd_input, authenticate, validate_request])
    app[TOKEN] = token
    app[TOKENS] = TokenStore(pool)
    # The API's description, public: it holds no data (dialer.access.roles).
    app.add_routes([web.get("/openapi.json", _openapi_json), web.get("/docs", _docs)])
    for install in features:
        install(app)
    return app
