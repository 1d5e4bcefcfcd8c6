"""The lab's Prometheus (Debian's `prometheus`): it scrapes every Recobro
process the lab's settings start, each found through the target file it
writes while it serves /metrics (file-based discovery), once a second, and
answers queries on loopback. Its data stays in the lab's directory."""

from __future__ import annotations

import json
import os
import re
import signal
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from dialer.errors import LabError
from dialer.settings import ASTERISK_METRICS_USER
from lab import process
from lab.config import LabConfig

PROMETHEUS = "/usr/bin/prometheus"
READY_S = 30.0
SCRAPE_S = 1  # the lab's scrape interval: tests see a figure a second or two later
RETENTION = "2d"
PER_CHANNEL = "asterisk_channels_(state|duration_seconds)"  # res_prometheus's per-channel series
# Recobro's alert rules, in a clone (an installed wheel has none).
ALERT_RULES = Path(__file__).resolve().parents[1] / "docker" / "prometheus" / "alerts.yml"
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


def _password_file(cfg: LabConfig) -> Path:
    return _dir(cfg) / "asterisk-metrics.password"


def _write_config(cfg: LabConfig) -> bool:
    """Two jobs: recobro (each process's target file) and asterisk
    (res_prometheus on Asterisk's HTTP server, with its basic auth);
    whether the config changed."""
    password = _password_file(cfg)
    password.unlink(missing_ok=True)
    password.touch(mode=0o600)
    password.write_text(cfg.asterisk_metrics_password)
    # JSON is YAML: no YAML writer needed for a config this small.
    config = {
        "global": {"scrape_interval": f"{SCRAPE_S}s", "evaluation_interval": f"{SCRAPE_S}s"},
        "rule_files": [str(ALERT_RULES)] if ALERT_RULES.is_file() else [],
        "scrape_configs": [{
            "job_name": "recobro",
            "file_sd_configs": [{"files": [str(targets_dir(cfg) / "*.json")],
                                 "refresh_interval": f"{SCRAPE_S}s"}],
        }, {
            "job_name": "asterisk",
            "metrics_path": "/metrics",
            "basic_auth": {"username": ASTERISK_METRICS_USER, "password_file": str(password)},
            "static_configs": [{"targets": [f"{cfg.host}:{cfg.ari_port}"]}],
            # One series per channel, labelled with its unique id (Recobro's
            # call id): unbounded, and a call's id. asterisk_channels_count stays.
            "metric_relabel_configs": [{"source_labels": ["__name__"],
                                        "regex": PER_CHANNEL, "action": "drop"}],
        }],
    }
    text = json.dumps(config, indent=2) + "\n"
    if _config_file(cfg).is_file() and _config_file(cfg).read_text() == text:
        return False
    _config_file(cfg).write_text(text)
    return True


def forget_dead_targets(cfg: LabConfig) -> None:
    """Remove the target files of processes that died without removing
    theirs (killed with SIGKILL, say): Prometheus would scrape them in vain."""
    for target in targets_dir(cfg).glob("*.json"):
        found = _TARGET.fullmatch(target.name)
        if found is None or not process.alive(int(found.group(1))):
            target.unlink(missing_ok=True)


def start(cfg: LabConfig) -> int:
    """Start Prometheus unless it runs (one that runs reads a changed
    config again); wait until it listens."""
    targets_dir(cfg).mkdir(parents=True, exist_ok=True)
    forget_dead_targets(cfg)
    changed = _write_config(cfg)
    pid = running_pid(cfg)
    if pid is not None:
        if changed:
            os.kill(pid, signal.SIGHUP)  # Prometheus reads its config again
        return pid
    return process.start_listening(
        "the lab's Prometheus",
        [PROMETHEUS, _marker(cfg), f"--storage.tsdb.path={_dir(cfg) / 'data'}",
         f"--storage.tsdb.retention.time={RETENTION}",
         f"--web.listen-address={cfg.host}:{cfg.prometheus_port}"],
        _pid_file(cfg), log_file(cfg), cfg.host, cfg.prometheus_port, READY_S)


def stop(cfg: LabConfig) -> bool:
    """Stop Prometheus by its PID file (its data stays)."""
    return process.stop(_pid_file(cfg), _marker(cfg), timeout_s=20.0)


def _api(cfg: LabConfig, path: str, asked: dict[str, str]) -> object:
    """What Prometheus's HTTP API answered (its "data"), LabError when it refused."""
    address = f"{url(cfg)}/api/v1/{path}?{urllib.parse.urlencode(asked)}"
    try:
        with urllib.request.urlopen(address, timeout=10) as answer:
            body = json.load(answer)
    except urllib.error.HTTPError as error:
        body = json.load(error)
    if body.get("status") != "success":
        raise LabError(f"Prometheus refused {asked}: {body.get('error')}")
    return body["data"]


def query(cfg: LabConfig, promql: str) -> list[dict[str, object]]:
    """An instant query's result vector: each series' labels ("metric") and
    its value ("value": [time, "text"])."""
    return _api(cfg, "query", {"query": promql})["result"]


def query_range(cfg: LabConfig, promql: str, start: float, end: float,
                step_s: float = 2.0) -> list[dict[str, object]]:
    """A range query's matrix (each series' "values"), as a dashboard's
    panel asks for it."""
    return _api(cfg, "query_range", {"query": promql, "start": f"{start:.3f}",
                                     "end": f"{end:.3f}", "step": f"{step_s:g}"})["result"]


def alert_rules(cfg: LabConfig) -> list[dict[str, object]]:
    """The alerting rules Prometheus loaded, each with its query, health,
    last error and last evaluation."""
    groups = _api(cfg, "rules", {"type": "alert"})["groups"]
    return [rule for group in groups for rule in group["rules"]]


def series(cfg: LabConfig, match: str, since: float | None = None) -> list[dict[str, str]]:
    """The label sets of every series Prometheus holds that match (with
    samples since a Unix time, if given)."""
    asked = {"match[]": match, **({"start": f"{since:.3f}"} if since is not None else {})}
    return _api(cfg, "series", asked)
