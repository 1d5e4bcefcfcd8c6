"""The lab's SIP peers, all sipp: the PSTN of simulated debtors behind the
trunk, and one softphone per agent that registers over PJSIP and answers."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

from dialer.errors import LabError
from lab import key_scripts, process
from lab.caller_scenario import render_caller_scenario
from lab.config import (
    CALLER_ID,
    MAX_AGENTS,
    SCENARIO_DIR,
    LabAgent,
    LabConfig,
    agent_endpoint,
    agent_offsets,
)
from lab.greetings import render_greetings
from lab.pcap import keying_seconds, keys_pcap, leading_pause
from lab.pstn_scenario import (
    render_key_scripts,
    render_keying_debtor,
    render_keys,
    render_pstn_scenario,
)

SIPP = "sipp"


def _sipp_dir(cfg: LabConfig) -> Path:
    return cfg.lab_dir / "sipp"


def common_options(cfg: LabConfig, control_port: int) -> list[str]:
    """Options every lab sipp takes: loopback, its control port, errors to a file."""
    # -ci/-cp: sipp's control socket on loopback and on a port of the lab's
    # plan (by default it takes 8888 and up on every interface, and anyone
    # who can reach it can stop the process with one UDP "Q"). Given -cp, a
    # port in use is an error, never a quiet move to the next one.
    return ["-i", cfg.host, "-mi", cfg.host, "-ci", cfg.host, "-cp", str(control_port),
            "-nostdin", "-nr",
            "-trace_err", "-error_file", str(_sipp_dir(cfg) / "errors.log")]


def require_free(cfg: LabConfig, port: int, what: str) -> None:
    """LabError naming the port when another program holds it: sipp would
    exit at once, saying so only in its error file."""
    if process.port_in_use(cfg.host, port, socket.SOCK_DGRAM):
        raise LabError(f"port {port} for {what} is already in use on {cfg.host}: stop what "
                       f"holds it, or set RECOBRO_LAB_PORT_BASE (now {cfg.port_base}) to "
                       "move the whole lab")


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
    require_free(cfg, cfg.pstn_control_port, "the sipp PSTN's control socket")
    _sipp_dir(cfg).mkdir(parents=True, exist_ok=True)
    scenario = _sipp_dir(cfg) / "pstn.xml"
    render_greetings(_sipp_dir(cfg))
    render_keys(_sipp_dir(cfg))
    scripts = key_scripts.load_if_present()
    render_key_scripts(_sipp_dir(cfg), scripts)
    scenario.write_text(render_pstn_scenario(_sipp_dir(cfg), scripts))
    return process.start([SIPP, "-sf", str(scenario), "-p", str(cfg.pstn_port),
                          "-mp", str(cfg.pstn_media_port),
                          *common_options(cfg, cfg.pstn_control_port)],
                         pstn_pid_file(cfg), _sipp_dir(cfg) / "pstn.out")


def start_agent(cfg: LabConfig, agent: LabAgent) -> int:
    """Start one agent's softphone (a sipp UAS that answers), unless it runs."""
    pid = agent_pid(cfg, agent)
    if pid is not None:
        return pid
    control_port = cfg.agent_control_port(agent)
    require_free(cfg, control_port, f"{agent.endpoint}'s softphone's control socket")
    _sipp_dir(cfg).mkdir(parents=True, exist_ok=True)
    return process.start([SIPP, "-sf", str(SCENARIO_DIR / "agent_softphone.xml"),
                          "-p", str(agent.sip_port), "-mp", str(agent.media_port),
                          *common_options(cfg, control_port)],
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


# A softphone whose REGISTER goes unanswered or refused tries again, as a
# real one does (a lab Asterisk just booted under load can miss the first).
REGISTER_ATTEMPTS = 3


def register_agent(cfg: LabConfig, agent: LabAgent) -> None:
    """REGISTER an agent's softphone with Asterisk (digest auth), its contact
    pointing at the agent's sipp UAS; LabError with sipp's own words when
    every attempt fails."""
    scenario = _agent_scenario(cfg, agent, "agent_register.xml", "register")
    errors = _sipp_dir(cfg) / "errors.log"
    for attempt in range(1, REGISTER_ATTEMPTS + 1):
        errors_before = errors.stat().st_size if errors.exists() else 0
        result = subprocess.run(
            [SIPP, f"{cfg.host}:{cfg.sip_port}", "-sf", str(scenario), "-m", "1",
             "-p", str(cfg.port_base + 99), "-timeout", "10s", "-timeout_error",
             *common_options(cfg, cfg.register_control_port)],
            check=False, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=30)
        if result.returncode == 0:
            return
        if attempt < REGISTER_ATTEMPTS:
            time.sleep(attempt)
    raise LabError(f"{agent.endpoint}'s softphone failed to register {REGISTER_ATTEMPTS} times "
                   f"(sipp exit {result.returncode}): {_why_sipp_failed(result, errors, errors_before)}"
                   f"; see {errors}")


def _why_sipp_failed(result: subprocess.CompletedProcess[str], errors: Path,
                     errors_before: int) -> str:
    """What a one-shot sipp said about its failure: the lines it added to the
    error file (the unexpected reply or the retransmissions given up), else
    its stderr; the SIP messages it quotes are left out."""
    added = ""
    if errors.exists():
        with errors.open("rb") as file:
            file.seek(errors_before)
            added = file.read().decode(errors="replace")
    said = [line.strip() for line in (added or result.stderr).splitlines()
            if any(word in line for word in ("expecting", "retrans", "imeout", "rror", "nable"))]
    return " | ".join(said[-3:])[:600] or "sipp said nothing"


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
         "-timeout_error", *common_options(cfg, cfg.feature_code_control_port)],
        check=False, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=40)
    if result.returncode != 0:
        raise LabError(f"{agent.endpoint}'s softphone could not dial {code} (sipp exit "
                       f"{result.returncode}); see {_sipp_dir(cfg) / 'errors.log'}")


