"""Faults against the lab: originates Asterisk cannot place end at once and
cost the debtor nothing; PostgreSQL going away stops the dialer in one
line without stranding agents or losing conversations; PostgreSQL
restarting or going silent, and the ARI WebSocket dropping, mid-campaign
lose no outcome and no event, and dialing resumes by itself."""

from __future__ import annotations

import asyncio
import errno
import json
import re
import subprocess
import time
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from dialer.agents.store import AGENT_EVENTS_CHANNEL
from dialer.settings import read_env_file
from lab import postgres
from lab.number_plan import Behaviour, lab_number
from tests.e2e.cli import cli_env, run_cli
from tests.e2e.tcp_cut import CutProxy
from tests.e2e.test_agents import api_url, run, start_api
from tests.e2e.test_campaign import cli, fetch

pytestmark = pytest.mark.lab


@pytest.mark.parametrize("number, trunk", [
    ("abc/def", None),  # a dial string Asterisk cannot use
    (lab_number(Behaviour.ANSWER_AND_STAY, "05"), "no-such-trunk"),  # a trunk it does not know
])
def test_an_originate_asterisk_cannot_place_ends_at_once(lab_config, number, trunk):
    env = {"RECOBRO_ENV_FILE": str(lab_config.env_file)}
    if trunk:
        env["RECOBRO_TRUNK"] = trunk
    began = time.monotonic()
    result = run_cli("call", number, timeout=60, **env)
    took = time.monotonic() - began
    assert result.returncode == 0, result.stderr
    assert "failed, Asterisk could not place it" in result.stdout, result.stdout
    assert took < 10, took  # not the ring timeout's 25 s, nor forever


def test_a_pbx_refusing_calls_holds_the_dialer_and_charges_no_lead(lab_config, fresh_database,
                                                                   tmp_path):
    """Every originate fails before a channel exists (the trunk is missing):
    the dialer holds new calls, backing off, says why, and no lead is
    charged an attempt or kept from being called."""
    url = fresh_database
    rows = ["reference,debtor_name,balance,days_past_due,phone1"]
    rows += [f"P{i},Debtor {i},100,10,"
             f"{lab_number(Behaviour.ANSWER_AND_STAY, '05', i % 10, f'+121255{5 + i // 10}')}"
             for i in range(40)]
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("\n".join(rows) + "\n")
    assert "imported 40 account(s)" in cli(lab_config, url, "accounts", "import",
                                           str(accounts)).stdout
    for agent in lab_config.agents:
        cli(lab_config, url, "agent", "login", agent.endpoint)
    cli(lab_config, url, "campaign", "create", "refused", "--mode", "ratio", "--ratio", "3",
        "--window", "00:00-24:00")
    cli(lab_config, url, "campaign", "start", "refused")
    dialer = subprocess.run(
        ["recobro", "campaign", "run", "refused", "--for", "12"], check=False, capture_output=True,
        text=True, timeout=120, stdin=subprocess.DEVNULL,
        env=cli_env(RECOBRO_ENV_FILE=str(lab_config.env_file), DATABASE_URL=url,
                    RECOBRO_TRUNK="no-such-trunk"))
    assert dialer.returncode == 0, dialer.stderr
    holds = [line for line in dialer.stderr.splitlines() if "did not place a call" in line]
    assert holds and "Traceback" not in dialer.stderr, (dialer.stdout, dialer.stderr)
    attempts = asyncio.run(fetch(url, "SELECT result FROM attempts"))
    assert attempts and {a["result"] for a in attempts} == {"not_placed"}
    # Backing off: each burst's refusals hold new calls, 1 s, then 2, 4...
    # (a burst of the 12 lines before the first hold and after each: four
    # at most in 12 s, where a burst after every refusal's settling, 2 s
    # apart, would make six).
    held_s = [int(re.search(r"no new calls for (\d+) s", line).group(1)) for line in holds]
    assert held_s == [2 ** n for n in range(len(held_s))], holds
    assert len(attempts) <= 12 * (len(holds) + 1), (len(attempts), holds)
    leads = asyncio.run(fetch(url, "SELECT attempts, state FROM leads"))
    assert {(lead["attempts"], lead["state"]) for lead in leads} == {(0, "ready")}
    assert not asyncio.run(fetch(url, "SELECT 1 FROM compliance_refusals"))


