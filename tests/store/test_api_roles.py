"""The API's tokens and roles over real HTTP against the lab's PostgreSQL
(issue 17): every route refuses a missing, wrong, expired or revoked token
(401) and a role that does not fit (403), with no data and nothing
changed; an agent cannot read or act on another agent's calls, debtors or
screen pops; the acting agent is the token's, never the body's; a call
takes one disposition, a supervisor's correction is its own; every
request that changes something is in the append-only audit; and
`recobro token issue|list|revoke` as a user runs it."""

from __future__ import annotations

import asyncio
import hashlib
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from dialer.access.roles import ROUTES, Own, Role, Rule
from dialer.access.tokens import TokenStore
from dialer.agents.events import AgentEvents
from dialer.agents.store import AgentStore
from dialer.api.server import features
from dialer.http import build_app
from tests.e2e.cli import run_cli
from tests.store.test_history import import_text

pytestmark = pytest.mark.lab

BOOTSTRAP = "b" * 32
A, B = "agent1001", "agent1002"
ACCOUNTS = ("reference,debtor_name,balance,days_past_due,risk_score,language,time_zone,phone1\n"
            "RA-1,Alma Aguirre,120.00,10,0.5,es,America/New_York,+12125550101\n"
            "RB-2,Bruno Benítez,980.00,40,0.5,es,America/New_York,+12125550102\n"
            "RC-3,Carla Cruz,50.00,5,0.5,es,America/New_York,+12125550103\n")
# Tables a refused request must leave as they were.
WATCHED = ("dispositions", "agent_skills", "messages", "message_templates", "do_not_call", "campaigns",
           "import_batches")


class NoAsterisk:
    """The call control: no refused request may reach it."""

    def __getattr__(self, name: str):
        raise AssertionError(f"a refused request reached Asterisk ({name})")


async def _attempt(pool: asyncpg.Pool, reference: str, agent: str | None) -> uuid.UUID:
    attempt = uuid.uuid4()
    await pool.execute(
        "INSERT INTO attempts (id, campaign_id, account_id, phone_id, number, dialer_id, "
        "segment, started_at, agent, connected_at) SELECT $1, c.id, a.id, p.id, p.number, "
        "(SELECT id FROM dialers LIMIT 1), 'early', now(), $3, "
        "CASE WHEN $3::text IS NULL THEN NULL ELSE now() END "
        "FROM campaigns c, accounts a JOIN phones p ON p.account_id = a.id "
        "WHERE a.reference = $2", attempt, reference, agent)
    return attempt


@pytest.fixture
async def api(fresh_database, tmp_path):
    """The API with the agents' and the messages' routes; agent A took a
    call of RA-1, agent B one of RB-2; RC-3's call no agent took. Tokens
    of every kind."""
    pool = await asyncpg.create_pool(fresh_database, min_size=2, max_size=8)
    await import_text(pool, tmp_path, ACCOUNTS)
    await pool.execute("INSERT INTO campaigns (name, dial_mode, caller_id, window_profile) "
                       "VALUES ('spring', 'progressive', '+15550100000', '00:00-24:00')")
    await pool.execute("INSERT INTO dialers (id, campaign_id, pid) SELECT $1, id, 1 "
                       "FROM campaigns", uuid.uuid4())
    calls = {"A": await _attempt(pool, "RA-1", A), "B": await _attempt(pool, "RB-2", B),
             "none": await _attempt(pool, "RC-3", None)}
    events = AgentEvents()
    await events.start(fresh_database)
    store, now = TokenStore(pool), datetime.now(UTC)
    tokens = {}
    for name, role, agent in (("admin", Role.ADMIN, None), ("supervisor", Role.SUPERVISOR, None),
                              ("A", Role.AGENT, A), ("B", Role.AGENT, B)):
        tokens[name] = (await store.issue(role, agent, name, now, timedelta(hours=12)))[1]
    tokens["expired"] = (await store.issue(Role.ADMIN, None, "old", now - timedelta(hours=2),
                                           timedelta(hours=1)))[1]
    revoked_id, tokens["revoked"] = await store.issue(Role.ADMIN, None, "gone", now, None)
    await store.revoke(revoked_id, now)
    app = build_app(BOOTSTRAP, pool, features(pool, events, NoAsterisk(), tmp_path / "monitor"))
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    yield client, pool, tokens, calls
    await client.close()
    await events.stop()
    await pool.close()


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def concrete(path: str, calls: dict[str, uuid.UUID]) -> str:
    """A route's path with agent B's things in it (what A must not reach)."""
    values = {"endpoint": B, "action": "login", "attempt": str(calls["B"]),
              "reference": "RB-2", "campaign": "spring", "segment": "any",
              "trigger": "agent_link", "channel": "sms", "language": "es", "entry": "1",
              "batch": "1", "skill": "language:es", "supervisor": "agent1003"}
    if path.endswith("/recording/{action}"):
        values["action"] = "pause"
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)


