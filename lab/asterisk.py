"""The lab's Asterisk: configs rendered from asterisk_conf/ into a run
directory inside the cached root, and the daemon run there under chroot."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from dialer.asterisk_config import make_run_dirs, render
from dialer.errors import LabError
from dialer.settings import ASTERISK_METRICS_USER, LOOPBACK_ONLY, AsteriskSite, SipAgent
from lab import process
from lab.config import ARI_APP, ASTERISK_CONF_DIR, CALLER_ID, TRUNK, LabConfig

ASTERISK = "/usr/sbin/asterisk"
# Modules whose config came after the labs already running started.
LATE_MODULES = ("res_prometheus.so",)


def _conf_path(cfg: LabConfig) -> str:
    return f"{cfg.asterisk_run_in_root}/etc/asterisk.conf"


def _pid_file(cfg: LabConfig) -> Path:
    return cfg.lab_dir / "asterisk.pid"


def lab_site(cfg: LabConfig) -> AsteriskSite:
    """The lab's Asterisk as a site: every listener on loopback at the lab's
    ports, AMI logins from loopback only, the sipp "PSTN" as the trunk."""
    rtp_start, rtp_end = cfg.rtp_range
    return AsteriskSite(
        run_dir=cfg.asterisk_run_in_root, language="es",
        ami_host=cfg.host, ami_port=cfg.ami_port, ami_permit=LOOPBACK_ONLY,
        ami_user=cfg.ami_user, ami_secret=cfg.ami_secret,
        http_host=cfg.host, http_port=cfg.ari_port,
        ari_user=cfg.ari_user, ari_password=cfg.ari_password, ari_app=ARI_APP,
        sip_host=cfg.host, sip_port=cfg.sip_port, external_address="", local_net="",
        trunk=TRUNK, trunk_host=cfg.host, trunk_port=cfg.pstn_port,
        caller_id=CALLER_ID,
        rtp_start=rtp_start, rtp_end=rtp_end,
        agents=tuple(SipAgent(endpoint=a.endpoint, name=a.name, secret=a.secret)
                     for a in cfg.agents),
        agi_host=cfg.host, agi_port=cfg.agi_port,
        metrics_user=ASTERISK_METRICS_USER, metrics_password=cfg.asterisk_metrics_password,
    )


def render_configs(cfg: LabConfig, etc: Path | None = None) -> Path:
    """Render every template of asterisk_conf/ with this lab's values into etc
    (default: the run directory's etc/, where the lab's Asterisk reads them)
    and return that directory. Files holding a secret are made 0600."""
    etc = etc if etc is not None else cfg.asterisk_run_dir / "etc"
    return render(lab_site(cfg), ASTERISK_CONF_DIR, etc)


def rerender_configs(cfg: LabConfig) -> bool:
    """Render the configs again; whether any of them changed."""
    etc = cfg.asterisk_run_dir / "etc"

    def texts() -> dict[str, bytes]:
        return {path.name: path.read_bytes() for path in etc.glob("*.conf")}

    before = texts() if etc.is_dir() else {}
    render_configs(cfg, etc)
    return texts() != before


def running_pid(cfg: LabConfig) -> int | None:
    return process.running_pid(_pid_file(cfg), _conf_path(cfg))


def _cli(cfg: LabConfig, command: str, timeout_s: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["chroot", str(cfg.asterisk_root), ASTERISK, "-C", _conf_path(cfg),
                           "-rx", command], check=False, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=timeout_s)


def cli_output(cfg: LabConfig, command: str) -> str:
    """What Asterisk's CLI prints for command (`pjsip show contacts`...)."""
    return _cli(cfg, command, 30).stdout


def channel_count(cfg: LabConfig) -> int:
    """Channels Asterisk holds now (`core show channels count`)."""
    result = _cli(cfg, "core show channels count", 30)
    for line in result.stdout.splitlines():
        if line.strip().endswith(("active channel", "active channels")):
            return int(line.split()[0])
    raise LabError(f"Asterisk did not count its channels: "
                   f"{(result.stdout + result.stderr).strip()[:300]}")


def originate(cfg: LabConfig, channel: str, context: str, extension: str) -> None:
    """Place a call from Asterisk's CLI into the dialplan (an engineer's own
    context, as `channel originate` does): channel is answered, then runs
    extension@context. LabError with Asterisk's words when it refuses."""
    result = _cli(cfg, f"channel originate {channel} extension {extension}@{context}", 30)
    if result.returncode != 0 or "rror" in result.stdout:
        raise LabError(f"Asterisk did not originate {channel}: "
                       f"{(result.stdout + result.stderr).strip()[:300]}")


def start(cfg: LabConfig) -> int:
    """Start Asterisk if it is not running and wait until it is fully booted."""
    pid = running_pid(cfg)
    if pid is not None:
        # Configs changed since it started (new code pulled, say): reloaded.
        if rerender_configs(cfg):
            result = _cli(cfg, "core reload", 30.0)
            if result.returncode != 0:
                raise LabError("Asterisk did not reload its changed configs: "
                               f"{(result.stdout + result.stderr).strip()[:300]}")
            _load_late_modules(cfg)
        return pid
    make_run_dirs(cfg.asterisk_run_dir)
    render_configs(cfg)
    # No DNS: every peer is an address on loopback, and PJSIP's resolver
    # would otherwise open UDP sockets on every interface.
    (cfg.asterisk_root / "etc" / "resolv.conf").write_text(
        "# Recobro lab: no DNS, every peer is on loopback.\n")
    # Sockets and logs of a previous run would confuse the ready check.
    shutil.rmtree(cfg.asterisk_run_dir / "run", ignore_errors=True)
    (cfg.asterisk_run_dir / "run").mkdir()
    pid = process.start(["chroot", str(cfg.asterisk_root), ASTERISK, "-C", _conf_path(cfg),
                         "-f"], _pid_file(cfg), cfg.lab_dir / "logs" / "asterisk.out")

    def booted() -> bool:
        if not process.alive(pid):
            raise LabError(f"Asterisk exited at start; see {cfg.lab_dir / 'logs'} and "
                           f"{cfg.asterisk_run_dir / 'log' / 'messages.log'}")
        try:
            return _cli(cfg, "core waitfullybooted", 5.0).returncode == 0
        except subprocess.TimeoutExpired:
            return False

    if not process.wait_until(booted, timeout_s=60.0, interval_s=0.3):
        raise LabError("Asterisk did not finish booting within 60 s; see "
                       f"{cfg.asterisk_run_dir / 'log' / 'messages.log'}")
    return pid


def _load_late_modules(cfg: LabConfig) -> None:
    """Load the modules a newer config enabled (a reload does not load a
    module that declined at start for want of its config)."""
    for module in LATE_MODULES:
        if f"{module} " not in _cli(cfg, f"module show like {module}", 30.0).stdout:
            result = _cli(cfg, f"module load {module}", 30.0)
            if "Loaded" not in result.stdout:
                raise LabError(f"Asterisk did not load {module}: "
                               f"{(result.stdout + result.stderr).strip()[:300]}")


def stop(cfg: LabConfig) -> bool:
    """Stop the lab's Asterisk by its PID file."""
    return process.stop(_pid_file(cfg), _conf_path(cfg), timeout_s=15.0)