async def _notify_reaches(api_url_: str, token: str, database_url: str) -> bool:
    """Whether an agent event sent now reaches agent1001's WebSocket."""
    async with aiohttp.ClientSession() as session, session.ws_connect(
            f"{api_url_}/agents/agent1001/events", params={"token": token}) as socket:
        for _ in range(20):  # the API's listener may still be reconnecting
            connection = await asyncpg.connect(database_url)
            try:
                await connection.execute("SELECT pg_notify($1, $2)", AGENT_EVENTS_CHANNEL,
                                         json.dumps({"agent": "agent1001", "type": "probe"}))
            finally:
                await connection.close()
            try:
                message = await asyncio.wait_for(socket.receive(), 1.0)
            except TimeoutError:
                continue
            return json.loads(message.data)["type"] == "probe"
    return False


async def test_postgres_going_away_stops_the_dialer_in_one_line(lab_config, fresh_database,
                                                                tmp_path):
    """PostgreSQL stops while debtors talk to agents: the dialer stops
    dialing, gives up after its ride-out in one line with a non-zero exit;
    with PostgreSQL back, a rerun frees every agent, the conversations keep
    their result, and the API's agent events flow again."""
    url = fresh_database
    env = cli_env(RECOBRO_ENV_FILE=str(lab_config.env_file), DATABASE_URL=url)
    token = read_env_file(lab_config.env_file)["RECOBRO_API_TOKEN"]
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("reference,debtor_name,balance,days_past_due,phone1\n" + "".join(
        f"O{i},Debtor {i},100,10,{lab_number(Behaviour.ANSWER_AND_STAY, '25', i, '+1212555')}\n"
        for i in range(8)))
    await run(env, "accounts", "import", str(accounts))
    for agent in lab_config.agents:
        await run(env, "agent", "login", agent.endpoint)
    await run(env, "campaign", "create", "outage", "--mode", "progressive", "--window",
              "00:00-24:00", "--wrap-up", "0")
    await run(env, "campaign", "start", "outage")
    api = await start_api(lab_config, env)
    dialer = await asyncio.create_subprocess_exec(
        "recobro", "campaign", "run", "outage", "--for", "60", stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**env, "RECOBRO_DB_RIDE_OUT": "5"})
    try:
        connection = await asyncpg.connect(url)
        try:
            for _ in range(200):
                bridged = await connection.fetch(
                    "SELECT id FROM attempts WHERE connected_at IS NOT NULL")
                if len(bridged) >= 2:
                    break
                await asyncio.sleep(0.1)
        finally:
            await connection.close()
        assert len(bridged) >= 2, "no conversations before the outage"
        await asyncio.to_thread(postgres.stop, lab_config)
        stdout, stderr = await asyncio.wait_for(dialer.communicate(), 60)
    finally:
        await asyncio.to_thread(postgres.start, lab_config)
    try:
        errors = stderr.decode().strip().splitlines()
        assert dialer.returncode == 2, stderr.decode()
        assert errors[-1].startswith("recobro: error: PostgreSQL at ") and \
            "unreachable for" in errors[-1], errors[-1]
        assert "Traceback" not in stderr.decode()
        assert "not dialing until it is back" in stdout.decode()
        assert await _notify_reaches(api_url(lab_config), token, url)
    finally:
        api.terminate()
        await api.wait()
    rerun = await run(env, "campaign", "run", "outage", "--for", "3", timeout=180)
    assert "adopted" in rerun
    results = {r["id"]: r["result"] for r in await _fetch(url, "SELECT id, result FROM attempts")}
    assert all(results[b["id"]] == "conversation" for b in bridged), results
    assert None not in results.values()
    states = {r["state"] for r in await _fetch(url, "SELECT state FROM agents")}
    assert states <= {"ready", "wrap_up", "logged_out"}, states
    for agent in lab_config.agents:
        await run(env, "agent", "logout", agent.endpoint)


async def _fetch(url: str, query: str) -> list:
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetch(query)
    finally:
        await connection.close()


# Debtors who answer, talk 8 s and hang up: two rounds for the lab's four agents.
TALKERS = 8