async def snapshot(pool: asyncpg.Pool) -> dict[str, object]:
    counts = {t: await pool.fetchval(f"SELECT count(*) FROM {t}") for t in WATCHED}
    counts["agents"] = [tuple(r) for r in await pool.fetch(
        "SELECT endpoint, state, pause_reason FROM agents ORDER BY endpoint")]
    counts["campaigns"] = [tuple(r) for r in await pool.fetch(
        "SELECT name, state, dial_mode, abandon_target FROM campaigns ORDER BY id")]
    return counts


def test_the_table_covers_every_route_of_the_app() -> None:
    app = build_app(BOOTSTRAP, None, features(None, AgentEvents(), NoAsterisk(), Path("/nonexistent")))
    served = {(r.method, r.resource.canonical) for r in app.router.routes()
              if r.method != "HEAD"}
    assert served == set(ROUTES)
    # Only the API's description needs no token.
    assert sorted(path for (_, path), rule in ROUTES.items() if rule.public) == [
        "/docs", "/openapi.json"]
    # The query-string token is the WebSocket's alone.
    assert [path for (_, path), rule in ROUTES.items() if rule.websocket] == [
        "/agents/{endpoint}/events"]


def _refusals(rule: Rule) -> list[tuple[str, int]]:
    """(token, status) every route must refuse: the 401s, and the 403s of
    the roles the route does not allow and of agent A on B's things."""
    cases = [("", 401), ("wrong", 401), ("rcb_" + "x" * 43, 401), ("expired", 401),
             ("revoked", 401), ("admin-in-query", 401)]
    if Role.SUPERVISOR not in rule.roles:
        cases.append(("supervisor", 403))
    if Role.AGENT not in rule.roles or rule.own in (Own.ENDPOINT, Own.CALL, Own.ACCOUNT):
        cases.append(("A", 403))
    return cases


@pytest.mark.parametrize(("method", "path"),
                         sorted(key for key, rule in ROUTES.items() if not rule.public))
async def test_every_route_refuses_without_the_right_token(api, method, path) -> None:
    client, pool, tokens, calls = api
    rule = ROUTES[(method, path)]
    target = concrete(path, calls)
    before = await snapshot(pool)
    for token, status in _refusals(rule):
        if token == "admin-in-query":
            if rule.websocket:
                continue  # the WebSocket takes it: its own test below
            response = await client.request(method, target, params={"token": tokens["admin"]},
                                            json={"code": "PAID", "body": "x {{ opt_out }}"})
        else:
            secret = tokens.get(token, token)
            headers = bearer(secret) if secret else {}
            response = await client.request(method, target, headers=headers,
                                            json={"code": "PAID", "body": "x {{ opt_out }}"})
        assert response.status == status, (token, method, target, await response.text())
        answer = await response.json()
        assert set(answer) == {"error"}, answer  # no data
        assert "Bruno" not in answer["error"] and "980" not in answer["error"]
    assert await snapshot(pool) == before


