"""Agent-assisted payment with DTMF suppression, against the lab (issue 14):
a debtor calling in reaches a sipp agent, whose WebSocket gets the inbound
call's screen pop; the agent, through the API and with the id the pop
gave, hands the debtor to the payment capture and stays on the line; the
debtor keys a Stripe test card over RFC 4733, and confirms while the
read-back still says the card's last four, a prompt Asterisk will not
stop (ARI answers 500): the capture goes on, Asterisk logs nothing
amiss, and localstripe approves the card over HTTP.
What the agent's phone received is captured on loopback (tcpdump): no
telephone-event for any of the debtor's keys during the capture, no DTMF
digit in its audio (Goertzel), a masking tone for each key; nor any digit
in the call's recording; the agent's progress events hold no card data;
afterwards the two are still bridged, and a key is passed on again. An
outbound agent campaign's debtor (the lab's keying debtor of key script
05) pays the same way, the agent still bridged afterwards, and no
artefact of the run holds the card. The inbound test runs three ways: the
sipp agent rung for the call, the sipp agent on a session (issue 18: the
debtor joins the session line's bridge and stays in it for the capture;
the line is still up, alone in its bridge, after the call), and a real
softphone (baresip) on a session, its call answered after a person's
delay; the outbound one with the sipp agent on a session. The card digits
live in tests/ only."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import threading
import uuid

import aiohttp
import asyncpg
import numpy as np
import pytest

from dialer.settings import read_env_file
from lab import key_scripts, sipp
from lab.number_plan import Behaviour, lab_number
from tests.audio import (
    Audio,
    Capture,
    capture_lab,
    dtmf_tones,
    read_wav,
    received,
    sent,
)
from tests.audio.analysis import goertzel_power
from tests.audio.capture import lab_ports
from tests.e2e.artefacts import KeyedCard, assert_no_card_data
from tests.e2e.cli import cli_env, run_cli
from tests.e2e.softphone import Baresip
from tests.e2e.test_agent_sessions import answer_like_a_person, ask_for_session
from tests.e2e.test_agents import api_url, start_api
from tests.e2e.test_payments import (
    APPROVED_CARD,
    CVV,
    EXPIRY,
    keyed_card,
    pause,
    payment_desk,
)

pytestmark = pytest.mark.lab

CALLER = "+12125550186"  # Marta: high risk, so straight to an agent
ACCOUNTS = ("reference,debtor_name,balance,days_past_due,risk_score,language,phone1\n"
            "AS-1,Marta,180.25,30,0.7,es,+12125550186\n")
AGENT = "agent1001"
# The agent asks for the payment as soon as the call is connected (about
# 2 s in); the debtor keys 1 (the full balance) once the menu has started.
# The confirmation's 1 comes while the read-back says the card's last four
# (`digits:`, about 4.5 to 8.5 s after the CVV's last key; test_payments'
# CONFIRM waits for the menu after the read-back): a key during a prompt
# Asterisk will not stop (ivr.runner._stop).
CONFIRM_DURING_LAST_FOUR = f"{pause(6)}1"
CAPTURE_KEYS = "1" + keyed_card(APPROVED_CARD) + CONFIRM_DURING_LAST_FOUR
AFTER_KEY = "9"  # pressed once the capture is over: the agent gets it again
KEYS = pause(8) + CAPTURE_KEYS + pause(40) + AFTER_KEY
# The debtor hangs up this long after the AFTER_KEY (its events take 0.2 s).
AFTER_THE_LAST_KEY_S = 8.0
# ivr.runner's line when Asterisk refuses to stop a prompt a key interrupted.
NOT_STOPPED = re.compile(r"ivr\.runner: call \S+: playback \S+ not stopped: .*"
                         r"500 .*Could not stop playback")
MASK_HZ = 1000.0  # dialer.payments.assisted.MASK_TONE
# The lab's keying debtor of an agent campaign (tests/fixtures/demo_cards.toml).
PAYS_WITH_AGENT = key_scripts.load()["05"]


# A tone's dropout this short does not end its burst: on a loaded machine
# one key's mask was heard broken by 80 ms of silence. Nor may two masks
# merge: at 160 ms two of a CI run's 26 did (a mask stopped late), which
# 120 ms told apart, and 100 ms split one of them again.
BURST_GAP_BLOCKS = 6  # 120 ms


def tone_bursts(audio: Audio, frequency: float, block: int = 160) -> list[float]:
    """Starts (seconds into audio) of bursts where one tone holds most of
    the audio's energy: Goertzel power per 20 ms block against the block's
    own energy; a burst ends after BURST_GAP_BLOCKS blocks without it."""
    samples = audio.samples.astype(np.float64)
    count = len(samples) // block
    blocks = samples[:count * block].reshape(count, block)
    power = 2 * goertzel_power(blocks, [frequency], audio.rate)[:, 0] / block ** 2
    energy = np.mean(blocks ** 2, axis=1)
    loud = np.flatnonzero((power > 0.5 * energy) & (energy > 1e4))
    starts = [int(i) for n, i in enumerate(loud) if n == 0 or i - loud[n - 1] > BURST_GAP_BLOCKS]
    return [i * block / audio.rate for i in starts]


async def wait_for(connection: asyncpg.Connection, query: str, *args: object,
                   tries: int = 1500) -> asyncpg.Record:
    for _ in range(tries):
        row = await connection.fetchrow(query, *args)
        if row is not None:
            return row
        await asyncio.sleep(0.1)
    raise AssertionError(f"never came: {query}")


async def wait_for_event(events: list[dict], kind: str, tries: int = 1500) -> dict:
    """The first event of type kind the agent's WebSocket has carried."""
    for _ in range(tries):
        found = next((e for e in events if e.get("type") == kind), None)
        if found is not None:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"no {kind} event came: {events}")


