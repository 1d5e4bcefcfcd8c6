"""Warm transfers in the lab (issue 18), proven by what the phones
received: a debtor (sipp, saying an answering machine's 13-second
greeting: no AMD, so a person to Recobro) reaches a first agent; the agent,
with its own token, transfers the call to another through the API. The
target's desktop gets the debtor's screen pop, its phone is rung (or its
session line joins) and the three talk, then the first agent leaves: by
hanging up its phone (its BYE), or by completing the transfer (its leg
gets Asterisk's BYE, or its session line goes home). It wraps up, while
the target keeps receiving the debtor's greeting. The attempt has one
result, the target's; the call's events say who transferred to whom and
how. Refused transfers (the target logged out, unknown, another agent's
token, a body naming no target) leave the call untouched. The same with
agents on sessions, a call that came in, and a cold transfer to
self-service (the debtor hears the menu)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest

from dialer.settings import read_env_file
from dialer.store.calls import storage_id
from ivr import callback_prompts, self_service
from lab import sipp
from tests.audio import (
    Audio,
    Capture,
    capture_lab,
    dialogs,
    read_pcap,
    read_wav,
    received,
    sent,
)
from tests.audio.capture import lab_ports
from tests.e2e.cli import cli_env
from tests.e2e.softphone import Baresip
from tests.e2e.sounds import reference
from tests.e2e.test_agent_sessions import (
    fetch,
    open_session,
    prepare,
    start_desk,
    wait_for,
)
from tests.e2e.test_agents import TEST_APP, api_url, collect, run, start_api
from tests.e2e.test_supervisors import (
    LEAST_SHARE,
    connected_attempt,
    share_heard,
    silence,
)

pytestmark = pytest.mark.lab

# The debtor's greeting runs from 0.3 s to about 13.5 s after the answer;
# the debtor hangs up at 30 s.
NUMBER = "+12125559300"
# The same greeting from a debtor who stays 99 s (the plan's longest), for
# a test that ends the call itself once it has what it looks for.
STAYING = "+12125559990"
WARM_S = 1.5  # the three talk before the first agent leaves
WRAP_UP_S = 60
HEAR_PLACE_S = 1.5  # of its place in line, the debtor sent to the queue hears at least


async def post(lab_config, path: str, token: str,
               body: dict[str, str] | None = None) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as session, session.post(
            f"{api_url(lab_config)}{path}", json=body,
            headers={"Authorization": f"Bearer {token}"}) as response:
        return response.status, await response.json()


async def first_event(pops: list[tuple[float, str, dict]], agent: str, kind: str,
                      status: str | None = None, timeout_s: float = 15.0) -> dict:
    """The first event of type kind (and status) agent's socket carried."""
    deadline = time.monotonic() + timeout_s
    while True:
        for _, socket, event in pops:
            if socket == agent and event.get("type") == kind and (
                    status is None or event.get("status") == status):
                return event
        assert time.monotonic() < deadline, (agent, kind, status, pops)
        await asyncio.sleep(0.05)


async def answer_at_once(phone: Baresip) -> None:
    """The phone, rung for the call, answers it as an auto-answering one
    would (a person's second here would cost the debtor's greeting)."""
    await phone.wait_incoming(30)
    await phone.accept()
    await phone.wait_event("CALL_ESTABLISHED", 5)


def admin_token(lab_config) -> str:
    """The bootstrap admin's token, from the lab's env file."""
    return read_env_file(lab_config.env_file)["RECOBRO_API_TOKEN"]


async def agent_token(env: dict[str, str], endpoint: str) -> str:
    """A new token of the agent's own, good for an hour."""
    return (await run(env, "token", "issue", "--role", "agent", "--agent", endpoint,
                      "--expires-in", "1h")).splitlines()[-1]


@contextlib.asynccontextmanager
async def services(lab_config, env: dict[str, str], desk: bool = False) -> AsyncIterator[None]:
    """The test's API (and `recobro inbound`, when desk) on env, stopped on
    the way out."""
    api = await start_api(lab_config, env)
    try:
        inbound = await start_desk(env) if desk else None
        try:
            yield
        finally:
            if inbound is not None:
                inbound.terminate()
                await inbound.wait()
    finally:
        api.terminate()
        await api.wait()


