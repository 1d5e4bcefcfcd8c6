"""`recobro lab record` (or `python -m lab.record_traffic`): record the AMI
and ARI traffic of the traffic scenarios (lab/traffic_scenarios.py) from
the running lab into tests/replay/fixtures/, one JSON-lines file each.

A recording proxy sits between the engine and the lab's Asterisk: a TCP
proxy for AMI and an HTTP and WebSocket proxy for ARI, both on loopback
ports of their own. The engine is pointed at them through its settings
only, so the adapters run exactly as in production and whatever they send
(a keepalive, a reconnect) is what gets recorded."""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import sys
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from aiohttp import web

from dialer.calls.state import CallRecord
from dialer.engine import Engine
from dialer.settings import Settings, load_settings, read_env_file, secrets_of
from lab.config import LabConfig, load_lab_config
from lab.traffic import AmiFramer, Fixture, Recorded, redact, write_fixture
from lab.traffic_scenarios import SCENARIOS, Scenario, run_scenario

FIXTURE_DIR = Path("tests/replay/fixtures")  # in the clone, where the replay tests read them
HOST = "127.0.0.1"
# After the scenario's call ended, how long the last events (a channel
# destroyed, StasisEnd) are waited for, so the recording has them.
SETTLE_S = 0.5


class TrafficLog:
    """Everything seen through the proxies, timed from one start."""

    def __init__(self) -> None:
        self._start = time.monotonic()
        self.started_epoch = time.time()
        self.lines: list[Recorded] = []

    def now(self) -> float:
        """Seconds since the start."""
        return time.monotonic() - self._start

    def add(self, line: Recorded) -> None:
        self.lines.append(line)

    def in_order(self) -> tuple[Recorded, ...]:
        """The lines by time (an ARI request is written once answered, at
        the time it arrived)."""
        return tuple(sorted(self.lines, key=lambda line: line.t))


class AmiRecorder:
    """A TCP proxy to Asterisk's AMI that logs each action and message."""

    def __init__(self, host: str, port: int, log: TrafficLog) -> None:
        self.upstream = (host, port)
        self.log = log
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        """Listen on an ephemeral loopback port; the port."""
        self._server = await asyncio.start_server(self._serve, HOST, 0)
        return self._server.sockets[0].getsockname()[1]

    async def _serve(self, client_reader: asyncio.StreamReader,
                     client_writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        await asyncio.gather(
            self._pipe(client_reader, up_writer, AmiFramer(from_asterisk=False), "action"),
            self._pipe(up_reader, client_writer, AmiFramer(from_asterisk=True), "message"))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    framer: AmiFramer, direction: str) -> None:
        try:
            while data := await reader.read(65536):
                # Logged before it is passed on: what it causes comes after it.
                for headers in framer.feed(data):
                    self.log.add(Recorded(t=self.log.now(), via="ami", dir=direction,
                                          headers=redact(headers)))
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()


