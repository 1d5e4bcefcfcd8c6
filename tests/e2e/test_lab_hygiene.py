"""The lab keeps to itself and stays quiet: every socket its processes
listen on is on loopback (sipp's control sockets too, on the lab's own
ports); a call leaves Asterisk's log without a CDR error and without an
abruptly closed ARI WebSocket. Against the real lab."""

from __future__ import annotations

import re
import subprocess
import threading
import time

import pytest

from lab import api as lab_api
from lab import asterisk, kannel, postgres, sipp, smtp, stripe_mock
from lab.config import LabConfig
from lab.number_plan import Behaviour, lab_number
from tests.e2e.cli import run_cli

pytestmark = pytest.mark.lab

LOOPBACK = ("127.0.0.1", "[::1]")
WILDCARD = ("0.0.0.0", "*", "[::]", "[::ffff:0.0.0.0]")


def listening(pids: set[int]) -> list[tuple[int, str, str, int]]:
    """(pid, tcp|udp, host, port) of every socket these processes listen
    on (TCP) or have bound (UDP), from `ss`."""
    found = []
    lines = subprocess.run(["ss", "-H", "-lntup"], capture_output=True, text=True,
                           check=True).stdout.splitlines()
    for line in lines:
        fields = line.split()
        host, _, port = fields[4].rpartition(":")
        for pid in map(int, re.findall(r"pid=(\d+)", line)):
            if pid in pids:
                found.append((pid, fields[0], host, int(port)))
    return found


def lab_processes(cfg: LabConfig) -> dict[int, str]:
    parts = {"asterisk": asterisk.running_pid(cfg), "pstn": sipp.pstn_pid(cfg),
             "postgresql": postgres.running_pid(cfg), "recobro api": lab_api.running_pid(cfg),
             "stripe mock": stripe_mock.running_pid(cfg),
             **{name: kannel.running(cfg, name) for name in ("bearerbox", "smsbox", "fakesmsc")},
             "smtp": smtp.running_pid(cfg),
             **{a.endpoint: sipp.agent_pid(cfg, a) for a in cfg.agents}}
    assert None not in parts.values(), parts
    return {pid: name for name, pid in parts.items()}


def lab_ports(cfg: LabConfig) -> set[int]:
    """Every port the lab's plan gives its long-lived processes."""
    start, end = cfg.rtp_range
    return {cfg.ami_port, cfg.ari_port, cfg.sip_port, cfg.pstn_port, cfg.pstn_media_port,
            cfg.pstn_media_port + 2, cfg.pg_port, cfg.api_port, cfg.pstn_control_port,
            cfg.stripe_mock_port, cfg.kannel_admin_port, cfg.kannel_box_port,
            cfg.kannel_sendsms_port, cfg.fakesmsc_port, cfg.smtp_port,
            *(a.sip_port for a in cfg.agents), *(a.media_port for a in cfg.agents),
            *(a.media_port + 2 for a in cfg.agents),
            *(cfg.agent_control_port(a) for a in cfg.agents), *range(start, end + 1)}


def test_every_lab_listener_is_on_loopback(lab_config):
    processes = lab_processes(lab_config)
    sockets = listening(set(processes))
    # The one exception, named: Asterisk's PJSIP creates its DNS resolver
    # (pj_dns_resolver) at start, which binds one IPv4 and one IPv6 UDP
    # client socket to an ephemeral port on every interface. The lab gives
    # Asterisk an empty resolv.conf (no name is ever resolved: every peer is
    # an address), but glibc then falls back to nameserver 127.0.0.1 and
    # PJSIP builds the resolver all the same; no setting of Asterisk 22 binds
    # or skips it (docs/limits.md). It never sends a query, so nothing is
    # ever answered on it.
    resolver = [s for s in sockets if processes[s[0]] == "asterisk" and s[1] == "udp"
                and s[2] in WILDCARD and s[3] not in lab_ports(lab_config)]
    assert len(resolver) <= 2, resolver
    elsewhere = [(processes[pid], proto, host, port) for pid, proto, host, port in sockets
                 if host not in LOOPBACK and (pid, proto, host, port) not in resolver]
    assert not elsewhere, f"listening beyond loopback: {elsewhere}"
    seen = {port for _, _, host, port in sockets if host in LOOPBACK}
    expected = {lab_config.ami_port, lab_config.ari_port, lab_config.sip_port,
                lab_config.pstn_port, lab_config.pg_port, lab_config.api_port,
                lab_config.stripe_mock_port, lab_config.pstn_control_port, lab_config.pstn_media_port,
                lab_config.kannel_admin_port, lab_config.kannel_box_port,
                lab_config.kannel_sendsms_port, lab_config.fakesmsc_port, lab_config.smtp_port,
                *(a.sip_port for a in lab_config.agents),
                *(a.media_port for a in lab_config.agents),
                *(lab_config.agent_control_port(a) for a in lab_config.agents)}
    assert expected <= seen, sorted(expected - seen)


def test_a_one_shot_sipp_controls_on_loopback_too(lab_config):
    """An agent's registration (a sipp run for a moment) listens for
    control on its own port of the plan, on loopback."""
    agent = lab_config.agents[0]
    registering = threading.Thread(target=sipp.register_agent, args=(lab_config, agent))
    registering.start()
    seen: set[tuple[str, int]] = set()
    while registering.is_alive():
        output = subprocess.run(["ss", "-H", "-lnup"], capture_output=True, text=True,
                                check=True).stdout
        for line in output.splitlines():
            if '"sipp"' in line:
                host, _, port = line.split()[3].rpartition(":")
                seen.add((host, int(port)))
        time.sleep(0.005)
    registering.join()
    ours = {(host, port) for host, port in seen
            if port in (lab_config.port_base + 99, lab_config.register_control_port)}
    if not ours:
        pytest.skip("the registration ended before `ss` saw it")
    assert ours <= {("127.0.0.1", lab_config.port_base + 99),
                    ("127.0.0.1", lab_config.register_control_port)}, ours


def test_a_call_leaves_no_cdr_error_nor_an_abrupt_websocket_close(lab_config, asterisk_log):
    start = asterisk_log.offset()
    result = run_cli("call", lab_number(Behaviour.ANSWER_AND_STAY, "02"),
                     RECOBRO_ENV_FILE=str(lab_config.env_file))
    assert result.returncode == 0, result.stderr
    time.sleep(1.0)  # Asterisk writes the CDR and the WebSocket's end as the call ends
    with asterisk_log.path.open("rb") as log:
        log.seek(start)
        lines = log.read().decode(errors="replace").splitlines()
    complaints = [line for line in lines if "cdr_csv" in line or "closed abruptly" in line
                  or "WebSocket read error" in line]
    assert not complaints, "\n".join(complaints)
    master = lab_config.asterisk_run_dir / "log" / "cdr-csv" / "Master.csv"
    call_id = result.stdout.rsplit("call id ", 1)[1].strip()
    assert call_id in master.read_text(), "the call's CDR is not in Master.csv"
