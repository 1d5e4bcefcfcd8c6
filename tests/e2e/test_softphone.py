"""A real softphone as an agent: baresip registered as agent1004 with no
auto-answer, against the lab's Asterisk, sipp debtors and a dialer. An
agent who answers by hand within the 2 s is bridged; one who does not is
paused with the reason (told on the agent's WebSocket) and the debtor hears
the safe-harbour message; a phone that rejects the call hands it to the
next free agent."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import asyncpg
import numpy as np
import pytest

from dialer.engine import AUTO_ANSWER_HEADERS
from dialer.settings import read_env_file
from ivr import safe_harbour
from tests.audio import Capture, received
from tests.audio.capture import lab_ports
from tests.e2e.cli import cli_env
from tests.e2e.softphone import Baresip
from tests.e2e.sounds import reference
from tests.e2e.test_agents import api_url, run, start_api

pytestmark = pytest.mark.lab

TONE_HZ = 440  # what baresip sends as the agent's voice (ausine)


async def prepare(lab_config, url: str, tmp_path: Path, number: str,
                  skills: dict[str, str]) -> dict[str, str]:
    """One debtor (Ana Ruiz, Spanish) at number, the agents of skills
    logged in with those skills, a progressive campaign "soft"."""
    env = cli_env(RECOBRO_ENV_FILE=str(lab_config.env_file), DATABASE_URL=url)
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("reference,debtor_name,balance,days_past_due,phone1,language\n"
                        f"A1,Ana Ruiz,100,10,{number},es\n")
    await run(env, "accounts", "import", str(accounts))
    for agent, agent_skills in skills.items():
        await run(env, "agent", "skills", agent, "--skills", agent_skills)
        await run(env, "agent", "login", agent)
    await run(env, "campaign", "create", "soft", "--mode", "progressive", "--window",
              "00:00-24:00", "--wrap-up", "0", "--ring-timeout", "8")
    await run(env, "campaign", "start", "soft")
    return env


def capture(lab_config, phone: Baresip, path: Path) -> Capture:
    """The lab's UDP and the softphone's."""
    ports, ranges = lab_ports(lab_config)
    return Capture([*ports, phone.sip_port], path, ranges=[*ranges, phone.rtp_ports])


async def attempt(url: str) -> asyncpg.Record:
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetchrow(
            "SELECT t.result, t.agent, t.answered_at, t.connected_at, "
            "(SELECT state FROM agents WHERE endpoint = 'agent1004') AS phone_state, "
            "(SELECT pause_reason FROM agents WHERE endpoint = 'agent1004') AS phone_reason "
            "FROM attempts t")
    finally:
        await connection.close()


def dominant_hz(samples: np.ndarray, rate: int = 8000) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(float)))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[int(np.argmax(spectrum[1:])) + 1])


async def test_an_agent_answering_by_hand_after_a_second_is_bridged(lab_config, fresh_database,
                                                                    tmp_path):
    number = "+12125551201"  # answers and stays 12 s
    agent = lab_config.agents[3]
    env = await prepare(lab_config, fresh_database, tmp_path, number,
                        {agent.endpoint: "language:es=3"})
    async with Baresip(lab_config, agent, tmp_path / "baresip") as phone:
        with capture(lab_config, phone, tmp_path / "soft.pcap") as cap:
            dialer = asyncio.create_task(run(env, "campaign", "run", "soft", "--for", "2"))
            ringing = await phone.wait_incoming(30)
            await asyncio.sleep(1.0)  # the agent takes a second to click answer
            await phone.accept()
            await phone.wait_event("CALL_ESTABLISHED", 5)
            await dialer
    # The phone showed who was calling, and its INVITE asked it to answer
    # by itself (baresip 1.0.0 does not know these headers: it just rang).
    assert (ringing.peer_name, ringing.peer_number) == ("Ana Ruiz", number)
    for name, value in AUTO_ANSWER_HEADERS.items():
        assert ringing.header(name) == value, ringing.invite
    row = await attempt(fresh_database)
    assert (row["result"], row["agent"]) == ("conversation", agent.endpoint)
    assert 1.0 <= (row["connected_at"] - row["answered_at"]).total_seconds() < 2.0
    # The debtor heard the agent (baresip's voice is a 440 Hz tone).
    debtor = received(cap.path, lab_config.sip_port, lab_config.pstn_port).by_number(number)
    assert debtor.speech_seconds > 3.0
    start, end = debtor.activity.span
    voiced = debtor.audio.samples[int(start * 8000):int(end * 8000)]
    assert abs(dominant_hz(voiced) - TONE_HZ) < 10


async def test_an_agent_who_does_not_answer_is_paused_and_told_why(lab_config, fresh_database,
                                                                   tmp_path):
    number = "+12125551202"  # answers and stays 12 s
    agent = lab_config.agents[3]
    env = await prepare(lab_config, fresh_database, tmp_path, number,
                        {agent.endpoint: "language:es=3"})
    token = read_env_file(lab_config.env_file)["RECOBRO_API_TOKEN"]
    api = await start_api(lab_config, env)
    events: list[dict] = []
    try:
        async with Baresip(lab_config, agent, tmp_path / "baresip") as phone, \
                aiohttp.ClientSession() as session, \
                session.ws_connect(f"{api_url(lab_config)}/agents/{agent.endpoint}/events",
                                   params={"token": token}) as socket:
            with capture(lab_config, phone, tmp_path / "soft.pcap") as cap:
                await run(env, "campaign", "run", "soft", "--for", "2")
                await phone.wait_event("CALL_CLOSED", 5)
            while not any(e.get("type") == "agent_state" for e in events):
                message = await asyncio.wait_for(socket.receive(), 10)
                events.append(json.loads(message.data))
    finally:
        api.terminate()
        await api.wait()
    row = await attempt(fresh_database)
    assert (row["result"], row["agent"]) == ("abandoned", None)
    assert (row["phone_state"], row["phone_reason"]) == ("paused", "missed_call")
    told = next(e for e in events if e["type"] == "agent_state")
    assert (told["state"], told["reason"]) == ("paused", "missed_call")
    assert "not answered" in told["detail"]
    debtor = received(cap.path, lab_config.sip_port, lab_config.pstn_port).by_number(number)
    message = debtor.match(reference(lab_config, safe_harbour.SOUND, "es", tmp_path))
    assert message.found(), message


async def test_a_phone_that_rejects_the_call_hands_it_to_the_next_agent(lab_config,
                                                                        fresh_database,
                                                                        tmp_path):
    number = "+12125551203"
    phone_agent, sipp_agent = lab_config.agents[3], lab_config.agents[0]
    # Routing prefers the softphone's agent (the better Spanish).
    env = await prepare(lab_config, fresh_database, tmp_path, number,
                        {phone_agent.endpoint: "language:es=5",
                         sipp_agent.endpoint: "language:es=1"})
    async with Baresip(lab_config, phone_agent, tmp_path / "baresip") as phone:
        dialer = asyncio.create_task(run(env, "campaign", "run", "soft", "--for", "2"))
        await phone.wait_incoming(30)
        await phone.hangup()  # busy: the agent's phone rejects the call
        await dialer
    row = await attempt(fresh_database)
    assert (row["result"], row["agent"]) == ("conversation", sipp_agent.endpoint)
    assert (row["connected_at"] - row["answered_at"]).total_seconds() < 2.0
    assert (row["phone_state"], row["phone_reason"]) == ("paused", "unreachable")
