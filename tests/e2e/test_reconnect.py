"""Asterisk crashes mid-call and comes back: the engine reconnects AMI and
ARI by itself, settles the call it lost, and places calls again."""

from __future__ import annotations

import asyncio
import os
import signal
from dataclasses import replace

import asyncpg
import pytest

from dialer.call_command import greeting_engine
from dialer.calls.outcome import CallOutcome
from ivr.greeting import FLOW as GREETING
from lab import asterisk, lab, process
from lab.number_plan import Behaviour, lab_number
from tests.e2e.cli import run_cli

pytestmark = pytest.mark.lab


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
