"""The operations API's agents, skills, dispositions and recordings routes
over real HTTP against the lab's PostgreSQL (issue 17, item 3): one agent
shown; a skill set and removed by an administrator with the checks `recobro
agent skills` makes, each error naming the field; a page of dispositions
filtered by campaign, code, agent and days (an agent's token: its own
only); a call's recording served to a supervisor as the file Asterisk
wrote, each fetch in the audit, never to an agent's token."""

from __future__ import annotations

import io
import uuid
import wave
from datetime import UTC, datetime, timedelta

import pytest

from dialer.agents.commands import parse_skills
from dialer.agents.store import AgentStore
from dialer.errors import ConfigError
from dialer.store.recordings import file_name
from tests.store.test_api_roles import A, B, _attempt, api, bearer  # noqa: F401 (api: a fixture)

pytestmark = pytest.mark.lab


async def _audit(pool, path: str) -> list[tuple]:
    rows = await pool.fetch("SELECT t.label, a.role, a.agent, a.method, a.status FROM api_audit a "
                            "LEFT JOIN api_tokens t ON t.id = a.token_id WHERE a.path = $1 "
                            "ORDER BY a.id", path)
    return [tuple(r) for r in rows]


async def test_one_agent_shown_and_its_skills_set_and_removed_as_the_cli_checks(
        api) -> None:  # noqa: F811
    client, pool, tokens, _calls = api
    admin, s, a = bearer(tokens["admin"]), bearer(tokens["supervisor"]), bearer(tokens["A"])
    shown = await client.get(f"/agents/{A}", headers=a)
    assert shown.status == 200, await shown.text()
    agent = await shown.json()
    assert agent["endpoint"] == A and set(agent) == {"endpoint", "name", "state", "since",
                                                     "pause_reason", "skills", "asterisk"}
    assert agent["asterisk"] is None  # any server: the lab has one
    assert agent == next(x for x in await (await client.get("/agents", headers=s)).json()
                         if x["endpoint"] == A)
    missing = await client.get("/agents/agent9999", headers=s)
    assert (missing.status, await missing.json()) == (404, {"error": "no agent 'agent9999'"})

    path = f"/agents/{A}/skills/tier:high"
    assert "tier:high" not in agent["skills"]
    assert (await client.put(path, headers=s, json={"level": 4})).status == 403
    added = await client.put(path, headers=admin, json={"level": 4})
    assert added.status == 200, await added.text()
    skills = (await added.json())["skills"]
    assert skills == {**agent["skills"], "tier:high": 4}
    changed = await client.put(path, headers=admin, json={"level": 2})
    assert (await changed.json())["skills"]["tier:high"] == 2
    assert await pool.fetchval("SELECT level FROM agent_skills WHERE endpoint = $1 "
                               "AND skill = 'tier:high'", A) == 2

    # The CLI's checks, the field named: the level's range, the name's separators.
    for target, body, error in (
            (path, {"level": 7}, ('the body\'s "level": tier:high=7: a level is a whole '
                                  'number from 1 to 5')),
            (path, {"level": 0}, 'the body\'s "level": tier:high=0'),
            (path, {"level": "4"}, 'the body\'s "level"'),
            (path, {"level": 3, "colour": "red"}, 'the body\'s "colour" is not a field'),
            (path, {}, '"level"'),
            (f"/agents/{A}/skills/tier=high", {"level": 3},
             "the path's 'skill': the skill 'tier=high' holds a comma"),
            (f"/agents/{A}/skills/{'x' * 101}", {"level": 3},
             "the path's 'skill': the skill 'xxxxx"),
            (f"/agents/{A}/skills/{'x' * 101}", {"level": 3}, "is longer than 100 characters")):
        refused = await client.put(target, headers=admin, json=body)
        assert refused.status == 400 and error in (await refused.json())["error"], (
            body, await refused.text())
    with pytest.raises(ConfigError, match="--skills: negotiation=7: a level is a whole number "
                                          "from 1 to 5"):
        parse_skills("negotiation=7")
    unknown = await client.put("/agents/agent9999/skills/negotiation", headers=admin,
                               json={"level": 3})
    assert (unknown.status, await unknown.json()) == (404, {"error": "no agent 'agent9999'"})

    removed = await client.delete(path, headers=admin)
    assert removed.status == 200 and (await removed.json())["skills"] == agent["skills"]
    again = await client.delete(path, headers=admin)
    assert (again.status, await again.json()) == (
        404, {"error": f"agent {A} has no skill 'tier:high'"})
    assert (await (await client.get(f"/agents/{A}", headers=a)).json())["skills"] == \
        agent["skills"]
    assert await _audit(pool, path) == [
        ("supervisor", "supervisor", None, "PUT", 403), ("admin", "admin", None, "PUT", 200),
        ("admin", "admin", None, "PUT", 200),
        *[("admin", "admin", None, "PUT", 400)] * 5,
        ("admin", "admin", None, "DELETE", 200), ("admin", "admin", None, "DELETE", 404)]


