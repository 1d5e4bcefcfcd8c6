"""The Asterisk image's configs in a real Asterisk 22. What the image's
entrypoint renders from a container's settings and secret files (not the
lab's: AMI bound for a network, NAT addresses for SIP and SDP, the agents
from a file) boots the lab's Asterisk 22 as the asterisk user, as the
entrypoint runs it, and Asterisk applies each setting. No Docker engine
runs here: the image itself is never built (docker/README.md)."""

from __future__ import annotations

import base64
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest

from dialer.asterisk_config import make_run_dirs, render
from dialer.settings import load_asterisk_site
from lab import process
from lab.asterisk import ASTERISK
from lab.config import ASTERISK_CONF_DIR, LabConfig

pytestmark = pytest.mark.lab

ROOT = Path(__file__).resolve().parents[2]
# The ports of this test's Asterisk, offsets from the lab's base
# (tests/unit/test_lab_ports.py holds them in the plan).
AMI, HTTP, SIP, RTP = 230, 231, 232, (2900, 2919)
EXTERNAL = "192.0.2.99"  # documentation's address: only ever written, never reached


def _settings(cfg: LabConfig, secrets: Path, run_dir: str) -> dict[str, str]:
    """A container's settings, as docker/compose.yaml gives the image, at
    this lab's addresses and ports; its secrets in files."""
    base = cfg.port_base
    return {
        "RECOBRO_ASTERISK_RUN_DIR": run_dir,
        "RECOBRO_ASTERISK_AMI_HOST": cfg.host, "RECOBRO_AMI_PORT": str(base + AMI),
        "RECOBRO_ASTERISK_AMI_PERMIT": "127.0.0.0/255.0.0.0",
        "RECOBRO_AMI_USER": "recobro", "RECOBRO_AMI_SECRET_FILE": str(secrets / "ami_secret"),
        "RECOBRO_ASTERISK_HTTP_HOST": cfg.host, "RECOBRO_ASTERISK_HTTP_PORT": str(base + HTTP),
        "RECOBRO_ARI_USER": "recobro",
        "RECOBRO_ARI_PASSWORD_FILE": str(secrets / "ari_password"),
        "RECOBRO_ASTERISK_METRICS_PASSWORD_FILE": str(secrets / "asterisk_metrics_password"),
        "RECOBRO_ASTERISK_SIP_HOST": cfg.host, "RECOBRO_ASTERISK_SIP_PORT": str(base + SIP),
        "RECOBRO_ASTERISK_RTP_PORTS": f"{base + RTP[0]}-{base + RTP[1]}",
        "RECOBRO_ASTERISK_EXTERNAL_ADDRESS": EXTERNAL,
        "RECOBRO_ASTERISK_LOCAL_NET": "127.0.0.0/8",
        "RECOBRO_ASTERISK_TRUNK_HOST": cfg.host,
        "RECOBRO_ASTERISK_TRUNK_PORT": str(cfg.pstn_port),
        "RECOBRO_ASTERISK_AGENTS_FILE": str(secrets / "asterisk_agents"),
    }


def _get(url: str, user: str, password: str) -> tuple[int, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    asked = urllib.request.Request(url, headers={"Authorization": f"Basic {token}"})
    with urllib.request.urlopen(asked, timeout=10) as answer:
        return answer.status, answer.read().decode()


def test_the_images_configs_boot_asterisk_as_its_user_and_apply(lab_config, tmp_path):
    cfg = lab_config
    secrets = tmp_path / "secrets"
    subprocess.run(["sh", str(ROOT / "docker" / "make-secrets.sh"), str(secrets)], check=True,
                   capture_output=True, timeout=60)
    run_dir = f"/srv/recobro/{cfg.lab_id}-image"  # as Asterisk sees it, in its root
    on_host = cfg.asterisk_root / run_dir.lstrip("/")
    shutil.rmtree(on_host, ignore_errors=True)
    site = load_asterisk_site(_settings(cfg, secrets, run_dir))
    # What the entrypoint does (python -m dialer.asterisk_config, then chown),
    # into the root the lab's Asterisk runs in.
    make_run_dirs(on_host)
    (on_host / "moh").mkdir()
    render(site, ASTERISK_CONF_DIR, on_host / "etc")
    subprocess.run(["chroot", str(cfg.asterisk_root), "chown", "-R", "asterisk:asterisk",
                    run_dir], check=True, timeout=60)
    conf = f"{run_dir}/etc/asterisk.conf"
    pid_file = tmp_path / "asterisk.pid"
    pid = process.start(["chroot", str(cfg.asterisk_root), ASTERISK, "-f", "-U", "asterisk",
                         "-G", "asterisk", "-C", conf], pid_file, tmp_path / "asterisk.out")

    def cli(command: str) -> str:
        return subprocess.run(["chroot", str(cfg.asterisk_root), ASTERISK, "-C", conf, "-rx",
                               command], capture_output=True, text=True, timeout=30,
                              stdin=subprocess.DEVNULL, check=False).stdout

    try:
        assert process.wait_until(lambda: "fully booted" in cli("core waitfullybooted"),
                                  timeout_s=60, interval_s=0.5), \
            (tmp_path / "asterisk.out").read_text()[-2000:]
        user = subprocess.run(["ps", "-o", "user=", "-p", str(pid)], capture_output=True,
                              text=True, check=True, timeout=10).stdout.strip()
        assert user not in ("root", "")  # the root's asterisk user, by its host uid's name
        transport = cli("pjsip show transport transport-udp")
        assert f"bind                        : {cfg.host}:{cfg.port_base + SIP}" in transport
        assert f"external_media_address      : {EXTERNAL}" in transport
        assert f"external_signaling_address  : {EXTERNAL}" in transport
        assert "local_net                   : 127.0.0.0/255.0.0.0" in transport
        manager = cli("manager show user recobro")
        assert "deny - 0.0.0.0/0.0.0.0" in manager and "allow - 127.0.0.0/255.0.0.0" in manager
        assert "write perm: system,originate" in manager
        endpoints = cli("pjsip show endpoints")
        agents = (secrets / "asterisk_agents").read_text().split("\n")
        for line in filter(None, agents):
            assert f"Endpoint:  {line.split()[0]}/" in endpoints
        rtp = cli("rtp show settings")
        assert f"Port start:      {cfg.port_base + RTP[0]}" in rtp
        http = f"http://{cfg.host}:{cfg.port_base + HTTP}"
        password = (secrets / "asterisk_metrics_password").read_text().strip()
        status, metrics = _get(f"{http}/metrics", "prometheus", password)
        assert status == 200 and "asterisk_core_uptime_seconds" in metrics
        ari_password = (secrets / "ari_password").read_text().strip()
        status, info = _get(f"{http}/ari/asterisk/info", "recobro", ari_password)
        assert status == 200 and '"system"' in info
    finally:
        process.stop(pid_file, conf, timeout_s=15.0)
        shutil.rmtree(on_host, ignore_errors=True)
