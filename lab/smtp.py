"""The lab's mailbox: a real SMTP server (aiosmtpd, lab/smtp_server.py) on
loopback that keeps what it receives as files, and a reader of them."""

from __future__ import annotations

import email
import email.policy
import sys
from email.message import EmailMessage
from pathlib import Path

from lab import process
from lab.config import LabConfig

LAUNCHER = Path(__file__).resolve().parent / "smtp_server.py"
READY_S = 20.0


def maildir(cfg: LabConfig) -> Path:
    """Where the received e-mails are (a Maildir: new/ holds them)."""
    return cfg.lab_dir / "smtp" / "maildir"


def _pid_file(cfg: LabConfig) -> Path:
    return cfg.lab_dir / "smtp" / "smtp.pid"


def log_file(cfg: LabConfig) -> Path:
    return cfg.lab_dir / "logs" / "smtp.out"


def _marker(cfg: LabConfig) -> str:
    # The Maildir is the lab's own: no other lab's server has it.
    return f"--maildir {maildir(cfg)}"


def running_pid(cfg: LabConfig) -> int | None:
    return process.running_pid(_pid_file(cfg), _marker(cfg))


def start(cfg: LabConfig) -> int:
    """Start the SMTP server unless it runs; wait until it listens."""
    pid = running_pid(cfg)
    if pid is not None:
        return pid
    maildir(cfg).parent.mkdir(parents=True, exist_ok=True)
    return process.start_listening(
        "the lab's SMTP server", [sys.executable, str(LAUNCHER), "--host", cfg.host, "--port",
                                  str(cfg.smtp_port), "--maildir", str(maildir(cfg))],
        _pid_file(cfg), log_file(cfg), cfg.host, cfg.smtp_port, READY_S)


def stop(cfg: LabConfig) -> bool:
    """Stop the SMTP server by its PID file (what it received stays)."""
    return process.stop(_pid_file(cfg), _marker(cfg))


def received(cfg: LabConfig) -> list[EmailMessage]:
    """Every e-mail the server has kept, parsed, in the order received."""
    box = maildir(cfg) / "new"
    if not box.is_dir():
        return []
    found = []
    for path in sorted(box.iterdir(), key=lambda p: (p.stat().st_mtime_ns, p.name)):
        parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        found.append(parsed)
    return found