async def _talking_campaign(lab_config, url: str, tmp_path, name: str, **env_extra: str):
    """A progressive campaign of TALKERS debtors who talk 8 s, the agents
    logged in, and its dialer started (`campaign run --until-idle`: it
    ends once every debtor was dialed and no call is up, however long the
    fault held it; env_extra in its environment) once the four agents talk
    to the first four; the CLI's environment and the dialer's process."""
    env = cli_env(RECOBRO_ENV_FILE=str(lab_config.env_file), DATABASE_URL=url)
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("reference,debtor_name,balance,days_past_due,phone1\n" + "".join(
        f"T{i},Debtor {i},100,10,{lab_number(Behaviour.ANSWER_AND_STAY, '08', i, '+1212555')}\n"
        for i in range(TALKERS)))
    await run(env, "accounts", "import", str(accounts))
    for agent in lab_config.agents:
        await run(env, "agent", "login", agent.endpoint)
    await run(env, "campaign", "create", name, "--mode", "progressive", "--window",
              "00:00-24:00", "--wrap-up", "0")
    await run(env, "campaign", "start", name)
    dialer = await asyncio.create_subprocess_exec(
        "recobro", "campaign", "run", name, "--until-idle", stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**env, **env_extra})
    for _ in range(300):
        bridged = await _fetch(url, "SELECT id FROM attempts WHERE connected_at IS NOT NULL")
        if len(bridged) >= len(lab_config.agents):
            return env, dialer
        await asyncio.sleep(0.1)
    dialer.kill()
    raise AssertionError(f"the agents were not all talking: {len(bridged)} bridged")


async def _each_debtor_once_with_one_result_and_its_hang_up(lab_config, url: str,
                                                            env) -> None:
    """Every debtor was dialed once, talked (one result each), and the
    call's hang-up is in its events; the agents are free again."""
    attempts = await _fetch(url, "SELECT a.id, a.result, c.reference FROM attempts a "
                                 "JOIN accounts c ON c.id = a.account_id")
    assert sorted(a["reference"] for a in attempts) == sorted(f"T{i}" for i in range(TALKERS))
    assert {a["result"] for a in attempts} == {"conversation"}, attempts
    # Exactly one hang-up each, though AMI and ARI both tell of it.
    hung_up = [r["call_id"] for r in await _fetch(
        url, "SELECT call_id FROM call_events WHERE kind = 'call_hung_up'")]
    assert {a["id"] for a in attempts} <= set(hung_up)
    assert all(hung_up.count(a["id"]) == 1 for a in attempts), hung_up
    assert not await _fetch(url, "SELECT 1 FROM calls WHERE ended_at IS NULL")
    states = {r["state"] for r in await _fetch(url, "SELECT state FROM agents")}
    assert states <= {"ready", "wrap_up"}, states
    for agent in lab_config.agents:
        await run(env, "agent", "logout", agent.endpoint)


async def test_postgres_restarted_mid_campaign_loses_no_outcome_and_no_event(
        lab_config, fresh_database, tmp_path):
    """PostgreSQL stops while four debtors talk to the four agents and
    starts again 30 s later (within the default ride-out); they hang up
    meanwhile. The dialer stops
    dialing, keeps the calls' events in memory and their results waiting,
    and resumes by itself: every attempt has exactly one result, no debtor
    is dialed twice, and each call's hang-up, which came during the
    outage, is in its events."""
    url = fresh_database
    env, dialer = await _talking_campaign(lab_config, url, tmp_path, "restart")
    try:
        await asyncio.to_thread(postgres.stop, lab_config)
        await asyncio.sleep(30)  # the debtors hang up after 8 s on the line
    finally:
        await asyncio.to_thread(postgres.start, lab_config)
    stdout, stderr = await asyncio.wait_for(dialer.communicate(), 200)
    out, err = stdout.decode(), stderr.decode()
    assert dialer.returncode == 0, err[-3000:]
    assert "not dialing until it is back" in out and "PostgreSQL is back after" in out, out
    assert "call event(s) that waited are recorded" in err, err[-3000:]
    assert "not recorded" not in err, err[-3000:]
    await _each_debtor_once_with_one_result_and_its_hang_up(lab_config, url, env)


async def test_the_ari_websocket_dropped_mid_campaign_loses_no_call(lab_config, fresh_database,
                                                                   tmp_path):
    """The dialer reaches ARI through a proxy that drops every connection
    and refuses new ones for 5 s while four debtors talk to the agents (a
    network blip): the dialer reconnects by itself and goes on; every
    attempt has exactly one result and its hang-up (AMI told of those of
    the blip), nobody is dialed twice, the agents are freed, and the
    debtors after the blip reach agents too."""
    url = fresh_database
    proxy = await CutProxy(lab_config.ari_port).start()
    try:
        env, dialer = await _talking_campaign(
            lab_config, url, tmp_path, "blip", RECOBRO_ARI_URL=f"http://127.0.0.1:{proxy.port}")
        proxy.cut(5.0)
        _, stderr = await asyncio.wait_for(dialer.communicate(), 200)
    finally:
        await proxy.stop()
    err = stderr.decode()
    assert dialer.returncode == 0, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    # The blip was the dialer's: its ARI events link lost, and back.
    assert re.search(r"ARI events of app \S+ at http://127.0.0.1:\d+ lost", err), err[-3000:]
    assert re.search(r"ARI events of app \S+ at http://127.0.0.1:\d+ back after", err), \
        err[-3000:]
    await _each_debtor_once_with_one_result_and_its_hang_up(lab_config, url, env)