async def test_an_administrator_names_an_agents_asterisk_server_as_the_cli_does(
        api) -> None:  # noqa: F811
    client, pool, tokens, _calls = api
    admin, s = bearer(tokens["admin"]), bearer(tokens["supervisor"])
    path = f"/agents/{A}/asterisk"
    assert (await client.put(path, headers=s, json={"asterisk": "asterisk-b"})).status == 403
    try:
        moved = await client.put(path, headers=admin, json={"asterisk": "asterisk-b"})
        assert moved.status == 200, await moved.text()
        agent = await moved.json()
        assert agent["endpoint"] == A and agent["asterisk"] == "asterisk-b"
        # What routing reads: only asterisk-b's dialers reach the agent now.
        assert await AgentStore(pool).server_of(A) == "asterisk-b"
        assert not AgentStore(pool, "asterisk").reaches("asterisk-b")
        for body, error in (({"asterisk": "asterisk b"}, ('the body\'s "asterisk": '
                             "'asterisk b': a server's name is letters, digits")),
                            ({"asterisk": 7}, 'the body\'s "asterisk"'),
                            ({}, '"asterisk"'),
                            ({"asterisk": "b", "colour": "red"}, '"colour" is not a field')):
            refused = await client.put(path, headers=admin, json=body)
            assert refused.status == 400 and error in (await refused.json())["error"], (
                body, await refused.text())
        assert await AgentStore(pool).server_of(A) == "asterisk-b"  # nothing lost
        unknown = await client.put("/agents/agent9999/asterisk", headers=admin,
                                   json={"asterisk": "asterisk-b"})
        assert (unknown.status, await unknown.json()) == (404, {"error": "no agent 'agent9999'"})
    finally:
        back = await client.put(path, headers=admin, json={"asterisk": None})
    assert back.status == 200 and (await back.json())["asterisk"] is None
    assert await pool.fetchval("SELECT asterisk FROM agents WHERE endpoint = $1", A) is None
    assert [row[-1] for row in await _audit(pool, path)] == [403, 200, 400, 400, 400, 400, 200]


async def test_dispositions_in_pages_filtered_by_campaign_code_agent_and_days(
        api) -> None:  # noqa: F811
    client, pool, tokens, calls = api
    s, a, b = bearer(tokens["supervisor"]), bearer(tokens["A"]), bearer(tokens["B"])
    more = await _attempt(pool, "RA-1", A)
    for call, token, code in ((calls["A"], a, "PTP"), (calls["B"], b, "REFUSED"),
                              (more, a, "CALLBACK")):
        given = await client.post(f"/attempts/{call}/disposition", headers=token,
                                  json={"code": code, "note": f"{code} note"})
        assert given.status == 201, await given.text()
    corrected = await client.post(f"/attempts/{calls['A']}/disposition/correction", headers=s,
                                  json={"code": "PAID"})
    assert corrected.status == 201
    # The callback was given two days ago.
    two_days_ago = datetime.now(UTC) - timedelta(days=2)
    await pool.execute("UPDATE dispositions SET at = $2 WHERE attempt_id = $1", more,
                       two_days_ago)
    ids = [r["id"] for r in await pool.fetch("SELECT id FROM dispositions ORDER BY id")]

    async def page(token: dict[str, str], **query: str) -> tuple[int, dict]:
        response = await client.get("/dispositions", headers=token, params=query)
        return response.status, await response.json()

    status, first = await page(s, limit="3")
    assert status == 200 and [d["id"] for d in first["items"]] == ids[:3]
    assert first["next"] == ids[2]
    status, rest = await page(s, limit="3", after=str(first["next"]))
    assert [d["id"] for d in rest["items"]] == ids[3:] and rest["next"] is None
    ptp = first["items"][0]
    assert ptp == {"id": ids[0], "at": ptp["at"], "attempt": str(calls["A"]),
                   "campaign": "spring", "account": "RA-1", "code": "PTP", "agent": A,
                   "note": "PTP note", "corrects": None}
    assert rest["items"][0]["code"] == "PAID" and rest["items"][0]["corrects"] == ids[0]

    def codes(listed: dict) -> list[str]:
        return [d["code"] for d in listed["items"]]

    assert codes((await page(s, code="ptp"))[1]) == ["PTP"]
    assert codes((await page(s, agent=B))[1]) == ["REFUSED"]
    assert codes((await page(s, campaign="spring"))[1]) == ["PTP", "REFUSED", "CALLBACK", "PAID"]
    today, past = datetime.now(UTC).date(), two_days_ago.date()
    assert codes((await page(s, **{"from": str(today)}))[1]) == ["PTP", "REFUSED", "PAID"]
    assert codes((await page(s, **{"from": str(past), "to": str(past)}))[1]) == ["CALLBACK"]
    # An agent's token lists its own alone, and may not name another.
    assert codes((await page(a))[1]) == ["PTP", "CALLBACK", "PAID"]
    assert codes((await page(b))[1]) == ["REFUSED"]
    status, refused = await page(a, agent=B)
    assert status == 403 and set(refused) == {"error"} and "REFUSED" not in refused["error"]

    for query, error in (
            ({"campaign": "autumn"}, "the query's 'campaign': no campaign 'autumn'"),
            ({"code": "NOPE"}, "the query's 'code': no disposition code 'NOPE'"),
            ({"agent": "agent9999"}, "the query's 'agent': no agent 'agent9999'"),
            ({"from": str(today), "to": str(past)},
             f"the query's 'to': {past} is before the first day, {today}"),
            ({"from": "2026-13-01"}, "the query's 'from'"),
            ({"limit": "0"}, "the query's 'limit' must be 1 to 500")):
        status, answer = await page(s, **query)
        assert status == 400 and error in answer["error"], (query, answer)


