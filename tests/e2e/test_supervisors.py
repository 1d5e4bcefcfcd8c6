"""Supervisors on a live call, in the lab, proven by what each phone
received: a debtor (sipp, saying an answering machine's 13-second
greeting: no AMD, so a person to Recobro) talks with an agent on a session
(baresip as agent1004, silent: what the supervisor hears is the debtor's
alone); a supervisor's phone
(baresip as agent1003, saying recorded words) listens from the API, then
whispers from the CLI. The supervisor heard the debtor; the agent heard
the whisper; the debtor did not. The call's events keep who listened, in
which mode, from when to when. A supervision stopped from the CLI hangs
up the supervisor's phone alone."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from dialer.agents.supervisors import SNOOP_SUFFIX
from dialer.settings import DEFAULT_ASTERISK_NAME, read_env_file
from dialer.store.calls import storage_id
from lab import sipp
from tests.audio import (
    Audio,
    Capture,
    activity,
    dialogs,
    match,
    read_pcap,
    received,
    sent,
)
from tests.audio.capture import lab_ports
from tests.e2e.softphone import Baresip
from tests.e2e.test_agent_sessions import (
    fetch,
    open_session,
    prepare,
    start_desk,
    wait_for,
    window,
)
from tests.e2e.test_agents import api_url, run, start_api
from tests.e2e.test_softphone import dominant_hz

pytestmark = pytest.mark.lab

# The lab's Asterisk, which its supervisions' starts name.
LAB_SERVER = DEFAULT_ASTERISK_NAME

# An answering machine's greeting from 0.3 s to about 13.5 s after the
# answer, then nothing until the debtor hangs up at 30 s. Both supervisions
# fall within the greeting: a whisper rides on the frames Asterisk writes
# to the agent's phone, and a bridge writes none while nobody else in it
# sends any (a lab debtor sends no RTP after its greeting; a real phone
# sends RTP all along).
NUMBER = "+12125559300"
SUPERVISOR_WORDS = ("Seven bright yellow kites float over the quiet harbour while "
                    "the fishermen count their nets.")
LISTEN_S = 3.5
PICK_UP_S = 0.3  # the supervisor takes the call
# What was said is looked for in what was heard in half-second pieces:
# the audio through a snoop channel jumps by a frame or two now and then
# (its own clock against the call's; more so on a loaded machine), and a
# long stretch across a jump would not line up.
PIECE_S = 0.4
LEAST_SHARE = 0.6  # of the pieces said, found in what was heard
STOP_AFTER_S = 1.5  # a supervision listens this long before it is stopped


def span_of(call: Audio) -> tuple[float, float]:
    """A supervisor's call but its edges (its first packets; its last
    half second, which a piece found a little late would overhang): the
    capture time it starts at, and its seconds."""
    return call.start + 0.25, call.duration - 0.75


def share_heard(heard: Audio, said: Audio, span: tuple[float, float]) -> float:
    """The share of said's pieces (PIECE_S long) in span, found in heard
    (each looked for within half a second of when it was said); pieces
    with next to no sound are not counted."""
    start, seconds = span
    pieces = found = 0
    for index in range(int(seconds / PIECE_S)):
        at = start + index * PIECE_S
        piece = window(said, at, PIECE_S)
        if activity(piece).seconds < PIECE_S / 2:
            continue
        pieces += 1
        found += match(window(heard, at - 0.5, PIECE_S + 1.0), piece).found()
    assert pieces, "nothing was said then"
    return found / pieces


def supervisor_speech(directory: Path) -> Path:
    """The supervisor's words, again and again for a minute, as the 8 kHz
    mono WAV baresip's aufile sends. Compressed, as a headset's gain
    control would: spoken up over the debtor the agent hears at the same
    time, the words stand out of the mix (the test compares the mix with
    what the supervisor's phone sent, not with this file)."""
    directory.mkdir(parents=True, exist_ok=True)
    spoken, speech = directory / "spoken.wav", directory / "speech.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(spoken),
                    SUPERVISOR_WORDS], check=True, capture_output=True)
    subprocess.run(["sox", str(spoken), "-r", "8000", "-c", "1", "-b", "16", str(speech),
                    "compand", "0.01,0.1", "-70,-70,-40,-12,0,-3", "norm", "-1",
                    "pad", "0", "0.2", "repeat", "12"], check=True, capture_output=True)
    return speech


def silence(directory: Path) -> Path:
    """Two minutes of silence, for an agent who says nothing."""
    directory.mkdir(parents=True, exist_ok=True)
    quiet = directory / "silence.wav"
    subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(quiet), "trim", "0",
                    "120"], check=True, capture_output=True)
    return quiet