async def test_postgres_silent_for_30_s_mid_campaign_loses_no_outcome_and_no_event(
        lab_config, fresh_database, tmp_path):
    """The dialer reaches PostgreSQL through a proxy that lets nothing
    through for 30 s while four debtors talk to the agents, closing no
    connection (a firewall dropping packets; TCP delivers what waited
    when it heals): the dialer finds its queries unanswered, stops
    dialing, keeps the calls' events in memory and their results waiting,
    and resumes by itself: every attempt has exactly one result, no debtor
    is dialed twice, and each hang-up of the silence is in its events."""
    url = fresh_database
    port = int(url.rsplit(":", 1)[1].split("/", 1)[0])
    proxy = await CutProxy(port).start()
    try:
        env, dialer = await _talking_campaign(
            lab_config, url, tmp_path, "silent",
            DATABASE_URL=url.replace(f":{port}/", f":{proxy.port}/"))
        proxy.silence(30.0)
        stdout, stderr = await asyncio.wait_for(dialer.communicate(), 240)
    finally:
        await proxy.stop()
    out, err = stdout.decode(), stderr.decode()
    assert dialer.returncode == 0, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    # Found by its queries' timeout (RECOBRO_DB_QUERY_TIMEOUT), not a closed socket
    # (the proxy closes none): the timeout itself, or the connection asyncpg
    # closed on it, seen first by a transaction's end or by the next query on it.
    assert re.search(r"PostgreSQL is unreachable \((TimeoutError|cannot call Transaction"
                     r"\.__aexit__\(\): the underlying connection is closed|cannot perform "
                     r"operation: connection is closed)\): not dialing until it is back", out), out
    assert "PostgreSQL is back after" in out, out
    assert "call event(s) that waited are recorded" in err, err[-3000:]
    assert "not recorded" not in err, err[-3000:]
    await _each_debtor_once_with_one_result_and_its_hang_up(lab_config, url, env)


@pytest.mark.parametrize("link", ["ami", "ari"])
async def test_a_silent_asterisk_link_mid_campaign_loses_no_call(lab_config, fresh_database,
                                                                 tmp_path, link):
    """The dialer reaches AMI or ARI through a proxy that lets nothing
    through for 20 s while four debtors talk to the agents, closing no
    connection: the dialer finds the link silent (AMI's ping, ARI's
    WebSocket heartbeat), connects again once it answers, and goes on;
    every attempt has exactly one result and its hang-up, nobody is
    dialed twice, and the debtors after the silence reach agents too."""
    url = fresh_database
    upstream = lab_config.ami_port if link == "ami" else lab_config.ari_port
    proxy = await CutProxy(upstream).start()
    through = ({"RECOBRO_AMI_PORT": str(proxy.port), "RECOBRO_AMI_PING_S": "3"} if link == "ami"
               else {"RECOBRO_ARI_URL": f"http://127.0.0.1:{proxy.port}"})
    try:
        env, dialer = await _talking_campaign(lab_config, url, tmp_path, f"silent-{link}",
                                              **through)
        proxy.silence(20.0)
        _, stderr = await asyncio.wait_for(dialer.communicate(), 240)
    finally:
        await proxy.stop()
    err = stderr.decode()
    assert dialer.returncode == 0, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    assert re.search(rf"{link.upper()}\b.* lost \(", err) and \
        re.search(rf"{link.upper()}\b.* back after", err), err[-3000:]
    await _each_debtor_once_with_one_result_and_its_hang_up(lab_config, url, env)


# A dialer runs in about 140 MB here; one whose stalled link's events piled up
# in memory would pass this.
MEMORY_BOUND_MB = 200


async def _sample_memory(pid: int, samples_kb: list[int]) -> None:
    """Add the process's resident memory (kB) to samples_kb every 0.2 s
    while it runs."""
    status = Path(f"/proc/{pid}/status")
    while True:
        try:
            lines = status.read_text().splitlines()
        except (FileNotFoundError, ProcessLookupError):
            return
        rss = [int(line.split()[1]) for line in lines if line.startswith("VmRSS:")]
        if not rss:  # exited, not yet reaped
            return
        samples_kb += rss
        await asyncio.sleep(0.2)