@pytest.mark.parametrize("way", ["rung", "session", "softphone"])
async def test_the_agent_hands_the_debtor_to_the_capture_and_hears_no_digit(
        lab_config, asterisk_log, fresh_database, tmp_path, way):
    """way: the sipp agent rung for the call; the sipp agent on a session
    (its line held open in a bridge of its own, which the debtor joins and
    stays in for the capture); or baresip (agent1004) on a session, its
    session call answered by hand. On a session, after the call the line
    is still up, alone in its bridge, the session open."""
    url = fresh_database
    logged_from = asterisk_log.offset()
    settings = read_env_file(lab_config.env_file)
    env = cli_env(RECOBRO_ENV_FILE=str(lab_config.env_file), DATABASE_URL=url)
    agent = lab_config.agents[3] if way == "softphone" else \
        next(a for a in lab_config.agents if a.endpoint == AGENT)
    for args in (("agent", "skills", agent.endpoint, "--skills", "language:es=5"),
                 *((("agent", "login", agent.endpoint),) if way == "rung" else ())):
        result = run_cli(*args, RECOBRO_ENV_FILE=str(lab_config.env_file), DATABASE_URL=url)
        assert result.returncode == 0, result.stderr
    token = settings["RECOBRO_API_TOKEN"]
    headers = {"Authorization": f"Bearer {token}"}
    ari = {"Authorization": aiohttp.encode_basic_auth(settings["RECOBRO_ARI_USER"],
                                                      settings["RECOBRO_ARI_PASSWORD"])}
    events: list[dict] = []
    answers: list[str] = []  # every API answer of the run
    async with contextlib.AsyncExitStack() as phones:
        phone = await phones.enter_async_context(
            Baresip(lab_config, agent, tmp_path / "baresip")) if way == "softphone" else None
        with payment_desk(lab_config, url, tmp_path, ACCOUNTS), \
                capture_with(lab_config, phone, tmp_path / "assisted.pcap") as capture:
            api = await start_api(lab_config, env)
            connection = await asyncpg.connect(url)
            try:
                line = None if way == "rung" else \
                    await open_session(lab_config, connection, agent.endpoint, phone)
                pop, call, bridge, after, refusals = await hand_over_and_pay(
                    lab_config, url, settings, headers, ari, connection, agent.endpoint,
                    line, events, answers)
            finally:
                await connection.close()
                api.terminate()
                await api.wait()
    logged_to = asterisk_log.offset()
    # The screen pop: the inbound call, the account the caller was
    # identified as (by caller ID), before the agent's phone rang.
    assert (pop["kind"], pop["agent"], pop["reference"], pop["debtor_name"], pop["balance"],
            pop["number"], pop["identified_by"]) == (
        "inbound", agent.endpoint, "AS-1", "Marta", "180.25", CALLER, "caller_id"), pop
    assert "attempt" not in pop and pop["last_interactions"] == []
    assert refusals["ended"] == (409, f"the call of {call['id']} has ended")
    assert refusals["unknown"][0] == 404 and "no attempt or inbound call" in \
        refusals["unknown"][1]
    # Both still connected after the capture: the debtor's channel and the
    # agent's leg (its session line) in the bridge; the line stays up,
    # alone in its bridge, after the call.
    assert set(bridge["channels"]) == {
        call["channel"], line or f"{call['channel']}-{agent.endpoint}"}, bridge
    if line is not None:
        assert after == ([line], True), after
    rows = await asyncpg_fetch(url, "SELECT c.outcome, c.brand, c.last4, c.gateway_reference, "
                                    "c.amount, a.status AS attempt FROM payment_captures c "
                                    "JOIN payment_attempts a ON a.capture_id = c.capture_id")
    [paid] = rows
    assert (paid["outcome"], paid["brand"], paid["last4"], paid["attempt"]) == (
        "paid", "visa", "4242", "approved")
    assert paid["gateway_reference"].startswith("pi_") and float(paid["amount"]) == 180.25
    (tmp_path / "agent-events.json").write_text(json.dumps(events, indent=1))
    # The confirmation's key came during the last four, which Asterisk
    # refused to stop: the flow took the key all the same (the payment above
    # was confirmed by it), nothing in the desk failed, and Asterisk logged
    # no error or warning for the call.
    desk_log = (tmp_path / "desk.log").read_text()
    assert NOT_STOPPED.search(desk_log), "no prompt was left playing by a key"
    assert "Traceback" not in desk_log and " ERROR " not in desk_log
    assert asterisk_log.problems(logged_from, logged_to) == []
    # The debtor's keys left the phone as RFC 4733 events.
    [marta] = sent(capture.path, lab_config.sip_port, lab_config.port_base + 97)
    assert marta.keys == CAPTURE_KEYS.replace(",", "") + AFTER_KEY
    # What the agent's phone received: no telephone-event of the capture's
    # keys (the one after it passed, the bridge as before), no DTMF digit
    # in its audio either, and a masking tone for each key of the capture.
    [heard] = received(capture.path, lab_config.sip_port,
                       phone.sip_port if phone else agent.sip_port)
    assert heard.keys == AFTER_KEY
    assert heard.tone_keys == ""
    assert len(tone_bursts(heard.audio, MASK_HZ)) == len(CAPTURE_KEYS.replace(",", ""))
    # The recording: muted for the capture and resumed, and no digit in it.
    recording = lab_config.asterisk_run_dir / "spool" / "monitor" / \
        f"recobro-{call['channel']}.wav"
    recorded = read_wav(recording)
    assert len(recorded.samples) > 10 * recorded.rate  # the whole call, its capture muted
    assert dtmf_tones(recorded) == []
    muted = await asyncpg_fetch(url, "SELECT detail FROM call_events WHERE kind = "
                                     "'recording_muted' ORDER BY at")
    assert [json.loads(r["detail"])["muted"] for r in muted] == [True, False]
    # The agent saw the capture's progress, and no card data.
    progress = [e for e in events if e.get("type") == "payment"]
    texts = [e["text"] for e in progress]
    assert "card number: 16 digits" in texts and "expiry: done" in texts, texts
    assert texts[-1] == f"approved: visa ending 4242, reference {paid['gateway_reference']}"
    for event in progress:
        # Beside the ids of the call and the gateway's reference, at most
        # the amount, a count of digits and the last four: no card data.
        shown = json.dumps([v for k, v in event.items()
                            if k not in ("call", "attempt", "agent", "reference", "last4")])
        assert not re.search(r"\d{3}", re.sub(r"180\.25|ending 4242|\d{2} digits", "", shown)), \
            event
        for secret in (APPROVED_CARD, EXPIRY, CVV):
            assert secret not in shown, event
    # Nor in any artefact of the run: the database, the desk's log,
    # Asterisk's logs, CDRs and CEL, the recordings, every API answer and
    # WebSocket message.
    assert_no_card_data(lab_config, url, [KeyedCard(APPROVED_CARD, EXPIRY, CVV)],
                        logs=[tmp_path / "desk.log"],
                        messages=answers + [json.dumps(e) for e in events])