async def dial(env: dict[str, str], url: str) -> tuple[asyncio.Task, str]:
    """The campaign "shift" dialing (a task, over once its call is) and its
    attempt, once the debtor is with an agent."""
    dialer = asyncio.create_task(run(env, "campaign", "run", "shift", "--for", "2",
                                     timeout=120))
    return dialer, await connected_attempt(url)


def heard_the_greeting(lab_config, pcap, port: int, since: float) -> None:
    """The phone at port received the debtor's greeting from since (capture
    time, half a second after) to its end: more than 2 s of it, at least
    LEAST_SHARE of its pieces found."""
    debtor_said = sent(pcap, lab_config.sip_port, lab_config.pstn_port).by_number(NUMBER)
    (heard,) = received(pcap, lab_config.sip_port, port)
    start, end = since + 0.5, debtor_said.speech_span[1] - 0.5
    assert end - start > 2.0, (since, debtor_said.speech_span)
    share = share_heard(heard.audio, debtor_said.audio, (start, end - start))
    assert share >= LEAST_SHARE, share


async def sent_by(url: str, call: str, agent: str, service: str) -> None:
    """The attempt has one result, agent's conversation, and the call's
    events say agent sent the debtor to service."""
    (attempt,) = await fetch(url, "SELECT result, agent FROM attempts")
    assert (attempt["result"], attempt["agent"]) == ("conversation", agent)
    events = await fetch(url, "SELECT kind, detail FROM call_events WHERE call_id = "
                              f"'{call}' AND kind = 'sent_to_service'")
    assert [json.loads(e["detail"]) for e in events] == [
        {"agent": agent, "to_service": service}]