async def test_ami_stalled_mid_campaign_keeps_memory_bounded_and_loses_no_call(
        lab_config, fresh_database, tmp_path):
    """What Asterisk sends on the dialer's AMI connection stops being read
    for 20 s while four debtors talk to the agents (a proxy takes none of
    it: it waits in the kernel's buffers and at Asterisk, while the
    dialer's own writes still reach Asterisk): the dialer's keepalive Ping
    goes unanswered, it drops the connection, logs in again and
    reconciles, and goes on. Every attempt has exactly one result and its
    hang-up (ARI told of those AMI could not), nobody is dialed twice, the
    debtors after the stall reach agents too, and the dialer's memory
    stays under MEMORY_BOUND_MB throughout."""
    url = fresh_database
    proxy = await CutProxy(lab_config.ami_port).start()
    samples_kb: list[int] = []
    try:
        env, dialer = await _talking_campaign(
            lab_config, url, tmp_path, "stalled", RECOBRO_AMI_PORT=str(proxy.port),
            RECOBRO_AMI_PING_S="3")
        sampler = asyncio.create_task(_sample_memory(dialer.pid, samples_kb))
        proxy.stall(20.0)
        _, stderr = await asyncio.wait_for(dialer.communicate(), 240)
        await sampler
    finally:
        await proxy.stop()
    err = stderr.decode()
    assert dialer.returncode == 0, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    assert re.search(r"AMI\b.* lost \(no answer to a Ping", err) and \
        re.search(r"AMI\b.* back after", err), err[-3000:]
    assert samples_kb, "the dialer's memory was never read"
    peak_mb = max(samples_kb) / 1024
    assert peak_mb < MEMORY_BOUND_MB, peak_mb
    await _each_debtor_once_with_one_result_and_its_hang_up(lab_config, url, env)


def _fill(directory: Path) -> Path:
    """Fill the file system of directory to the last byte; the filler."""
    filler = directory / "filler"
    with open(filler, "wb", buffering=0) as file:
        try:
            while True:
                file.write(b"\0" * 4096)
        except OSError as error:
            assert error.errno == errno.ENOSPC, error
        try:  # the last partial page
            while True:
                file.write(b"\0")
        except OSError as error:
            assert error.errno == errno.ENOSPC, error
    return filler


@pytest.fixture
def small_disk(tmp_path):
    """A directory on a file system of its own, 256 KiB (a tmpfs; the tests
    run as root, as `recobro lab up` needs), unmounted afterwards: lazily,
    should a failed run's dialer still hold a file open on it."""
    directory = tmp_path / "logs"
    directory.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(directory)],
                   check=True)
    yield directory
    subprocess.run(["umount", "--lazy", str(directory)], check=True)


async def test_the_log_disk_full_mid_campaign_loses_no_call(lab_config, fresh_database,
                                                            tmp_path, small_disk):
    """The dialer logs (RECOBRO_LOG_FILE, every AMI message at DEBUG) to a
    small file system that fills up while four debtors talk to the agents,
    and has room again 15 s later: the dialer goes on dialing, says once
    on stderr that it cannot write its log, writes it again once it can
    (first how many lines were lost); every attempt has exactly one result
    and its hang-up (they go to PostgreSQL, not the log), nobody is dialed
    twice, and the debtors after the outage reach agents too."""
    url = fresh_database
    log_file = small_disk / "dialer.log"
    env, dialer = await _talking_campaign(lab_config, url, tmp_path, "disk-full",
                                          RECOBRO_LOG_FILE=str(log_file),
                                          RECOBRO_LOG_LEVEL="DEBUG")
    filler = _fill(small_disk)
    await asyncio.sleep(15)  # the four hang up, four more are dialed and answer
    filler.unlink()
    _, stderr = await asyncio.wait_for(dialer.communicate(), 200)
    log = log_file.read_text(errors="replace")
    err = stderr.decode()
    assert dialer.returncode == 0, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    said = [line for line in err.splitlines() if "cannot write the log file" in line]
    assert len(said) == 1 and str(log_file) in said[0] and \
        "No space left on device" in said[0], err[-3000:]
    lost = re.search(r"(\d+) log line\(s\) lost from .*: .* could not be written "
                     r"\(No space left on device\)\n(.*)", log)
    assert lost and int(lost[1]) > 0 and lost[2], log[-3000:]
    # Written again after the outage: the AMI messages of the calls after it.
    assert "message interpreted" in log[lost.end():], log[-3000:]
    await _each_debtor_once_with_one_result_and_its_hang_up(lab_config, url, env)