async def monitor(lab_config, call: str, body: dict[str, str],
                  token: str | None = None) -> tuple[int, dict]:
    """POST /attempts/{call}/monitor to the test's API with token (its
    admin's by default)."""
    token = token or read_env_file(lab_config.env_file)["RECOBRO_API_TOKEN"]
    async with aiohttp.ClientSession() as session, session.post(
            f"{api_url(lab_config)}/attempts/{call}/monitor", json=body,
            headers={"Authorization": f"Bearer {token}"}) as response:
        return response.status, await response.json()


async def stop_monitoring(lab_config, call: str, supervisor: str) -> tuple[int, dict]:
    """DELETE /attempts/{call}/monitor/{supervisor} to the test's API, as
    its admin."""
    token = read_env_file(lab_config.env_file)["RECOBRO_API_TOKEN"]
    async with aiohttp.ClientSession() as session, session.delete(
            f"{api_url(lab_config)}/attempts/{call}/monitor/{supervisor}",
            headers={"Authorization": f"Bearer {token}"}) as response:
        return response.status, await response.json()


async def channels_and_bridges(lab_config) -> tuple[set[str], set[str]]:
    """The ids of the channels and of the bridges Asterisk has now (ARI)."""
    settings = read_env_file(lab_config.env_file)
    url, headers = settings["RECOBRO_ARI_URL"], {"Authorization": aiohttp.encode_basic_auth(
        settings["RECOBRO_ARI_USER"], settings["RECOBRO_ARI_PASSWORD"])}
    async with aiohttp.ClientSession(headers=headers) as session:
        async with session.get(f"{url}/ari/channels") as response:
            channels = {str(channel["id"]) for channel in await response.json()}
        async with session.get(f"{url}/ari/bridges") as response:
            bridges = {str(bridge["id"]) for bridge in await response.json()}
    return channels, bridges


async def supervision_events(url: str, call: str) -> list[tuple[str, dict]]:
    """The call's supervision events, in order: kind and detail."""
    events = await fetch(url, "SELECT kind, detail FROM call_events WHERE "
                         f"call_id = '{call}' AND kind LIKE 'supervision_%' ORDER BY id")
    return [(e["kind"], json.loads(e["detail"])) for e in events]


async def leg_gone(lab_config, leg: str, timeout_s: float = 5.0
                   ) -> tuple[set[str], set[str]]:
    """Asterisk's channels and bridges once the supervisor's leg is gone
    (baresip says CALL_CLOSED as it sends its BYE, before Asterisk has
    taken the leg down)."""
    deadline = time.monotonic() + timeout_s
    while True:
        channels, bridges = await channels_and_bridges(lab_config)
        if leg not in channels or time.monotonic() > deadline:
            return channels, bridges
        await asyncio.sleep(0.1)


async def supervision_cleared(lab_config, leg: str, timeout_s: float = 5.0
                              ) -> tuple[set[str], set[str]]:
    """Asterisk's channels and bridges once the supervisor's leg, its snoop
    and its bridge are all gone (ARI answers a hang-up before Asterisk has
    taken the channel down, so a snoop may linger a moment after its leg)."""
    deadline = time.monotonic() + timeout_s
    while True:
        channels, bridges = await channels_and_bridges(lab_config)
        left = bool({leg, leg + SNOOP_SUFFIX} & channels) or leg in bridges
        if not left or time.monotonic() > deadline:
            return channels, bridges
        await asyncio.sleep(0.1)


async def pick_up(phone: Baresip, since: int) -> None:
    """The supervisor's phone rings (from events[since] on); answered."""
    await phone.wait_incoming(10, since)
    await asyncio.sleep(PICK_UP_S)
    await phone.accept()
    await phone.wait_event("CALL_ESTABLISHED", 5, since)


@dataclass
class ApiProcess:
    """The test's `recobro api`, which a test may stop and start again."""

    lab_config: object
    env: dict[str, str]
    process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.process = await start_api(self.lab_config, self.env)

    async def stop(self) -> None:
        """SIGTERM, and its exit awaited (stopped already is fine)."""
        if self.process is None:
            return
        if self.process.returncode is None:
            self.process.terminate()
        await self.process.wait()


@dataclass(frozen=True)
class Listening:
    """A supervisor's phone listening to an agent rung for the call: the
    phone, the capture, the call, the supervisor's leg, the environment the
    CLI asks the test's API in, and that API."""

    supervisor: Baresip
    cap: Capture
    call: str
    leg: str
    api_env: dict[str, str]
    api: ApiProcess


