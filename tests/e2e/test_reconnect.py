"""Links lost and found again. Asterisk crashes mid-call and comes back:
the engine reconnects AMI and ARI by itself, settles the call it lost, and
places calls again. Asterisk freezes (SIGSTOP): the AMI keepalive finds the
link dead within a ping interval and a Ping's answer time, ARI's WebSocket
heartbeat finds its link dead too, and once Asterisk runs again calls are
placed again. The API's screen-pop listener
survives its PostgreSQL connection being terminated."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from dataclasses import replace

import aiohttp
import asyncpg
import pytest

from dialer.agents.events import APPLICATION_NAME
from dialer.agents.store import AGENT_EVENTS_CHANNEL
from dialer.call_command import greeting_engine
from dialer.calls.outcome import CallOutcome
from dialer.settings import read_env_file
from dialer.telephony.ami import PING_ANSWER_S
from dialer.telephony.ari import HEARTBEAT_S
from ivr.greeting import FLOW as GREETING
from lab import asterisk, lab, process
from lab.number_plan import Behaviour, lab_number
from tests.e2e.cli import cli_env, run_cli
from tests.e2e.test_agents import api_url, start_api

pytestmark = pytest.mark.lab

# ARI's WebSocket pings after HEARTBEAT_S without a frame and waits half as
# long for the pong; aiohttp rounds such timeouts up to the next second.
ARI_SILENT_S = HEARTBEAT_S * 1.5 + 1


async def _until(predicate, timeout_s: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_engine_survives_an_asterisk_crash(lab_config, lab_settings):
    settings = replace(lab_settings, ring_timeout_s=4.0)
    async with await greeting_engine(settings) as engine:
        before = await engine.place_call(lab_number(Behaviour.ANSWER_AND_STAY, "20"), flow=GREETING)
        assert before.outcome is CallOutcome.ANSWERED

        in_flight = asyncio.create_task(
            engine.place_call(lab_number(Behaviour.ANSWER_AND_STAY, "30"), flow=GREETING))
        await _until(lambda: any(c.answered_at and not c.ended
                                 for c in engine.calls()), 10)

        pid = asterisk.running_pid(lab_config)
        os.kill(pid, signal.SIGKILL)
        await _until(lambda: not process.alive(pid), 10)
        await _until(lambda: not engine.ami.connected, 10)

        down = await asyncio.to_thread(run_cli, "call", "+15550101200",
                                       RECOBRO_ENV_FILE=str(lab_config.env_file))
        assert down.returncode == 2 and "cannot reach Asterisk AMI" in down.stderr
        assert "Traceback" not in down.stderr

        await asyncio.to_thread(lab.up, lab_config)
        lost = await asyncio.wait_for(in_flight, 30)
        assert lost.outcome is CallOutcome.FAILED and lost.lost

        await _until(lambda: engine.ami.connected, 30)
        after = await asyncio.gather(
            engine.place_call(lab_number(Behaviour.ANSWER_AND_STAY, "20", serial=1), flow=GREETING),
            engine.place_call(lab_number(Behaviour.BUSY, "00", serial=1), flow=GREETING))
        assert [c.outcome for c in after] == [CallOutcome.ANSWERED, CallOutcome.BUSY]

    connection = await asyncpg.connect(settings.database_url)
    try:
        for call in (before, lost, *after):
            row = await connection.fetchrow(
                "SELECT state, outcome FROM calls WHERE id = $1::uuid", call.call_id)
            assert (row["state"], row["outcome"]) == ("ended", call.outcome.value)
        kinds = await connection.fetch(
            "SELECT kind FROM call_events WHERE call_id = $1::uuid", lost.call_id)
        assert [r["kind"] for r in kinds].count("call_lost") == 1
    finally:
        await connection.close()


async def test_a_frozen_asterisk_is_found_by_the_keepalives_and_calls_resume(lab_config,
                                                                            lab_settings):
    ping_s = 2.0
    settings = replace(lab_settings, ring_timeout_s=8.0,
                       ami=replace(lab_settings.ami, ping_s=ping_s))
    async with await greeting_engine(settings) as engine:
        before = await engine.place_call(lab_number(Behaviour.ANSWER_AND_STAY, "20"),
                                         flow=GREETING)
        assert before.outcome is CallOutcome.ANSWERED
        sessions = engine.ami.session

        loop = asyncio.get_running_loop()
        pid = asterisk.running_pid(lab_config)  # from the lab's PID file, never by name
        os.kill(pid, signal.SIGSTOP)
        try:
            frozen_at = loop.time()
            await _until(lambda: not engine.ami.connected, ping_s + PING_ANSWER_S + 5)
            ami_found_in = loop.time() - frozen_at
            await _until(lambda: not engine.ari.connected, ARI_SILENT_S + 5)
            ari_found_in = loop.time() - frozen_at
        finally:
            os.kill(pid, signal.SIGCONT)
        # Within a ping interval and a Ping's answer time (and a little for
        # a loaded machine), not at TCP's own timeouts (minutes).
        assert ami_found_in <= ping_s + PING_ANSWER_S + 1.5, ami_found_in
        assert ari_found_in <= ARI_SILENT_S + 1.5, ari_found_in

        await _until(lambda: engine.ami.connected and engine.ari.connected, 30)
        assert engine.ami.session == sessions + 1
        after = await engine.place_call(lab_number(Behaviour.ANSWER_AND_STAY, "20", serial=2),
                                        flow=GREETING)
        assert after.outcome is CallOutcome.ANSWERED


async def _listener(connection: asyncpg.Connection, other_than: int | None = None) -> int:
    """The PID of the API's LISTEN connection (another one than other_than),
    once it has said LISTEN."""
    for _ in range(200):
        pid = await connection.fetchval(
            "SELECT pid FROM pg_stat_activity WHERE application_name = $1 "
            "AND datname = current_database() AND query LIKE 'LISTEN%' AND pid <> $2",
            APPLICATION_NAME, other_than or 0)
        if pid is not None:
            return pid
        await asyncio.sleep(0.05)
    raise AssertionError("the API is not listening for agents' events")


async def test_the_screen_pop_listener_survives_its_connection_being_terminated(
        lab_config, fresh_database):
    env = cli_env(RECOBRO_ENV_FILE=str(lab_config.env_file), DATABASE_URL=fresh_database)
    token = read_env_file(lab_config.env_file)["RECOBRO_API_TOKEN"]
    api = await start_api(lab_config, env)
    try:
        connection = await asyncpg.connect(fresh_database)
        try:
            async with aiohttp.ClientSession() as session, session.ws_connect(
                    f"{api_url(lab_config)}/agents/agent1001/events",
                    params={"token": token}) as socket:
                first = await _listener(connection)
                assert await connection.fetchval("SELECT pg_terminate_backend($1)", first)
                await _listener(connection, other_than=first)
                sent = {"agent": "agent1001", "type": "probe"}
                await connection.execute("SELECT pg_notify($1, $2)", AGENT_EVENTS_CHANNEL,
                                         json.dumps(sent))
                message = await asyncio.wait_for(socket.receive(), 5)
                assert json.loads(message.data) == sent
        finally:
            await connection.close()
    finally:
        api.terminate()
        await api.wait()
    said = (await api.stderr.read()).decode()
    assert "agent events LISTEN on PostgreSQL lost (" in said, said
    assert "agent events LISTEN on PostgreSQL back after" in said, said
    assert "Traceback" not in said, said