class AriRecorder:
    """An HTTP and WebSocket proxy to Asterisk's ARI that logs each request
    with its answer, and each event. Headers are passed on, never logged
    (the Basic authorisation is a lab secret)."""

    def __init__(self, url: str, log: TrafficLog) -> None:
        self.upstream = url.rstrip("/")
        self.log = log
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None

    async def start(self) -> str:
        """Listen on an ephemeral loopback port; the URL to give the engine."""
        self._session = aiohttp.ClientSession()
        app = web.Application()
        app.router.add_get("/ari/events", self._events)
        app.router.add_route("*", "/ari/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, HOST, 0)
        await site.start()
        port = self._runner.addresses[0][1]
        return f"http://{HOST}:{port}"

    def _auth(self, request: web.Request) -> dict[str, str]:
        return {"Authorization": request.headers.get("Authorization", "")}

    async def _rest(self, request: web.Request) -> web.Response:
        assert self._session is not None
        arrived = self.log.now()
        path = "/" + request.match_info["tail"]
        query = dict(request.query)
        body = await request.read()
        async with self._session.request(request.method, f"{self.upstream}/ari{path}",
                                         params=query, data=body or None,
                                         headers=self._auth(request)) as answer:
            payload = await answer.read()
            content_type = answer.headers.get("Content-Type", "")
            status = answer.status
        as_json = json.loads(payload) if payload and "json" in content_type else None
        self.log.add(Recorded(t=arrived, via="ari", dir="request", method=request.method,
                              path=path, query=query, status=status, body=as_json))
        headers = {"Content-Type": content_type} if content_type else {}
        return web.Response(status=status, body=payload, headers=headers)

    async def _events(self, request: web.Request) -> web.WebSocketResponse:
        assert self._session is not None
        client = web.WebSocketResponse()
        await client.prepare(request)
        query = dict(request.query)
        self.log.add(Recorded(t=self.log.now(), via="ari", dir="connect", query=query))
        url = self.upstream.replace("http", "ws", 1) + "/ari/events"
        async with self._session.ws_connect(url, params=query,
                                            headers=self._auth(request)) as upstream:
            async def down() -> None:
                async for message in upstream:
                    if message.type is aiohttp.WSMsgType.TEXT:
                        self.log.add(Recorded(t=self.log.now(), via="ari", dir="event",
                                              event=json.loads(message.data)))
                        await client.send_str(message.data)
                await client.close()

            relay = asyncio.create_task(down())
            async for _ in client:
                pass  # the engine sends nothing on it; this ends when it closes
            relay.cancel()
            await asyncio.gather(relay, return_exceptions=True)
        return client

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()


async def record_scenario(settings: Settings, scenario: Scenario) -> tuple[Fixture, CallRecord]:
    """Run the scenario through the recording proxies; its fixture and the
    call's record."""
    log = TrafficLog()
    ami = AmiRecorder(settings.ami.host, settings.ami.port, log)
    ari = AriRecorder(settings.ari.url, log)
    # A Stasis application of its own, with a name no other text contains:
    # the replay swaps it for the test's wherever it appears.
    app = f"recobro-record-{uuid.uuid4().hex[:12]}"
    proxied = replace(settings, ami=replace(settings.ami, host=HOST, port=await ami.start()),
                      ari=replace(settings.ari, url=await ari.start(), app=app))
    try:
        engine = await Engine.connect(proxied)
        try:
            run = await run_scenario(engine, scenario)
            await asyncio.sleep(SETTLE_S)
        finally:
            await engine.close()
    finally:
        await ami.close()
        await ari.close()
    fixture = Fixture(scenario=scenario.name, what=scenario.what,
                      recorded_on=datetime.now(UTC).date().isoformat(),
                      started_epoch=log.started_epoch, lines=log.in_order())
    return fixture, run.record


def lab_secrets(cfg: LabConfig, env: dict[str, str]) -> list[str]:
    """Every secret of the lab, and the ARI Basic authorisation made of one."""
    basic = base64.b64encode(f"{cfg.ari_user}:{cfg.ari_password}".encode()).decode()
    return [*secrets_of(env), cfg.ami_secret, cfg.ari_password, cfg.api_token, basic,
            *(agent.secret for agent in cfg.agents)]


async def record_all(cfg: LabConfig, names: list[str],
                     out: Path) -> list[tuple[Scenario, CallRecord]]:
    """Record the scenarios named (all when none) into out, saying so in
    a line each; each scenario with its call's record."""
    env = read_env_file(cfg.env_file)
    settings = load_settings(env)
    secrets = lab_secrets(cfg, env)
    recorded = []
    for scenario in SCENARIOS:
        if names and scenario.name not in names:
            continue
        fixture, record = await record_scenario(settings, scenario)
        path = out / f"{scenario.name}.jsonl"
        write_fixture(path, fixture, secrets)
        requests = sum(line.is_request for line in fixture.lines)
        outcome = record.outcome.value if record.outcome else "unknown"
        print(f"{scenario.name}: {outcome}, {requests} requests, "
              f"{len(fixture.lines) - requests} answers and events -> {path}")
        recorded.append((scenario, record))
    return recorded


def record_command(names: list[str], out: Path = FIXTURE_DIR) -> int:
    """Record the traffic scenarios from the running lab (`recobro lab up`)."""
    known = {scenario.name for scenario in SCENARIOS}
    unknown = sorted(set(names) - known)
    if unknown:
        print(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}",
              file=sys.stderr)
        return 2
    asyncio.run(record_all(load_lab_config(), names, out))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lab.record_traffic",
        description="Record the AMI and ARI traffic of the replay tests' calls from the "
                    "running lab (as `recobro lab record`).")
    parser.add_argument("scenarios", nargs="*", help="scenario names (default: all)")
    parser.add_argument("--out", type=Path, default=FIXTURE_DIR)
    args = parser.parse_args()
    return record_command(args.scenarios, args.out)


if __name__ == "__main__":
    raise SystemExit(main())
