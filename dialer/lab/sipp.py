"""The lab's SIP peers, all sipp: the PSTN of simulated debtors behind the
trunk, and one softphone per agent that registers over PJSIP and answers."""

from __future__ import annotations

import subprocess
from pathlib import Path

from dialer.errors import LabError
from dialer.lab import process
from dialer.lab.caller_scenario import render_caller_scenario
from dialer.lab.config import CALLER_ID, SCENARIO_DIR, LabAgent, LabConfig
from dialer.lab.greetings import render_greetings
from dialer.lab.pcap import keys_pcap
from dialer.lab.pstn_scenario import render_keys, render_pstn_scenario

SIPP = "sipp"


def _sipp_dir(cfg: LabConfig) -> Path:
    return cfg.lab_dir / "sipp"


def _common(cfg: LabConfig) -> list[str]:
    return ["-i", cfg.host, "-mi", cfg.host, "-nostdin", "-nr",
            "-trace_err", "-error_file", str(_sipp_dir(cfg) / "errors.log")]


def _marker(port: int) -> str:
    return f"-p {port} "


def pstn_pid_file(cfg: LabConfig) -> Path:
    return _sipp_dir(cfg) / "pstn.pid"


def agent_pid_file(cfg: LabConfig, agent: LabAgent) -> Path:
    return _sipp_dir(cfg) / f"{agent.endpoint}.pid"


def pstn_pid(cfg: LabConfig) -> int | None:
    return process.running_pid(pstn_pid_file(cfg), _marker(cfg.pstn_port))


def agent_pid(cfg: LabConfig, agent: LabAgent) -> int | None:
    return process.running_pid(agent_pid_file(cfg, agent), _marker(agent.sip_port))


def start_pstn(cfg: LabConfig) -> int:
    """Start the debtors' sipp UAS behind the trunk, unless it runs."""
    pid = pstn_pid(cfg)
    if pid is not None:
        return pid
    _sipp_dir(cfg).mkdir(parents=True, exist_ok=True)
    scenario = _sipp_dir(cfg) / "pstn.xml"
    render_greetings(_sipp_dir(cfg))
    render_keys(_sipp_dir(cfg))
    scenario.write_text(render_pstn_scenario(_sipp_dir(cfg)))
    return process.start([SIPP, "-sf", str(scenario), "-p", str(cfg.pstn_port),
                          "-mp", str(cfg.pstn_media_port), *_common(cfg)],
                         pstn_pid_file(cfg), _sipp_dir(cfg) / "pstn.out")


def start_agent(cfg: LabConfig, agent: LabAgent) -> int:
    """Start one agent's softphone (a sipp UAS that answers), unless it runs."""
    pid = agent_pid(cfg, agent)
    if pid is not None:
        return pid
    _sipp_dir(cfg).mkdir(parents=True, exist_ok=True)
    return process.start([SIPP, "-sf", str(SCENARIO_DIR / "agent_softphone.xml"),
                          "-p", str(agent.sip_port), "-mp", str(agent.media_port),
                          *_common(cfg)],
                         agent_pid_file(cfg, agent), _sipp_dir(cfg) / f"{agent.endpoint}.out")


def _agent_scenario(cfg: LabConfig, agent: LabAgent, template: str, purpose: str) -> Path:
    """The agent's copy of a scenario template, readable by its owner only:
    it holds the agent's secret."""
    text = (SCENARIO_DIR / template).read_text()
    scenario = _sipp_dir(cfg) / f"{agent.endpoint}-{purpose}.xml"
    scenario.unlink(missing_ok=True)
    scenario.touch(mode=0o600)
    scenario.write_text(text.replace("AGENT_ENDPOINT", agent.endpoint)
                        .replace("AGENT_SECRET", agent.secret)
                        .replace("AGENT_SIP_PORT", str(agent.sip_port)))
    return scenario


def register_agent(cfg: LabConfig, agent: LabAgent) -> None:
    """REGISTER an agent's softphone with Asterisk (digest auth), its contact
    pointing at the agent's sipp UAS."""
    scenario = _agent_scenario(cfg, agent, "agent_register.xml", "register")
    result = subprocess.run(
        [SIPP, f"{cfg.host}:{cfg.sip_port}", "-sf", str(scenario), "-m", "1",
         "-p", str(cfg.port_base + 99), "-timeout", "10s", "-timeout_error", *_common(cfg)],
        check=False, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=30)
    if result.returncode != 0:
        raise LabError(f"{agent.endpoint}'s softphone failed to register (sipp exit "
                       f"{result.returncode}); see {_sipp_dir(cfg) / 'errors.log'}")


def stop_agent(cfg: LabConfig, agent: LabAgent) -> bool:
    """Stop one agent's softphone by its PID file (a softphone that vanishes)."""
    return process.stop(agent_pid_file(cfg, agent), _marker(agent.sip_port))


def dial_feature_code(cfg: LabConfig, agent: LabAgent, code: str) -> None:
    """The agent's softphone dials a feature code (*81 log in, *82 log out)
    and stays until Asterisk hangs up."""
    scenario = _agent_scenario(cfg, agent, "agent_feature_code.xml", "feature")
    result = subprocess.run(
        [SIPP, f"{cfg.host}:{cfg.sip_port}", "-sf", str(scenario), "-s", code, "-m", "1",
         "-p", str(cfg.port_base + 98), "-mp", str(cfg.port_base + 2090), "-timeout", "20s",
         "-timeout_error", *_common(cfg)],
        check=False, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=40)
    if result.returncode != 0:
        raise LabError(f"{agent.endpoint}'s softphone could not dial {code} (sipp exit "
                       f"{result.returncode}); see {_sipp_dir(cfg) / 'errors.log'}")


def call_in(cfg: LabConfig, caller: str, keys: str = "", stay_s: float = 10.0,
            called: str = CALLER_ID) -> None:
    """A debtor calls in through the trunk (from the PSTN's address), keys
    in `keys`, and stays up to stay_s (less if Asterisk hangs up)."""
    scenario = _sipp_dir(cfg) / "caller.xml"
    keys_file = None
    if keys:
        keys_file = _sipp_dir(cfg) / "caller-keys.pcap"
        keys_file.write_bytes(keys_pcap(keys))
    scenario.write_text(render_caller_scenario(caller, called, keys_file, stay_s))
    result = subprocess.run(
        [SIPP, f"{cfg.host}:{cfg.sip_port}", "-sf", str(scenario), "-m", "1",
         "-p", str(cfg.port_base + 97), "-mp", str(cfg.port_base + 2080),
         "-timeout", f"{int(stay_s) + 20}s", "-timeout_error", *_common(cfg)],
        check=False, capture_output=True, text=True, stdin=subprocess.DEVNULL,
        timeout=stay_s + 40)
    if result.returncode != 0:
        raise LabError(f"the call in from {caller} failed (sipp exit {result.returncode}); "
                       f"see {_sipp_dir(cfg) / 'errors.log'}")


def stop_all(cfg: LabConfig) -> None:
    """Stop the PSTN and every agent softphone by their PID files."""
    process.stop(pstn_pid_file(cfg), _marker(cfg.pstn_port))
    for agent in cfg.agents:
        stop_agent(cfg, agent)
