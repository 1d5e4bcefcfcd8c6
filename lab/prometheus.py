"""The lab's Prometheus (Debian's `prometheus`): it scrapes every Recobro
process the lab's settings start, each found through the target file it
writes while it serves /metrics (file-based discovery), once a second, and
answers queries on loopback. Its data stays in the lab's directory."""

from __future__ import annotations

import json
import re
import urllib.parse
import urllib.request
from pathlib import Path

from dialer.errors import LabError
from lab import process
from lab.config import LabConfig

PROMETHEUS = "/usr/bin/prometheus"
READY_S = 30.0
SCRAPE_S = 1  # the lab's scrape interval: tests see a figure a second or two later
RETENTION = "2d"
# A target file is named recobro-<process>-<pid>.json (dialer.metrics.exporter).
_TARGET = re.compile(r"recobro-[a-z_]+-(\d+)\.json")


def _dir(cfg: LabConfig) -> Path:
    return cfg.lab_dir / "prometheus"


def targets_dir(cfg: LabConfig) -> Path:
    """Where each Recobro process announces its /metrics (RECOBRO_METRICS_TARGETS)."""
    return _dir(cfg) / "targets"


def _pid_file(cfg: LabConfig) -> Path:
    return _dir(cfg) / "prometheus.pid"


def log_file(cfg: LabConfig) -> Path:
    return cfg.lab_dir / "logs" / "prometheus.out"


def _config_file(cfg: LabConfig) -> Path:
    return _dir(cfg) / "prometheus.yml"


def _marker(cfg: LabConfig) -> str:
    return f"--config.file={_config_file(cfg)}"


def url(cfg: LabConfig) -> str:
    """Prometheus's base URL (its web UI and HTTP API)."""
    return f"http://{cfg.host}:{cfg.prometheus_port}"


def running_pid(cfg: LabConfig) -> int | None:
    return process.running_pid(_pid_file(cfg), _marker(cfg))


def _write_config(cfg: LabConfig) -> None:
    # JSON is YAML: no YAML writer needed for a config this small.
    config = {
        "global": {"scrape_interval": f"{SCRAPE_S}s", "evaluation_interval": f"{SCRAPE_S}s"},
        "scrape_configs": [{
            "job_name": "recobro",
            "file_sd_configs": [{"files": [str(targets_dir(cfg) / "*.json")],
                                 "refresh_interval": f"{SCRAPE_S}s"}],
        }],
    }
    _config_file(cfg).write_text(json.dumps(config, indent=2) + "\n")


def forget_dead_targets(cfg: LabConfig) -> None:
    """Remove the target files of processes that died without removing
    theirs (killed with SIGKILL, say): Prometheus would scrape them in vain."""
    for target in targets_dir(cfg).glob("*.json"):
        found = _TARGET.fullmatch(target.name)
        if found is None or not process.alive(int(found.group(1))):
            target.unlink(missing_ok=True)


def start(cfg: LabConfig) -> int:
    """Start Prometheus unless it runs; wait until it listens."""
    targets_dir(cfg).mkdir(parents=True, exist_ok=True)
    forget_dead_targets(cfg)
    pid = running_pid(cfg)
    if pid is not None:
        return pid
    _write_config(cfg)
    return process.start_listening(
        "the lab's Prometheus",
        [PROMETHEUS, _marker(cfg), f"--storage.tsdb.path={_dir(cfg) / 'data'}",
         f"--storage.tsdb.retention.time={RETENTION}",
         f"--web.listen-address={cfg.host}:{cfg.prometheus_port}"],
        _pid_file(cfg), log_file(cfg), cfg.host, cfg.prometheus_port, READY_S)


def stop(cfg: LabConfig) -> bool:
    """Stop Prometheus by its PID file (its data stays)."""
    return process.stop(_pid_file(cfg), _marker(cfg), timeout_s=20.0)


def query(cfg: LabConfig, promql: str) -> list[dict[str, object]]:
    """An instant query's result vector: each series' labels ("metric") and
    its value ("value": [time, "text"])."""
    address = f"{url(cfg)}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
    with urllib.request.urlopen(address, timeout=10) as answer:
        body = json.load(answer)
    if body.get("status") != "success":
        raise LabError(f"Prometheus refused {promql!r}: {body.get('error')}")
    return body["data"]["result"]


def series(cfg: LabConfig, match: str) -> list[dict[str, str]]:
    """The label sets of every series Prometheus holds that match."""
    address = f"{url(cfg)}/api/v1/series?{urllib.parse.urlencode({'match[]': match})}"
    with urllib.request.urlopen(address, timeout=10) as answer:
        body = json.load(answer)
    if body.get("status") != "success":
        raise LabError(f"Prometheus refused the series {match!r}: {body.get('error')}")
    return body["data"]