async def test_a_warm_transfer_to_another_agent_completed_by_hanging_up(
        lab_config, fresh_database, tmp_path):
    """The first agent is baresip rung for the call (agent1004, no
    session), the target the sipp phone agent1002; after the warm phase
    the first agent's phone hangs up (its BYE), which completes the
    transfer."""
    first, second = lab_config.agents[3], lab_config.agents[1]
    url = fresh_database
    env = await shift(lab_config, url, tmp_path, {
        first.endpoint: "language:es=3", second.endpoint: "language:es=3"})
    await run(env, "agent", "login", first.endpoint)  # the second logs in later
    tokens = {agent.endpoint: await agent_token(env, agent.endpoint) for agent in (first, second)}
    admin = admin_token(lab_config)
    mine, theirs = tokens[first.endpoint], tokens[second.endpoint]
    pops: list[tuple[float, str, dict]] = []
    async with services(lab_config, env), aiohttp.ClientSession() as desks, \
            Baresip(lab_config, first, tmp_path / "agent",
                    speech=silence(tmp_path / "quiet")) as phone:
        listeners = [asyncio.create_task(collect(desks, api_url(lab_config), agent,
                                                 token, pops))
                     for agent, token in tokens.items()]
        ports, ranges = lab_ports(lab_config)
        with Capture([*ports, phone.sip_port], tmp_path / "transfer.pcap",
                     ranges=[*ranges, phone.rtp_ports]) as cap:
            await asyncio.sleep(0.5)  # the desks listen
            answering = asyncio.create_task(answer_at_once(phone))
            dialer, call = await dial(env, url)
            await answering
            path = f"/attempts/{call}/transfer"
            # Refused, the call untouched: the target is logged out,
            # unknown, or no target is named; another agent's token;
            # nothing to complete.
            refusals = [
                await post(lab_config, path, mine, {"to_agent": second.endpoint}),
                await post(lab_config, path, mine, {"to_agent": "nobody9"}),
                await post(lab_config, path, mine, {"to_skill": "negotiation"}),
                await post(lab_config, path, mine, {}),
                await post(lab_config, path, mine, {"to_agent": first.endpoint}),
                await post(lab_config, path, theirs, {"to_agent": second.endpoint}),
                await post(lab_config, f"{path}/complete", mine),
                await post(lab_config, f"/attempts/{uuid.uuid4()}/transfer", admin,
                           {"to_agent": second.endpoint})]
            await run(env, "agent", "login", second.endpoint)
            status, asked = await post(lab_config, path, mine, {"to_agent": second.endpoint})
            assert status == 202, asked
            pop = await first_event(pops, second.endpoint, "screen_pop")
            started = await first_event(pops, first.endpoint, "transfer", "started")
            await asyncio.sleep(WARM_S)
            await phone.hangup()  # the first agent leaves: its phone's BYE
            completed = await first_event(pops, second.endpoint, "transfer", "completed")
            await wait_for(url, "SELECT state FROM agents WHERE endpoint = "
                           f"'{first.endpoint}'", "wrap_up")
            (wrapping,) = await fetch(url, "SELECT wrap_up_until - state_since AS left "
                                           f"FROM agents WHERE endpoint = '{first.endpoint}'")
            await dialer
        for listener in listeners:
            listener.cancel()

    assert [(status, body["error"]) for status, body in refusals] == [
        (409, (f'"to_agent": agent {second.endpoint} is logged out, not free to take the '
              'call')),
        (404, "\"to_agent\": no agent 'nobody9'"),
        (409, "\"to_skill\": no agent with skill 'negotiation' who speaks es is free"),
        (400, ('the body names the target: "to_agent" (an agent), "to_skill" (a skill) or '
              '"to_service" (a service), one of them')),
        (409, f'"to_agent": {first.endpoint} has the call already'),
        (403, refusals[5][1]["error"]),
        (409, f"the call of {call} is being transferred to nobody"),
        (404, refusals[7][1]["error"])]
    assert "no attempt or inbound call" in refusals[7][1]["error"]
    assert asked == {"attempt": call, "agent": first.endpoint, "to_agent": second.endpoint,
                     "transfer": "requested"}
    # The second agent's desktop got the debtor's screen pop: the same
    # event the first agent got for the call.
    (first_pop,) = [e for _, socket, e in pops
                    if socket == first.endpoint and e["type"] == "screen_pop"]
    assert {k: v for k, v in pop.items() if k != "agent"} == {
        k: v for k, v in first_pop.items() if k != "agent"}
    assert (pop["attempt"], pop["reference"], pop["debtor_name"]) == (call, "T-1", "Rosa")
    for step in (started, completed):
        assert (step["attempt"], step["from_agent"], step["to_agent"]) == (
            call, first.endpoint, second.endpoint), step
    assert WRAP_UP_S - 5 < wrapping["left"].total_seconds() <= WRAP_UP_S

    # One result, the second agent's; the steps in the call's events.
    (attempt,) = await fetch(url, "SELECT result, agent, agent_channel FROM attempts")
    assert (attempt["result"], attempt["agent"], attempt["agent_channel"]) == (
        "conversation", second.endpoint, f"{call}-{second.endpoint}")
    events = await fetch(url, "SELECT kind, detail FROM call_events WHERE call_id = "
                              f"'{call}' AND kind LIKE 'transfer_%' ORDER BY id")
    assert [(e["kind"], json.loads(e["detail"])) for e in events] == [
        ("transfer_requested", {"agent": first.endpoint, "to_agent": second.endpoint,
                                "call": call, "to_service": ""}),
        ("transfer_started", {"agent": first.endpoint, "to_agent": second.endpoint}),
        ("transfer_completed", {"agent": first.endpoint, "to_agent": second.endpoint,
                                "how": "hung_up"})]
    (second_state,) = await fetch(url, "SELECT state FROM agents WHERE endpoint = "
                                       f"'{second.endpoint}'")
    assert second_state["state"] == "wrap_up"  # freed when the call ended

    # The first agent's phone sent its BYE long before the debtor hung up;
    # the second agent's leg lasted to the call's end.
    datagrams = read_pcap(cap.path)
    (left,) = dialogs(datagrams, lab_config.sip_port, phone.sip_port)
    (stayed,) = dialogs(datagrams, lab_config.sip_port, second.sip_port)
    assert left.bye_from_asterisk is False and left.end < stayed.end - 5, (left.end,
                                                                            stayed.end)
    assert stayed.answer is not None and stayed.answer < left.end
    # After the BYE, the second agent received the debtor's greeting.
    heard_the_greeting(lab_config, cap.path, second.sip_port, since=left.end)