def capture_with(lab_config, phone: Baresip | None, path) -> Capture:
    """The lab's UDP, and the softphone's when there is one."""
    if phone is None:
        return capture_lab(lab_config, path)
    ports, ranges = lab_ports(lab_config)
    return Capture([*ports, phone.sip_port], path, ranges=[*ranges, phone.rtp_ports])


async def hand_over_and_pay(lab_config, url: str, settings: dict[str, str],
                            headers: dict[str, str], ari: dict[str, str],
                            connection: asyncpg.Connection,
                            endpoint: str, line: str | None, events: list[dict],
                            answers: list[str]) -> tuple[dict, asyncpg.Record, dict,
                                                         tuple[list[str], bool] | None, dict]:
    """Marta calls in and reaches endpoint (on its session line, or rung);
    the agent, knowing the call by its screen pop, asks for the payment
    once connected; she pays and hangs up. The pop, the inbound call, the
    agent's bridge once the capture handed her back, the session line's
    bridge and state after the call (end_shift; None when rung), and the
    API's refusals of a payment for the ended call and an unknown one.
    Every API answer and WebSocket message goes into answers and events."""
    async with aiohttp.ClientSession(headers=headers) as session:
        socket = await session.ws_connect(f"{api_url(lab_config)}/agents/{endpoint}/events")
        listening = asyncio.create_task(_collect(socket, events))
        debtor = threading.Thread(target=sipp.call_in, args=(lab_config, CALLER),
                                  kwargs={"keys": KEYS, "stay_s": sipp.stay_after_keys(
                                      KEYS, AFTER_THE_LAST_KEY_S)})
        debtor.start()
        # The agent knows the call by its screen pop, sent before the
        # phone rings; the payment is asked for once it is connected.
        pop = await wait_for_event(events, "screen_pop")
        call = await wait_for(connection, "SELECT id, channel FROM inbound_calls "
                                          "WHERE connected_at IS NOT NULL")
        assert pop["inbound_call"] == str(call["id"]), pop
        async with session.post(
                f"{api_url(lab_config)}/attempts/{pop['inbound_call']}/payment") as response:
            answers.append(await response.text())
            assert response.status == 202, answers[-1]
            assert (await response.json())["agent"] == endpoint
        await wait_for(connection, "SELECT 1 FROM payment_captures")
        await asyncio.sleep(3.0)  # the capture has handed the debtor back
        bridge = await ari_bridge(settings, ari, line or call["channel"])
        await asyncio.to_thread(debtor.join, 160)
        await wait_for(connection, "SELECT 1 FROM inbound_calls WHERE ended_at IS NOT NULL")
        after = None if line is None else await end_shift(
            lab_config, url, connection, settings, ari, line, endpoint)
        refusals = {}
        for name, attempt in (("ended", call["id"]), ("unknown", uuid.uuid4())):
            async with session.post(f"{api_url(lab_config)}/attempts/{attempt}/payment"
                                    ) as response:
                answers.append(await response.text())
                refusals[name] = (response.status, (await response.json())["error"])
        listening.cancel()
    return pop, call, bridge, after, refusals


