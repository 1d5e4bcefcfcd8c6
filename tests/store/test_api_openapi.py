"""The API's OpenAPI document against the real app over HTTP and the lab's
PostgreSQL (issue 17): it is served without a token, requests that break
it are a 400 naming the field before any route sees them, and
schemathesis, generating valid and invalid requests from the served
document, finds no 500 and no answer the document does not describe."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator

import asyncpg
import pytest
import requests
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from dialer.agents.events import AgentEvents
from dialer.api.server import features
from dialer.http import build_app
from dialer.openapi import document, operations
from tests.store.test_api_roles import ACCOUNTS, NoAsterisk, _attempt
from tests.store.test_history import import_text

pytestmark = pytest.mark.lab

TOKEN = "t" * 32
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
# A stream that lasts minutes, which a client's timeout would cut: tested by
# itself (tests/store/test_api_operations.py).
STREAMS = {("GET", "/campaigns/{campaign}/events")}
# Bounded: a few examples per operation and mode (about 300 requests).
EXAMPLES = 8


class _Served:
    """The API on a loopback port, in an event loop of its own (the
    requests of schemathesis and of these tests are synchronous)."""

    def __init__(self, database: str, tmp_path) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.database, self.tmp_path = database, tmp_path
        self.url, self.attempt = self._run(self._start())

    def _run(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(120)

    async def _start(self) -> tuple[str, uuid.UUID]:
        self.pool = await asyncpg.create_pool(self.database, min_size=1, max_size=4)
        await import_text(self.pool, self.tmp_path, ACCOUNTS)
        await self.pool.execute("INSERT INTO campaigns (name, dial_mode, caller_id, "
                                "window_profile) VALUES ('spring', 'progressive', "
                                "'+15550100000', '00:00-24:00')")
        await self.pool.execute("INSERT INTO dialers (id, campaign_id, pid) SELECT $1, id, 1 "
                                "FROM campaigns", uuid.uuid4())
        attempt = await _attempt(self.pool, "RA-1", "agent1001")
        self.events = AgentEvents()
        await self.events.start(self.database)
        app = build_app(TOKEN, self.pool, features(self.pool, self.events, NoAsterisk(), self.tmp_path))
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        host, port = self.runner.addresses[0][:2]
        return f"http://{host}:{port}", attempt

    async def _stop(self) -> None:
        await self.runner.cleanup()
        await self.events.stop()
        await self.pool.close()

    def close(self) -> None:
        self._run(self._stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()


@pytest.fixture
def served(fresh_database, tmp_path) -> Iterator[_Served]:
    api = _Served(fresh_database, tmp_path)
    yield api
    api.close()


def test_the_document_and_its_page_are_served_without_a_token(served) -> None:
    answer = requests.get(f"{served.url}/openapi.json", timeout=10)
    assert answer.status_code == 200 and answer.json() == document()
    assert answer.json()["openapi"].startswith("3.1")
    page = requests.get(f"{served.url}/docs", timeout=10)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert 'href="openapi.json"' in page.text
    assert "/attempts/{attempt}/disposition" in page.text and "<script" not in page.text
    # Everything else still needs one.
    assert requests.get(f"{served.url}/agents", timeout=10).status_code == 401


@pytest.mark.parametrize(("method", "path", "body", "error"), [
    ("POST", "/attempts/{attempt}/disposition", {}, 'the body\'s "code" is required'),
    ("POST", "/attempts/{attempt}/disposition", {"code": 7},
     'the body\'s "code" must be text'),
    ("POST", "/attempts/{attempt}/disposition", ["PTP"], "the body must be a JSON object"),
    ("POST", "/attempts/not-an-id/disposition", {"code": "PTP"},
     "the path's 'attempt' must be an id (a UUID)"),
    ("POST", "/attempts/{attempt}/link", {"channel": "fax"},
     'the body\'s "channel" must be one of sms, email'),
    ("POST", "/agents/agent1001/pause", {"reason": ["lunch"]},
     'the body\'s "reason" must be text'),
    ("POST", "/agents/agent1001/dance", None,
     "the path's 'action' must be one of login, logout, ready, pause, session"),
    ("GET", "/reports/strategy?from=2026-02-30", None,
     "the query's 'from' must be a date (YYYY-MM-DD)"),
    ("POST", "/campaigns/spring/templates/any/agent_link/sms/es", {"body": "Hi", "author": "x"},
     'the body\'s "author" is not a field of this request'),
])
def test_a_request_that_breaks_the_document_is_a_400_naming_the_field(
        served, method, path, body, error) -> None:
    before = served._run(served.pool.fetchval(
        "SELECT count(*) FROM dispositions")), served._run(served.pool.fetchval(
            "SELECT count(*) FROM message_templates"))
    answer = requests.request(method, served.url + path.format(attempt=served.attempt),
                              json=body, headers=AUTH, timeout=10)
    assert (answer.status_code, answer.json()) == (400, {"error": error})
    after = served._run(served.pool.fetchval(
        "SELECT count(*) FROM dispositions")), served._run(served.pool.fetchval(
            "SELECT count(*) FROM message_templates"))
    assert after == before  # refused before the route: nothing stored


def test_the_websocket_route_answers_a_plain_get_with_426(served) -> None:
    answer = requests.get(f"{served.url}/agents/agent1001/events", headers=AUTH, timeout=10)
    assert answer.status_code == 426 and "Upgrade: websocket" in answer.json()["error"]


@pytest.mark.parametrize("mode", [schemathesis.GenerationMode.POSITIVE,
                                  schemathesis.GenerationMode.NEGATIVE])
def test_schemathesis_finds_no_500_and_no_answer_outside_the_document(served, mode) -> None:
    schema = schemathesis.openapi.from_url(f"{served.url}/openapi.json", timeout=10)
    tried = []
    for result in schema.get_all_operations():
        operation = result.ok()
        key = (operation.method.upper(), operation.path)
        tried.append(key)
        if key in STREAMS:
            continue
        takes = operations()[key]
        if mode is schemathesis.GenerationMode.NEGATIVE and not (takes.parameters or takes.body):
            continue  # nothing in the request to make invalid

        @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation_mode=mode))
        def exchange(case) -> None:
            case.call_and_validate(base_url=served.url, headers=AUTH, checks=CHECKS,
                                   timeout=10)

        exchange()
    # Every operation but the document itself, which schemathesis leaves out.
    assert sorted(tried) == sorted(set(operations()) - {("GET", "/openapi.json")})