def call_in(cfg: LabConfig, caller: str, keys: str = "", stay_s: float = 10.0,
            called: str = CALLER_ID) -> None:
    """A debtor calls in through the trunk (from the PSTN's address), keys
    in `keys` (',' a second's pause, leading ones too), and stays up to
    stay_s (less if Asterisk hangs up)."""
    scenario = _sipp_dir(cfg) / "caller.xml"
    keys_file = None
    keys_after_s, keys = leading_pause(keys)
    if keys:
        keys_file = _sipp_dir(cfg) / "caller-keys.pcap"
        keys_file.write_bytes(keys_pcap(keys))
    scenario.write_text(render_caller_scenario(caller, called, keys_file, stay_s,
                                               keys_after_s))
    result = subprocess.run(
        [SIPP, f"{cfg.host}:{cfg.sip_port}", "-sf", str(scenario), "-m", "1",
         "-p", str(cfg.port_base + 97), "-mp", str(cfg.port_base + 2080),
         "-timeout", f"{int(stay_s) + 20}s", "-timeout_error",
         *common_options(cfg, cfg.call_in_control_port)],
        check=False, capture_output=True, text=True, stdin=subprocess.DEVNULL,
        timeout=stay_s + 40)
    if result.returncode != 0:
        raise LabError(f"the call in from {caller} failed (sipp exit {result.returncode}); "
                       f"see {_sipp_dir(cfg) / 'errors.log'}")


def stay_after_keys(keys: str, seconds: float) -> float:
    """call_in's stay_s for a caller who hangs up seconds after the last of
    keys (the stay counts from the first key, after the leading pause)."""
    _, keyed = leading_pause(keys)
    return keying_seconds(keyed) + seconds


def answer_and_key(cfg: LabConfig, keys: str, directory: Path, stay_s: float = 60.0) -> None:
    """A debtor of the PSTN who answers the one call the trunk sends to
    cfg.keying_debtor_port (dial `PJSIP/<trunk>/sip:NUMBER@HOST:PORT`) and
    keys `keys` over RFC 4733 (',' a second's pause), then stays up to
    stay_s, less if Asterisk hangs up. Its scenario and keys are written in
    directory (a test's own: what a debtor keys is the test's), never in
    the lab's. Blocks until the call is over."""
    keys_after_s, keys = leading_pause(keys)
    keys_file = directory / "debtor-keys.pcap"
    keys_file.write_bytes(keys_pcap(keys))
    scenario = directory / "keying-debtor.xml"
    scenario.write_text(render_keying_debtor(keys_file, stay_s, keys_after_s))
    result = subprocess.run(
        [SIPP, "-sf", str(scenario), "-m", "1", "-p", str(cfg.keying_debtor_port),
         "-mp", str(cfg.keying_debtor_media_port), "-timeout", f"{int(stay_s) + 60}s",
         "-timeout_error", *common_options(cfg, cfg.keying_debtor_control_port)],
        check=False, capture_output=True, text=True, stdin=subprocess.DEVNULL,
        timeout=stay_s + 90)
    if result.returncode != 0:
        raise LabError(f"the debtor keying a script failed (sipp exit {result.returncode}); "
                       f"see {_sipp_dir(cfg) / 'errors.log'}")


def stop_all(cfg: LabConfig) -> None:
    """Stop the PSTN and every agent softphone by their PID files, those of
    a lab started with more agents (RECOBRO_LAB_AGENTS) than cfg has too."""
    process.stop(pstn_pid_file(cfg), _marker(cfg.pstn_port))
    for index in range(MAX_AGENTS):
        process.stop(_sipp_dir(cfg) / f"{agent_endpoint(index)}.pid",
                     _marker(cfg.port_base + agent_offsets(index).sip))