async def test_an_agent_acts_on_its_own_calls_only_and_once(api) -> None:
    client, pool, tokens, calls = api
    a = bearer(tokens["A"])
    # The body's agent is not believed: naming another is a 403.
    response = await client.post(f"/attempts/{calls['A']}/disposition", headers=a,
                                 json={"code": "PAID", "agent": B})
    assert response.status == 403
    response = await client.post(f"/attempts/{calls['B']}/disposition", headers=a,
                                 json={"code": "PAID", "agent": A})
    assert response.status == 403 and "own call only" in (await response.json())["error"]
    response = await client.post(f"/attempts/{calls['none']}/disposition", headers=a,
                                 json={"code": "DISPUTE"})
    assert response.status == 403
    assert await pool.fetchval("SELECT count(*) FROM dispositions") == 0
    assert await pool.fetchval("SELECT status FROM accounts WHERE reference = 'RB-2'") == "active"

    response = await client.post(f"/attempts/{calls['A']}/disposition", headers=a,
                                 json={"code": "PTP", "note": "pays friday"})
    assert response.status == 201, await response.text()
    again = await client.post(f"/attempts/{calls['A']}/disposition", headers=a,
                              json={"code": "OPT_OUT"})
    assert again.status == 409 and "has its disposition already" in (await again.json())["error"]
    # Not even a supervisor gives a second one, nor one to a call no agent took.
    s = bearer(tokens["supervisor"])
    again = await client.post(f"/attempts/{calls['A']}/disposition", headers=s,
                              json={"code": "OPT_OUT"})
    assert again.status == 409
    orphan = await client.post(f"/attempts/{calls['none']}/disposition", headers=s,
                               json={"code": "DISPUTE"})
    assert orphan.status == 409 and "no agent took" in (await orphan.json())["error"]
    wrong = await client.post(f"/attempts/{calls['B']}/disposition", headers=s,
                              json={"code": "PAID", "agent": A})
    assert wrong.status == 403
    # A correction is a supervisor's, and its own row.
    assert (await client.post(f"/attempts/{calls['A']}/disposition/correction", headers=a,
                              json={"code": "PAID"})).status == 403
    corrected = await client.post(f"/attempts/{calls['A']}/disposition/correction", headers=s,
                                  json={"code": "PAID", "note": "paid at the desk"})
    assert corrected.status == 201, await corrected.text()
    rows = await pool.fetch("SELECT id, code, agent, corrects FROM dispositions ORDER BY id")
    assert [(r["code"], r["agent"]) for r in rows] == [("PTP", A), ("PAID", A)]
    assert rows[1]["corrects"] == rows[0]["id"] and rows[0]["corrects"] is None
    assert await pool.fetchval("SELECT status FROM accounts WHERE reference = 'RA-1'") == "paid"

    # A's own record, debtor and state; none of B's.
    agents = await (await client.get("/agents", headers=a)).json()
    assert [x["endpoint"] for x in agents] == [A]
    assert len(await (await client.get("/agents", headers=s)).json()) >= 4
    assert (await client.get("/accounts/RA-1/messages", headers=a)).status == 200
    assert (await client.get("/accounts/RB-2/messages", headers=a)).status == 403
    assert (await client.get("/accounts/RB-2/messages", headers=s)).status == 200
    assert (await client.post(f"/agents/{A}/login", headers=a)).status == 200
    assert (await client.post(f"/agents/{B}/login", headers=a)).status == 403
    assert (await client.post(f"/agents/{B}/login", headers=s)).status == 200


async def test_an_agents_websocket_gets_its_own_screen_pops_only(api) -> None:
    client, pool, tokens, _ = api
    refused = await client.get(f"/agents/{B}/events", params={"token": tokens["A"]})
    assert refused.status == 403
    store = AgentStore(pool)
    async with client.ws_connect(f"/agents/{A}/events", params={"token": tokens["A"]}) as ws:
        await asyncio.sleep(0.3)  # subscribed before the pops are sent
        await store.tell(B, {"type": "screen_pop", "reference": "RB-2",
                             "debtor_name": "Bruno Benítez"})
        await store.tell(A, {"type": "screen_pop", "reference": "RA-1",
                             "debtor_name": "Alma Aguirre"})
        pop = await ws.receive_json(timeout=10)
        assert (pop["agent"], pop["reference"]) == (A, "RA-1")
        await store.tell(A, {"type": "agent_state", "state": "paused"})
        assert (await ws.receive_json(timeout=10))["type"] == "agent_state"
    # The query-string token opens the WebSocket only; the header does too.
    async with client.ws_connect(f"/agents/{A}/events", headers=bearer(tokens["A"])):
        pass
    assert (await client.get("/agents", params={"token": tokens["A"]})).status == 401


