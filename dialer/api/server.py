"""Running `recobro api`: the agents' store, the screen-pop listener and the
HTTP server on RECOBRO_API_HOST:RECOBRO_API_PORT (loopback by default).
Its clients show tokens `recobro token issue` made, or the bootstrap admin
token RECOBRO_API_TOKEN when it is set."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import asyncpg
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.http_exceptions import BadHttpMessage

from dialer.agents import http as agents_http
from dialer.agents.events import AgentEvents
from dialer.agents.feature_codes import FeatureCodes
from dialer.agents.sessions import AgentSessions
from dialer.agents.store import AgentStore
from dialer.agents.supervisors import Supervisors
from dialer.api import accounts
from dialer.api.floor_metrics import FloorFigures
from dialer.calls.control import CallControl
from dialer.engine import Engine
from dialer.errors import ConfigError
from dialer.http import build_app
from dialer.messages import http as messages_http
from dialer.metrics.exporter import MetricsExporter
from dialer.outbound import http as outbound_http
from dialer.portfolio import http as portfolio_http
from dialer.process import started, stop_requested
from dialer.reports import http as reports_http
from dialer.settings import Settings, load_metrics_settings
from dialer.store.database import open_pool

# The bootstrap admin token opens everything: a guessable one is refused.
BOOTSTRAP_TOKEN_LENGTH = 24


class _AccessLogWithoutQuery(AbstractAccessLogger):
    """aiohttp's access log line (at INFO) without the query: a
    WebSocket's query holds its token."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse,
            time: float) -> None:
        self.logger.info('%s "%s %s" %s %.3f s', request.remote, request.method, request.path,
                         response.status, time)


class _MalformedRequestInOneLine(logging.Filter):
    """aiohttp logs a request its HTTP parser refuses (a raw byte that is
    not allowed in the path, say) with a traceback at ERROR; the client's
    mistake is a 400 and, here, one warning line."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, BadHttpMessage):
            first = (error.message or type(error).__name__).strip().splitlines()[0]
            record.msg, record.args = "refused a malformed HTTP request: %s", (first,)
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def features(pool: asyncpg.Pool, agent_events: AgentEvents, calls: CallControl,
             recordings_dir: Path, sessions: AgentSessions | None = None,
             supervisors: Supervisors | None = None, inbound_app: str | None = None,
             asterisk: str | None = None) -> list[Callable[[web.Application], None]]:
    """What puts every feature's routes on the API's application (the one
    list: the server and the tests that hold the routes, the roles' table
    and the OpenAPI document together build the app from it).
    recordings_dir: where Asterisk writes the calls' recordings; sessions:
    the agents' sessions, supervisors: supervisors on calls, inbound_app:
    `recobro inbound`'s Stasis application (None: no Stasis application,
    as in tests); asterisk: the API's Asterisk server (its agents are the
    ones it transfers calls to)."""
    return [agents_http.installer(pool, agent_events, calls, recordings_dir, sessions,
                                  supervisors, inbound_app, asterisk),
            messages_http.installer(pool),
            reports_http.installer(pool), outbound_http.installer(pool),
            accounts.installer(pool), portfolio_http.installer(pool)]


async def serve(settings: Settings, ready: asyncio.Event | None = None) -> None:
    """Serve until SIGINT or SIGTERM."""
    server_log = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, _MalformedRequestInOneLine) for f in server_log.filters):
        server_log.addFilter(_MalformedRequestInOneLine())
    if settings.api.token and len(settings.api.token) < BOOTSTRAP_TOKEN_LENGTH:
        raise ConfigError(f"RECOBRO_API_TOKEN is shorter than {BOOTSTRAP_TOKEN_LENGTH} "
                          "characters: set a long random one, or none (issued tokens only)")
    metrics = load_metrics_settings()
    pool = await open_pool(settings.database_url)
    agent_events = AgentEvents()
    runner: web.AppRunner | None = None
    engine: Engine | None = None
    # The one exporter of the figures that span processes (dialer.api.floor_metrics).
    floor = FloorFigures(pool)
    exporter = MetricsExporter(metrics, "api", floor.refresh)
    try:
        # Its own Stasis application (the dialers' are theirs alone), where
        # the agents' feature codes arrive.
        engine = await Engine.connect(
            replace(settings, ari=replace(settings.ari, app=f"{settings.ari.app}-api")))
        agents = AgentStore(pool, settings.asterisk_name)  # its server's agents
        FeatureCodes(engine, agents)
        sessions = AgentSessions(engine, agents)
        supervisors = Supervisors(engine, agents, pool)
        await sessions.resume()
        await supervisors.resume()
        await agent_events.start(settings.database_url)
        runner = web.AppRunner(build_app(settings.api.token, pool,
                                         features(pool, agent_events, engine,
                                                  settings.api.recordings_dir, sessions,
                                                  supervisors, settings.ari.inbound_app,
                                                  settings.asterisk_name)),
                               access_log_class=_AccessLogWithoutQuery)
        await runner.setup()
        try:
            await web.TCPSite(runner, settings.api.host, settings.api.port).start()
        except OSError as error:
            raise ConfigError(f"cannot listen on {settings.api.host}:{settings.api.port} "
                              f"(RECOBRO_API_HOST, RECOBRO_API_PORT): {error.strerror}") from None
        await exporter.start()
        print(f"recobro api on http://{settings.api.host}:{settings.api.port}", flush=True)
        started()
        stop = stop_requested()
        if ready is not None:
            ready.set()
        await stop.wait()
    finally:
        await exporter.close()
        await floor.close()
        if runner is not None:
            await runner.cleanup()
        await agent_events.stop()
        if engine is not None:
            await engine.close()
        await pool.close()
