"""Every route of the API but its description answers 401 to a request
without a token (issue 17), whatever its method: the routes are taken
from the app's own router, so a route added later is swept too. No
database is needed: a request without a token never reaches one."""

from __future__ import annotations

import re
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from dialer.access.roles import rule_for
from dialer.agents.events import AgentEvents
from dialer.api.server import features
from dialer.http import build_app

# A value for each path parameter the routes have (any value will do: the
# token is asked for before the path is looked at).
_VALUES = {"endpoint": "agent1001", "action": "start", "attempt": "4" * 8 + "-4444-4444-4444-"
           + "4" * 12, "reference": "K3", "campaign": "spring", "segment": "any",
           "trigger": "agent_link", "channel": "sms", "language": "es", "entry": "1",
           "batch": "1", "skill": "language:es", "supervisor": "agent1003"}


async def test_every_route_but_the_description_answers_401_without_a_token() -> None:
    app = build_app("t" * 32, None, features(None, AgentEvents(), None, Path("/nonexistent")))
    routes = sorted({(r.method, r.resource.canonical) for r in app.router.routes()
                     if r.method != "HEAD"})
    public = [(method, path) for method, path in routes if rule_for(method, path).public]
    assert public == [("GET", "/docs"), ("GET", "/openapi.json")]
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    try:
        answered = {}
        for method, path in routes:
            if (method, path) in public:
                continue
            target = re.sub(r"\{(\w+)\}", lambda m: _VALUES[m.group(1)], path)
            response = await client.request(method, target, json={})
            answered[(method, path)] = (response.status, set(await response.json()))
    finally:
        await client.close()
    assert len(answered) >= 25
    assert answered == {route: (401, {"error"}) for route in answered}
