"""The operations API's campaigns, accounts and do-not-call routes over
real HTTP against the lab's PostgreSQL (issue 17, item 3): a campaign
created, steered and set as the CLI does it, its lifecycle refusals a 409
naming the fix, its live figures from its attempts and leads; the
accounts paged and searched, and an account's 360 view (an agent's token:
its own debtor only; a card as brand and last four); the do-not-call
list paged, added to and (by an administrator) taken from; each change in
the audit with who made it."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.store.test_api_roles import A, api, bearer  # noqa: F401 (api: a fixture)

pytestmark = pytest.mark.lab


async def _audit(pool, prefix: str) -> list[tuple]:
    rows = await pool.fetch("SELECT t.label, a.role, a.method, a.path, a.status "
                            "FROM api_audit a LEFT JOIN api_tokens t ON t.id = a.token_id "
                            "WHERE a.path LIKE $1 || '%' ORDER BY a.id", prefix)
    return [tuple(r) for r in rows]


async def test_a_campaign_is_created_steered_and_set_as_the_cli_does_it(api) -> None:  # noqa: F811
    client, pool, tokens, _calls = api
    s = bearer(tokens["supervisor"])
    created = await client.post("/campaigns", headers=s, json={
        "name": "autumn", "caller_id": "+15550100001", "mode": "progressive",
        "window": "00:00-24:00", "segments": ["early", "mid"], "settlement_percent": 80})
    assert created.status == 201, await created.text()
    shown = await created.json()
    assert (shown["state"], shown["dial_mode"], shown["abandon_target"], shown["segments"]) == (
        "stopped", "progressive", 0.03, ["early", "mid"])
    # RA-1 (10 days past due) and RC-3 (5) are early, RB-2 (40) mid: every one a lead.
    assert shown["leads_drawn"] == 3 and shown["leads"]["left"] == 3
    assert await pool.fetchval("SELECT array_agg(DISTINCT settlement_percent) FROM strategies "
                               "s JOIN campaigns c ON c.id = s.campaign_id "
                               "WHERE c.name = 'autumn'") == [80]

    again = await client.post("/campaigns", headers=s,
                              json={"name": "autumn", "caller_id": "+15550100001"})
    assert again.status == 409 and "already exists" in (await again.json())["error"]
    for body, named in (({"ring_timeout": 3}, 'the body\'s "ring_timeout" 3: allowed from 5 to 120'),
                        ({"abandon_target": 0.05}, 'the body\'s "allow_abandon_above_cap"'),
                        ({"caller_id": "call me"}, 'the body\'s "caller_id"'),
                        ({"colour": "red"}, 'the body\'s "colour" is not a field')):
        bad = await client.post("/campaigns", headers=s,
                                json={"name": "winter", "caller_id": "+15550100002", **body})
        assert bad.status == 400 and named in (await bad.json())["error"], await bad.text()
    assert await pool.fetchval("SELECT count(*) FROM campaigns WHERE name = 'winter'") == 0

    async def steer(action: str) -> tuple[int, dict]:
        response = await client.post(f"/campaigns/autumn/{action}", headers=s)
        return response.status, await response.json()

    assert await steer("pause") == (409, {"error": "campaign autumn: a campaign that is "
                                          "stopped cannot pause; start it first"})
    assert await steer("start") == (200, {"campaign": "autumn", "state": "running"})
    mode = await client.put("/campaigns/autumn/dial-mode", headers=s,
                            json={"dial_mode": "predictive"})
    assert mode.status == 409 and "stop it first" in (await mode.json())["error"]
    assert await steer("pause") == (200, {"campaign": "autumn", "state": "paused"})
    assert await steer("resume") == (200, {"campaign": "autumn", "state": "running"})
    assert await steer("stop") == (200, {"campaign": "autumn", "state": "stopped"})
    mode = await client.put("/campaigns/autumn/dial-mode", headers=s,
                            json={"dial_mode": "predictive"})
    assert mode.status == 200 and (await mode.json())["dial_mode"] == "predictive"
    assert await pool.fetchval("SELECT array_agg(DISTINCT s.dial_mode) FROM strategies s "
                               "JOIN campaigns c ON c.id = s.campaign_id "
                               "WHERE c.name = 'autumn'") == ["predictive"]
    target = await client.put("/campaigns/autumn/abandon-target", headers=s,
                              json={"abandon_target": 0.04})
    assert target.status == 400 and "allow_abandon_above_cap" in (await target.json())["error"]
    target = await client.put("/campaigns/autumn/abandon-target", headers=s,
                              json={"abandon_target": 0.02})
    assert target.status == 200 and (await target.json())["abandon_target"] == 0.02
    assert await pool.fetchval("SELECT abandon_target FROM campaigns WHERE name = 'autumn'") \
        == 0.02
    for response in (await client.get("/campaigns/nope", headers=s),
                     await client.post("/campaigns/nope/start", headers=s)):
        assert response.status == 404 and "no campaign named 'nope'" in (
            await response.json())["error"]

    assert await _audit(pool, "/campaigns") == [
        ("supervisor", "supervisor", "POST", "/campaigns", 201),
        ("supervisor", "supervisor", "POST", "/campaigns", 409),
        *[("supervisor", "supervisor", "POST", "/campaigns", 400)] * 4,
        ("supervisor", "supervisor", "POST", "/campaigns/autumn/pause", 409),
        ("supervisor", "supervisor", "POST", "/campaigns/autumn/start", 200),
        ("supervisor", "supervisor", "PUT", "/campaigns/autumn/dial-mode", 409),
        ("supervisor", "supervisor", "POST", "/campaigns/autumn/pause", 200),
        ("supervisor", "supervisor", "POST", "/campaigns/autumn/resume", 200),
        ("supervisor", "supervisor", "POST", "/campaigns/autumn/stop", 200),
        ("supervisor", "supervisor", "PUT", "/campaigns/autumn/dial-mode", 200),
        ("supervisor", "supervisor", "PUT", "/campaigns/autumn/abandon-target", 400),
        ("supervisor", "supervisor", "PUT", "/campaigns/autumn/abandon-target", 200),
        ("supervisor", "supervisor", "POST", "/campaigns/nope/start", 404),
    ]


async def test_a_campaigns_live_figures_and_the_list_in_pages(api) -> None:  # noqa: F811
    client, pool, tokens, calls = api
    s = bearer(tokens["supervisor"])
    await client.post("/campaigns", headers=s, json={"name": "autumn",
                                                     "caller_id": "+15550100001"})
    # The fixture's three calls of spring are in flight; two end today: one
    # talked to agent A, one abandoned (no agent took it).
    await pool.execute("UPDATE attempts SET answered_at = now(), ended_at = now(), "
                       "result = 'conversation' WHERE id = $1", calls["A"])
    await pool.execute("UPDATE attempts SET answered_at = now(), ended_at = now(), "
                       "result = 'abandoned' WHERE id = $1", calls["none"])
    await pool.execute("INSERT INTO leads (campaign_id, account_id, segment, priority, value, "
                       "time_zone, state, done_reason) SELECT c.id, a.id, 'early', 1, 1, "
                       "'UTC', CASE a.reference WHEN 'RA-1' THEN 'done' ELSE 'ready' END, "
                       "CASE a.reference WHEN 'RA-1' THEN 'paid' ELSE '' END "
                       "FROM campaigns c, accounts a WHERE c.name = 'spring'")
    response = await client.get("/campaigns/spring", headers=s)
    assert response.status == 200
    shown = await response.json()
    assert shown["calls_in_flight"] == 1
    assert shown["today"] == {"answered": 2, "live_answers": 2, "abandoned": 1,
                              "abandon_rate": 0.5}
    assert shown["leads"]["left"] == 2 and shown["leads"]["done"] == {"paid": 1}

    first = await (await client.get("/campaigns", headers=s, params={"limit": "1"})).json()
    assert [c["name"] for c in first["items"]] == ["spring"]
    second = await (await client.get("/campaigns", headers=s,
                                     params={"limit": "1", "after": str(first["next"])})).json()
    assert [c["name"] for c in second["items"]] == ["autumn"]
    last = await (await client.get("/campaigns", headers=s,
                                   params={"after": str(second["next"])})).json()
    assert last == {"items": [], "next": None}
    whole = await (await client.get("/campaigns", headers=s)).json()
    assert [c["name"] for c in whole["items"]] == ["spring", "autumn"] and whole["next"] is None
    too_many = await client.get("/campaigns", headers=s, params={"limit": "501"})
    assert too_many.status == 400 and "'limit' must be 1 to 500" in (
        await too_many.json())["error"]


async def test_accounts_in_pages_searched_and_one_debtors_360_view(api) -> None:  # noqa: F811
    client, pool, tokens, calls = api
    s, a = bearer(tokens["supervisor"]), bearer(tokens["A"])

    async def references(**query: str) -> tuple[list[str], object]:
        page = await (await client.get("/accounts", headers=s, params=query)).json()
        return [item["reference"] for item in page["items"]], page["next"]

    first, cursor = await references(limit="2")
    assert first == ["RA-1", "RB-2"] and cursor is not None
    assert await references(limit="2", after=str(cursor)) == (["RC-3"], None)
    assert (await references(search="bru"))[0] == ["RB-2"]  # a part of the name, any case
    assert (await references(search="RC"))[0] == ["RC-3"]  # a reference's start
    assert (await references(search="5550101"))[0] == ["RA-1"]  # a part of a number
    assert (await references(search="%"))[0] == []  # a wildcard is a character
    assert (await references(status="paid"))[0] == []

    disposed = await client.post(f"/attempts/{calls['A']}/disposition", headers=a,
                                 json={"code": "PTP", "note": "pays friday"})
    assert disposed.status == 201
    account = await pool.fetchval("SELECT id FROM accounts WHERE reference = 'RA-1'")
    await pool.execute("INSERT INTO promises (account_id, amount, due_by, source, at, "
                       "attempt_id) VALUES ($1, 60.00, '2026-12-11', 'agent', now(), $2)",
                       account, calls["A"])
    await pool.execute("INSERT INTO payment_captures (capture_id, account_id, outcome, option, "
                       "amount, currency, brand, last4, gateway_reference, attempts) VALUES "
                       "($1, $2, 'paid', 'full', 60.00, 'USD', 'visa', '4242', 'pi_1', 1)",
                       uuid.uuid4(), account)
    await pool.execute("INSERT INTO messages (account_id, trigger, channel, idempotency_key) "
                       "VALUES ($1, 'no_interaction', 'sms', 'attempt:x')", account)

    response = await client.get("/accounts/RA-1", headers=a)  # agent A's own debtor
    assert response.status == 200, await response.text()
    view = await response.json()
    assert view["account"]["reference"] == "RA-1" and view["account"]["balance"] == "120.00"
    assert [(p["number"], p["do_not_call"]) for p in view["phones"]] == [("+12125550101", False)]
    assert [(t["id"], t["agent"], t["campaign"]) for t in view["attempts"]] == [
        (str(calls["A"]), A, "spring")]
    assert [(d["code"], d["agent"], d["note"]) for d in view["dispositions"]] == [
        ("PTP", A, "pays friday")]
    assert [(p["amount"], p["due_by"]) for p in view["promises"]] == [("60.00", "2026-12-11")]
    assert view["payments"] == [{
        "outcome": "paid", "option": "full", "amount": "60.00", "currency": "USD",
        "brand": "visa", "last4": "4242", "gateway_reference": "pi_1", "promise_date": None,
        "recorded_at": view["payments"][0]["recorded_at"]}]
    assert [(m["trigger"], m["status"]) for m in view["messages"]] == [
        ("no_interaction", "pending")]

    other = await client.get("/accounts/RB-2", headers=a)  # agent B's debtor
    assert other.status == 403 and set(await other.json()) == {"error"}
    assert (await client.get("/accounts", headers=a)).status == 403
    assert (await client.get("/accounts/RB-2", headers=s)).status == 200
    missing = await client.get("/accounts/NOPE", headers=s)
    assert missing.status == 404 and "no account with reference 'NOPE'" in (
        await missing.json())["error"]


async def test_the_do_not_call_list_added_to_paged_and_by_an_admin_taken_from(api) -> None:  # noqa: F811
    client, pool, tokens, _calls = api
    s, admin = bearer(tokens["supervisor"]), bearer(tokens["admin"])
    added = await client.post("/dnc", headers=s, json={"number": "(212) 555-0102"})
    assert added.status == 201
    entry = await added.json()
    assert (entry["number"], entry["account"], entry["reason"], entry["added"]) == (
        "+12125550102", None, "dnc", True)
    # On the list already: kept as it was, with its first reason.
    again = await client.post("/dnc", headers=s,
                              json={"number": "+12125550102", "reason": "opt_out"})
    assert again.status == 200
    assert {**await again.json(), "added": True} == entry
    opted = await client.post("/dnc", headers=s, json={"account": "RA-1", "reason": "opt_out"})
    assert opted.status == 201
    for body, named in (({}, "give a number or an account reference"),
                        ({"number": "+12125550103", "account": "RC-3"}, "one of them"),
                        ({"number": "12"}, "number"),
                        ({"number": "+12125550103", "region": "USA"}, "the body's \"region\"")):
        bad = await client.post("/dnc", headers=s, json=body)
        assert bad.status == 400 and named in (await bad.json())["error"], (body, await bad.text())
    assert await pool.fetchval("SELECT count(*) FROM do_not_call") == 2

    opt_outs = await (await client.get("/dnc", headers=s, params={"reason": "opt_out"})).json()
    assert [(e["account"], e["reason"]) for e in opt_outs["items"]] == [("RA-1", "opt_out")]
    page = await (await client.get("/dnc", headers=s, params={"limit": "1"})).json()
    assert [e["number"] for e in page["items"]] == ["+12125550102"] and page["next"] == entry["id"]
    view = await (await client.get("/accounts/RB-2", headers=s)).json()
    assert [p["do_not_call"] for p in view["phones"]] == [True]
    assert (await (await client.get("/accounts/RA-1", headers=s)).json())[
        "on_do_not_call"] == "opt_out"

    refused = await client.delete(f"/dnc/{entry['id']}", headers=s)  # a supervisor: not theirs
    assert refused.status == 403
    removed = await client.delete(f"/dnc/{entry['id']}", headers=admin)
    assert removed.status == 200 and (await removed.json())["number"] == "+12125550102"
    gone = await client.delete(f"/dnc/{entry['id']}", headers=admin)
    assert gone.status == 404
    assert await pool.fetchval("SELECT count(*) FROM do_not_call") == 1
    assert await _audit(pool, "/dnc") == [
        ("supervisor", "supervisor", "POST", "/dnc", 201),
        ("supervisor", "supervisor", "POST", "/dnc", 200),
        ("supervisor", "supervisor", "POST", "/dnc", 201),
        *[("supervisor", "supervisor", "POST", "/dnc", 400)] * 4,
        ("supervisor", "supervisor", "DELETE", f"/dnc/{entry['id']}", 403),
        ("admin", "admin", "DELETE", f"/dnc/{entry['id']}", 200),
        ("admin", "admin", "DELETE", f"/dnc/{entry['id']}", 404),
    ]


IMPORT = ("reference,debtor_name,balance,days_past_due,phone1,language\n"
          "RD-4,Dora Díaz,310.50,20,+12125550104,en\n"
          "RE-5,Elio Estrada,lots,20,+12125550105,es\n"
          "RA-1,Alma Aguirre,150.00,12,+12125550101,es\n"
          "RF-6,Fede Fuentes,10.00,3,12,es\n")


async def test_an_import_keeps_the_good_rows_and_names_each_bad_ones_line_and_field(
        api) -> None:  # noqa: F811
    client, pool, tokens, _calls = api
    s = bearer(tokens["supervisor"])
    strict = await client.post("/imports", headers=s, data=IMPORT.encode(),
                               params={"strict": "true"})
    assert strict.status == 422
    refused = await strict.json()
    assert refused["imported"] is False and [e["line"] for e in refused["errors"]] == [3, 5]
    assert await pool.fetchval("SELECT count(*) FROM accounts") == 3  # nothing stored

    response = await client.post("/imports", headers=s, data=IMPORT.encode(),
                                 params={"source": "december.csv", "language": "en"})
    assert response.status == 201, await response.text()
    done = await response.json()
    assert (done["inserted"], done["updated"], done["quarantined"]) == (1, 1, 2)
    assert [(e["line"], e["reason"].split(":")[0]) for e in done["errors"]] == [
        (3, "balance"), (5, "phone1")]
    assert await pool.fetchval("SELECT balance::text FROM accounts WHERE reference = 'RA-1'") \
        == "150.00"
    assert await pool.fetchval("SELECT language FROM accounts WHERE reference = 'RD-4'") == "en"

    batch = await (await client.get(f"/imports/{done['batch']}", headers=s)).json()
    assert (batch["source"], batch["accepted"], batch["quarantined"]) == (
        "api: december.csv", 2, 2)
    assert batch["errors"] == done["errors"]
    assert (await client.get("/imports/999999", headers=s)).status == 404
    headless = await client.post("/imports", headers=s, data=b"reference,balance\nX,1\n")
    assert headless.status == 400 and "debtor_name" in (await headless.json())["error"]
    assert (await client.post("/imports", headers=bearer(tokens["A"]),
                              data=IMPORT.encode())).status == 403
    assert await _audit(pool, "/imports") == [
        ("supervisor", "supervisor", "POST", "/imports", 422),
        ("supervisor", "supervisor", "POST", "/imports", 201),
        ("supervisor", "supervisor", "POST", "/imports", 400),
        ("A", "agent", "POST", "/imports", 403),
    ]


async def _events(response, count: int) -> list[tuple[str, dict]]:
    """The first count events of a server-sent stream: (event, data)."""
    events, event = [], ""
    async for raw in response.content:
        line = raw.decode().rstrip("\n")
        if line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: "):
            events.append((event, json.loads(line.removeprefix("data: "))))
            if len(events) == count:
                return events
    raise AssertionError(f"the stream ended after {len(events)} event(s)")


async def test_a_campaigns_live_figures_come_as_server_sent_events(api) -> None:  # noqa: F811
    client, pool, tokens, calls = api
    s = bearer(tokens["supervisor"])
    async with client.get("/campaigns/spring/events", headers=s,
                          params={"every": "1"}) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/event-stream"
        [(event, first)] = await _events(response, 1)
        assert (event, first["name"], first["calls_in_flight"]) == ("figures", "spring", 3)
        await pool.execute("UPDATE attempts SET answered_at = now(), ended_at = now(), "
                           "result = 'abandoned' WHERE id = $1", calls["none"])
        [(_, second)] = await _events(response, 1)
        assert second["calls_in_flight"] == 2 and second["today"]["abandoned"] == 1
    assert (await client.get("/campaigns/nope/events", headers=s)).status == 404
    assert (await client.get("/campaigns/spring/events", headers=s,
                             params={"every": "0"})).status == 400
    assert (await client.get("/campaigns/spring/events",
                             headers=bearer(tokens["A"]))).status == 403