async def shift(lab_config, url: str, tmp_path, skills: dict[str, str],
                number: str = NUMBER) -> dict[str, str]:
    """The debtor at number, the agents' skills (none logged in), a
    progressive campaign "shift" with a wrap-up of WRAP_UP_S."""
    env = cli_env(RECOBRO_ENV_FILE=str(lab_config.env_file), DATABASE_URL=url)
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("reference,debtor_name,balance,days_past_due,phone1,language\n"
                        f"T-1,Rosa,420.50,40,{number},es\n")
    await run(env, "accounts", "import", str(accounts))
    for agent, agent_skills in skills.items():
        await run(env, "agent", "skills", agent, "--skills", agent_skills)
    await run(env, "campaign", "create", "shift", "--mode", "progressive", "--window",
              "00:00-24:00", "--wrap-up", str(WRAP_UP_S), "--ring-timeout", "8")
    await run(env, "campaign", "start", "shift")
    return env


def ari(lab_config) -> tuple[str, dict[str, str]]:
    """The lab's ARI: its URL and the headers that authenticate to it."""
    settings = read_env_file(lab_config.env_file)
    return settings["RECOBRO_ARI_URL"], {"Authorization": aiohttp.encode_basic_auth(
        settings["RECOBRO_ARI_USER"], settings["RECOBRO_ARI_PASSWORD"])}


async def line_home(lab_config, line: str) -> list[str]:
    """The channels in a session line's own bridge (ARI)."""
    url, headers = ari(lab_config)
    async with aiohttp.ClientSession(headers=headers) as session, session.get(
            f"{url}/ari/bridges/{line}") as response:
        return list((await response.json())["channels"])


async def hang_up(lab_config, channel: str) -> None:
    """Asterisk hangs the channel up (ARI): the test ends a call itself."""
    url, headers = ari(lab_config)
    async with aiohttp.ClientSession(headers=headers) as session, session.delete(
            f"{url}/ari/channels/{channel}") as response:
        assert response.status == 204, await response.text()


@dataclass(frozen=True)
class SessionCall:
    """The campaign's debtor on the line of an agent's session (baresip),
    captured: the phone, the capture, the line, the attempt, and the
    dialer running the campaign."""

    phone: Baresip
    cap: Capture
    line: str
    call: str
    dialer: asyncio.Task


@contextlib.asynccontextmanager
async def session_call(lab_config, url: str, env: dict[str, str], agent, tmp_path,
                       pcap: str) -> AsyncIterator[SessionCall]:
    """baresip opens agent's session (the test's API runs) and the
    campaign "shift" runs until its debtor is on the session's line. On
    the way out: the campaign's run over, the line never closed by
    Recobro, the phone hangs it up and the session closes."""
    async with Baresip(lab_config, agent, tmp_path / "agent",
                       speech=silence(tmp_path / "quiet")) as phone:
        ports, ranges = lab_ports(lab_config)
        with Capture([*ports, phone.sip_port], tmp_path / pcap,
                     ranges=[*ranges, phone.rtp_ports]) as cap:
            line = await open_session(lab_config, phone)
            await wait_for(url, "SELECT state FROM agents WHERE endpoint = "
                           f"'{agent.endpoint}'", "ready")
            dialer, call = await dial(env, url)
            yield SessionCall(phone, cap, line, call, dialer)
            await dialer
            assert "CALL_CLOSED" not in [e.type for e in phone.events]
            await phone.hangup()
            await wait_for(url, "SELECT close_reason FROM agent_sessions", "hung_up")