async def open_session(lab_config, connection: asyncpg.Connection, endpoint: str = AGENT,
                       phone: Baresip | None = None) -> str:
    """endpoint's session, asked of the test's API: a sipp agent answers its
    call at once, a softphone (phone) after a person's delay; once it is
    ready on it, the line's channel."""
    line = await ask_for_session(lab_config, endpoint)
    if phone is not None:
        await answer_like_a_person(phone)
    await wait_for(connection, "SELECT 1 FROM agents WHERE endpoint = $1 AND state = 'ready'",
                   endpoint)
    return line


async def end_shift(lab_config, url: str, connection: asyncpg.Connection,
                    settings: dict[str, str], ari: dict[str, str], line: str,
                    endpoint: str = AGENT) -> tuple[list[str], bool]:
    """Once the debtor's call is over: the channels in the bridge of
    endpoint's session line and whether the session is still open; then
    the agent is logged out (the test's API closes the session and hangs
    the line up)."""
    await asyncio.sleep(1.0)  # the call's tear-down
    channels = (await ari_bridge(settings, ari, line))["channels"]
    still_open = await connection.fetchval(
        "SELECT closed_at IS NULL FROM agent_sessions WHERE channel = $1", line)
    result = run_cli("agent", "logout", endpoint, RECOBRO_ENV_FILE=str(lab_config.env_file),
                     DATABASE_URL=url)
    assert result.returncode == 0, result.stderr
    await wait_for(connection, "SELECT 1 FROM agent_sessions WHERE channel = $1 AND "
                               "close_reason = 'logged_out'", line)
    return channels, still_open