@contextlib.asynccontextmanager
async def listening(lab_config, url: str, tmp_path: Path, agent, boss,
                    pcap: str) -> AsyncIterator[Listening]:
    """The debtor at NUMBER reaches agent (a sipp phone rung for the call),
    and boss's phone (baresip saying the supervisor's words) listens to the
    agent's leg, asked of the test's API, all captured. On the way out the
    campaign's run is over and the API stopped."""
    env = await prepare(lab_config, url, tmp_path, [NUMBER], [agent.endpoint])
    await run(env, "agent", "login", agent.endpoint)
    api_env = {**env, "RECOBRO_API_PORT": api_url(lab_config).rsplit(":", 1)[1]}
    api = ApiProcess(lab_config, env)
    await api.start()
    try:
        async with Baresip(lab_config, boss, tmp_path / "supervisor",
                           speech=supervisor_speech(tmp_path / "words")) as supervisor:
            ports, ranges = lab_ports(lab_config)
            with Capture([*ports, supervisor.sip_port], tmp_path / pcap,
                         ranges=[*ranges, supervisor.rtp_ports]) as cap:
                call, body, dialer = await listen_in(lab_config, env, url, boss, supervisor)
                try:
                    assert body["agent"] == f"{call}-{agent.endpoint}"  # the agent's leg
                    yield Listening(supervisor, cap, call, body["line"], api_env, api)
                    await dialer
                finally:
                    dialer.cancel()  # a test that failed leaves no campaign running
    finally:
        await api.stop()


async def listen_in(lab_config, env: dict[str, str], url: str, boss, supervisor: Baresip
                    ) -> tuple[str, dict, asyncio.Task]:
    """The campaign runs; once its debtor talks to the agent, boss's phone
    (supervisor) is asked to listen, answers and is joined (its
    supervision_started written): the call, the API's answer, and the
    campaign's run to await."""
    dialer = asyncio.create_task(run(env, "campaign", "run", "shift", "--for", "2"))
    call = await connected_attempt(url)
    status, body = await monitor(lab_config, call, {"mode": "listen", "supervisor": boss.endpoint})
    assert status == 202, body
    await pick_up(supervisor, 0)
    await wait_for(url, "SELECT count(*) FROM call_events WHERE kind = 'supervision_started'", 1)
    return call, body, dialer


async def connected_attempt(url: str, timeout_s: float = 30.0,
                            table: str = "attempts") -> str:
    """The attempt (or inbound call) once its debtor is with the agent."""
    deadline = time.monotonic() + timeout_s
    while True:
        rows = await fetch(url, f"SELECT id FROM {table} WHERE connected_at IS NOT NULL")
        if rows:
            return str(rows[0]["id"])
        assert time.monotonic() < deadline, "no attempt connected to the agent"
        await asyncio.sleep(0.1)