async def test_an_agent_on_a_session_transfers_to_a_skill_and_keeps_its_line(
        lab_config, fresh_database, tmp_path):
    """The first agent is baresip on a session (agent1004), the target the
    free agent with the skill `negotiation` (the sipp phone agent1003, rung
    for the call, through the CLI): the debtor and the target leave the
    session's bridge for one of the call's own, the line stays up in its
    bridge for the wrap-up; the target received the debtor's greeting."""
    first, second = lab_config.agents[3], lab_config.agents[2]
    url = fresh_database
    env = await shift(lab_config, url, tmp_path, {
        first.endpoint: "language:es=3", second.endpoint: "language:es=2,negotiation=4"})
    api_env = {**env, "RECOBRO_API_PORT": api_url(lab_config).rsplit(":", 1)[1]}
    async with services(lab_config, env), session_call(lab_config, url, env, first, tmp_path,
                                                        "session.pcap") as session:
        call, line, cap = session.call, session.line, session.cap
        await run(env, "agent", "login", second.endpoint)
        said = await run(api_env, "agent", "transfer", call, "--to-skill", "negotiation")
        assert f"{second.endpoint} reserved and brought in" in said
        await wait_for(url, "SELECT state FROM agents WHERE endpoint = "
                       f"'{second.endpoint}'", "on_call")
        await asyncio.sleep(WARM_S)
        said = await run(api_env, "agent", "transfer", call, "--complete")
        assert f"{first.endpoint} leaves it to {second.endpoint}" in said
        await wait_for(url, "SELECT state FROM agents WHERE endpoint = "
                       f"'{first.endpoint}'", "wrap_up")
        home_after = await line_home(lab_config, line)

    # The session's line stayed up, alone in its bridge once it left.
    assert home_after == [line]
    (attempt,) = await fetch(url, "SELECT result, agent, agent_channel FROM attempts")
    assert (attempt["result"], attempt["agent"], attempt["agent_channel"]) == (
        "conversation", second.endpoint, f"{call}-{second.endpoint}")
    debtor_said = sent(cap.path, lab_config.sip_port, lab_config.pstn_port).by_number(NUMBER)
    datagrams = read_pcap(cap.path)
    (stayed,) = dialogs(datagrams, lab_config.sip_port, second.sip_port)
    assert stayed.bye_from_asterisk and stayed.end > debtor_said.speech_span[1]
    (completed,) = await fetch(url, "SELECT extract(epoch FROM at) AS at FROM call_events "
                                    "WHERE kind = 'transfer_completed'")
    heard_the_greeting(lab_config, cap.path, second.sip_port, since=float(completed["at"]))


async def test_a_transfer_to_an_agent_on_a_session_brings_its_line_and_sends_it_home(
        lab_config, fresh_database, tmp_path):
    """The target is baresip on a session (agent1004): its line joins the
    call; after the transfer it takes the call on that line (its phone is
    not rung: the screen pop and a beep) and receives the debtor's
    greeting, and when the call ends the line is back in its own bridge,
    the session still open."""
    first, second = lab_config.agents[0], lab_config.agents[3]
    url = fresh_database
    env = await shift(lab_config, url, tmp_path, {
        first.endpoint: "language:es=3", second.endpoint: "language:es=3"})
    await run(env, "agent", "login", first.endpoint)
    admin = admin_token(lab_config)
    async with services(lab_config, env), Baresip(lab_config, second, tmp_path / "agent",
                       speech=silence(tmp_path / "quiet")) as phone:
        ports, ranges = lab_ports(lab_config)
        with Capture([*ports, phone.sip_port], tmp_path / "target.pcap",
                     ranges=[*ranges, phone.rtp_ports]) as cap:
            dialer, call = await dial(env, url)
            line = await open_session(lab_config, phone)
            await wait_for(url, "SELECT state FROM agents WHERE endpoint = "
                           f"'{second.endpoint}'", "ready")
            rang = [e.type for e in phone.events].count("CALL_INCOMING")
            status, body = await post(lab_config, f"/attempts/{call}/transfer", admin,
                                      {"to_agent": second.endpoint})
            assert status == 202, body
            await wait_for(url, "SELECT state FROM agents WHERE endpoint = "
                           f"'{second.endpoint}'", "on_call")
            await asyncio.sleep(WARM_S)
            status, body = await post(lab_config, f"/attempts/{call}/transfer/complete",
                                      admin)
            assert status == 202, body
            await wait_for(url, "SELECT state FROM agents WHERE endpoint = "
                           f"'{first.endpoint}'", "wrap_up")
            await dialer
            await wait_for(url, "SELECT state FROM agents WHERE endpoint = "
                           f"'{second.endpoint}'", "wrap_up")
            home_after = await line_home(lab_config, line)
            assert [e.type for e in phone.events].count("CALL_INCOMING") == rang == 1
            assert "CALL_CLOSED" not in [e.type for e in phone.events]
            await phone.hangup()
            await wait_for(url, "SELECT close_reason FROM agent_sessions", "hung_up")

    assert home_after == [line]
    (attempt,) = await fetch(url, "SELECT result, agent, agent_channel FROM attempts")
    assert (attempt["result"], attempt["agent"], attempt["agent_channel"]) == (
        "conversation", second.endpoint, line)
    datagrams = read_pcap(cap.path)
    (left,) = dialogs(datagrams, lab_config.sip_port, first.sip_port)
    assert left.bye_from_asterisk
    heard_the_greeting(lab_config, cap.path, phone.sip_port, since=left.end)