async def ari_bridge(settings: dict[str, str], ari: dict[str, str], bridge: str) -> dict:
    """Asterisk's view of a bridge (ARI), its channels among it."""
    async with aiohttp.ClientSession(headers=ari) as asterisk, asterisk.get(
            f"{settings['RECOBRO_ARI_URL']}/ari/bridges/{bridge}") as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def _collect(socket: aiohttp.ClientWebSocketResponse, into: list[dict]) -> None:
    async for message in socket:
        into.append(json.loads(message.data))


async def asyncpg_fetch(url: str, query: str) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetch(query)
    finally:
        await connection.close()


async def test_an_outbound_agent_on_a_session_hands_the_debtor_over_who_pays_still_bridged(
        lab_config, fresh_database, tmp_path):
    """The dialer that placed the call (its own Stasis application) takes
    the request: the debtor (the lab's keying debtor of an agent campaign,
    key script 05: waits with the agent, then keys the amount option and a
    test Visa over RFC 4733) pays through localstripe while the agent
    stays on the line; afterwards the two are still in the agent's session
    line's bridge, the line stays up alone in it after the call, and no
    artefact of the run holds the card. (The inbound test runs both ways:
    the agent on a session and rung per call.)"""
    url = fresh_database
    settings = read_env_file(lab_config.env_file)
    env = cli_env(RECOBRO_ENV_FILE=str(lab_config.env_file), DATABASE_URL=url)
    accounts = tmp_path / "accounts.csv"
    accounts.write_text(
        "reference,debtor_name,balance,days_past_due,language,phone1\n"
        f"{PAYS_WITH_AGENT.account},Debtor,250.00,10,es,"
        f"{lab_number(Behaviour.ANSWER_AND_KEY_SCRIPT, PAYS_WITH_AGENT.number, prefix='+1212555')}\n")
    for args in (("accounts", "import", str(accounts)),
                 ("campaign", "create", "assist", "--mode", "progressive", "--window",
                  "00:00-24:00", "--wrap-up", "0", "--instalments", "none", "--promise-days",
                  "none"), ("campaign", "start", "assist")):
        result = run_cli(*args, RECOBRO_ENV_FILE=str(lab_config.env_file), DATABASE_URL=url)
        assert result.returncode == 0, result.stderr
    headers = {"Authorization": f"Bearer {settings['RECOBRO_API_TOKEN']}"}
    ari = {"Authorization": aiohttp.encode_basic_auth(settings["RECOBRO_ARI_USER"],
                                                      settings["RECOBRO_ARI_PASSWORD"])}
    api = await start_api(lab_config, env)
    desk_log = tmp_path / "desk.log"
    events: list[dict] = []
    responses: list[str] = []
    connection = await asyncpg.connect(url)
    try:
        line = await open_session(lab_config, connection)
        with desk_log.open("w") as log:
            dialer = await asyncio.create_subprocess_exec(
                "recobro", "campaign", "run", "assist", "--for", "3",
                env={**env, "RECOBRO_LOG_LEVEL": "DEBUG"}, stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL, stderr=log)
        async with aiohttp.ClientSession(headers=headers) as session:
            socket = await session.ws_connect(f"{api_url(lab_config)}/agents/{AGENT}/events")
            listening = asyncio.create_task(_collect(socket, events))
            attempt = await wait_for(connection, "SELECT id FROM attempts "
                                                 "WHERE connected_at IS NOT NULL")
            async with session.post(f"{api_url(lab_config)}/attempts/{attempt['id']}/payment"
                                    ) as response:
                responses.append(await response.text())
                assert response.status == 202, responses[-1]
            await wait_for(connection, "SELECT 1 FROM payment_captures")
            await asyncio.sleep(3.0)  # the capture has handed the debtor back
            bridge = await ari_bridge(settings, ari, line)
            await asyncio.wait_for(dialer.wait(), 240)
            assert dialer.returncode == 0, desk_log.read_text()[-3000:]
            after = await end_shift(lab_config, url, connection, settings, ari, line)
            listening.cancel()
    finally:
        await connection.close()
        api.terminate()
        await api.wait()
    (tmp_path / "agent-events.json").write_text(json.dumps(events, indent=1))
    call = str(attempt["id"])
    # Both still connected after the capture: the debtor's channel and the
    # agent's session line in the line's bridge; the line stays up, alone
    # in its bridge, after the call.
    assert set(bridge["channels"]) == {call, line}, bridge
    assert after == ([line], True), after
    requested = await asyncpg_fetch(url, "SELECT kind, detail FROM call_events "
                                         "WHERE kind = 'payment_requested'")
    assert [json.loads(r["detail"]) for r in requested] == [{"agent": AGENT}]
    # The ledger: paid in full by the test Visa, on this call.
    [paid] = await asyncpg_fetch(
        url, "SELECT c.outcome, c.call_id, c.brand, c.last4, c.amount, c.gateway_reference, "
             "a.status AS attempt, n.balance, n.status FROM payment_captures c "
             "JOIN payment_attempts a ON a.capture_id = c.capture_id "
             "JOIN accounts n ON n.id = c.account_id")
    assert (paid["outcome"], str(paid["call_id"]), paid["brand"], paid["last4"],
            paid["attempt"]) == ("paid", call, "visa", "4242", "approved")
    assert float(paid["amount"]) == 250.0 and paid["gateway_reference"].startswith("pi_")
    assert (paid["balance"], paid["status"]) == (0, "paid")
    [result] = await asyncpg_fetch(url, "SELECT result, agent FROM attempts")
    assert (result["result"], result["agent"]) == ("conversation", AGENT), dict(result)
    muted = await asyncpg_fetch(url, "SELECT detail FROM call_events WHERE kind = "
                                     "'recording_muted' ORDER BY at")
    assert [json.loads(r["detail"])["muted"] for r in muted] == [True, False]
    steps = [e["text"] for e in events if e.get("type") == "payment"]
    assert steps[0].startswith("capture: started"), steps
    assert steps[-1] == f"approved: visa ending 4242, reference {paid['gateway_reference']}", \
        steps
    # No artefact holds the card: the database, the dialer's log, Asterisk's
    # logs, CDRs and CEL, the recordings, the gateway's log, and what the
    # API answered and the agent's WebSocket carried.
    assert_no_card_data(lab_config, url, [KeyedCard(APPROVED_CARD, EXPIRY, CVV)],
                        logs=[desk_log], messages=[*responses, *map(json.dumps, events)])
