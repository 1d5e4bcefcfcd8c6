"""The lab's port plan: every `port_base + N` the lab and its tests use is
its own (sipp's control sockets too), and every sipp the lab runs listens
for control on loopback, on its port of the plan."""

from __future__ import annotations

import subprocess
from collections import Counter
from pathlib import Path

import pytest

from dialer.errors import ConfigError
from lab import sipp
from lab.config import (
    MAX_AGENTS,
    PORT_SPAN,
    LabAgent,
    LabConfig,
    agent_count,
    agent_offsets,
    load_lab_config,
    second_asterisk_config,
    worker_lab_environment,
)

BASE = 15000


def lab_config(tmp_path: Path, agents: int = 4) -> LabConfig:
    """A lab of that many agents, their ports as load_lab_config gives them."""
    team = tuple(LabAgent(f"agent{1001 + i}", f"Agent {1001 + i}", "agent-s3cret",
                          BASE + agent_offsets(i).sip, BASE + agent_offsets(i).media)
                 for i in range(agents))
    return LabConfig(lab_dir=tmp_path / "lab", cache_dir=tmp_path / "cache", port_base=BASE,
                     lab_id="test", ami_user="recobro", ami_secret="ami-s3cret",
                     ari_user="recobro", ari_password="ari-s3cret", api_token="api-s3cret",
                     agents=team)


def planned_ports(cfg: LabConfig) -> dict[str, list[int]]:
    """Every port of docs/lab.md's plan, by who holds it."""
    base = cfg.port_base
    rtp_start, rtp_end = cfg.rtp_range
    plan = {
        "asterisk": [cfg.ami_port, cfg.ari_port, cfg.sip_port, *range(rtp_start, rtp_end + 1)],
        "recobro api": [cfg.api_port],
        "a test's recobro api": [base + 81],
        "postgresql": [cfg.pg_port],
        "the stripe mock": [cfg.stripe_mock_port],
        "kannel": [cfg.kannel_admin_port, cfg.kannel_box_port, cfg.kannel_sendsms_port,
                   cfg.fakesmsc_port],
        "the smtp server": [cfg.smtp_port],
        "recobro's message callback listener": [cfg.message_callback_port],
        "recobro agi": [cfg.agi_port],
        "prometheus": [cfg.prometheus_port],
        "a test's unreachable postgresql": [base + 431],
        # sipp also takes the media port + 2 (and sends from + 1, + 3).
        "pstn": [cfg.pstn_port, *range(cfg.pstn_media_port, cfg.pstn_media_port + 4),
                 cfg.pstn_control_port],
        "call in": [base + 97, *range(base + 2080, base + 2084), cfg.call_in_control_port],
        "feature code": [base + 98, *range(base + 2090, base + 2094),
                         cfg.feature_code_control_port],
        "registration": [base + 99, cfg.register_control_port],
        "a debtor keying a script": [cfg.keying_debtor_port, *range(base + 2070, base + 2074),
                                     cfg.keying_debtor_control_port],
        # tests/e2e/test_asterisk_image_configs.py: AMI, HTTP, SIP and RTP.
        "a test's asterisk with the image's configs": [base + 230, base + 231, base + 232,
                                                       *range(base + 2900, base + 2920)],
    }
    second = second_asterisk_config(cfg)
    b_start, b_end = second.rtp_range
    plan["the second asterisk"] = [second.ami_port, second.ari_port, second.sip_port,
                                   *range(b_start, b_end + 1)]
    for agent in second.agents:
        plan[f"{agent.endpoint} (on the second asterisk)"] = [
            agent.sip_port, *range(agent.media_port, agent.media_port + 4),
            second.agent_control_port(agent)]
    for index, agent in enumerate(cfg.agents):
        plan[agent.endpoint] = [agent.sip_port, *range(agent.media_port, agent.media_port + 4),
                                cfg.agent_control_port(agent)]
        # tests/e2e/softphone.py: baresip's SIP (UDP and TCP, TLS + 1,
        # control + 2) and RTP range per agent.
        sip = base + 150 + 4 * index
        plan[f"baresip as {agent.endpoint}"] = [
            sip, sip + 1, sip + 2, *range(base + 2200 + 20 * index, base + 2220 + 20 * index)]
    return plan