async def test_a_supervisor_listens_then_whispers_and_the_debtor_hears_no_whisper(
        lab_config, fresh_database, tmp_path):
    agent, boss = lab_config.agents[3], lab_config.agents[2]
    env = await prepare(lab_config, fresh_database, tmp_path, [NUMBER], [agent.endpoint])
    api_env = {**env, "RECOBRO_API_PORT": api_url(lab_config).rsplit(":", 1)[1]}
    # The supervisor's token (the first issued: token 1), and the agent's own.
    marta = (await run(env, "token", "issue", "--role", "supervisor", "--label", "Marta",
                       "--expires-in", "1h")).splitlines()[-1]
    agents_token = (await run(env, "token", "issue", "--role", "agent", "--agent",
                              agent.endpoint, "--expires-in", "1h")).splitlines()[-1]
    api = ApiProcess(lab_config, env)
    await api.start()
    try:
        async with Baresip(lab_config, agent, tmp_path / "agent",
                           speech=silence(tmp_path / "quiet")) as phone, \
                Baresip(lab_config, boss, tmp_path / "supervisor",
                        speech=supervisor_speech(tmp_path / "words")) as supervisor:
            ports, ranges = lab_ports(lab_config)
            with Capture([*ports, phone.sip_port, supervisor.sip_port],
                         tmp_path / "supervise.pcap",
                         ranges=[*ranges, phone.rtp_ports, supervisor.rtp_ports]) as cap:
                line = await open_session(lab_config, phone)
                await wait_for(fresh_database, "SELECT state FROM agents WHERE endpoint = "
                               f"'{agent.endpoint}'", "ready")
                dialer = asyncio.create_task(run(env, "campaign", "run", "shift", "--for", "2"))
                call = await connected_attempt(fresh_database)
                # Not the agent's, even on its own call.
                status, body = await monitor(lab_config, call, {
                    "mode": "listen", "supervisor": boss.endpoint}, agents_token)
                assert status == 403, body
                # Listen, from the API with a supervisor's token, while the debtor speaks.
                status, body = await monitor(lab_config, call, {
                    "mode": "listen", "supervisor": boss.endpoint}, marta)
                assert status == 202, body
                listen_leg = body["line"]
                assert (body["mode"], body["supervisor"], body["agent"]) == (
                    "listen", boss.endpoint, line)
                await pick_up(supervisor, 0)
                await asyncio.sleep(LISTEN_S)
                await supervisor.hangup()
                # Whisper, from the CLI, while the debtor still speaks.
                since = len(supervisor.events)
                said = await run(api_env, "supervise", call, "--whisper", "--supervisor",
                                 boss.endpoint)
                assert f"calling supervisor {boss.endpoint} to whisper" in said
                await pick_up(supervisor, since)
                await asyncio.sleep(LISTEN_S)
                await supervisor.hangup()
                await dialer
                # The shift ends (the capture holds the agent's whole dialog).
                await phone.hangup()
                await wait_for(fresh_database, "SELECT close_reason FROM agent_sessions",
                               "hung_up")
            # The call is over: nothing to supervise; bad input named.
            status, body = await monitor(lab_config, call, {
                "mode": "listen", "supervisor": boss.endpoint})
            assert (status, "is not live" in body["error"]) == (409, True), body
            status, body = await monitor(lab_config, call, {
                "mode": "listen", "supervisor": "nobody9"})
            assert (status, body["error"]) == (
                400, "supervisor: Asterisk has no endpoint PJSIP/nobody9"), body
            status, body = await monitor(lab_config, call, {
                "mode": "shout", "supervisor": boss.endpoint})
            assert (status, "\"mode\"" in body["error"]) == (400, True), body
            status, body = await monitor(lab_config, call, {
                "mode": "listen", "supervisor": "agent/1003"})
            assert (status, "\"supervisor\"" in body["error"]) == (400, True), body
            unknown = str(uuid.uuid4())
            status, body = await monitor(lab_config, unknown, {
                "mode": "barge", "supervisor": boss.endpoint})
            assert (status, body["error"]) == (404, f"no attempt or inbound call {unknown}")
    finally:
        await api.stop()

    # The supervisor heard the debtor's greeting while listening.
    debtor_said = sent(cap.path, lab_config.sip_port, lab_config.pstn_port).by_number(NUMBER)
    listened, _ = received(cap.path, lab_config.sip_port, supervisor.sip_port)
    start, seconds = span_of(listened.audio)
    greeting_from, greeting_to = debtor_said.speech_span
    assert greeting_from < start and start + seconds < greeting_to, (
        debtor_said.speech_span, start)
    share = share_heard(listened.audio, debtor_said.audio, (start, seconds))
    assert share >= LEAST_SHARE, share

    # The agent heard the supervisor's whisper; the debtor did not.
    _, words = sent(cap.path, lab_config.sip_port, supervisor.sip_port)
    start, seconds = span_of(words.audio)
    (agent_heard,) = received(cap.path, lab_config.sip_port, phone.sip_port)
    share = share_heard(agent_heard.audio, words.audio, (start, seconds))
    assert share >= LEAST_SHARE, share
    debtor_heard = received(cap.path, lab_config.sip_port, lab_config.pstn_port).by_number(NUMBER)
    assert debtor_heard.audio.start < start and (
        start + seconds < debtor_heard.audio.start + debtor_heard.audio.duration)
    assert share_heard(debtor_heard.audio, words.audio, (start, seconds)) == 0

    # The call's events: who listened, in which mode, from when to when.
    events = await fetch(fresh_database, "SELECT kind, at, detail FROM call_events WHERE "
                         f"call_id = '{call}' AND kind LIKE 'supervision_%' ORDER BY id")
    whisper_leg = json.loads(events[2]["detail"])["leg"]
    assert whisper_leg.startswith(f"supervise-{boss.endpoint}-") and whisper_leg != listen_leg
    assert [(e["kind"], json.loads(e["detail"])) for e in events] == [
        ("supervision_started", {"supervisor": boss.endpoint, "mode": "listen",
                                 "by": "supervisor (token 1)",
                                 "asterisk": LAB_SERVER, "leg": listen_leg}),
        ("supervision_ended", {"supervisor": boss.endpoint, "mode": "listen",
                               "reason": "supervisor_hung_up", "by": "", "leg": listen_leg}),
        ("supervision_started", {"supervisor": boss.endpoint, "mode": "whisper",
                                 "by": "admin (RECOBRO_API_TOKEN)",
                                 "asterisk": LAB_SERVER, "leg": whisper_leg}),
        ("supervision_ended", {"supervisor": boss.endpoint, "mode": "whisper",
                               "reason": "supervisor_hung_up", "by": "", "leg": whisper_leg})]
    for started, ended in (events[0:2], events[2:4]):
        assert LISTEN_S - 1.0 < (ended["at"] - started["at"]).total_seconds() < LISTEN_S + 2.0
    assert events[1]["at"] <= events[2]["at"]


