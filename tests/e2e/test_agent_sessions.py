"""Agent sessions with a real softphone: baresip registered as agent1004
(no auto-answer) is called once for its session, answers after a
human-like delay, then takes debtors in a row with nobody touching it: no
more calls ring it, each debtor is in its bridge within the 2 seconds and
the agent hears each debtor's greeting. The agent hanging up ends the
session: logged out, the reason recorded, no debtor sent to the dead line."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from dialer.settings import read_env_file
from ivr import agent_prompts
from lab import sipp
from tests.audio import Audio, dialogs, match, read_pcap, read_wav, received, sent
from tests.e2e.cli import cli_env
from tests.e2e.softphone import Baresip
from tests.e2e.sounds import reference
from tests.e2e.test_agents import api_url, run, start_api
from tests.e2e.test_softphone import capture

pytestmark = pytest.mark.lab

DEBTORS = 10
# A person's "¿Bueno?" then 3 s on the line (the PSTN's 803 behaviour),
# the last digit telling the debtors apart.
NUMBERS = [f"+1212555803{i}" for i in range(DEBTORS)]
HUMAN_DELAY_S = 1.5  # the agent clicks answer on the session call


async def prepare(lab_config, url: str, tmp_path: Path, numbers: list[str],
                  agents: list[str], in_order: bool = False) -> dict[str, str]:
    """Spanish debtors at numbers, the agents skilled for them (not logged
    in), a progressive campaign "shift" with no wrap-up. in_order: the
    debtors are called in the order given (each owes more than the next)."""
    env = cli_env(RECOBRO_ENV_FILE=str(lab_config.env_file), DATABASE_URL=url)
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("reference,debtor_name,balance,days_past_due,phone1,language\n" + "".join(
        f"S{i},Debtor {i},{100 * (len(numbers) - i) if in_order else 100},10,{number},es\n"
        for i, number in enumerate(numbers)))
    await run(env, "accounts", "import", str(accounts))
    for agent in agents:
        await run(env, "agent", "skills", agent, "--skills", "language:es=3")
    await run(env, "campaign", "create", "shift", "--mode", "progressive", "--window",
              "00:00-24:00", "--wrap-up", "0", "--ring-timeout", "8")
    await run(env, "campaign", "start", "shift")
    return env


async def ask_for_session(lab_config, endpoint: str) -> str:
    """Ask the test's API for endpoint's session (its phone is called for
    it; the agent is logged in once it answers); the line's channel."""
    token = read_env_file(lab_config.env_file)["RECOBRO_API_TOKEN"]
    async with aiohttp.ClientSession() as session, session.post(
            f"{api_url(lab_config)}/agents/{endpoint}/session",
            headers={"Authorization": f"Bearer {token}"}) as response:
        body = await response.json()
        assert response.status == 200, body
    assert body["state"] == "logged_out"  # until the phone answers
    return str(body["line"])


async def open_session(lab_config, phone: Baresip) -> str:
    """Ask the test's API for the phone's agent's session, answer its call
    after a person's delay; the line's channel."""
    line = await ask_for_session(lab_config, phone.agent.endpoint)
    await answer_like_a_person(phone)
    return line


async def answer_like_a_person(phone: Baresip) -> None:
    """The session call rings; the agent clicks answer after a moment."""
    await phone.wait_incoming(10)
    await asyncio.sleep(HUMAN_DELAY_S)
    await phone.accept()
    await phone.wait_event("CALL_ESTABLISHED", 5)


