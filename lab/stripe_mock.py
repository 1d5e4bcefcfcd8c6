"""The lab's card gateway: localstripe (PyPI), a stateful Stripe-compatible
mock speaking the PaymentIntents form API, on loopback.

It lives in a virtual environment of its own under the lab directory
(.lab/localstripe/), installed there with pip when missing and reused when
present, so its dependencies never meet Recobro's. It runs through
lab/localstripe_server.py (on 127.0.0.1 only, in memory) and is stopped
by its PID file. Why localstripe: docs/payments.md."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from dialer.errors import LabError
from lab import process
from lab.config import LabConfig

PACKAGE = "localstripe==1.15.10"
LAUNCHER = Path(__file__).resolve().parent / "localstripe_server.py"
READY_S = 30.0


def venv_dir(cfg: LabConfig) -> Path:
    return cfg.lab_dir / "localstripe"


def _python(cfg: LabConfig) -> Path:
    return venv_dir(cfg) / "bin" / "python"


def _stamp(cfg: LabConfig) -> Path:
    return venv_dir(cfg) / ".installed"


def _pid_file(cfg: LabConfig) -> Path:
    return cfg.lab_dir / "stripe-mock.pid"


def log_file(cfg: LabConfig) -> Path:
    return cfg.lab_dir / "logs" / "stripe-mock.out"


def url(cfg: LabConfig) -> str:
    """The mock's base URL, as RECOBRO_PAYMENT_GATEWAY_URL."""
    return f"http://{cfg.host}:{cfg.stripe_mock_port}"


def _marker(cfg: LabConfig) -> str:
    # The venv is the lab's own: no other lab's mock has its path.
    return str(_python(cfg))


def ensure_installed(cfg: LabConfig) -> None:
    """Create the mock's virtual environment and pip install localstripe
    into it, unless this version is there already."""
    if _stamp(cfg).is_file() and _stamp(cfg).read_text().strip() == PACKAGE:
        return
    print(f"lab: installing {PACKAGE} into {venv_dir(cfg)}", file=sys.stderr, flush=True)
    for argv, what in (
        ([sys.executable, "-m", "venv", "--clear", str(venv_dir(cfg))], "python -m venv"),
        ([str(_python(cfg)), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
          PACKAGE], f"pip install {PACKAGE}"),
    ):
        result = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                check=False)
        if result.returncode != 0:
            tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
            raise LabError(f"{what} for the Stripe mock failed (exit {result.returncode}): "
                           f"{tail[0]}")
    _stamp(cfg).write_text(PACKAGE + "\n")


def running_pid(cfg: LabConfig) -> int | None:
    return process.running_pid(_pid_file(cfg), _marker(cfg))


def start(cfg: LabConfig) -> int:
    """Start the mock unless it runs; wait until it listens."""
    pid = running_pid(cfg)
    if pid is not None:
        return pid
    ensure_installed(cfg)
    return process.start_listening(
        "the Stripe mock", [str(_python(cfg)), "-I", str(LAUNCHER), "--host", cfg.host,
                            "--port", str(cfg.stripe_mock_port)],
        _pid_file(cfg), log_file(cfg), cfg.host, cfg.stripe_mock_port, READY_S)


def stop(cfg: LabConfig) -> bool:
    """Stop the mock by its PID file (what it held is gone with it)."""
    return process.stop(_pid_file(cfg), _marker(cfg))