async def test_every_state_changing_request_is_audited_and_the_audit_is_append_only(api):
    client, pool, tokens, calls = api
    note = "a note the audit never holds"
    await client.post(f"/attempts/{calls['A']}/disposition", headers=bearer(tokens["A"]),
                      json={"code": "PTP", "note": note})
    await client.post(f"/attempts/{calls['B']}/disposition", headers=bearer(tokens["A"]),
                      json={"code": "PAID"})
    await client.post(f"/agents/{B}/login", headers=bearer(tokens["supervisor"]))
    await client.post(f"/agents/{A}/login", headers=bearer(BOOTSTRAP))
    await client.get("/agents", headers=bearer(tokens["A"]))  # a read: not audited
    await client.post(f"/agents/{A}/login")  # no token: nobody to audit
    ids = {r["label"]: r["id"] for r in await pool.fetch("SELECT id, label FROM api_tokens")}
    rows = await pool.fetch("SELECT * FROM api_audit ORDER BY id")
    assert [(r["token_id"], r["role"], r["agent"], r["method"], r["path"], r["status"])
            for r in rows] == [
        (ids["A"], "agent", A, "POST", f"/attempts/{calls['A']}/disposition", 201),
        (ids["A"], "agent", A, "POST", f"/attempts/{calls['B']}/disposition", 403),
        (ids["supervisor"], "supervisor", None, "POST", f"/agents/{B}/login", 200),
        (None, "admin", None, "POST", f"/agents/{A}/login", 200),
    ]
    assert all(r["remote"] == "127.0.0.1" and r["at"] is not None for r in rows)
    dumped = str([dict(r) for r in await pool.fetch("SELECT * FROM api_audit")])
    assert note not in dumped
    for statement in ("UPDATE api_audit SET status = 200", "DELETE FROM api_audit",
                      "TRUNCATE api_audit"):
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await pool.execute(statement)


def test_token_commands(fresh_database, lab_config) -> None:
    def recobro(*args: str):
        return run_cli("token", *args, RECOBRO_ENV_FILE=str(lab_config.env_file),
                       DATABASE_URL=fresh_database)

    issued = recobro("issue", "--role", "agent", "--agent", A, "--expires-in", "12h",
                     "--label", "desk 7")
    assert issued.returncode == 0, issued.stderr
    secret = issued.stdout.splitlines()[-1]
    assert re.fullmatch(r"rcb_[A-Za-z0-9_-]{43}", secret)
    assert issued.stdout.startswith(f"token 1: agent {A}, expires in 12h\n")
    listed = recobro("list")
    assert secret not in listed.stdout
    assert re.search(rf"^1 +agent +{A} +active .+ desk 7$", listed.stdout, re.MULTILINE)
    assert recobro("revoke", "1").stdout == "token 1: revoked\n"
    assert recobro("revoke", "1").stdout == "token 1: revoked already\n"
    assert re.search(r"^1 +agent +agent1001 +revoked ", recobro("list").stdout, re.MULTILINE)
    for args, error in (
            (("issue", "--role", "agent"), "an agent token names its agent"),
            (("issue", "--role", "admin", "--agent", A), "only an agent token does"),
            (("issue", "--role", "agent", "--agent", "agent9999"), "no agent 'agent9999'"),
            (("issue", "--role", "admin", "--expires-in", "soon"), "--expires-in 'soon'"),
            (("revoke", "99"), "no token 99"), (("revoke",), "give the token's ID")):
        refused = recobro(*args)
        assert refused.returncode == 2 and error in refused.stderr, (args, refused.stderr)

    async def stored() -> list[asyncpg.Record]:
        connection = await asyncpg.connect(fresh_database)
        try:
            return await connection.fetch("SELECT * FROM api_tokens")
        finally:
            await connection.close()

    rows = asyncio.run(stored())
    assert len(rows) == 1  # the refused ones stored nothing
    assert bytes(rows[0]["secret_hash"]) == hashlib.sha256(secret.encode()).digest()
    assert secret not in str([dict(r) for r in rows])