async def start_desk(env: dict[str, str]) -> asyncio.subprocess.Process:
    """`recobro inbound` taking calls on the test's database."""
    desk = await asyncio.create_subprocess_exec(
        "recobro", "inbound", env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    started = await asyncio.wait_for(desk.stdout.readline(), 30)
    if b"taking calls" not in started:
        desk.terminate()
        raise AssertionError((started, await desk.stderr.read()))
    return desk


async def wait_for(url: str, query: str, expected: object, timeout_s: float = 10.0) -> None:
    connection = await asyncpg.connect(url)
    try:
        deadline = time.monotonic() + timeout_s
        while (value := await connection.fetchval(query)) != expected:
            assert time.monotonic() < deadline, f"{query}: {value!r}, not {expected!r}"
            await asyncio.sleep(0.1)
    finally:
        await connection.close()


async def fetch(url: str, query: str) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetch(query)
    finally:
        await connection.close()


def window(audio: Audio, start: float, seconds: float) -> Audio:
    """The part of audio from capture time start, seconds long."""
    first = max(0, int((start - audio.start) * audio.rate))
    return Audio(audio.samples[first:first + int(seconds * audio.rate)], audio.rate,
                 audio.time_of(first / audio.rate))


async def test_an_agent_on_a_session_takes_debtors_in_a_row_untouched(lab_config,
                                                                     fresh_database,
                                                                     tmp_path):
    agent = lab_config.agents[3]
    env = await prepare(lab_config, fresh_database, tmp_path, NUMBERS, [agent.endpoint])
    api = await start_api(lab_config, env)
    try:
        async with Baresip(lab_config, agent, tmp_path / "baresip") as phone:
            with capture(lab_config, phone, tmp_path / "session.pcap") as cap:
                line = await open_session(lab_config, phone)
                await wait_for(fresh_database, "SELECT state FROM agents WHERE endpoint = "
                               f"'{agent.endpoint}'", "ready")
                rang = len([e for e in phone.events if e.type == "CALL_INCOMING"])
                await run(env, "campaign", "run", "shift", "--until-idle", timeout=180)
                # Nobody touched the phone: no call rang it after the session's.
                assert [e.type for e in phone.events].count("CALL_INCOMING") == rang == 1
                assert "CALL_CLOSED" not in [e.type for e in phone.events]
                # The shift ends (the capture holds the whole dialog).
                await phone.hangup()
                await wait_for(fresh_database, "SELECT close_reason FROM agent_sessions",
                               "hung_up")
    finally:
        api.terminate()
        await api.wait()
    attempts = await fetch(fresh_database,
                           "SELECT t.number, t.result, t.agent, t.agent_channel, "
                           "t.answered_at, t.connected_at FROM attempts t ORDER BY t.number")
    assert [a["number"] for a in attempts] == NUMBERS
    for a in attempts:
        assert (a["result"], a["agent"], a["agent_channel"]) == (
            "conversation", agent.endpoint, line), dict(a)
        assert (a["connected_at"] - a["answered_at"]).total_seconds() < 2.0, dict(a)
    # What the phone received on its one session call holds each debtor's
    # greeting, heard as that debtor said it (the greetings are alike: each
    # is looked for within half a second of when it was said).
    heard = received(cap.path, lab_config.sip_port, phone.sip_port)
    assert len(heard) == 1, [h.number for h in heard]
    said = sent(cap.path, lab_config.sip_port, lab_config.pstn_port)
    for number in NUMBERS:
        greeting = said.by_number(number)
        assert greeting.speech_seconds > 0.3  # the greeting left the debtor's phone
        said_from, said_to = greeting.speech_span
        then = window(heard[0].audio, said_from - 0.5, said_to - said_from + 1.0)
        found = match(then, greeting.audio)
        assert found.found(), (number, found)


async def test_an_agent_hanging_up_ends_the_session_and_gets_no_debtor(lab_config,
                                                                      fresh_database,
                                                                      tmp_path):
    phone_agent, sipp_agent = lab_config.agents[3], lab_config.agents[0]
    number = "+12125558030"
    env = await prepare(lab_config, fresh_database, tmp_path, [number],
                        [phone_agent.endpoint, sipp_agent.endpoint])
    await run(env, "agent", "login", sipp_agent.endpoint)
    api = await start_api(lab_config, env)
    try:
        async with Baresip(lab_config, phone_agent, tmp_path / "baresip") as phone:
            # The CLI asks the test's API (its port) to open the session.
            said = await run({**env, "RECOBRO_API_PORT": api_url(lab_config).rsplit(":", 1)[1]},
                             "agent", "session", phone_agent.endpoint)
            line = said.split("(line ", 1)[1].split(")", 1)[0]
            await answer_like_a_person(phone)
            await wait_for(fresh_database, "SELECT state FROM agents WHERE endpoint = "
                           f"'{phone_agent.endpoint}'", "ready")
            await phone.hangup()  # mid-session, between calls
            await wait_for(fresh_database, "SELECT state FROM agents WHERE endpoint = "
                           f"'{phone_agent.endpoint}'", "logged_out")
            since = len(phone.events)
            await run(env, "campaign", "run", "shift", "--for", "2")
            assert "CALL_INCOMING" not in [e.type for e in phone.events[since:]]
    finally:
        api.terminate()
        await api.wait()
    sessions = await fetch(fresh_database, "SELECT * FROM agent_sessions")
    assert [(s["channel"], s["agent"], s["close_reason"]) for s in sessions] == [
        (line, phone_agent.endpoint, "hung_up")]
    assert sessions[0]["closed_at"] > sessions[0]["opened_at"]
    (attempt,) = await fetch(fresh_database, "SELECT result, agent FROM attempts")
    assert (attempt["result"], attempt["agent"]) == ("conversation", sipp_agent.endpoint)


async def test_an_agent_hanging_up_mid_call_ends_the_debtors_call_too(lab_config,
                                                                     fresh_database,
                                                                     tmp_path):
    """The agent hangs up while a debtor talks in its bridge: Recobro ends
    the debtor's call (the debtor's phone gets Asterisk's BYE right after
    the agent's, long before its 30 s), the attempt has one result, the
    session is closed `hung_up`, and the next debtor goes to the agent who
    logs in next: the dead line's phone is never called again."""
    phone_agent, sipp_agent = lab_config.agents[3], lab_config.agents[0]
    talker, next_debtor = "+12125558300", "+12125558031"  # 30 s, then 3 s on the line
    env = await prepare(lab_config, fresh_database, tmp_path, [talker, next_debtor],
                        [phone_agent.endpoint, sipp_agent.endpoint], in_order=True)
    api = await start_api(lab_config, env)
    try:
        async with Baresip(lab_config, phone_agent, tmp_path / "baresip") as phone:
            with capture(lab_config, phone, tmp_path / "mid-call.pcap") as cap:
                line = await open_session(lab_config, phone)
                await wait_for(fresh_database, "SELECT state FROM agents WHERE endpoint = "
                               f"'{phone_agent.endpoint}'", "ready")
                dialer = asyncio.create_task(run(env, "campaign", "run", "shift", "--for",
                                                 "15", timeout=120))
                await wait_for(fresh_database, "SELECT state FROM agents WHERE endpoint = "
                               f"'{phone_agent.endpoint}'", "on_call", timeout_s=30)
                await asyncio.sleep(1.0)  # talking
                await phone.hangup()
                await wait_for(fresh_database, "SELECT state FROM agents WHERE endpoint = "
                               f"'{phone_agent.endpoint}'", "logged_out")
                # Another agent comes in: the next debtor is its.
                await run(env, "agent", "login", sipp_agent.endpoint)
                await dialer
    finally:
        api.terminate()
        await api.wait()
    # What the phones received. The softphone: its one session call, which
    # it hung up itself.
    datagrams = read_pcap(cap.path)
    (session_call,) = dialogs(datagrams, lab_config.sip_port, phone.sip_port)
    assert session_call.answered and session_call.bye_from_asterisk is False, session_call
    assert [e.type for e in phone.events].count("CALL_INCOMING") == 1
    debtors = {d.number: d for d in dialogs(datagrams, lab_config.sip_port,
                                            lab_config.pstn_port)}
    # The talking debtor: Asterisk's BYE within seconds of the agent's,
    # after a few seconds of its 30.
    cut = debtors[talker]
    assert cut.answered and cut.bye_from_asterisk is True, cut
    assert 0 <= cut.end - session_call.end < 3.0, (cut.end, session_call.end)
    assert cut.talk_seconds < 10.0, cut.talk_seconds
    # The next debtor was called after the line died, and its agent's
    # phone (the sipp agent) rang then.
    after = debtors[next_debtor]
    assert after.answered and after.start > session_call.end, after
    (agent_call,) = dialogs(datagrams, lab_config.sip_port, sipp_agent.sip_port)
    assert agent_call.answered and agent_call.start > after.answer, agent_call
    # The records: one result each, the session closed with its reason.
    attempts = {a["number"]: a for a in await fetch(
        fresh_database, "SELECT id, number, result, agent, agent_channel FROM attempts")}
    assert sorted(attempts) == sorted([talker, next_debtor])
    assert (attempts[talker]["result"], attempts[talker]["agent"],
            attempts[talker]["agent_channel"]) == ("conversation", phone_agent.endpoint, line)
    assert (attempts[next_debtor]["result"], attempts[next_debtor]["agent"]) == (
        "conversation", sipp_agent.endpoint)
    hung_up = await fetch(fresh_database, "SELECT call_id FROM call_events WHERE kind = "
                                          f"'call_hung_up' AND call_id = "
                                          f"'{attempts[talker]['id']}'")
    assert len(hung_up) == 1, hung_up
    (session,) = await fetch(fresh_database, "SELECT channel, close_reason FROM agent_sessions")
    assert (session["channel"], session["close_reason"]) == (line, "hung_up")
    (state,) = await fetch(fresh_database, "SELECT state FROM agents WHERE endpoint = "
                                           f"'{phone_agent.endpoint}'")
    assert state["state"] == "logged_out"


async def test_a_dialer_restarted_with_a_session_open_gives_its_agent_the_next_debtor(
        lab_config, fresh_database, tmp_path):
    """The dialer dies (killed) while a debtor talks on the agent's session
    line, and another starts: it adopts that call, follows it to its end,
    and sends the next debtor to the same line. The phone rang once, for
    its session, and heard the next debtor's greeting on it."""
    agent = lab_config.agents[3]
    first, second = "+12125558080", "+12125558051"  # a greeting, then 8 s; then 5 s
    env = await prepare(lab_config, fresh_database, tmp_path, [first, second],
                        [agent.endpoint], in_order=True)
    api = await start_api(lab_config, env)
    dialer = None
    try:
        async with Baresip(lab_config, agent, tmp_path / "baresip") as phone:
            with capture(lab_config, phone, tmp_path / "restart.pcap") as cap:
                line = await open_session(lab_config, phone)
                await wait_for(fresh_database, "SELECT state FROM agents WHERE endpoint = "
                               f"'{agent.endpoint}'", "ready")
                dialer = await asyncio.create_subprocess_exec(
                    "recobro", "campaign", "run", "shift", "--for", "60", env=env,
                    stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.DEVNULL)
                await wait_for(fresh_database, "SELECT state FROM agents WHERE endpoint = "
                               f"'{agent.endpoint}'", "on_call", timeout_s=30)
                dialer.kill()
                await dialer.wait()
                killed_at = time.time()
                rerun = await run(env, "campaign", "run", "shift", "--for", "20", timeout=120)
                assert "adopted" in rerun
                # The line stayed up through the restart: no call rang the
                # phone after its session's, none closed.
                assert [e.type for e in phone.events].count("CALL_INCOMING") == 1
                assert "CALL_CLOSED" not in [e.type for e in phone.events]
                await phone.hangup()
                await wait_for(fresh_database, "SELECT close_reason FROM agent_sessions",
                               "hung_up")
    finally:
        if dialer is not None and dialer.returncode is None:
            dialer.kill()
            await dialer.wait()
        api.terminate()
        await api.wait()
    attempts = {a["number"]: a for a in await fetch(
        fresh_database, "SELECT number, result, agent, agent_channel, answered_at, "
                        "connected_at, ended_at FROM attempts")}
    assert sorted(attempts) == sorted([first, second])
    for attempt in attempts.values():
        assert (attempt["result"], attempt["agent"], attempt["agent_channel"]) == (
            "conversation", agent.endpoint, line), dict(attempt)
    # The adopted call was followed to its end (the debtor's 8 s), not cut.
    assert (attempts[first]["ended_at"] - attempts[first]["connected_at"]).total_seconds() > 6
    # The next debtor was called by the new dialer and joined in the 2 s.
    assert attempts[second]["answered_at"].timestamp() > killed_at
    assert (attempts[second]["connected_at"]
            - attempts[second]["answered_at"]).total_seconds() < 2.0
    # The phone heard the next debtor's greeting on its one call.
    (heard,) = received(cap.path, lab_config.sip_port, phone.sip_port)
    greeting = sent(cap.path, lab_config.sip_port, lab_config.pstn_port).by_number(second)
    said_from, said_to = greeting.speech_span
    then = window(heard.audio, said_from - 0.5, said_to - said_from + 1.0)
    found = match(then, greeting.audio)
    assert found.found(), found


async def test_logging_the_agent_out_ends_the_session_and_hangs_the_line_up(lab_config,
                                                                           fresh_database,
                                                                           tmp_path):
    agent = lab_config.agents[3]
    env = await prepare(lab_config, fresh_database, tmp_path, ["+12125558030"],
                        [agent.endpoint])
    api = await start_api(lab_config, env)
    try:
        async with Baresip(lab_config, agent, tmp_path / "baresip") as phone:
            await open_session(lab_config, phone)
            await wait_for(fresh_database, "SELECT state FROM agents WHERE endpoint = "
                           f"'{agent.endpoint}'", "ready")
            since = len(phone.events)
            await run(env, "agent", "logout", agent.endpoint)
            # Recobro hangs the line up (baresip reports the call closed).
            await phone.wait_event("CALL_CLOSED", 5, since)
    finally:
        api.terminate()
        await api.wait()
    (session,) = await fetch(fresh_database, "SELECT close_reason FROM agent_sessions")
    assert session["close_reason"] == "logged_out"


async def test_a_debtor_calling_in_joins_the_agents_line(lab_config, fresh_database, tmp_path):
    agent = lab_config.agents[3]
    env = await prepare(lab_config, fresh_database, tmp_path, ["+12125550181"],
                        [agent.endpoint])
    api = await start_api(lab_config, env)
    desk = await start_desk(env)
    try:
        async with Baresip(lab_config, agent, tmp_path / "baresip") as phone:
            line = await open_session(lab_config, phone)
            await wait_for(fresh_database, "SELECT state FROM agents WHERE endpoint = "
                           f"'{agent.endpoint}'", "ready")
            # The debtor (S0's number) calls in and stays 4 s.
            await asyncio.to_thread(sipp.call_in, lab_config, "+12125550181", stay_s=4)
            # The phone rang once, for the session; the line is still up.
            assert [e.type for e in phone.events].count("CALL_INCOMING") == 1
            assert "CALL_CLOSED" not in [e.type for e in phone.events]
            (session,) = await fetch(fresh_database,
                                     "SELECT channel, closed_at FROM agent_sessions")
            assert (session["channel"], session["closed_at"]) == (line, None)
    finally:
        desk.terminate()
        await desk.wait()
        api.terminate()
        await api.wait()
    (call,) = await fetch(fresh_database, "SELECT agent, arrived_at, connected_at "
                                          "FROM inbound_calls")
    assert call["agent"] == agent.endpoint
    assert (call["connected_at"] - call["arrived_at"]).total_seconds() < 2.0


async def test_an_agent_dialing_star_80_opens_the_session_on_that_call(lab_config,
                                                                      lab_settings, tmp_path):
    """*80 from the softphone: the lab's own `recobro api` (on the lab's
    database, as every feature code) keeps that very call as the agent's
    line, logs the agent in and says so; hanging up ends the session."""
    agent = lab_config.agents[3]
    logged_in = reference(lab_config, agent_prompts.LOGGED_IN.sound, lab_settings.language,
                          tmp_path)
    connection = await asyncpg.connect(lab_settings.database_url)
    before = await connection.fetchrow("SELECT state, state_since, pause_reason, wrap_up_until "
                                       "FROM agents WHERE endpoint = $1", agent.endpoint)
    try:
        await connection.execute("UPDATE agents SET state = 'logged_out' WHERE endpoint = $1",
                                 agent.endpoint)
        async with Baresip(lab_config, agent, tmp_path / "baresip") as phone:
            with capture(lab_config, phone, tmp_path / "star80.pcap") as cap:
                await phone.dial("*80")
                await phone.wait_event("CALL_ESTABLISHED", 5)
                await wait_for(lab_settings.database_url, "SELECT state FROM agents WHERE "
                               f"endpoint = '{agent.endpoint}'", "ready")
                (line,) = await connection.fetch(
                    "SELECT channel FROM agent_sessions WHERE agent = $1 AND closed_at IS NULL",
                    agent.endpoint)
                # The whole answer plays (3.7 s in Spanish): hung up in the
                # middle, Asterisk would log its playback failed.
                await asyncio.sleep(read_wav(logged_in).duration + 1.0)
                await phone.hangup()
                await wait_for(lab_settings.database_url, "SELECT close_reason FROM "
                               f"agent_sessions WHERE channel = '{line['channel']}'", "hung_up")
        (state,) = await connection.fetch("SELECT state FROM agents WHERE endpoint = $1",
                                          agent.endpoint)
        assert state["state"] == "logged_out"
    finally:
        await connection.execute("DELETE FROM agent_sessions WHERE agent = $1", agent.endpoint)
        await connection.execute(
            "UPDATE agents SET state = $2, state_since = $3, pause_reason = $4, "
            "wrap_up_until = $5 WHERE endpoint = $1", agent.endpoint, *before.values())
        await connection.close()
    (call,) = received(cap.path, lab_config.sip_port, phone.sip_port)
    assert call.number == "*80"
    said = call.match(logged_in)
    assert said.found(), said


async def test_a_line_that_went_while_no_api_listened_gets_no_debtor(lab_config,
                                                                    fresh_database,
                                                                    tmp_path):
    """The API that held the session stops, then the agent hangs up: nobody
    saw the line go. The next debtor routed to that agent finds it gone:
    the session is closed, the agent logged out, the debtor goes to the
    next free agent."""
    phone_agent, sipp_agent = lab_config.agents[3], lab_config.agents[0]
    number = "+12125558030"
    env = await prepare(lab_config, fresh_database, tmp_path, [number],
                        [phone_agent.endpoint, sipp_agent.endpoint])
    # Routing prefers the phone's agent (the better Spanish).
    await run(env, "agent", "skills", phone_agent.endpoint, "--skills", "language:es=5")
    await run(env, "agent", "skills", sipp_agent.endpoint, "--skills", "language:es=1")
    await run(env, "agent", "login", sipp_agent.endpoint)
    api = await start_api(lab_config, env)
    try:
        async with Baresip(lab_config, phone_agent, tmp_path / "baresip") as phone:
            line = await open_session(lab_config, phone)
            await wait_for(fresh_database, "SELECT state FROM agents WHERE endpoint = "
                           f"'{phone_agent.endpoint}'", "ready")
            api.terminate()
            await api.wait()
            await phone.hangup()
            await phone.wait_event("CALL_CLOSED", 5)
            since = len(phone.events)
            await run(env, "campaign", "run", "shift", "--for", "2")
            assert "CALL_INCOMING" not in [e.type for e in phone.events[since:]]
    finally:
        if api.returncode is None:
            api.terminate()
            await api.wait()
    (session,) = await fetch(fresh_database, "SELECT channel, close_reason FROM agent_sessions")
    assert (session["channel"], session["close_reason"]) == (line, "hung_up")
    (attempt,) = await fetch(fresh_database, "SELECT result, agent, answered_at, connected_at "
                                             "FROM attempts")
    assert (attempt["result"], attempt["agent"]) == ("conversation", sipp_agent.endpoint)
    assert (attempt["connected_at"] - attempt["answered_at"]).total_seconds() < 2.0
    (state,) = await fetch(fresh_database, "SELECT state FROM agents WHERE endpoint = "
                                           f"'{phone_agent.endpoint}'")
    assert state["state"] == "logged_out"


async def test_a_restarted_api_holds_the_open_session_again(lab_config, fresh_database,
                                                           tmp_path):
    """The API restarts while an agent's session is open: the new API holds
    the line again (the phone is not called again), the next debtor still
    reaches the agent on it, and the agent hanging up afterwards closes the
    session (hung_up) and logs the agent out, as before the restart."""
    agent = lab_config.agents[3]
    env = await prepare(lab_config, fresh_database, tmp_path, NUMBERS[:1], [agent.endpoint])
    api = await start_api(lab_config, env)
    try:
        async with Baresip(lab_config, agent, tmp_path / "baresip") as phone:
            line = await open_session(lab_config, phone)
            await wait_for(fresh_database, "SELECT state FROM agents WHERE endpoint = "
                           f"'{agent.endpoint}'", "ready")
            api.terminate()
            await api.wait()
            api = await start_api(lab_config, env)
            since = len(phone.events)
            await run(env, "campaign", "run", "shift", "--for", "2")
            assert "CALL_INCOMING" not in [e.type for e in phone.events[since:]]
            await phone.hangup()
            await wait_for(fresh_database, "SELECT state FROM agents WHERE endpoint = "
                           f"'{agent.endpoint}'", "logged_out")
    finally:
        api.terminate()
        await api.wait()
    (attempt,) = await fetch(fresh_database, "SELECT result, agent, agent_channel FROM attempts")
    assert (attempt["result"], attempt["agent"], attempt["agent_channel"]) == (
        "conversation", agent.endpoint, line)
    (session,) = await fetch(fresh_database, "SELECT channel, close_reason FROM agent_sessions")
    assert (session["channel"], session["close_reason"]) == (line, "hung_up")
