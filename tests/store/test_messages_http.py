"""The messages' API routes over real HTTP against the real PostgreSQL
(issue 15): templates saved and listed in every version, a bad one refused
naming its field and line, a preview of a real account equal byte for byte
to what the sender sends, an account's messages, and an agent's "send the
link" queued once per call."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from dialer.access.roles import Role
from dialer.access.tokens import TokenStore
from dialer.http import build_app
from dialer.messages import http as messages_http
from dialer.messages.channels import Handed
from dialer.messages.model import Channel
from dialer.messages.sender import Sender, Tally
from dialer.settings import load_payment_link_settings
from tests.store.test_history import import_text

pytestmark = pytest.mark.lab

TOKEN = "t" * 32
KEY = "k" * 40
ACCOUNTS = ("reference,debtor_name,balance,days_past_due,risk_score,language,time_zone,phone1\n"
            "ES-0001,María Pérez,1234.50,10,0.5,es,America/New_York,+12125550101\n")
SMS = "{{ first_name }}, su enlace: {{ payment_link }} {{ opt_out }}"
PATH = "/campaigns/spring/templates/any/agent_link/sms/es"


class Recording:
    channel = Channel.SMS

    def __init__(self) -> None:
        self.bodies: list[str] = []

    async def send(self, outgoing):
        self.bodies.append(outgoing.body)
        return Handed(None)

    async def close(self) -> None:
        pass


@pytest.fixture
async def api(fresh_database, tmp_path, monkeypatch):
    monkeypatch.setenv("RECOBRO_PAYMENT_LINK_URL", "https://pay.example.com/p")
    monkeypatch.setenv("RECOBRO_PAYMENT_LINK_KEY", KEY)
    pool = await asyncpg.create_pool(fresh_database, min_size=2, max_size=8)
    await import_text(pool, tmp_path, ACCOUNTS)
    await pool.execute("UPDATE phones SET sms_capable = true, consent = true")
    await pool.execute("INSERT INTO campaigns (name, dial_mode, caller_id, window_profile) "
                       "VALUES ('spring', 'progressive', '+15550100000', '00:00-24:00')")
    client = TestClient(TestServer(build_app(TOKEN, pool, [messages_http.installer(pool)]),
                                   host="127.0.0.1"))
    await client.start_server()
    client.session.headers["Authorization"] = f"Bearer {TOKEN}"
    yield client, pool
    await client.close()
    await pool.close()


async def test_templates_are_saved_in_versions_and_a_bad_one_is_refused(api) -> None:
    client, pool = api
    response = await client.post(PATH, json={"body": "Hola\n{{ saldo }} {{ opt_out }}"})
    assert response.status == 422
    assert (await response.json())["error"] == (
        "template refused: body line 2: unknown variable 'saldo' (allowed: balance, debtor_name, "
        "first_name, opt_out, payment_link, reference_tail)")
    response = await client.post(PATH, json={"body": "{% if %}"})
    assert response.status == 422 and "body line 1" in (await response.json())["error"]
    assert (await client.get(PATH)).status == 404
    # The author is who the token says, never the body.
    supervisor, secret = await TokenStore(pool).issue(Role.SUPERVISOR, None, "ana",
                                                      datetime.now(UTC), None)
    response = await client.post(PATH, json={"body": SMS, "author": "somebody else"})
    assert (response.status, await response.json()) == (400, {
        "error": "the body's \"author\" is not a field of this request"})
    for n, headers in ((1, {}), (2, {"Authorization": f"Bearer {secret}"})):
        response = await client.post(PATH, json={"body": SMS}, headers=headers)
        assert response.status == 201 and (await response.json())["version"] == n
    versions = await (await client.get(PATH)).json()
    assert [(v["version"], v["author"]) for v in versions] == [
        (1, "admin (RECOBRO_API_TOKEN)"), (2, f"supervisor (token {supervisor})")]
    latest = await (await client.get("/campaigns/spring/templates")).json()
    assert [(v["trigger"], v["version"]) for v in latest] == [("agent_link", 2)]
    response = await client.post("/campaigns/spring/templates/any/agent_link/sms/fr",
                                 json={"body": SMS})
    assert response.status == 422 and "language 'fr'" in (await response.json())["error"]
    response = await client.post("/campaigns/spring/templates/any/agent_link/fax/es",
                                 json={"body": SMS})
    assert (response.status, await response.json()) == (
        400, {"error": "the path's 'channel' must be one of sms, email"})


async def test_send_the_link_is_queued_once_and_sent_as_previewed(api) -> None:
    client, pool = api
    attempt = uuid.uuid4()
    await pool.execute("INSERT INTO dialers (id, campaign_id, pid) SELECT $1, id, 1 "
                       "FROM campaigns", attempt)
    await pool.execute(
        "INSERT INTO attempts (id, campaign_id, account_id, phone_id, number, dialer_id, "
        "segment, started_at) SELECT $1, c.id, a.id, p.id, p.number, $1, 'early', now() "
        "FROM campaigns c, accounts a JOIN phones p ON p.account_id = a.id", attempt)
    response = await client.post(f"/attempts/{attempt}/link", json={"channel": "sms"})
    assert response.status == 409
    assert "no template for spring/early/agent_link/sms/es" in (await response.json())["error"]
    await client.post(PATH, json={"body": SMS})
    first = await client.post(f"/attempts/{attempt}/link", json={"channel": "sms"})
    again = await client.post(f"/attempts/{attempt}/link", json={"channel": "sms"})
    assert (first.status, again.status) == (202, 200)
    queued, repeated = await first.json(), await again.json()
    assert queued["message"] == repeated["message"] and repeated["status"] == "already queued"
    preview = await client.post("/accounts/ES-0001/messages/preview",
                                json={"campaign": "spring", "trigger": "agent_link",
                                      "channel": "sms"})
    shown = await preview.json()
    assert shown["sms"]["encoding"] == "UCS-2"  # María's í
    channel = Recording()
    work = Sender(pool, {Channel.SMS: channel}, load_payment_link_settings(),
                  lambda: datetime.now(UTC))
    async with work.holding():
        await work.round(Tally())
    assert channel.bodies == [shown["body"]]
    history = await (await client.get("/accounts/ES-0001/messages")).json()
    assert [(m["trigger"], m["status"], m["recipient"]) for m in history] == [
        ("agent_link", "sent", "+12125550101")]
    assert (await client.get("/accounts/NOPE/messages")).status == 404
