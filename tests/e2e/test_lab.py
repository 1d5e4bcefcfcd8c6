"""The lab itself: agents' softphones register and answer; listeners stay
on loopback; Asterisk writes no DTMF anywhere."""

from __future__ import annotations

import re
import subprocess

import aiohttp
import pytest

from dialer.calls.outcome import CallOutcome
from dialer.engine import Engine
from dialer.lab import asterisk, postgres, sipp
from dialer.lab.number_plan import Behaviour, lab_number

pytestmark = pytest.mark.lab


async def test_agent_softphone_registers_and_answers(lab_config, lab_settings):
    agent = lab_config.agents[0]
    auth = aiohttp.encode_basic_auth(lab_settings.ari.user, lab_settings.ari.password)
    async with aiohttp.ClientSession(headers={"Authorization": auth}) as session:
        url = f"{lab_settings.ari.url}/ari/endpoints/PJSIP/{agent.endpoint}"
        async with session.get(url) as response:
            endpoint = await response.json()
    assert endpoint["state"] == "online"

    async with await Engine.connect(lab_settings) as engine:
        call = await engine.place_call(agent.endpoint, "en", channel=f"PJSIP/{agent.endpoint}")
    assert call.outcome is CallOutcome.ANSWERED
    assert call.hangup_cause == 16
    assert call.talk_seconds > 1.0  # the greeting and the goodbye played to the agent


def _lab_pids(cfg) -> dict[int, str]:
    pids = {asterisk.running_pid(cfg): "asterisk", sipp.pstn_pid(cfg): "pstn",
            postgres.running_pid(cfg): "postgresql"}
    pids.update({sipp.agent_pid(cfg, a): a.endpoint for a in cfg.agents})
    return {pid: name for pid, name in pids.items() if pid is not None}


def test_every_lab_listener_binds_loopback(lab_config):
    pids = _lab_pids(lab_config)
    assert len(pids) == 3 + len(lab_config.agents)
    service_ports = {lab_config.ami_port, lab_config.ari_port, lab_config.sip_port,
                     lab_config.pstn_port, lab_config.pg_port,
                     *(a.sip_port for a in lab_config.agents)}
    sockets = subprocess.run(["ss", "-H", "-lntup"], capture_output=True, text=True,
                             check=True).stdout.splitlines()
    seen_ports = set()
    for line in sockets:
        match = re.search(r"pid=(\d+)", line)
        if not match or int(match.group(1)) not in pids:
            continue
        proto, local = line.split()[0], line.split()[4]
        host, _, port = local.rpartition(":")
        # PJSIP's DNS resolver keeps client sockets on ephemeral wildcard
        # ports (no DNS is ever asked: every peer is an IP address).
        if proto == "udp" and int(port) not in service_ports:
            continue
        assert host in ("127.0.0.1", "[::1]"), f"{pids[int(match.group(1))]}: {line}"
        seen_ports.add(int(port))
    assert service_ports <= seen_ports


async def test_asterisk_logs_no_dtmf(lab_settings, lab_config):
    async with await Engine.connect(lab_settings) as engine:
        call = await engine.place_call(lab_number(Behaviour.ANSWER_AND_SEND_DTMF, "58"))
    assert call.dtmf_count == 2
    logs = [p for p in (lab_config.asterisk_run_dir / "log").rglob("*") if p.is_file()]
    assert logs
    for path in logs:
        text = path.read_text(errors="replace")
        assert "DTMF" not in text.upper(), path