async def test_a_supervisor_listens_to_an_agent_rung_per_call_then_barges_in(
        lab_config, fresh_database, tmp_path):
    """The agent is a sipp phone rung for the call (no session): the
    supervisor listens to its leg, then barges into the call's bridge and
    the debtor hears the supervisor."""
    agent, boss = lab_config.agents[0], lab_config.agents[2]
    async with listening(lab_config, fresh_database, tmp_path, agent, boss,
                         "barge.pcap") as on:
        supervisor, cap, call = on.supervisor, on.cap, on.call
        await asyncio.sleep(LISTEN_S)
        await supervisor.hangup()
        since = len(supervisor.events)
        said = await run(on.api_env, "supervise", call, "--barge", "--supervisor",
                         boss.endpoint)
        assert f"calling supervisor {boss.endpoint} to barge" in said
        await pick_up(supervisor, since)
        await asyncio.sleep(LISTEN_S)
        await supervisor.hangup()

    # Listening to the agent's leg, the supervisor heard the debtor.
    debtor_said = sent(cap.path, lab_config.sip_port, lab_config.pstn_port).by_number(NUMBER)
    listened, barged = received(cap.path, lab_config.sip_port, supervisor.sip_port)
    start, seconds = span_of(listened.audio)
    assert start + seconds < debtor_said.speech_span[1]
    share = share_heard(listened.audio, debtor_said.audio, (start, seconds))
    assert share >= LEAST_SHARE, share

    # Barging in, the supervisor heard the debtor and was heard by the debtor.
    start, seconds = span_of(barged.audio)
    assert start + seconds < debtor_said.speech_span[1]
    share = share_heard(barged.audio, debtor_said.audio, (start, seconds))
    assert share >= LEAST_SHARE, share
    _, words = sent(cap.path, lab_config.sip_port, supervisor.sip_port)
    debtor_heard = received(cap.path, lab_config.sip_port, lab_config.pstn_port).by_number(NUMBER)
    share = share_heard(debtor_heard.audio, words.audio, span_of(words.audio))
    assert share >= LEAST_SHARE, share

    assert [(kind, detail["mode"]) for kind, detail in
            await supervision_events(fresh_database, call)] == [
        ("supervision_started", "listen"), ("supervision_ended", "listen"),
        ("supervision_started", "barge"), ("supervision_ended", "barge")]


async def test_a_supervisor_listens_to_a_call_that_came_in_and_hears_the_agent(
        lab_config, fresh_database, tmp_path):
    """A debtor calls in and joins the session of baresip agent1004 (its
    440 Hz tone is its voice); the supervisor listening hears the agent's
    side too (the snoop spies both ways), and the inbound call's events
    keep the supervision."""
    agent, boss = lab_config.agents[3], lab_config.agents[2]
    caller = "+12125550181"
    env = await prepare(lab_config, fresh_database, tmp_path, [caller], [agent.endpoint])
    api = ApiProcess(lab_config, env)
    await api.start()
    desk = await start_desk(env)
    try:
        async with Baresip(lab_config, agent, tmp_path / "agent") as phone, \
                Baresip(lab_config, boss, tmp_path / "supervisor",
                        speech=supervisor_speech(tmp_path / "words")) as supervisor:
            ports, ranges = lab_ports(lab_config)
            with Capture([*ports, phone.sip_port, supervisor.sip_port],
                         tmp_path / "inbound.pcap",
                         ranges=[*ranges, phone.rtp_ports, supervisor.rtp_ports]) as cap:
                line = await open_session(lab_config, phone)
                await wait_for(fresh_database, "SELECT state FROM agents WHERE endpoint = "
                               f"'{agent.endpoint}'", "ready")
                debtor = asyncio.create_task(asyncio.to_thread(sipp.call_in, lab_config, caller,
                                                               stay_s=10))
                call = await connected_attempt(fresh_database, table="inbound_calls")
                status, body = await monitor(lab_config, call, {
                    "mode": "listen", "supervisor": boss.endpoint})
                assert (status, body["agent"]) == (202, line), body
                await pick_up(supervisor, 0)
                await asyncio.sleep(LISTEN_S)
                await supervisor.hangup()
                await debtor
                await phone.hangup()
                await wait_for(fresh_database, "SELECT close_reason FROM agent_sessions",
                               "hung_up")
    finally:
        desk.terminate()
        await desk.wait()
        await api.stop()
    (listened,) = received(cap.path, lab_config.sip_port, supervisor.sip_port)
    heard = window(listened.audio, *span_of(listened.audio))
    assert abs(dominant_hz(heard.samples) - 440) < 10
    (inbound,) = await fetch(fresh_database, "SELECT channel FROM inbound_calls")
    assert [(kind, detail["mode"]) for kind, detail in await supervision_events(
        fresh_database, str(storage_id(inbound["channel"])))] == [
        ("supervision_started", "listen"), ("supervision_ended", "listen")]


