"""Real calls through Asterisk to the sipp PSTN, checked in PostgreSQL."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import asyncpg
import pytest

from dialer.call_command import greeting_engine
from dialer.calls.outcome import CallOutcome
from ivr.greeting import FLOW as GREETING
from lab.number_plan import Behaviour, lab_number
from tests.e2e.cli import cli_env

pytestmark = pytest.mark.lab

RING_TIMEOUT_S = 4.0

# number plan entry -> (outcome, hangup causes Asterisk may report)
EXPECTED = {
    (Behaviour.ANSWER_AND_STAY, "20"): (CallOutcome.ANSWERED, {16}),
    (Behaviour.ANSWER_AND_STAY, "01"): (CallOutcome.CALLEE_HUNG_UP, {0, 16}),
    (Behaviour.ANSWER_AND_HANG_UP, "00"): (CallOutcome.CALLEE_HUNG_UP, {0, 16}),
    (Behaviour.ANSWER_AND_SEND_DTMF, "47"): (CallOutcome.ANSWERED, {16}),
    (Behaviour.BUSY, "00"): (CallOutcome.BUSY, {17}),
    (Behaviour.NO_ANSWER, "00"): (CallOutcome.NO_ANSWER, {19}),
    (Behaviour.CONGESTION, "00"): (CallOutcome.FAILED, {34}),
    (Behaviour.UNALLOCATED, "00"): (CallOutcome.FAILED, {1}),
}
CALLS_PER_ENTRY = 3


async def test_calls_across_the_number_plan_are_classified_and_stored(lab_settings):
    settings = replace(lab_settings, ring_timeout_s=RING_TIMEOUT_S)
    plan = [(entry, lab_number(entry[0], entry[1], serial=i))
            for entry in EXPECTED for i in range(CALLS_PER_ENTRY)]
    async with await greeting_engine(settings) as engine:
        calls = await asyncio.wait_for(
            asyncio.gather(*(engine.place_call(number, "en", flow=GREETING) for _, number in plan)), 90)
    assert len(calls) >= 20

    connection = await asyncpg.connect(settings.database_url)
    try:
        for (entry, number), call in zip(plan, calls, strict=True):
            outcome, causes = EXPECTED[entry]
            row = await connection.fetchrow("SELECT * FROM calls WHERE id = $1::uuid",
                                            call.call_id)
            where = f"{number} ({entry[0].name})"
            assert row["number"] == number
            assert row["state"] == "ended", where
            assert row["outcome"] == outcome.value, where
            assert row["hangup_cause"] in causes, where
            assert row["ring_seconds"] is not None and row["ring_seconds"] >= 0, where
            kinds = [r["kind"] for r in await connection.fetch(
                "SELECT kind FROM call_events WHERE call_id = $1::uuid ORDER BY id",
                call.call_id)]
            assert kinds[0] == "call_originated", where
            assert "call_hung_up" in kinds, where
            if outcome in (CallOutcome.ANSWERED, CallOutcome.CALLEE_HUNG_UP):
                assert row["answered_at"] is not None and row["talk_seconds"] >= 0, where
                assert "call_entered_app" in kinds, where
            else:
                assert row["answered_at"] is None and row["talk_seconds"] is None, where
            if outcome is CallOutcome.ANSWERED:
                assert row["hung_up_by_app"] and "hangup_requested" in kinds, where
            if entry[0] is Behaviour.NO_ANSWER:
                assert "call_ringing" in kinds, where
                # Asterisk's dial timeout runs from the dial, which a busy
                # machine starts a second or more after the originate: never
                # given up before the timeout, and no later than just after
                # it on Asterisk's own clock, counted from the ringing.
                assert row["ring_seconds"] >= RING_TIMEOUT_S - 0.1, where
                rang_s = (row["ended_at"] - row["ringing_at"]).total_seconds()
                assert rang_s <= RING_TIMEOUT_S + 0.5, where
            if entry[0] is Behaviour.ANSWER_AND_SEND_DTMF:
                assert row["dtmf_count"] == 2, where
        # The digits keyed were counted, never stored.
        assert await connection.fetchval(
            "SELECT count(*) FROM call_events WHERE detail ? 'digit'") == 0
    finally:
        await connection.close()


async def test_call_events_are_append_only(lab_settings):
    connection = await asyncpg.connect(lab_settings.database_url)
    try:
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await connection.execute("UPDATE call_events SET kind = kind")
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await connection.execute("DELETE FROM call_events")
    finally:
        await connection.close()


async def test_spanish_call_through_the_cli(lab_config, lab_settings):
    process = await asyncio.create_subprocess_exec(
        "recobro", "call", lab_number(Behaviour.ANSWER_AND_STAY, "30"), "--language", "es",
        env=cli_env(RECOBRO_ENV_FILE=str(lab_config.env_file)),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    assert ": answered, cause 16 (Normal Clearing)" in out.decode()