async def test_a_call_that_came_in_is_transferred_with_its_screen_pop(
        lab_config, fresh_database, tmp_path):
    """A debtor calls in (`recobro inbound`) and reaches agent1001, who
    transfers the call to agent1002 (both sipp phones rung for the call):
    agent1002 gets the inbound call's screen pop, agent1001's leg its BYE,
    and the inbound call is agent1002's, whose leg lasts until the caller
    hangs up."""
    first, second = lab_config.agents[0], lab_config.agents[1]
    caller = "+12125550181"
    url = fresh_database
    env = await prepare(lab_config, url, tmp_path, [caller], [first.endpoint, second.endpoint])
    await run(env, "agent", "login", first.endpoint)
    tokens = {agent.endpoint: await agent_token(env, agent.endpoint) for agent in (first, second)}
    pops: list[tuple[float, str, dict]] = []
    async with services(lab_config, env, desk=True), aiohttp.ClientSession() as desks:
        listeners = [asyncio.create_task(collect(desks, api_url(lab_config), agent,
                                                 token, pops))
                     for agent, token in tokens.items()]
        with capture_lab(lab_config, tmp_path / "inbound.pcap") as cap:
            await asyncio.sleep(0.5)  # the desks listen
            debtor = asyncio.create_task(asyncio.to_thread(sipp.call_in, lab_config,
                                                           caller, stay_s=12))
            call = await connected_attempt(url, table="inbound_calls")
            await run(env, "agent", "login", second.endpoint)
            status, asked = await post(lab_config, f"/attempts/{call}/transfer",
                                       tokens[first.endpoint],
                                       {"to_agent": second.endpoint})
            assert status == 202, asked
            pop = await first_event(pops, second.endpoint, "screen_pop")
            await first_event(pops, second.endpoint, "transfer", "started")
            await asyncio.sleep(WARM_S)
            # The target's token completes it as well as the first agent's.
            status, completing = await post(lab_config,
                                            f"/attempts/{call}/transfer/complete",
                                            tokens[second.endpoint])
            assert status == 202, completing
            await first_event(pops, first.endpoint, "transfer", "completed")
            await debtor
            await wait_for(url, "SELECT ended_at IS NOT NULL FROM inbound_calls", True)
        for listener in listeners:
            listener.cancel()

    assert (pop["kind"], pop["inbound_call"], pop["number"]) == ("inbound", call, caller)
    (inbound,) = await fetch(url, "SELECT agent, channel FROM inbound_calls")
    assert inbound["agent"] == second.endpoint
    events = await fetch(url, "SELECT kind, detail FROM call_events WHERE call_id = "
                              f"'{storage_id(inbound['channel'])}' AND kind = "
                              "'transfer_completed'")
    assert [json.loads(e["detail"]) for e in events] == [
        {"agent": first.endpoint, "to_agent": second.endpoint, "how": "asked"}]
    datagrams = read_pcap(cap.path)
    (left,) = dialogs(datagrams, lab_config.sip_port, first.sip_port)
    (stayed,) = dialogs(datagrams, lab_config.sip_port, second.sip_port)
    assert left.bye_from_asterisk and stayed.answer is not None
    assert stayed.answer < left.end < stayed.end - 3, (stayed.answer, left.end, stayed.end)


