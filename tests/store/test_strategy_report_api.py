"""The strategy report as a manager gets it (issue 17), against the lab's
PostgreSQL: GET /reports/strategy over real HTTP (an agent's token is
refused, a supervisor gets the JSON, CSV that parses, the chart as a PNG;
a wrong query is a 400 naming the field), and `recobro report` as a user
runs it (table, CSV, JSON, --chart)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from dialer.access.roles import Role
from dialer.access.tokens import TokenStore
from dialer.http import build_app
from dialer.reports import http as reports_http
from tests.e2e.cli import run_cli
from tests.store.test_history import import_text
from tests.store.test_strategy_report import ACCOUNTS, ZONES, Seed, _local

pytestmark = pytest.mark.lab

PNG = b"\x89PNG\r\n\x1a\n"


async def _seed(pool: asyncpg.Pool) -> None:
    """Campaign 'hand': at 09 h New York on Monday 2 November 2026, an early
    debtor's call got an RPC, another's a payment of 110.00, a third rang
    out; at 20 h Madrid on Saturday 7 November, a late debtor self-served."""
    seed = Seed(pool)
    hand = await seed.campaign("hand", "predictive")
    at = _local(ZONES["NY"], date(2026, 11, 2), 9, 5)
    talked = await seed.attempt(hand, "NY-early-0", "early", at, "conversation")
    await seed.disposition(talked, "RPC", at)
    paid = await seed.attempt(hand, "NY-early-1", "early", at, "conversation")
    await seed.disposition(paid, "PAID", at)
    await seed.payment("NY-early-1", Decimal("110.00"), at + timedelta(seconds=30), call=paid)
    await seed.attempt(hand, "NY-early-2", "early", at, "no_answer")
    await seed.attempt(hand, "MAD-late-0", "late", _local(ZONES["MAD"], date(2026, 11, 7), 20),
                       "self_served")


@pytest.fixture
async def api(fresh_database, tmp_path):
    pool = await asyncpg.create_pool(fresh_database, min_size=1, max_size=4)
    await import_text(pool, tmp_path, ACCOUNTS)
    await _seed(pool)
    store, now = TokenStore(pool), datetime.now(UTC)
    tokens = {name: (await store.issue(role, agent, name, now, timedelta(hours=1)))[1]
              for name, role, agent in (("supervisor", Role.SUPERVISOR, None),
                                        ("admin", Role.ADMIN, None),
                                        ("agent", Role.AGENT, "agent1001"))}
    client = TestClient(TestServer(build_app("", pool, [reports_http.installer(pool)]),
                                   host="127.0.0.1"))
    await client.start_server()
    yield client, tokens
    await client.close()
    await pool.close()


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


async def test_an_agent_is_refused_and_a_supervisor_gets_the_json(api) -> None:
    client, tokens = api
    refused = await client.get("/reports/strategy", headers=_bearer(tokens["agent"]))
    assert refused.status == 403
    assert await refused.json() == {"error": "a token of role agent may not use this route "
                                             "(admin or supervisor only)"}
    assert (await client.get("/reports/strategy")).status == 401

    response = await client.get("/reports/strategy", params={"campaign": "hand"},
                                headers=_bearer(tokens["supervisor"]))
    assert response.status == 200 and response.content_type == "application/json"
    report = await response.json()
    assert report["currency"] == "USD" and report["filters"]["campaign"] == "hand"
    early, late = report["cells"]
    assert (early["segment"], early["local_hour"], early["weekday"], early["dial_mode"]) == (
        "early", 9, "Mon", "predictive")
    assert early["attempts"] == 3
    assert early["right_party_contact"] == {"n": 3, "successes": 2, "rate": 0.6667,
                                            "low": 0.2077, "high": 0.9385}  # Wilson 2/3
    assert early["collected"]["total"] == "110.00"
    assert early["collected"]["per_item"]["estimate"] == pytest.approx(36.67)
    assert (late["segment"], late["local_hour"], late["weekday"]) == ("late", 20, "Sat")
    assert late["right_party_contact"]["successes"] == 1
    assert report["totals"]["attempts"] == 4

    by_segment = await (await client.get(
        "/reports/strategy", params={"by": "segment", "from": "2026-11-03"},
        headers=_bearer(tokens["supervisor"]))).json()
    assert [(c["segment"], c["attempts"]) for c in by_segment["cells"]] == [("late", 1)]


async def test_the_csv_parses_and_the_chart_is_a_png(api) -> None:
    client, tokens = api
    admin = _bearer(tokens["admin"])
    response = await client.get("/reports/strategy", params={"format": "csv", "by": "segment"},
                                headers=admin)
    assert response.status == 200 and response.content_type == "text/csv"
    rows = list(csv.DictReader(io.StringIO(await response.text())))
    assert [(r["segment"], r["attempts"], r["right_party_contact_successes"]) for r in rows] == [
        ("early", "3", "2"), ("late", "1", "1")]
    chart = await client.get("/reports/strategy", params={"format": "png"}, headers=admin)
    assert chart.status == 200 and chart.content_type == "image/png"
    assert (await chart.read()).startswith(PNG)
    messages = await client.get("/reports/strategy", params={"of": "messages"}, headers=admin)
    assert messages.status == 200
    document = await messages.json()
    assert document["report"] == "messages" and document["cells"] == []
    assert document["dimensions"] == ["segment", "local_hour", "weekday", "channel", "template"]


@pytest.mark.parametrize(("query", "error"), [
    ({"from": "2026-13-01"}, "the query's 'from' must be a date (YYYY-MM-DD)"),
    ({"from": "2026-11-30", "to": "2026-11-01"},
     "the query: from 2026-11-30 is after to 2026-11-01"),
    ({"by": "segment,zone"}, ("the query's 'by': 'segment,zone': a comma-separated list of "
                             "portfolio, segment, hour, weekday, mode")),
    ({"format": "xml"}, "the query's 'format' must be one of json, csv, png"),
    ({"currency": "dollars"}, ("the query: currency 'dollars': a three-letter ISO 4217 code "
                              "(USD, EUR, MXN)")),
    ({"colour": "red"}, ("the query's 'colour': not a parameter of this route (of, campaign, "
                        "from, to, currency, by, format)")),
    ({"campaign": "winter"}, "campaign 'winter': no such campaign"),
    ({"of": "letters"}, "the query's 'of' must be one of calls, messages"),
    ({"of": "messages", "by": "mode"}, ("the query's 'by': 'mode': a comma-separated list of "
                                        "portfolio, segment, hour, weekday, channel, "
                                        "template")),
])
async def test_a_wrong_query_is_a_400_naming_the_field(api, query, error) -> None:
    client, tokens = api
    response = await client.get("/reports/strategy", params=query,
                                headers=_bearer(tokens["supervisor"]))
    assert response.status == 400
    assert await response.json() == {"error": error}


async def test_the_report_command(fresh_database, lab_config, tmp_path) -> None:
    pool = await asyncpg.create_pool(fresh_database, min_size=1, max_size=2)
    await import_text(pool, tmp_path, ACCOUNTS)
    await _seed(pool)
    await pool.close()

    def recobro(*args: str):
        return run_cli("report", *args, RECOBRO_ENV_FILE=str(lab_config.env_file),
                       DATABASE_URL=fresh_database)

    table = recobro("--campaign", "hand", "--by", "segment,hour")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split()[:3] == ["segment", "local_hour", "attempts"]
    assert lines[2].split()[:6] == ["early", "9", "3", "2/3", "67%", "[21-94]"]
    assert "amounts in USD" in lines[-1] and "campaign hand" in lines[-1]
    rows = list(csv.DictReader(io.StringIO(recobro("--format", "csv", "--by", "mode").stdout)))
    assert [(r["dial_mode"], r["attempts"], r["collected_total"]) for r in rows] == [
        ("predictive", "4", "110.00")]
    chart = tmp_path / "contact.png"
    document = recobro("--format", "json", "--to", "2026-11-02", "--chart", str(chart))
    assert document.returncode == 0, document.stderr
    assert [c["segment"] for c in json.loads(document.stdout)["cells"]] == ["early"]
    assert chart.read_bytes().startswith(PNG)
    messages = recobro("--of", "messages", "--by", "channel,template")
    assert messages.returncode == 0, messages.stderr
    assert messages.stdout.splitlines()[0].split()[:3] == ["channel", "template", "messages"]
    assert messages.stdout.splitlines()[-1].startswith("messages: campaign all")
    wrong = recobro("--by", "zone")
    assert wrong.returncode == 2
    assert wrong.stderr == ("recobro: error: report: 'zone': a comma-separated list of "
                            "portfolio, segment, hour, weekday, mode\n")
    several = recobro("--from", "2026-11-30", "--to", "2026-11-01")
    assert several.returncode == 2
    assert several.stderr == ("recobro: error: report: from 2026-11-30 is after to "
                              "2026-11-01\n")
