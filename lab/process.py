"""Start and stop the lab's daemons by their own PID files, never by name."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from dialer.errors import LabError


def _cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace")


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def alive(pid: int) -> bool:
    """Whether pid is a live process (not a zombie)."""
    _reap(pid)
    return not _is_zombie(pid)


def running_pid(pid_file: Path, marker: str) -> int | None:
    """The PID in pid_file if that process lives and its command line holds
    marker (so a recycled PID is never taken for ours)."""
    try:
        pid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    if not alive(pid) or marker not in _cmdline(pid):
        return None
    return pid


def start(argv: list[str], pid_file: Path, log_file: Path,
          env: dict[str, str] | None = None, stdin: int | None = None) -> int:
    """Start argv detached from this process, record its PID, return it.
    stdin: a file descriptor for its standard input (else /dev/null)."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL if stdin is None else stdin,
                                stdout=log, stderr=log,
                                start_new_session=True, env=env)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(f"{proc.pid}\n")
    return proc.pid


def start_listening(what: str, argv: list[str], pid_file: Path, log_file: Path,
                    host: str, port: int, ready_s: float,
                    env: dict[str, str] | None = None) -> int:
    """Start argv (as start does) and wait until it listens on host:port;
    LabError naming what and its log when it exits or stays deaf."""
    pid = start(argv, pid_file, log_file, env=env)

    def listening() -> bool:
        if not alive(pid):
            raise LabError(f"{what} exited at start; see {log_file}")
        return port_in_use(host, port)

    if not wait_until(listening, timeout_s=ready_s, interval_s=0.1):
        raise LabError(f"{what} did not listen on {host}:{port} within {ready_s:.0f} s; "
                       f"see {log_file}")
    return pid


def stop(pid_file: Path, marker: str, timeout_s: float = 10.0) -> bool:
    """SIGTERM the process of pid_file, SIGKILL it after timeout_s; remove
    the PID file. Returns whether a process was running."""
    pid = running_pid(pid_file, marker)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while running_pid(pid_file, marker) is not None:
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                deadline = time.monotonic() + timeout_s
            time.sleep(0.05)
    pid_file.unlink(missing_ok=True)
    return pid is not None


def wait_until(predicate, timeout_s: float, interval_s: float = 0.1) -> bool:
    """Poll predicate until it is true or timeout_s passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval_s)
    return bool(predicate())


def port_in_use(host: str, port: int, kind: int = socket.SOCK_STREAM) -> bool:
    """Whether something already holds host:port (TCP, or UDP with SOCK_DGRAM)."""
    with socket.socket(socket.AF_INET, kind) as probe:
        # Like the daemons themselves: a TIME_WAIT left by a stopped server
        # does not count, a live listener does.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False