async def test_a_cold_transfer_sends_the_debtor_to_the_self_service_menu(
        lab_config, fresh_database, tmp_path):
    """The agent (agent1001, a sipp phone rung for the call) sends the
    debtor to self-service: its leg gets Asterisk's BYE at once and it
    wraps up, and the debtor hears the self-service menu (the audio that
    reached the debtor's phone); the call stays the agent's, one result."""
    agent = lab_config.agents[0]
    url = fresh_database
    env = await shift(lab_config, url, tmp_path, {agent.endpoint: "language:es=3"})
    await run(env, "agent", "login", agent.endpoint)
    token = await agent_token(env, agent.endpoint)
    async with services(lab_config, env):
        with capture_lab(lab_config, tmp_path / "cold.pcap") as cap:
            dialer, call = await dial(env, url)
            status, body = await post(lab_config, f"/attempts/{call}/transfer", token,
                                      {"to_service": "self_service"})
            await wait_for(url, "SELECT state FROM agents WHERE endpoint = "
                           f"'{agent.endpoint}'", "wrap_up")
            refused = await post(lab_config, f"/attempts/{call}/transfer", token,
                                 {"to_service": "the_moon"})
            await dialer

    assert (status, body) == (202, {"attempt": call, "agent": agent.endpoint,
                                    "to_service": "self_service", "transfer": "requested"})
    assert refused[0] == 400 and '"to_service"' in refused[1]["error"], refused
    await sent_by(url, call, agent.endpoint, "self_service")
    datagrams = read_pcap(cap.path)
    (left,) = dialogs(datagrams, lab_config.sip_port, agent.sip_port)
    assert left.bye_from_asterisk
    debtor = received(cap.path, lab_config.sip_port, lab_config.pstn_port).by_number(NUMBER)
    menu = debtor.match(reference(lab_config, self_service.MENU, "es", tmp_path))
    assert menu.found(), menu
    # Heard after the agent left (capture times).
    assert debtor.audio.start + menu.offset > left.end, (menu.offset, left.end)


async def test_a_caller_sent_to_self_service_hears_the_menu(lab_config, fresh_database,
                                                            tmp_path):
    """A debtor who called in (`recobro inbound`) and reached agent1001 is
    sent to self-service by the agent: the agent's leg gets its BYE, the
    caller's phone receives the menu after it."""
    agent = lab_config.agents[0]
    caller = "+12125550181"
    url = fresh_database
    env = await prepare(lab_config, url, tmp_path, [caller], [agent.endpoint])
    await run(env, "agent", "login", agent.endpoint)
    async with services(lab_config, env, desk=True):
        with capture_lab(lab_config, tmp_path / "inbound-cold.pcap") as cap:
            debtor = asyncio.create_task(asyncio.to_thread(sipp.call_in, lab_config, caller,
                                                           stay_s=20))
            call = await connected_attempt(url, table="inbound_calls")
            status, body = await post(lab_config, f"/attempts/{call}/transfer",
                                      admin_token(lab_config), {"to_service": "self_service"})
            assert status == 202, body
            await debtor
    datagrams = read_pcap(cap.path)
    (left,) = dialogs(datagrams, lab_config.sip_port, agent.sip_port)
    assert left.bye_from_asterisk
    (heard,) = received(cap.path, lab_config.sip_port, lab_config.port_base + 97)
    menu = heard.match(reference(lab_config, self_service.MENU, "es", tmp_path))
    assert menu.found(), menu
    assert heard.audio.start + menu.offset > left.end, (menu.offset, left.end)


async def test_an_agent_on_a_session_sends_the_debtor_to_self_service_and_keeps_its_line(
        lab_config, fresh_database, tmp_path, asterisk_log):
    """baresip on a session (agent1004) sends its debtor to self-service
    from the CLI: the debtor leaves the session's bridge and hears the
    menu; the line stays up, alone in its bridge, the agent in wrap-up.
    The debtor would stay 99 s: the test hangs the call up once the menu
    has played (cutting the prompt after it, which is excused)."""
    agent = lab_config.agents[3]
    url = fresh_database
    env = await shift(lab_config, url, tmp_path, {agent.endpoint: "language:es=3"},
                      number=STAYING)
    api_env = {**env, "RECOBRO_API_PORT": api_url(lab_config).rsplit(":", 1)[1]}
    async with services(lab_config, env), session_call(lab_config, url, env, agent, tmp_path,
                                                        "session-cold.pcap") as session:
        said = await run(api_env, "agent", "transfer", session.call, "--to-service",
                         "self_service")
        assert "the debtor goes to self_service" in said
        await wait_for(url, "SELECT state FROM agents WHERE endpoint = "
                       f"'{agent.endpoint}'", "wrap_up")
        sent_at = time.time()
        home_after = await line_home(lab_config, session.line)
        # The menu is the first prompt the debtor hears once sent.
        await wait_for(url, "SELECT count(*) > 0 FROM call_events WHERE call_id = "
                       f"'{session.call}' AND kind = 'playback_finished' AND id > (SELECT id "
                       "FROM call_events WHERE kind = 'sent_to_service')", True, timeout_s=30)
        hung_up_at = asterisk_log.offset()
        await hang_up(lab_config, session.call)
    asterisk_log.excuse(hung_up_at, asterisk_log.offset())  # the call is over by now
    assert home_after == [session.line]
    debtor = received(session.cap.path, lab_config.sip_port,
                      lab_config.pstn_port).by_number(STAYING)
    menu = debtor.match(reference(lab_config, self_service.MENU, "es", tmp_path))
    assert menu.found(), menu
    assert debtor.audio.start + menu.offset > sent_at - 1.0, (menu.offset, sent_at)


