"""The lab itself: agents' softphones register and answer; Asterisk writes
no DTMF anywhere (every listener on loopback: test_lab_hygiene.py)."""

from __future__ import annotations

import aiohttp
import pytest

from dialer.call_command import greeting_engine
from dialer.calls.outcome import CallOutcome
from ivr.greeting import FLOW as GREETING
from lab.number_plan import Behaviour, lab_number

pytestmark = pytest.mark.lab


async def test_agent_softphone_registers_and_answers(lab_config, lab_settings):
    agent = lab_config.agents[0]
    auth = aiohttp.encode_basic_auth(lab_settings.ari.user, lab_settings.ari.password)
    async with aiohttp.ClientSession(headers={"Authorization": auth}) as session:
        url = f"{lab_settings.ari.url}/ari/endpoints/PJSIP/{agent.endpoint}"
        async with session.get(url) as response:
            endpoint = await response.json()
    assert endpoint["state"] == "online"

    async with await greeting_engine(lab_settings) as engine:
        call = await engine.place_call(agent.endpoint, "en", channel=f"PJSIP/{agent.endpoint}", flow=GREETING)
    assert call.outcome is CallOutcome.ANSWERED
    assert call.hangup_cause == 16
    assert call.talk_seconds > 1.0  # the greeting and the goodbye played to the agent


async def test_asterisk_logs_no_dtmf(lab_settings, lab_config):
    async with await greeting_engine(lab_settings) as engine:
        call = await engine.place_call(lab_number(Behaviour.ANSWER_AND_SEND_DTMF, "58"), flow=GREETING)
    assert call.dtmf_count == 2
    logs = [p for p in (lab_config.asterisk_run_dir / "log").rglob("*") if p.is_file()]
    assert logs
    for path in logs:
        text = path.read_text(errors="replace")
        assert "DTMF" not in text.upper(), path
