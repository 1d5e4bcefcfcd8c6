"""Running the `recobro` console script as a user would."""

from __future__ import annotations

import os
import subprocess
import sys


def cli_env(**overrides: str) -> dict[str, str]:
    """A clean environment: PATH with this venv's scripts, PYTHONPATH when
    set (tests run from a git worktree run its code, not the venv's
    editable install's), plus overrides."""
    path = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
    kept = {"PYTHONPATH": os.environ["PYTHONPATH"]} if os.environ.get("PYTHONPATH") else {}
    return {"PATH": path, "HOME": os.environ.get("HOME", "/root"), **kept, **overrides}


def run_cli(*args: str, timeout: float = 60, **overrides: str) -> subprocess.CompletedProcess:
    """Run `recobro args...` and capture its output."""
    return subprocess.run(["recobro", *args], env=cli_env(**overrides), capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False)