async def test_a_supervision_stopped_from_the_cli_hangs_up_the_supervisor_alone(
        lab_config, fresh_database, tmp_path):
    """A supervisor listens to an agent rung for the call (a sipp phone);
    `recobro supervise --stop` ends it: the supervisor's phone gets
    Asterisk's BYE, while the agent's leg lasts to the call's end and
    receives the debtor's greeting after the stop; the call's events say
    who stopped it. Stopping it again, or on an unknown call, is refused."""
    agent, boss = lab_config.agents[0], lab_config.agents[2]
    async with listening(lab_config, fresh_database, tmp_path, agent, boss,
                         "stop.pcap") as on:
        supervisor, cap, call, leg = on.supervisor, on.cap, on.call, on.leg
        await asyncio.sleep(STOP_AFTER_S)
        said = await run(on.api_env, "supervise", call, "--stop", "--supervisor",
                         boss.endpoint)
        await supervisor.wait_event("CALL_CLOSED", 5)
        again = await stop_monitoring(lab_config, call, boss.endpoint)
        unknown = str(uuid.uuid4())
        nowhere = await stop_monitoring(lab_config, unknown, boss.endpoint)

    assert f"supervisor {boss.endpoint} stopped (listen" in said, said
    assert again == (409, {"error": f'"supervisor": {boss.endpoint} is supervising the call '
                                    f"{call} from no phone now"}), again
    assert nowhere == (404, {"error": f"no attempt or inbound call {unknown}"}), nowhere

    # Asterisk hung up the supervisor's phone; the agent's leg went on to
    # the call's end, receiving the debtor's greeting after the stop.
    datagrams = read_pcap(cap.path)
    (listened,) = dialogs(datagrams, lab_config.sip_port, supervisor.sip_port)
    (agent_leg,) = dialogs(datagrams, lab_config.sip_port, agent.sip_port)
    assert listened.bye_from_asterisk and listened.end < agent_leg.end - 5, (
        listened.end, agent_leg.end)
    debtor_said = sent(cap.path, lab_config.sip_port, lab_config.pstn_port).by_number(NUMBER)
    (agent_heard,) = received(cap.path, lab_config.sip_port, agent.sip_port)
    start, end = listened.end + 0.5, debtor_said.speech_span[1] - 0.5
    assert end - start > 2.0, (listened.end, debtor_said.speech_span)
    share = share_heard(agent_heard.audio, debtor_said.audio, (start, end - start))
    assert share >= LEAST_SHARE, share

    assert await supervision_events(fresh_database, call) == [
        ("supervision_started", {"supervisor": boss.endpoint, "mode": "listen",
                                 "by": "admin (RECOBRO_API_TOKEN)",
                                 "asterisk": LAB_SERVER, "leg": leg}),
        ("supervision_ended", {"supervisor": boss.endpoint, "mode": "listen",
                               "reason": "stopped", "by": "admin (RECOBRO_API_TOKEN)",
                               "leg": leg})]


async def test_a_supervision_stopped_while_the_supervisors_phone_rings_hangs_it_up(
        lab_config, fresh_database, tmp_path):
    """The supervisor's phone (baresip) rings and nobody takes it; a stop
    cancels it: the phone stops ringing, the call goes on, and the call's
    events say the supervision was stopped, by whom (it never started)."""
    agent, boss = lab_config.agents[0], lab_config.agents[2]
    env = await prepare(lab_config, fresh_database, tmp_path, [NUMBER], [agent.endpoint])
    await run(env, "agent", "login", agent.endpoint)
    api = ApiProcess(lab_config, env)
    await api.start()
    try:
        async with Baresip(lab_config, boss, tmp_path / "supervisor") as supervisor:
            dialer = asyncio.create_task(run(env, "campaign", "run", "shift", "--for", "2"))
            call = await connected_attempt(fresh_database)
            status, body = await monitor(lab_config, call, {
                "mode": "listen", "supervisor": boss.endpoint})
            assert status == 202, body
            await supervisor.wait_incoming(10)
            stopped = await stop_monitoring(lab_config, call, boss.endpoint)
            await supervisor.wait_event("CALL_CLOSED", 5)
            (attempt,) = await fetch(fresh_database, "SELECT ended_at FROM attempts "
                                     f"WHERE id = '{call}'")
            again = await stop_monitoring(lab_config, call, boss.endpoint)
            await dialer
            assert not any(event.type == "CALL_ESTABLISHED" for event in supervisor.events)
    finally:
        await api.stop()

    assert stopped == (200, {"attempt": call, "mode": "listen", "supervisor": boss.endpoint,
                             "line": body["line"], "supervision": "stopped"}), stopped
    assert attempt["ended_at"] is None  # the call went on past the stop
    assert again[0] == 409, again
    assert await supervision_events(fresh_database, call) == [
        ("supervision_ended", {"supervisor": boss.endpoint, "mode": "listen",
                               "reason": "stopped", "by": "admin (RECOBRO_API_TOKEN)",
                               "leg": body["line"]})]