@pytest.mark.parametrize("agents", [4, 12, MAX_AGENTS])
def test_every_planned_port_is_its_own(tmp_path, agents):
    plan = planned_ports(lab_config(tmp_path, agents))
    counts = Counter(port for ports in plan.values() for port in ports)
    shared = {port: [who for who, ports in plan.items() if port in ports]
              for port, count in counts.items() if count > 1}
    assert not shared, shared


def test_the_control_ports_are_the_documented_ones(tmp_path):
    cfg = lab_config(tmp_path)
    assert [cfg.pstn_control_port, *(cfg.agent_control_port(a) for a in cfg.agents)] == \
        list(range(BASE + 110, BASE + 115))
    assert (cfg.call_in_control_port, cfg.feature_code_control_port,
            cfg.register_control_port) == (BASE + 127, BASE + 128, BASE + 129)
    lab_md = (Path(__file__).resolve().parents[2] / "docs" / "lab.md").read_text()
    for port in (15110, 15111, 15114, 15127, 15128, 15129):
        assert str(port) in lab_md, port


@pytest.fixture
def sipp_runs(monkeypatch) -> list[list[str]]:
    """Every sipp command line the lab would run, captured instead."""
    runs: list[list[str]] = []

    def start(argv, pid_file, log_file, env=None):
        runs.append(argv)
        return 1

    def run(argv, **kwargs):
        runs.append(argv)
        return subprocess.CompletedProcess(argv, 0, "", "")

    monkeypatch.setattr(sipp.process, "start", start)
    monkeypatch.setattr(sipp.process, "port_in_use", lambda *args: False)
    monkeypatch.setattr(sipp.subprocess, "run", run)
    for renderer in ("render_greetings", "render_keys"):
        monkeypatch.setattr(sipp, renderer, lambda directory: None)
    monkeypatch.setattr(sipp, "render_key_scripts", lambda directory, scripts: None)
    monkeypatch.setattr(sipp, "render_pstn_scenario", lambda directory, scripts: "<scenario/>")
    return runs


def test_every_sipp_controls_on_loopback_on_its_own_port(tmp_path, sipp_runs):
    cfg = lab_config(tmp_path)
    (cfg.lab_dir / "sipp").mkdir(parents=True)
    sipp.start_pstn(cfg)
    for agent in cfg.agents:
        sipp.start_agent(cfg, agent)
    sipp.register_agent(cfg, cfg.agents[0])
    sipp.dial_feature_code(cfg, cfg.agents[0], "*81")
    sipp.call_in(cfg, "+15550109999")
    sipp.answer_and_key(cfg, "1,2", tmp_path)
    controls = []
    for argv in sipp_runs:
        assert argv[argv.index("-ci") + 1] == "127.0.0.1", argv
        assert argv[argv.index("-i") + 1] == "127.0.0.1", argv
        assert argv[argv.index("-mi") + 1] == "127.0.0.1", argv
        controls.append(int(argv[argv.index("-cp") + 1]))
    assert controls == [cfg.pstn_control_port, *(cfg.agent_control_port(a) for a in cfg.agents),
                        cfg.register_control_port, cfg.feature_code_control_port,
                        cfg.call_in_control_port, cfg.keying_debtor_control_port]


def test_a_control_port_in_use_is_named(tmp_path, sipp_runs, monkeypatch):
    cfg = lab_config(tmp_path)
    monkeypatch.setattr(sipp.process, "port_in_use",
                        lambda host, port, kind: port == cfg.agent_control_port(cfg.agents[1]))
    with pytest.raises(sipp.LabError, match="port 15112 for agent1002's softphone's control "
                                            "socket is already in use"):
        sipp.start_agent(cfg, cfg.agents[1])


@pytest.mark.parametrize("agents", [4, MAX_AGENTS])
def test_every_planned_port_lies_within_the_span_that_keeps_labs_apart(tmp_path, agents):
    ports = [port for ports in planned_ports(lab_config(tmp_path, agents)).values()
             for port in ports]
    assert BASE <= min(ports) and max(ports) < BASE + PORT_SPAN