async def test_a_cold_transfer_sends_an_outbound_debtor_to_the_inbound_queue(
        lab_config, fresh_database, tmp_path):
    """agent1001 (a sipp phone rung for the call) sends its outbound debtor
    to the inbound queue while `recobro inbound` runs and nobody else is
    free: its leg gets Asterisk's BYE, the debtor's phone receives the
    queue's place in line; agent1002 logs in, takes the debtor from the
    line (rung for it) and receives the debtor's greeting. The attempt has
    one result, agent1001's; the inbound call, identified by the transfer,
    names the attempt and agent1002."""
    first, second = lab_config.agents[0], lab_config.agents[1]
    url = fresh_database
    env = await shift(lab_config, url, tmp_path, {
        first.endpoint: "language:es=3", second.endpoint: "language:es=3"})
    # The dialer and `recobro inbound` share the test API's application
    # name, as one site's processes share their env file.
    env = {**env, "RECOBRO_ARI_APP": TEST_APP}
    await run(env, "agent", "login", first.endpoint)
    async with services(lab_config, env, desk=True):
        with capture_lab(lab_config, tmp_path / "queue.pcap") as cap:
            dialer, call = await dial(env, url)
            status, body = await post(lab_config, f"/attempts/{call}/transfer",
                                      admin_token(lab_config), {"to_service": "inbound_queue"})
            assert status == 202, body
            await wait_for(url, "SELECT count(*) FROM inbound_calls", 1)
            await asyncio.sleep(HEAR_PLACE_S)  # the debtor hears its place in line
            # agent1002 comes free: the announcement stops, and it is rung.
            await run(env, "agent", "login", second.endpoint)
            await wait_for(url, "SELECT agent FROM inbound_calls", second.endpoint)
            await dialer
            await wait_for(url, "SELECT ended_at IS NOT NULL FROM inbound_calls", True)

    assert body == {"attempt": call, "agent": first.endpoint, "to_service": "inbound_queue",
                    "transfer": "requested"}
    await sent_by(url, call, first.endpoint, "inbound_queue")
    (inbound,) = await fetch(url, "SELECT agent, identified_by, from_attempt::text, caller, "
                                  "connected_at IS NOT NULL AS connected FROM inbound_calls")
    assert dict(inbound) == {"agent": second.endpoint, "identified_by": "transfer",
                             "from_attempt": call, "caller": NUMBER, "connected": True}
    datagrams = read_pcap(cap.path)
    (left,) = dialogs(datagrams, lab_config.sip_port, first.sip_port)
    (took,) = dialogs(datagrams, lab_config.sip_port, second.sip_port)
    assert left.bye_from_asterisk and took.answer is not None and left.end < took.answer
    # The debtor heard its place in line after its agent left, before the
    # next agent took it.
    debtor = received(cap.path, lab_config.sip_port, lab_config.pstn_port).by_number(NUMBER)
    whole = read_wav(reference(lab_config, callback_prompts.YOU_ARE_NEXT, "es", tmp_path))
    place = debtor.match(Audio(whole.samples[:int(HEAR_PLACE_S * whole.rate)], whole.rate))
    assert place.found(), place
    assert left.end < debtor.audio.start + place.offset < took.answer, (
        left.end, place.offset, took.answer)
    # The agent who took it from the line received the debtor's greeting.
    heard_the_greeting(lab_config, cap.path, second.sip_port, since=took.answer)
