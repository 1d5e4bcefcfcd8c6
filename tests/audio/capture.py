"""Capture the lab's UDP traffic on loopback with tcpdump, for a test.

    with Capture([cfg.sip_port, cfg.pstn_port], tmp_path / "call.pcap",
                 ranges=[cfg.rtp_range]) as cap:
        place_the_call()
    heard = received(cap.path, cfg.sip_port, cfg.pstn_port)

tcpdump is started by this process and stopped through its own Popen handle
(SIGTERM, then wait): never by name, so other captures are left alone.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

from tests.audio.pcap import Datagram, read_pcap

TCPDUMP_FALLBACK = "/usr/sbin/tcpdump"
READY_MARK = "listening on"


class CaptureError(RuntimeError):
    """tcpdump did not start, or died while capturing."""


@dataclass(frozen=True)
class CaptureStats:
    """tcpdump's own counts, printed when it stops; None when it printed
    none. Dropped packets mean the capture is incomplete."""

    captured: int | None
    received_by_filter: int | None
    dropped_by_kernel: int | None


class _LabPorts(Protocol):
    """What capture_lab needs of lab.config.LabConfig."""

    port_base: int
    sip_port: int
    pstn_port: int
    pstn_media_port: int
    rtp_range: tuple[int, int]
    agents: tuple


def tcpdump_filter(ports: Iterable[int], ranges: Iterable[tuple[int, int]] = ()) -> str:
    """The capture filter for UDP to or from any of ports or port ranges."""
    terms = [f"port {port}" for port in sorted(set(ports))]
    terms += [f"portrange {low}-{high}" for low, high in ranges]
    if not terms:
        raise ValueError("a capture needs at least one port or port range")
    return f"udp and ({' or '.join(terms)})"


class Capture:
    """A running tcpdump writing UDP of the given ports to path (a context
    manager). After it stops, stats holds tcpdump's counts and datagrams()
    reads the capture."""

    def __init__(self, ports: Iterable[int], path: str | Path, *,
                 ranges: Iterable[tuple[int, int]] = (), interface: str = "lo",
                 ready_timeout: float = 10.0, settle: float = 0.0,
                 tcpdump: str | None = None) -> None:
        self.path = Path(path)
        self.filter = tcpdump_filter(ports, ranges)
        self.interface = interface
        self.ready_timeout = ready_timeout
        self.settle = settle  # seconds to keep capturing after the block, for late packets
        self.tcpdump = tcpdump or shutil.which("tcpdump") or TCPDUMP_FALLBACK
        self.stats: CaptureStats | None = None
        self._process: subprocess.Popen[str] | None = None
        self._stderr: list[str] = []
        self._ready = threading.Event()
        self._reader: threading.Thread | None = None

    @property
    def command(self) -> list[str]:
        """The tcpdump command line. --immediate-mode: without it libpcap
        hands packets over a block (or a second) at a time, and whatever is
        still in the ring buffer when SIGTERM arrives is lost: the end of
        every call."""
        return [self.tcpdump, "-i", self.interface, "-n", "-U", "--immediate-mode",
                "-s", "0", "-w", str(self.path), self.filter]

    def start(self) -> Self:
        """Start tcpdump and return once it is capturing."""
        if self._process is not None:
            raise CaptureError("this capture was already started")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._process = subprocess.Popen(self.command, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                         text=True)
        self._reader = threading.Thread(target=self._read_stderr, daemon=True,
                                        name=f"tcpdump-{self._process.pid}-stderr")
        self._reader.start()
        if not self._wait_ready():
            self._terminate()
            raise CaptureError(f"tcpdump did not start capturing within {self.ready_timeout} s: "
                               f"{self.stderr_text or 'no output'}")
        return self

    def stop(self) -> CaptureStats:
        """Stop tcpdump (SIGTERM to its own process, then wait) and return its
        counts. CaptureError if it had died before being asked to stop."""
        if self._process is None:
            raise CaptureError("this capture was never started")
        if self.stats is not None:
            return self.stats
        if self.settle > 0:
            time.sleep(self.settle)
        died_early = self._process.poll()
        self._terminate()
        self.stats = _parse_stats(self.stderr_text)
        if died_early is not None:
            raise CaptureError(f"tcpdump exited with {died_early} while capturing: "
                               f"{self.stderr_text}")
        return self.stats

    def datagrams(self) -> list[Datagram]:
        """The UDP datagrams captured so far (all of them once stopped)."""
        return read_pcap(self.path)

    @property
    def stderr_text(self) -> str:
        """What tcpdump printed on stderr, for error messages."""
        return "\n".join(self._stderr).strip()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        try:
            self.stop()
        except CaptureError:
            if kind is None:  # never hide the block's own exception behind ours
                raise

    def _read_stderr(self) -> None:
        assert self._process is not None and self._process.stderr is not None
        for line in self._process.stderr:
            self._stderr.append(line.rstrip("\n"))
            if READY_MARK in line:
                self._ready.set()

    def _wait_ready(self) -> bool:
        """True once tcpdump says it listens; False if it exits or times out."""
        assert self._process is not None
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self._ready.wait(timeout=0.05):
                return True
            if self._process.poll() is not None:
                self._join_reader()
                return self._ready.is_set()
        return False

    def _terminate(self) -> None:
        """SIGTERM our own tcpdump and reap it; SIGKILL (still by handle) only
        if it ignores the request, so the test never hangs."""
        assert self._process is not None
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._join_reader()

    def _join_reader(self) -> None:
        if self._reader is not None:
            self._reader.join(timeout=5)


def _parse_stats(stderr: str) -> CaptureStats:
    def count(label: str) -> int | None:
        found = re.search(rf"^(\d+) packets? {label}", stderr, re.MULTILINE)
        return int(found.group(1)) if found else None

    return CaptureStats(captured=count("captured"),
                        received_by_filter=count("received by filter"),
                        dropped_by_kernel=count("dropped by kernel"))


def lab_ports(cfg: _LabPorts) -> tuple[list[int], list[tuple[int, int]]]:
    """Every UDP port of a lab (lab.config.LabConfig): Asterisk's SIP
    and RTP range, the PSTN's SIP and media, the agents' SIP and media, and
    the one-shot sipp peers' ports (calls in, registrations, feature codes).
    Returns (ports, ranges) for Capture."""
    base = cfg.port_base
    ports = [cfg.sip_port, cfg.pstn_port, cfg.pstn_media_port,
             base + 97, base + 98, base + 99, base + 2080, base + 2090]
    for agent in cfg.agents:
        ports += [agent.sip_port, agent.media_port]
    # sipp also sends from the ports just above its -mp (RTCP, video).
    media = [cfg.pstn_media_port, base + 2080, base + 2090,
             *(agent.media_port for agent in cfg.agents)]
    ranges = [cfg.rtp_range, *((port, port + 3) for port in media)]
    return ports, ranges


def capture_lab(cfg: _LabPorts, path: str | Path, *, settle: float = 0.0) -> Capture:
    """A Capture of all of a lab's UDP traffic (see lab_ports)."""
    ports, ranges = lab_ports(cfg)
    return Capture(ports, path, ranges=ranges, settle=settle)


def running_as_root() -> bool:
    """Whether tcpdump can capture here without extra privileges."""
    return os.geteuid() == 0
