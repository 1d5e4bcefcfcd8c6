"""A replay Asterisk: AMI over TCP and ARI over HTTP and a WebSocket on
loopback, answering from a fixture that lab/record_traffic.py recorded from
the real lab (lab/traffic.py describes the format).

It works at the socket level, whatever the adapters do inside. Each
request the engine sends (an AMI action, an ARI REST request, the event
WebSocket) is matched to a recorded one by AMI action name, or by HTTP
method and path template (`/channels/{id}/play`), not by bytes: independent
requests may come in another order, and keepalives (AMI Ping, ARI's
`/asterisk/info`) are answered however often they come. The match is
answered as Asterisk answered it; what followed it in the recording (AMI
and ARI events, in their recorded order) is sent after it, its delays
shortened COMPRESSION times, and its timestamps on Asterisk's recorded
clock, moved to now.

Ids the engine chooses (a call's channel id, an agent leg's, a bridge's,
the Stasis application's name, AMI ActionIDs) differ from the recording's:
each is learnt from the first request that carries it, and swapped in
everything sent back. A request the recording does not have, or has with
other parameters, is answered with an error and kept in `failures`, naming
it and what the recording expected."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from lab.traffic import AmiFramer, Fixture, Headers, Recorded, format_ami

HOST = "127.0.0.1"
BANNER = "Asterisk Call Manager/11.0.0"  # as Asterisk 22 greets an AMI client
COMPRESSION = 50.0  # recorded delays between events, shortened this many times
ID_RESOURCES = frozenset({"channels", "bridges", "playbacks"})  # /resource/{id}/...
# Parameters (ARI query, AMI headers, lower-cased) that name what the client chose.
ID_PARAMETERS = frozenset({"channelid", "otherchannelid", "playbackid", "bridgeid", "app"})
NOT_COMPARED = frozenset({"actionid", "secret"})  # differ on every run, or redacted
KEEPALIVE_ACTIONS = frozenset({"ping", "logoff"})
KEEPALIVE_REQUESTS = frozenset({("GET", "/asterisk/info"), ("GET", "/asterisk/ping")})
EXPECTED_SHOWN = 3  # how many of the recording's next requests a failure names
ARI_TIME = "%Y-%m-%dT%H:%M:%S.%f%z"

RequestKey = tuple[str, ...]


def path_template(path: str) -> str:
    """/channels/1f2c.../play -> /channels/{id}/play."""
    parts = path.strip("/").split("/")
    if len(parts) > 1 and parts[0] in ID_RESOURCES:
        parts[1] = "{id}"
    return "/" + "/".join(parts)


def request_key(line: Recorded) -> RequestKey:
    """What a request is matched by."""
    if line.via == "ami":
        return ("AMI", line.header("Action").lower())
    if line.dir == "connect":
        return ("ARI", "WebSocket", "/events")
    return ("ARI", line.method, path_template(line.path))


def describe(line: Recorded) -> str:
    """A request in words: `AMI Originate`, `ARI POST /channels/{id}/play`."""
    if line.via == "ami":
        return f"AMI {line.header('Action')}"
    if line.dir == "connect":
        return "ARI WebSocket /events"
    return f"ARI {line.method} {path_template(line.path)}"


def parameters(line: Recorded) -> list[tuple[str, str]]:
    """What is compared between a request and its recorded match."""
    if line.via == "ami":
        pairs = [(k.lower(), v) for k, v in line.headers if k.lower() not in NOT_COMPARED]
    else:
        pairs = [("path", line.path), *((k.lower(), v) for k, v in line.query.items())]
    return sorted(pairs)


def chosen_ids(line: Recorded) -> list[str]:
    """The values in a request that name something the client chose, in a
    fixed order, so a recorded request and a live one pair up."""
    ids = [v for k, v in sorted(parameters(line)) if k in ID_PARAMETERS]
    parts = line.path.strip("/").split("/")
    if line.via == "ari" and len(parts) > 1 and parts[0] in ID_RESOURCES:
        ids.insert(0, parts[1])
    return ids


@dataclass
class Exchange:
    """A recorded request, Asterisk's answer, and what followed it until
    the next request."""

    request: Recorded
    answers: list[Recorded] = field(default_factory=list)  # AMI responses
    followers: list[Recorded] = field(default_factory=list)
    heard: bool = False

    @property
    def key(self) -> RequestKey:
        return request_key(self.request)


def is_keepalive(line: Recorded) -> bool:
    if line.via == "ami":
        return line.header("Action").lower() in KEEPALIVE_ACTIONS
    return (line.method, line.path) in KEEPALIVE_REQUESTS


def exchanges(fixture: Fixture) -> tuple[list[Exchange], dict[tuple[str, str], Recorded]]:
    """The fixture as exchanges, in order, and the keepalives' recorded
    answers (their followers stay with the exchange before them)."""
    found: list[Exchange] = []
    by_action_id: dict[str, Exchange | None] = {}
    keepalives: dict[tuple[str, str], Recorded] = {}
    for line in fixture.lines:
        if line.is_request and is_keepalive(line):
            if line.via == "ami":
                by_action_id[line.header("ActionID")] = None  # its response is dropped
            else:
                keepalives.setdefault((line.method, line.path), line)
        elif line.is_request:
            found.append(Exchange(line))
            if line.via == "ami":
                by_action_id[line.header("ActionID")] = found[-1]
        elif line.via == "ami" and line.header("Response") and not line.header("Event") \
                and line.header("ActionID") in by_action_id:
            owner = by_action_id[line.header("ActionID")]
            if owner is not None:
                owner.answers.append(line)
        elif found:
            found[-1].followers.append(line)
    return found, keepalives


class ReplayAsterisk:
    """Serves one fixture to one engine; see the module's docstring."""

    def __init__(self, fixture: Fixture) -> None:
        self.fixture = fixture
        self.exchanges, self._keepalives = exchanges(fixture)
        self.failures: list[str] = []
        self.heard: list[Recorded] = []  # every request the engine sent, as sent
        self._ids: dict[str, str] = {}  # recorded id -> the client's
        self._action_ids: dict[str, str] = {}  # recorded ActionID -> the client's
        self._shift: float | None = None  # now - Asterisk's recorded clock
        self._outbox: asyncio.Queue[tuple[float, list[Recorded]]] = asyncio.Queue()
        self._ami: asyncio.StreamWriter | None = None
        self._websocket: web.WebSocketResponse | None = None
        self._server: asyncio.Server | None = None
        self._runner: web.AppRunner | None = None
        self._sender: asyncio.Task[None] | None = None
        self.ami_port = 0
        self.ari_url = ""

    async def start(self) -> None:
        """Listen for AMI and ARI on ephemeral loopback ports."""
        self._server = await asyncio.start_server(self._ami_client, HOST, 0)
        self.ami_port = self._server.sockets[0].getsockname()[1]
        app = web.Application()
        app.router.add_get("/ari/events", self._ari_events)
        app.router.add_route("*", "/ari/{tail:.*}", self._ari_rest)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, HOST, 0).start()
        self.ari_url = f"http://{HOST}:{self._runner.addresses[0][1]}"
        self._sender = asyncio.create_task(self._send_followers(), name="replay-followers")

    async def close(self) -> None:
        if self._sender is not None:
            self._sender.cancel()
            await asyncio.gather(self._sender, return_exceptions=True)
        if self._ami is not None:
            self._ami.close()
        if self._server is not None:
            self._server.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def unheard(self) -> list[str]:
        """The recorded requests the engine never sent."""
        return [describe(e.request) for e in self.exchanges if not e.heard]

    # Matching.

    def _expected(self) -> str:
        waiting = [describe(e.request) for e in self.exchanges if not e.heard]
        if not waiting:
            return "the recording expected nothing more"
        more = ", ..." if len(waiting) > EXPECTED_SHOWN else ""
        return "the recording expected next: " + ", ".join(waiting[:EXPECTED_SHOWN]) + more

    def _to_recorded(self, value: str, ids: dict[str, str]) -> str:
        for recorded, client in sorted(ids.items(), key=lambda pair: -len(pair[1])):
            value = value.replace(client, recorded)
        return value

    def _learnt(self, recorded: Recorded, sent: Recorded) -> dict[str, str]:
        """The id map with what pairing sent with recorded would teach."""
        ids = dict(self._ids)
        taken = set(ids.values())
        for recorded_id, client_id in zip(chosen_ids(recorded), chosen_ids(sent), strict=False):
            if recorded_id not in ids and client_id not in taken \
                    and self._to_recorded(client_id, ids) != recorded_id:
                ids[recorded_id] = client_id
                taken.add(client_id)
        return ids

    def _paired(self, exchange: Exchange,
                sent: Recorded) -> tuple[dict[str, str], list[tuple[str, str]]]:
        """The id map pairing sent with exchange would make, and sent's
        parameters with the recording's ids."""
        ids = self._learnt(exchange.request, sent)
        return ids, [(k, self._to_recorded(v, ids)) for k, v in parameters(sent)]

    def _match(self, sent: Recorded) -> Exchange | None:
        """The recorded exchange for a request (None: the recording has no
        such request). One the recording lacks, or has with other
        parameters, is noted in failures."""
        self.heard.append(sent)
        candidates = [e for e in self.exchanges if not e.heard and e.key == request_key(sent)]
        if not candidates:
            self.failures.append(f"unexpected {describe(sent)} {_shown(sent)}: {self._expected()}")
            return None
        # The first of its kind with the same parameters; else the first.
        exchange = next((e for e in candidates
                         if self._paired(e, sent)[1] == parameters(e.request)), candidates[0])
        ids, compared = self._paired(exchange, sent)
        recorded = parameters(exchange.request)
        if compared != recorded:
            only_sent = [pair for pair, as_recorded in zip(parameters(sent), compared, strict=True)
                         if as_recorded not in recorded]
            only_recorded = [pair for pair in recorded if pair not in compared]
            self.failures.append(f"{describe(sent)} sent {_listed(only_sent)}; the recording "
                                 f"has {_listed(only_recorded)}")
        self._ids = ids
        exchange.heard = True
        if self._shift is None:
            # Asterisk's clock in the replay runs from the first request on
            # as it ran in the recording.
            self._shift = time.time() - (self.fixture.started_epoch + exchange.request.t)
        if sent.via == "ami":
            self._action_ids[exchange.request.header("ActionID")] = sent.header("ActionID")
        self._outbox.put_nowait((exchange.request.t, exchange.followers))
        return exchange

    # What goes back, with the client's ids and now's clock.

    def _text(self, text: str) -> str:
        for recorded, client in sorted(self._ids.items(), key=lambda pair: -len(pair[0])):
            text = text.replace(recorded, client)
        return text

    def _ami_message(self, headers: Headers) -> bytes:
        out = []
        for name, value in headers:
            if name.lower() == "actionid":
                value = self._action_ids.get(value, value)
            elif name.lower() == "timestamp" and self._shift is not None:
                value = f"{float(value) + self._shift:.6f}"
            else:
                value = self._text(value)
            out.append((name, value))
        return format_ami(out)

    def _ari_json(self, payload: Any) -> str:
        return self._text(json.dumps(payload))

    def _ari_event(self, event: dict[str, Any]) -> str:
        event = dict(event)
        if isinstance(event.get("timestamp"), str) and self._shift is not None:
            at = datetime.strptime(event["timestamp"], ARI_TIME) + timedelta(seconds=self._shift)
            at = at.astimezone(UTC)
            event["timestamp"] = at.strftime("%Y-%m-%dT%H:%M:%S.") + \
                f"{at.microsecond // 1000:03d}+0000"
        return self._ari_json(event)

    async def _send_followers(self) -> None:
        """What followed each request in the recording, in recorded order."""
        while True:
            since, followers = await self._outbox.get()
            for line in followers:
                await asyncio.sleep(max(0.0, line.t - since) / COMPRESSION)
                since = line.t
                with contextlib.suppress(ConnectionError, RuntimeError):
                    # A client that went away hears nothing more, as from Asterisk.
                    if line.via == "ami" and self._ami is not None:
                        self._ami.write(self._ami_message(line.headers))
                    elif line.via == "ari" and self._websocket is not None \
                            and not self._websocket.closed:
                        await self._websocket.send_str(self._ari_event(line.event))

    # AMI.

    async def _ami_client(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        writer.write(f"{BANNER}\r\n".encode())
        framer = AmiFramer(from_asterisk=False)
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                for headers in framer.feed(data):
                    writer.write(self._ami_answer(headers, writer))
        writer.close()

    def _ami_answer(self, headers: Headers, writer: asyncio.StreamWriter) -> bytes:
        sent = Recorded(t=0.0, via="ami", dir="action", headers=headers)
        action_id = sent.header("ActionID")
        action = sent.header("Action").lower()
        if action == "ping":
            return format_ami([("Response", "Success"), ("ActionID", action_id),
                               ("Ping", "Pong"), ("Timestamp", f"{time.time():.6f}")])
        if action == "logoff":
            return format_ami([("Response", "Goodbye"), ("ActionID", action_id),
                               ("Message", "Thanks for all the fish.")])
        exchange = self._match(sent)
        if action == "login" and exchange is not None:
            self._ami = writer  # events go to the session that logged in
        if exchange is None:
            return format_ami([("Response", "Error"), ("ActionID", action_id),
                               ("Message", f"replay: {self.failures[-1]}")])
        return b"".join(self._ami_message(answer.headers) for answer in exchange.answers)

    # ARI.

    async def _ari_rest(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["tail"]
        if (request.method, path) in KEEPALIVE_REQUESTS:
            keepalive = self._keepalives.get((request.method, path))
            return web.json_response({}) if keepalive is None else self._ari_response(keepalive)
        sent = Recorded(t=0.0, via="ari", dir="request", method=request.method, path=path,
                        query=dict(request.query))
        exchange = self._match(sent)
        if exchange is None:
            return web.Response(status=500, text=f"replay: {self.failures[-1]}")
        return self._ari_response(exchange.request)

    def _ari_response(self, recorded: Recorded) -> web.Response:
        if recorded.body is None:
            return web.Response(status=recorded.status)
        return web.Response(status=recorded.status, text=self._ari_json(recorded.body),
                            content_type="application/json")

    async def _ari_events(self, request: web.Request) -> web.WebSocketResponse:
        websocket = web.WebSocketResponse()
        await websocket.prepare(request)
        sent = Recorded(t=0.0, via="ari", dir="connect", query=dict(request.query))
        if self._match(sent) is None:
            await websocket.close()
            return websocket
        self._websocket = websocket
        async for _ in websocket:
            pass  # the engine sends nothing on it
        return websocket


def _listed(pairs: list[tuple[str, str]]) -> str:
    return ", ".join(f"{k}={v}" for k, v in pairs) or "nothing more"


def _shown(line: Recorded) -> str:
    """A request's compared parameters, in a line."""
    return _listed(parameters(line))
