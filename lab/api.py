"""The lab's `recobro api`, on the lab's database: it takes the agents'
feature codes (*81 to *84) whenever the lab runs, and serves the API and
the agents' event WebSockets on RECOBRO_API_PORT."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from lab import process
from lab.config import LabConfig

READY_S = 30.0


def _pid_file(cfg: LabConfig) -> Path:
    return cfg.lab_dir / "api.pid"


def log_file(cfg: LabConfig) -> Path:
    return cfg.lab_dir / "logs" / "api.out"


def _marker(cfg: LabConfig) -> str:
    # The env file is the lab's own: no other lab's API has it on its command line.
    return f"--env-file {cfg.env_file} api"


def running_pid(cfg: LabConfig) -> int | None:
    return process.running_pid(_pid_file(cfg), _marker(cfg))


def start(cfg: LabConfig) -> int:
    """Start the lab's API unless it runs; wait until it listens."""
    pid = running_pid(cfg)
    if pid is not None:
        return pid
    # The lab's env file alone decides: no setting of the shell that ran
    # `lab up` (a test's DATABASE_URL, say) reaches the lab's API.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("RECOBRO_") and k != "DATABASE_URL"}
    return process.start_listening(
        "recobro api", [sys.executable, "-m", "dialer.cli", "--env-file", str(cfg.env_file),
                        "api"], _pid_file(cfg), log_file(cfg), cfg.host, cfg.api_port, READY_S,
        env=env)


def stop(cfg: LabConfig) -> bool:
    """Stop the lab's API by its PID file."""
    return process.stop(_pid_file(cfg), _marker(cfg))