def _wav(seconds: float) -> bytes:
    """A WAV file as MixMonitor writes one: 8 kHz, 16-bit, mono."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(bytes(int(16000 * seconds)))
    return buffer.getvalue()


async def test_a_supervisor_fetches_a_calls_recording_and_the_audit_keeps_who(
        api, tmp_path) -> None:  # noqa: F811
    """The file a recorded call's attempt names in the directory the API is
    given (this test writes it: tests/e2e/test_agents.py fetches one a lab
    call recorded)."""
    client, pool, tokens, calls = api
    s, admin, a = bearer(tokens["supervisor"]), bearer(tokens["admin"]), bearer(tokens["A"])
    call = calls["A"]
    path = f"/attempts/{call}/recording"
    await pool.execute("UPDATE attempts SET recording = $2 WHERE id = $1", call,
                       file_name(str(call)))
    going_on = await client.get(path, headers=s)
    assert going_on.status == 409 and "is going on" in (await going_on.json())["error"]
    await pool.execute("UPDATE attempts SET ended_at = now(), result = 'conversation' "
                       "WHERE id = $1", call)
    absent = await client.get(path, headers=s)
    assert (absent.status, await absent.json()) == (404, {"error": (
        f"the recording of attempt {call} (recobro-{call}.wav) is not in the recordings "
        "directory (RECOBRO_RECORDINGS_DIR)")})

    audio = _wav(1.5)
    (tmp_path / "monitor").mkdir()
    (tmp_path / "monitor" / f"recobro-{call}.wav").write_bytes(audio)
    fetched = await client.get(path, headers=s)
    assert fetched.status == 200, await fetched.text()
    assert fetched.headers["Content-Type"] == "audio/wav"
    assert fetched.headers["Content-Disposition"] == f'attachment; filename="recobro-{call}.wav"'
    assert await fetched.read() == audio
    with wave.open(io.BytesIO(audio)) as heard:
        assert heard.getnframes() == 12000
    # Not an agent's, even of a call it took.
    own = await client.get(path, headers=a)
    assert own.status == 403 and set(await own.json()) == {"error"}
    assert (await client.get(path, headers=admin)).status == 200

    unrecorded = await client.get(f"/attempts/{calls['none']}/recording", headers=s)
    assert (unrecorded.status, await unrecorded.json()) == (
        404, {"error": f"attempt {calls['none']} was not recorded"})
    nobody = uuid.uuid4()
    unknown = await client.get(f"/attempts/{nobody}/recording", headers=s)
    assert (unknown.status, await unknown.json()) == (404, {"error": f"no attempt {nobody}"})
    # Who listened to which call, when, from where; and who tried.
    assert await _audit(pool, path) == [
        ("supervisor", "supervisor", None, "GET", 409),
        ("supervisor", "supervisor", None, "GET", 404),
        ("supervisor", "supervisor", None, "GET", 200), ("A", "agent", A, "GET", 403),
        ("admin", "admin", None, "GET", 200)]
    assert await pool.fetchval("SELECT bool_and(remote = '127.0.0.1' AND at > now() - "
                               "interval '1 minute') FROM api_audit") is True