async def test_a_supervision_outlives_an_api_restart_and_is_stopped_by_the_new_api(
        lab_config, fresh_database, tmp_path):
    """A supervisor listens; the test's `recobro api` is stopped (SIGTERM)
    and started again; the new one adopts the supervision left in Asterisk
    and stops it: the supervisor's phone gets Asterisk's BYE, the agent's
    leg lasts to the call's end, and the call's events hold one start and
    one end."""
    agent, boss = lab_config.agents[0], lab_config.agents[2]
    async with listening(lab_config, fresh_database, tmp_path, agent, boss,
                         "restart.pcap") as on:
        supervisor, cap, call, leg = on.supervisor, on.cap, on.call, on.leg
        await on.api.stop()
        await on.api.start()
        stopped = await stop_monitoring(lab_config, call, boss.endpoint)
        await supervisor.wait_event("CALL_CLOSED", 5)

    assert stopped == (200, {"attempt": call, "mode": "listen", "supervisor": boss.endpoint,
                             "line": leg, "supervision": "stopped"}), stopped
    datagrams = read_pcap(cap.path)
    (listened,) = dialogs(datagrams, lab_config.sip_port, supervisor.sip_port)
    (agent_leg,) = dialogs(datagrams, lab_config.sip_port, agent.sip_port)
    assert listened.bye_from_asterisk and listened.end < agent_leg.end - 5, (
        listened.end, agent_leg.end)
    assert await supervision_events(fresh_database, call) == [
        ("supervision_started", {"supervisor": boss.endpoint, "mode": "listen",
                                 "by": "admin (RECOBRO_API_TOKEN)",
                                 "asterisk": LAB_SERVER, "leg": leg}),
        ("supervision_ended", {"supervisor": boss.endpoint, "mode": "listen",
                               "reason": "stopped", "by": "admin (RECOBRO_API_TOKEN)",
                               "leg": leg})]


async def test_a_supervisor_who_hangs_up_while_no_api_runs_is_ended_by_the_next(
        lab_config, fresh_database, tmp_path):
    """A supervisor listens; the test's `recobro api` stops; the supervisor
    hangs up (the snoop and its bridge stay in Asterisk, nobody clears
    them); the next API finds the snoop without its leg, hangs it up,
    destroys the bridge and writes the end: the supervisor hung up."""
    agent, boss = lab_config.agents[0], lab_config.agents[2]
    async with listening(lab_config, fresh_database, tmp_path, agent, boss,
                         "hang-up.pcap") as on:
        call, leg = on.call, on.leg
        await on.api.stop()
        await on.supervisor.hangup()
        await on.supervisor.wait_event("CALL_CLOSED", 5)
        left_channels, left_bridges = await leg_gone(lab_config, leg)
        await on.api.start()
        await wait_for(fresh_database, "SELECT count(*) FROM call_events WHERE kind = "
                       "'supervision_ended'", 1)
        channels, bridges = await supervision_cleared(lab_config, leg)
        (attempt,) = await fetch(fresh_database, "SELECT ended_at FROM attempts "
                                 f"WHERE id = '{call}'")

    snoop = leg + SNOOP_SUFFIX
    assert (leg in left_channels, snoop in left_channels, leg in left_bridges) == (
        False, True, True)
    assert snoop not in channels and leg not in bridges, (channels, bridges)
    assert attempt["ended_at"] is None  # the call went on past the restart
    assert await supervision_events(fresh_database, call) == [
        ("supervision_started", {"supervisor": boss.endpoint, "mode": "listen",
                                 "by": "admin (RECOBRO_API_TOKEN)",
                                 "asterisk": LAB_SERVER, "leg": leg}),
        ("supervision_ended", {"supervisor": boss.endpoint, "mode": "listen",
                               "reason": "supervisor_hung_up", "by": "", "leg": leg})]


