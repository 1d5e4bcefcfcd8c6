"""Agents end to end: skills routing against the lab, screen pops over the
API's WebSocket before the call connects, and the API's answers to bad
input. The real Asterisk, sipp debtors and agents, PostgreSQL."""

from __future__ import annotations

import asyncio
import io
import json
import time
import wave
from decimal import Decimal

import aiohttp
import asyncpg
import pytest

from dialer.agents.routing import needs_of
from dialer.settings import read_env_file
from ivr import agent_prompts
from lab import api as lab_api
from lab import sipp
from tests.audio import capture_lab, received
from tests.e2e.cli import cli_env
from tests.e2e.sounds import reference

pytestmark = pytest.mark.lab

SKILLS = {
    "agent1001": "language:es=5,segment:early=3",
    "agent1002": "language:en=5,segment:mid=3",
    "agent1003": "language:es=2,language:en=2,tier:high=3,negotiation=5",
    "agent1004": "language:es=3,negotiation=1",
}


async def run(env: dict[str, str], *args: str, timeout: float = 120) -> str:
    process = await asyncio.create_subprocess_exec(
        "recobro", *args, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode == 0, stderr.decode()
    return stdout.decode()


def api_url(lab_config) -> str:
    """Where a test's own `recobro api` listens: beside the lab's, which
    serves the lab's database and takes the agents' feature codes."""
    return f"http://{lab_config.host}:{lab_config.port_base + 81}"


TEST_APP = "recobro-test"  # the Stasis application of the tests' own `recobro api`


async def start_api(lab_config, env: dict[str, str]) -> asyncio.subprocess.Process:
    """`recobro api` on the test's database, with its own port and Stasis
    application (the lab's API keeps the feature codes)."""
    api = await asyncio.create_subprocess_exec(
        "recobro", "api", stdin=asyncio.subprocess.DEVNULL,
        env={**env, "RECOBRO_API_PORT": api_url(lab_config).rsplit(":", 1)[1],
             "RECOBRO_ARI_APP": TEST_APP},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    line = await asyncio.wait_for(api.stdout.readline(), 30)
    assert b"recobro api on" in line, (line, await api.stderr.read())
    return api


async def collect(session: aiohttp.ClientSession, url: str, agent: str, token: str,
                  pops: list[tuple[float, str, dict]]) -> None:
    """What the agent's WebSocket receives, with when and whose socket it was."""
    async with session.ws_connect(f"{url}/agents/{agent}/events", params={"token": token}) as ws:
        async for message in ws:
            pops.append((time.time(), agent, json.loads(message.data)))


async def test_calls_reach_skilled_agents_with_a_screen_pop_first(lab_config, fresh_database,
                                                                  tmp_path):
    settings = read_env_file(lab_config.env_file)
    env = cli_env(RECOBRO_ENV_FILE=str(lab_config.env_file), DATABASE_URL=fresh_database)
    url = api_url(lab_config)
    token = settings["RECOBRO_API_TOKEN"]
    rows = ["reference,debtor_name,balance,days_past_due,risk_score,language,phone1"]
    for i in range(16):
        balance = 7500 if i % 4 == 3 else 200 + i
        rows.append(f"K{i},Debtor {i},{balance},{(i * 17) % 150},0.{(i * 3) % 10},"
                    f"{'en' if i % 2 else 'es'},+12125{i:02d}104{i % 10}")
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("\n".join(rows) + "\n")
    await run(env, "accounts", "import", str(accounts))
    for agent, skills in SKILLS.items():
        await run(env, "agent", "skills", agent, "--skills", skills)
    await run(env, "campaign", "create", "skills", "--mode", "progressive", "--window",
              "00:00-24:00", "--wrap-up", "0", "--ring-timeout", "8")
    # Each agent's desktop shows its own token (issued as an administrator
    # would): its socket is its own, and another agent's is refused.
    tokens = {agent: (await run(env, "token", "issue", "--role", "agent", "--agent", agent,
                                "--expires-in", "1h")).splitlines()[-1] for agent in SKILLS}
    api = await start_api(lab_config, env)
    pops: list[tuple[float, str, dict]] = []
    headers = {"Authorization": f"Bearer {token}"}
    try:
        # The desks' session shows no header: each socket's query token decides.
        async with aiohttp.ClientSession(headers=headers) as session, \
                aiohttp.ClientSession() as desks:
            for agent in SKILLS:
                async with session.post(f"{url}/agents/{agent}/login") as response:
                    assert response.status == 200, await response.text()
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await desks.ws_connect(f"{url}/agents/agent1002/events",
                                       params={"token": tokens["agent1001"]})
            assert refused.value.status == 403
            listeners = [asyncio.create_task(collect(desks, url, agent, tokens[agent], pops))
                         for agent in SKILLS]
            await asyncio.sleep(0.5)
            await run(env, "campaign", "start", "skills")
            await run(env, "campaign", "run", "skills", "--for", "20", timeout=240)
            for listener in listeners:
                listener.cancel()
    finally:
        api.terminate()
        await api.wait()

    connection = await asyncpg.connect(fresh_database)
    try:
        attempts = await connection.fetch(
            "SELECT t.id, t.agent, t.connected_at, t.result, c.reference, c.language, "
            "c.balance, c.risk_score, t.segment FROM attempts t "
            "JOIN accounts c ON c.id = t.account_id")
        skills = {}
        for row in await connection.fetch("SELECT endpoint, skill, level FROM agent_skills"):
            skills.setdefault(row["endpoint"], {})[row["skill"]] = row["level"]
    finally:
        await connection.close()
    conversations = [a for a in attempts if a["result"] == "conversation"]
    assert len(conversations) >= 8, [a["result"] for a in attempts]
    # No socket received another agent's screen pop.
    assert pops and all(pop["agent"] == socket for _, socket, pop in pops)
    by_attempt = {pop["attempt"]: (at, pop) for at, _, pop in pops}
    for a in conversations:
        needs = needs_of(a["language"], a["segment"], Decimal(a["balance"]), a["risk_score"])
        agent_skills = skills[a["agent"]]
        assert all(agent_skills.get(s, 0) >= level for s, level in needs.required.items()), \
            (dict(a), agent_skills)
        received, pop = by_attempt[str(a["id"])]
        assert pop["agent"] == a["agent"] and pop["reference"] == a["reference"]
        assert Decimal(pop["balance"]) == a["balance"]
        assert {"days_past_due", "segment", "last_interactions"} <= set(pop)
        assert received <= a["connected_at"].timestamp() + 0.05  # before the audio connects
    high = [a for a in conversations if a["balance"] >= 5000]
    assert high and all(a["agent"] == "agent1003" for a in high)


async def test_the_api_names_what_is_wrong(lab_config, fresh_database):
    settings = read_env_file(lab_config.env_file)
    env = cli_env(RECOBRO_ENV_FILE=str(lab_config.env_file), DATABASE_URL=fresh_database)
    url = api_url(lab_config)
    api = await start_api(lab_config, env)
    headers = {"Authorization": f"Bearer {settings['RECOBRO_API_TOKEN']}"}
    try:
        async with aiohttp.ClientSession() as session, session.get(f"{url}/agents") as response:
            assert response.status == 401
        async with aiohttp.ClientSession(headers=headers) as session:
            async def call(path: str, body: dict | None = None) -> tuple[int, str]:
                async with session.post(f"{url}{path}", json=body) as response:
                    return response.status, (await response.json()).get("error", "")

            assert await call("/agents/agent9999/login") == (404, "no agent 'agent9999'")
            status, error = await call("/agents/agent1001/pause", {"reason": "lunch"})
            assert status == 409 and "logged_out cannot pause" in error
            assert (await call("/agents/agent1001/login"))[0] == 200
            status, error = await call("/agents/agent1001/pause")
            assert status == 400 and "needs a reason: one of break, lunch" in error
            assert (await call("/agents/agent1001/pause", {"reason": "lunch"}))[0] == 200
            status, error = await call(
                "/attempts/00000000-0000-0000-0000-000000000000/disposition",
                {"code": "BOGUS", "agent": "agent1001"})
            assert status == 400 and "no disposition code 'BOGUS'; codes: CALLBACK" in error
            status, error = await call(
                "/attempts/00000000-0000-0000-0000-000000000000/disposition",
                {"code": "PTP", "agent": "agent1001"})
            assert status == 404 and "no attempt" in error
            status, error = await call("/attempts/x/disposition", {"code": "PTP"})
            assert (status, error) == (400, "the path's 'attempt' must be an id (a UUID)")
            async with session.get(f"{url}/agents") as response:
                agents = {a["endpoint"]: a for a in await response.json()}
            assert agents["agent1001"]["state"] == "paused"
            assert agents["agent1001"]["pause_reason"] == "lunch"
    finally:
        api.terminate()
        await api.wait()


async def test_a_call_is_recorded_its_recording_paused_resumed_and_fetched(
        lab_config, fresh_database, tmp_path):
    settings = read_env_file(lab_config.env_file)
    env = cli_env(RECOBRO_ENV_FILE=str(lab_config.env_file), DATABASE_URL=fresh_database)
    url = api_url(lab_config)
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("reference,debtor_name,balance,days_past_due,phone1\n"
                        "REC1,Debtor,100,10,+12125008080\n")  # "¿Bueno?", stays 8 s
    await run(env, "accounts", "import", str(accounts))
    await run(env, "agent", "login", "agent1001")
    await run(env, "campaign", "create", "rec", "--mode", "progressive", "--window",
              "00:00-24:00", "--wrap-up", "0")
    await run(env, "campaign", "start", "rec")
    api = await start_api(lab_config, env)
    dialer = asyncio.create_task(run(env, "campaign", "run", "rec", "--for", "2"))
    connection = await asyncpg.connect(fresh_database)
    headers = {"Authorization": f"Bearer {settings['RECOBRO_API_TOKEN']}"}
    try:
        attempt = None
        # A minute: on a loaded machine the dialer takes seconds to start.
        for _ in range(600):
            attempt = await connection.fetchrow(
                "SELECT id, recording FROM attempts WHERE recording IS NOT NULL")
            if attempt is not None:
                break
            await asyncio.sleep(0.1)
        assert attempt is not None, "the call was not recorded"
        base = f"{url}/attempts/{attempt['id']}/recording"
        async with aiohttp.ClientSession(headers=headers) as session:
            for action in ("pause", "resume"):
                async with session.post(f"{base}/{action}") as response:
                    assert response.status == 200, await response.text()
                    assert (await response.json())["paused"] is (action == "pause")
                await asyncio.sleep(1.0)
            await dialer
            async with session.post(f"{base}/pause") as response:
                assert response.status == 409
                assert "has ended" in (await response.json())["error"]
            recorded = lab_config.asterisk_run_dir / "spool" / "monitor" / attempt["recording"]
            for _ in range(50):  # MixMonitor closes the file as the call ends
                if recorded.is_file() and recorded.stat().st_size > 8000:
                    break
                await asyncio.sleep(0.1)
            assert recorded.stat().st_size > 8000  # more than half a second of 8 kHz audio
            # A supervisor listens to it: the file Asterisk wrote, as a WAV.
            async with session.get(base) as response:
                assert response.status == 200, await response.text()
                assert response.headers["Content-Type"] == "audio/wav"
                heard = await response.read()
        assert heard == recorded.read_bytes()
        with wave.open(io.BytesIO(heard)) as audio:
            assert audio.getnframes() / audio.getframerate() > 0.5
        kinds = [r["kind"] for r in await connection.fetch(
            "SELECT kind FROM call_events WHERE call_id = $1 ORDER BY id", attempt["id"])]
        assert kinds.index("recording_paused") < kinds.index("recording_resumed")
        assert [(r["method"], r["status"]) for r in await connection.fetch(
            "SELECT method, status FROM api_audit WHERE path = $1 ORDER BY id",
            f"/attempts/{attempt['id']}/recording")] == [
            ("GET", 200)]
    finally:
        await connection.close()
        api.terminate()
        await api.wait()


async def test_agents_move_themselves_by_feature_code(lab_config, lab_settings, tmp_path):
    """The softphone dials *81, *842, *83 and *82: the lab's own `recobro
    api` (started by `recobro lab up`, on the lab's database) logs the agent
    in, pauses it for lunch, readies it and logs it out, and the phone hears
    each answer; with no `recobro api` running, the phone hears so."""
    agent = lab_config.agents[1]
    connection = await asyncpg.connect(lab_settings.database_url)
    before = await connection.fetchrow("SELECT state, state_since, pause_reason, wrap_up_until "
                                       "FROM agents WHERE endpoint = $1", agent.endpoint)
    steps = [("*81", "ready", "", agent_prompts.LOGGED_IN),
             ("*842", "paused", "lunch", agent_prompts.PAUSED),
             ("*83", "ready", "", agent_prompts.READY),
             ("*81", "ready", "", agent_prompts.ALREADY_LOGGED_IN),
             ("*82", "logged_out", "", agent_prompts.LOGGED_OUT)]
    try:
        await connection.execute("UPDATE agents SET state = 'logged_out' WHERE endpoint = $1",
                                 agent.endpoint)
        with capture_lab(lab_config, tmp_path / "codes.pcap") as capture:
            for code, state, reason, _ in steps:
                await asyncio.to_thread(sipp.dial_feature_code, lab_config, agent, code)
                row = await connection.fetchrow("SELECT state, pause_reason FROM agents "
                                                "WHERE endpoint = $1", agent.endpoint)
                assert (row["state"], row["pause_reason"]) == (state, reason), code
            lab_api.stop(lab_config)
            try:
                await asyncio.to_thread(sipp.dial_feature_code, lab_config, agent, "*83")
            finally:
                lab_api.start(lab_config)
    finally:
        await connection.execute(
            "UPDATE agents SET state = $2, state_since = $3, pause_reason = $4, "
            "wrap_up_until = $5 WHERE endpoint = $1", agent.endpoint, *before.values())
        await connection.close()
    calls = received(capture.path, lab_config.sip_port, lab_config.port_base + 98)
    answers = [prompt for *_, prompt in steps] + [agent_prompts.SERVICE_DOWN]
    assert len(calls) == len(answers)
    for call, prompt in zip(calls, answers, strict=True):
        heard = call.match(reference(lab_config, prompt.sound, lab_settings.language, tmp_path))
        assert heard.found(), (call.number, prompt.sound, heard)