def test_each_test_worker_but_the_first_has_a_lab_of_its_own(tmp_path):
    environ = {"RECOBRO_LAB_DIR": str(tmp_path / ".lab"), "RECOBRO_LAB_PORT_BASE": "34000"}
    assert worker_lab_environment("gw0", environ) == {}
    assert worker_lab_environment("gw2", environ) == {
        "RECOBRO_LAB_DIR": str(tmp_path / ".lab-gw2"),
        "RECOBRO_LAB_PORT_BASE": str(34000 + 2 * PORT_SPAN)}
    assert worker_lab_environment("gw1", {})["RECOBRO_LAB_PORT_BASE"] == str(BASE + PORT_SPAN)


def _registrations(monkeypatch, tmp_path, exits: list[int], error_line: str) -> list[list[str]]:
    """register_agent run with sipp replaced: each run exits with the next of
    exits, a failing one adding error_line to the lab's sipp error file."""
    runs: list[list[str]] = []
    errors = tmp_path / "lab" / "sipp" / "errors.log"
    errors.parent.mkdir(parents=True, exist_ok=True)
    errors.write_text("an older call's error, not this registration's\n")

    def run(argv, **kwargs):
        runs.append(argv)
        code = exits[len(runs) - 1]
        if code:
            with errors.open("a") as file:
                file.write(error_line + "\n")
        return subprocess.CompletedProcess(argv, code, "", "")

    monkeypatch.setattr(sipp.subprocess, "run", run)
    monkeypatch.setattr(sipp.time, "sleep", lambda seconds: None)
    return runs


def test_a_registration_refused_at_first_is_tried_again(tmp_path, monkeypatch):
    cfg = lab_config(tmp_path)
    runs = _registrations(monkeypatch, tmp_path, [1, 0], "Max retransmission exceeded")
    sipp.register_agent(cfg, cfg.agents[0])
    assert len(runs) == 2


def test_a_registration_that_always_fails_says_what_sipp_received(tmp_path, monkeypatch):
    cfg = lab_config(tmp_path)
    refused = ("Aborting call on unexpected message for Call-Id '1-42@127.0.0.1': while "
               "expecting '200' (index 3), received 'SIP/2.0 403 Forbidden'")
    runs = _registrations(monkeypatch, tmp_path, [1] * sipp.REGISTER_ATTEMPTS, refused)
    with pytest.raises(sipp.LabError) as failure:
        sipp.register_agent(cfg, cfg.agents[0])
    assert len(runs) == sipp.REGISTER_ATTEMPTS
    message = str(failure.value)
    assert "agent1001" in message and "403 Forbidden" in message
    assert "older call" not in message


def test_the_lab_runs_four_agents_unless_told_otherwise(tmp_path, monkeypatch):
    monkeypatch.setenv("RECOBRO_LAB_DIR", str(tmp_path / "lab"))
    monkeypatch.setenv("RECOBRO_LAB_PORT_BASE", str(BASE))
    monkeypatch.delenv("RECOBRO_LAB_AGENTS", raising=False)
    four = load_lab_config()
    assert [(a.endpoint, a.sip_port, a.media_port) for a in four.agents] == [
        (f"agent{1001 + i}", BASE + 101 + i, BASE + 2100 + 10 * i) for i in range(4)]
    monkeypatch.setenv("RECOBRO_LAB_AGENTS", "12")
    twelve = load_lab_config()
    assert twelve.agents[:4] == four.agents  # the same secrets and ports
    assert [a.endpoint for a in twelve.agents][-1] == "agent1012"
    assert twelve.agent_control_port(twelve.agents[11]) == BASE + 351


@pytest.mark.parametrize("value", ["0", "17", "twelve", ""])
def test_a_wrong_agent_count_names_the_setting(value):
    with pytest.raises(ConfigError, match=f"RECOBRO_LAB_AGENTS={value!r}: a whole number from "
                                          f"1 to {MAX_AGENTS}"):
        agent_count({"RECOBRO_LAB_AGENTS": value})