async def test_supervisions_whose_legs_went_while_no_api_ran_are_ended_by_the_next(
        lab_config, fresh_database, tmp_path):
    """One supervisor listens and another barges in; the test's `recobro
    api` stops; both supervisors hang up and the debtor too (30 s after
    answering), so Asterisk keeps nothing of either but the listener's
    empty bridge. The next API writes both ends (gone while no API ran)
    and destroys that bridge."""
    agent, boss, boss2 = lab_config.agents[0], lab_config.agents[2], lab_config.agents[1]
    env = await prepare(lab_config, fresh_database, tmp_path, [NUMBER], [agent.endpoint])
    await run(env, "agent", "login", agent.endpoint)
    api = ApiProcess(lab_config, env)
    await api.start()
    try:
        async with Baresip(lab_config, boss, tmp_path / "listener") as listener, \
                Baresip(lab_config, boss2, tmp_path / "barger") as barger:
            call, body, dialer = await listen_in(lab_config, env, fresh_database, boss,
                                                   listener)
            status, barged = await monitor(lab_config, call, {"mode": "barge",
                                                              "supervisor": boss2.endpoint})
            assert status == 202, barged
            await pick_up(barger, 0)
            await wait_for(fresh_database, "SELECT count(*) FROM call_events WHERE kind = "
                           "'supervision_started'", 2)
            await api.stop()
            for phone in (listener, barger):
                await phone.hangup()
                await phone.wait_event("CALL_CLOSED", 5)
            await wait_for(fresh_database, "SELECT ended_at IS NOT NULL FROM attempts "
                           f"WHERE id = '{call}'", True, timeout_s=40)
            await dialer
            left_channels, left_bridges = await channels_and_bridges(lab_config)
            await api.start()
            await wait_for(fresh_database, "SELECT count(*) FROM call_events WHERE kind = "
                           "'supervision_ended'", 2)
            _, bridges = await supervision_cleared(lab_config, body["line"])
    finally:
        await api.stop()

    leg, barge_leg = body["line"], barged["line"]
    assert not {leg, leg + SNOOP_SUFFIX, barge_leg} & left_channels, left_channels
    assert leg in left_bridges and leg not in bridges, (left_bridges, bridges)
    assert await supervision_events(fresh_database, call) == [
        ("supervision_started", {"supervisor": boss.endpoint, "mode": "listen",
                                 "by": "admin (RECOBRO_API_TOKEN)",
                                 "asterisk": LAB_SERVER, "leg": leg}),
        ("supervision_started", {"supervisor": boss2.endpoint, "mode": "barge",
                                 "by": "admin (RECOBRO_API_TOKEN)",
                                 "asterisk": LAB_SERVER, "leg": barge_leg}),
        ("supervision_ended", {"supervisor": boss.endpoint, "mode": "listen",
                               "reason": "gone_while_no_api", "by": "", "leg": leg}),
        ("supervision_ended", {"supervisor": boss2.endpoint, "mode": "barge",
                               "reason": "gone_while_no_api", "by": "", "leg": barge_leg})]


async def test_a_supervision_adopted_after_an_api_restart_ends_with_the_call(
        lab_config, fresh_database, tmp_path):
    """A supervisor listens across an API restart; the debtor hangs up
    (30 s after answering): the new API ends the supervision, the call
    ended, hangs up the supervisor's phone and clears the snoop and its
    bridge."""
    agent, boss = lab_config.agents[0], lab_config.agents[2]
    async with listening(lab_config, fresh_database, tmp_path, agent, boss,
                         "call-ended.pcap") as on:
        call, leg = on.call, on.leg
        await on.api.stop()
        await on.api.start()
        await on.supervisor.wait_event("CALL_CLOSED", 40)
        await wait_for(fresh_database, "SELECT count(*) FROM call_events WHERE kind = "
                       "'supervision_ended'", 1)
        channels, bridges = await supervision_cleared(lab_config, leg)

    assert not {leg, leg + SNOOP_SUFFIX} & channels and leg not in bridges, (channels, bridges)
    assert [(kind, detail["reason"] if kind == "supervision_ended" else "")
            for kind, detail in await supervision_events(fresh_database, call)] == [
        ("supervision_started", ""), ("supervision_ended", "call_ended")]


async def unwrite_start(url: str, leg: str) -> None:
    """Take the supervision's start on leg out of the call's events, as an
    API that went between the leg's answer and writing the start leaves
    them (call_events is append-only: its guard is lifted for this alone)."""
    connection = await asyncpg.connect(url)
    try:
        async with connection.transaction():
            await connection.execute("ALTER TABLE call_events DISABLE TRIGGER "
                                     "call_events_append_only")
            deleted = await connection.execute(
                "DELETE FROM call_events WHERE kind = 'supervision_started' "
                "AND detail ->> 'leg' = $1", leg)
            await connection.execute("ALTER TABLE call_events ENABLE TRIGGER "
                                     "call_events_append_only")
    finally:
        await connection.close()
    assert deleted == "DELETE 1", deleted


async def test_a_supervisor_leg_left_with_no_start_written_is_hung_up_by_the_next_api(
        lab_config, fresh_database, tmp_path):
    """A supervisor listens; the test's `recobro api` stops and the start it
    wrote is taken out of the call's events; the next API does not adopt a
    leg whose start nobody wrote: the supervisor's phone is hung up, the
    snoop and the leg's bridge go, no end is written, and the call goes on
    (the supervisor asks again)."""
    agent, boss = lab_config.agents[0], lab_config.agents[2]
    async with listening(lab_config, fresh_database, tmp_path, agent, boss,
                         "no-start.pcap") as on:
        call, leg = on.call, on.leg
        await on.api.stop()
        await unwrite_start(fresh_database, leg)
        await on.api.start()
        await on.supervisor.wait_event("CALL_CLOSED", 10)
        channels, bridges = await supervision_cleared(lab_config, leg)
        (attempt,) = await fetch(fresh_database, "SELECT ended_at FROM attempts "
                                 f"WHERE id = '{call}'")

    assert not {leg, leg + SNOOP_SUFFIX} & channels and leg not in bridges, (channels, bridges)
    assert attempt["ended_at"] is None  # the call went on past the restart
    assert await supervision_events(fresh_database, call) == []
