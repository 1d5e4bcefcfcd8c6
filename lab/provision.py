"""Install what the lab needs when it is missing: Debian packages on the host
and the cached Asterisk 22 root (Debian sid, built by debootstrap)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

from dialer.errors import LabError

HOST_PACKAGES = {
    # command looked for (on PATH, or a path) -> Debian package that provides it
    "sipp": "sip-tester",
    "debootstrap": "debootstrap",
    "pg_ctlcluster": "postgresql",
    "espeak-ng": "espeak-ng",  # the lab's recorded prompts
    "sox": "sox",
    "tcpdump": "tcpdump",  # what the lab's peers received: audio-verified tests
    "baresip": "baresip-core",  # a real softphone as an agent, in the tests
    "/usr/sbin/bearerbox": "kannel",  # the lab's SMS gateway (and smsbox)
    "/usr/lib/kannel/test/fakesmsc": "kannel-extras",  # the phones behind Kannel
    "prometheus": "prometheus",  # scrapes the lab's Recobro processes (docs/metrics.md)
}
ASTERISK_PACKAGES = ("asterisk", "asterisk-modules", "asterisk-core-sounds-es",
                     "asterisk-core-sounds-en")
READY_MARKER = ".recobro-ready"


def _say(message: str) -> None:
    print(f"lab: {message}", file=sys.stderr, flush=True)


def _run(argv: list[str], what: str) -> None:
    result = subprocess.run(argv, stdin=subprocess.DEVNULL, check=False, capture_output=True, text=True,
                            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        raise LabError(f"{what} failed (exit {result.returncode}): {tail[0]}")


@contextlib.contextmanager
def one_lab_at_a_time(cache_dir: Path) -> Iterator[None]:
    """Held while a lab provisions what labs share (the host's packages, the
    Asterisk root and the recordings in it): two labs starting at once
    (pytest-xdist's workers) take turns; the second reuses the first's."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    with open(cache_dir / "provision.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def ensure_host_packages(packages: Mapping[str, str] = HOST_PACKAGES) -> None:
    """apt-get install the Debian packages whose commands are missing
    (packages: command -> package; default: what the lab needs)."""
    missing = sorted({pkg for cmd, pkg in packages.items() if shutil.which(cmd) is None})
    if not missing:
        return
    if os.geteuid() != 0:
        raise LabError(f"missing Debian packages {', '.join(missing)}: "
                       f"run `sudo apt-get install {' '.join(missing)}`")
    _say(f"installing {', '.join(missing)}")
    _run(["apt-get", "update", "-q"], "apt-get update")
    _run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
         f"apt-get install {' '.join(missing)}")


def postgres_bin_dir() -> Path:
    """The newest PostgreSQL server binaries Debian installed."""
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                        key=lambda p: int(p.parent.parent.name))
    if not candidates:
        raise LabError("PostgreSQL server binaries not found under /usr/lib/postgresql: "
                       "install the Debian package postgresql")
    return candidates[-1].parent


def ensure_asterisk_root(root: Path) -> None:
    """Build the Asterisk root with debootstrap once; later calls reuse it."""
    if (root / READY_MARKER).is_file():
        return
    if os.geteuid() != 0:
        raise LabError(f"the Asterisk root {root} is missing and building it needs root "
                       "(debootstrap, chroot)")
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / "asterisk-root.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build at a time across processes
        if (root / READY_MARKER).is_file():
            return
        staging = root.with_name(root.name + ".tmp")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)
        mirror = os.environ.get("RECOBRO_DEBIAN_MIRROR", "http://deb.debian.org/debian")
        _say(f"building the Asterisk 22 root in {root} (debootstrap sid, about a minute)")
        _run(["debootstrap", "--variant=minbase", f"--include={','.join(ASTERISK_PACKAGES)}",
              "sid", str(staging), mirror], "debootstrap of the Asterisk root")
        staging.rename(root)
        (root / READY_MARKER).write_text("debootstrap sid " + " ".join(ASTERISK_PACKAGES) + "\n")
