"""A real SIP softphone for end-to-end tests: baresip 1.0.0 registered as one
of the lab's agents, steered over its ctrl_tcp socket.

While it runs, baresip's registration replaces the agent's sipp contact (the
agents' AORs have `max_contacts=1` and `remove_existing=yes`). `Baresip` used
as an async context manager puts the sipp contact back when it leaves, with
`lab.sipp.register_agent`; whoever calls `start()` and `stop()` by
hand must call that too.

    async with Baresip(cfg, cfg.agents[3], tmp_path) as phone:
        ...                                  # originate to PJSIP/agent1004
        call = await phone.wait_incoming(10)
        await asyncio.sleep(1)               # the agent takes a second
        await phone.accept()
        await phone.wait_event("CALL_ESTABLISHED", 5)
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import re
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

from lab import sipp
from lab.config import LabAgent, LabConfig

BARESIP = "baresip"
MODULES = "/usr/lib/baresip/modules"


class SoftphoneError(RuntimeError):
    """baresip failed to start, register, answer or reply in time."""


@dataclass(frozen=True)
class CallEvent:
    """One ctrl_tcp event of a call (CALL_INCOMING, CALL_ESTABLISHED, ...)."""

    type: str
    at: float  # time.monotonic() when it arrived
    call_id: str  # the SIP Call-ID
    peer_uri: str
    peer_name: str
    param: str  # e.g. the reason of CALL_CLOSED


@dataclass(frozen=True)
class IncomingCall:
    """What the phone shows of a ringing call."""

    call_id: str
    peer_uri: str  # sip:+12125550100@127.0.0.1: the caller ID number is its user
    peer_name: str  # the caller ID name ("" when none)
    invite: str | None  # the INVITE's head as received, from baresip's SIP trace
    at: float

    def header(self, name: str) -> str | None:
        """The value of the INVITE's first header called name, or None."""
        if self.invite is None:
            return None
        found = re.search(rf"^{re.escape(name)}: *(.*?)\s*$", self.invite,
                          re.MULTILINE | re.IGNORECASE)
        return found[1] if found else None

    @property
    def peer_number(self) -> str:
        """The user part of the peer URI: the caller ID number."""
        return self.peer_uri.removeprefix("sip:").split("@", 1)[0]


def _netstring(payload: dict[str, str]) -> bytes:
    body = json.dumps(payload).encode()
    return b"%d:%s," % (len(body), body)


class Baresip:
    """baresip registered as `agent` of the lab, with its own config directory,
    ports and log in `directory`; audio needs no sound card (it sends a sine
    tone, or with speech a WAV file of 8 kHz mono, and drops what it hears,
    keeping a WAV copy of both)."""

    def __init__(self, cfg: LabConfig, agent: LabAgent, directory: Path, *,
                 sip_port: int | None = None, ctrl_port: int | None = None,
                 rtp_ports: tuple[int, int] | None = None,
                 speech: Path | None = None) -> None:
        index = cfg.agents.index(agent)
        self.cfg = cfg
        self.agent = agent
        self.directory = directory
        # Defaults per agent, clear of every lab port (the port table in docs/lab.md).
        self.sip_port = sip_port or cfg.port_base + 150 + 4 * index
        # Not sip_port + 1: baresip also listens for SIP over TLS there.
        self.ctrl_port = ctrl_port or self.sip_port + 2
        self.rtp_ports = rtp_ports or (cfg.port_base + 2200 + 20 * index,
                                       cfg.port_base + 2219 + 20 * index)
        self.speech = speech
        self.log_file = directory / "baresip.log"
        self.events: list[CallEvent] = []
        self.started_at: float | None = None
        self.registered_at: float | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._pump: asyncio.Task[None] | None = None
        self._replies: dict[str, asyncio.Future[dict[str, object]]] = {}
        self._arrived = asyncio.Event()
        self._tokens = itertools.count(1)

    def write_config(self) -> None:
        """Write `config` and `accounts` (the latter readable by its owner
        only: it holds the agent's secret)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        host = self.cfg.host
        low, high = self.rtp_ports
        # aufile sends a WAV at its own rate and channels, which the source's must be.
        source = ("audio_source ausine,440\nausrc_srate 48000\nausrc_channels 2"
                  if self.speech is None else
                  f"audio_source aufile,{self.speech}\nausrc_srate 8000\nausrc_channels 1")
        (self.directory / "config").write_text(f"""\
poll_method epoll
sip_listen {host}:{self.sip_port}
# Else baresip puts the host's first interface in its SDP, not loopback.
net_interface {host}
# The registrar is an IP address: no DNS wanted, none leaves loopback.
dns_server {host}:53
call_local_timeout 120
call_max_calls 4
# No sound card: ausine sends a tone (48 kHz stereo only, resampled to
# 8 kHz) or aufile a speech file; aubridge as player drops what is heard
# (no source shares its device name); sndfile keeps both directions as
# WAV in this directory.
{source}
audio_player aubridge,nil
audio_alert aubridge,nil
rtp_ports {low}-{high}
rtp_stats yes
module_path {MODULES}
module g711.so
module ausine.so
module aufile.so
module aubridge.so
module sndfile.so
snd_path {self.directory}
module_tmp account.so
# menu holds the commands ctrl_tcp runs (accept, hangup, reginfo, ...).
module_app menu.so
statmode_default off
module_app ctrl_tcp.so
ctrl_tcp_listen {host}:{self.ctrl_port}
""")
        accounts = self.directory / "accounts"
        accounts.unlink(missing_ok=True)
        fd = os.open(accounts, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            # PCMU only; baresip 1.0.0 always sends DTMF as RFC 4733 events.
            out.write(f"<sip:{self.agent.endpoint}@{host}:{self.cfg.sip_port}>"
                      f";auth_pass={self.agent.secret};regint=600"
                      ";answermode=manual;audio_codecs=PCMU\n")

    async def start(self, timeout_s: float = 10.0) -> None:
        """Write the config, start baresip and connect to its ctrl_tcp socket."""
        self.write_config()
        log = os.open(self.log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            # -s: the SIP trace goes to the log (from_header is read there).
            self._process = await asyncio.create_subprocess_exec(
                BARESIP, "-s", "-f", str(self.directory), stdin=asyncio.subprocess.DEVNULL,
                stdout=log, stderr=log)
        finally:
            os.close(log)  # the child has its own copy
        self.started_at = time.monotonic()
        deadline = self.started_at + timeout_s
        while True:
            try:
                self._reader, self._writer = await asyncio.open_connection(
                    self.cfg.host, self.ctrl_port)
                break
            except OSError:
                if self._process.returncode is not None or time.monotonic() > deadline:
                    await self.stop()
                    raise SoftphoneError(f"baresip's ctrl_tcp never listened on "
                                         f"{self.ctrl_port}; see {self.log_file}") from None
                await asyncio.sleep(0.02)
        self._pump = asyncio.create_task(self._read_messages())

    async def _read_messages(self) -> None:
        """Read netstrings (`<length>:<json>,`): replies resolve the command
        of their token, events are recorded."""
        assert self._reader is not None
        while True:
            try:
                length = int((await self._reader.readuntil(b":"))[:-1])
                body = await self._reader.readexactly(length + 1)
            except (asyncio.IncompleteReadError, ConnectionError, ValueError):
                break
            message = json.loads(body[:-1])
            if message.get("response"):
                future = self._replies.pop(str(message.get("token")), None)
                if future is not None and not future.done():
                    future.set_result(message)
            elif message.get("event"):
                self._record(message)
        for future in self._replies.values():
            if not future.done():
                future.set_exception(SoftphoneError("baresip closed its ctrl_tcp socket"))

    def _record(self, message: dict[str, object]) -> None:
        kind = str(message.get("type", ""))
        if kind == "REGISTER_OK" and self.registered_at is None:
            self.registered_at = time.monotonic()
        self.events.append(CallEvent(
            type=kind, at=time.monotonic(), call_id=str(message.get("id", "")),
            peer_uri=str(message.get("peeruri", "")),
            peer_name=str(message.get("peerdisplayname", "")),
            param=str(message.get("param", ""))))
        self._arrived.set()

    async def command(self, command: str, params: str = "", timeout_s: float = 5.0) -> str:
        """Run a baresip command (`help` lists them); its reply text."""
        if self._writer is None or self._pump is None or self._pump.done():
            raise SoftphoneError(f"baresip is not running; see {self.log_file}")
        token = str(next(self._tokens))
        future: asyncio.Future[dict[str, object]] = asyncio.get_running_loop().create_future()
        self._replies[token] = future
        self._writer.write(_netstring({"command": command, "params": params, "token": token}))
        await self._writer.drain()
        reply = await asyncio.wait_for(future, timeout_s)
        if not reply.get("ok"):
            raise SoftphoneError(f"baresip refused {command!r}: {reply.get('data')}")
        return str(reply.get("data", ""))

    async def wait_event(self, kind: str, timeout_s: float, since: int = 0) -> CallEvent:
        """The first event of type `kind` from index `since` of `events` on,
        waiting up to timeout_s for it."""
        deadline = time.monotonic() + timeout_s
        while True:
            for event in self.events[since:]:
                if event.type == kind:
                    return event
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SoftphoneError(f"no {kind} from baresip in {timeout_s} s; "
                                     f"events: {[e.type for e in self.events]}")
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)

    async def wait_registered(self, timeout_s: float = 10.0) -> float:
        """Wait until Asterisk accepted the REGISTER; seconds since start.
        The first REGISTER_OK may come before the socket is connected, so
        `reginfo` is polled too."""
        deadline = time.monotonic() + timeout_s
        while self.registered_at is None:
            # reginfo shows a green "OK" for a registered account.
            if "\x1b[32mOK" in await self.command("reginfo"):
                self.registered_at = time.monotonic()
                break
            if time.monotonic() > deadline:
                raise SoftphoneError(f"{self.agent.endpoint} did not register in "
                                     f"{timeout_s} s; see {self.log_file}")
            with contextlib.suppress(SoftphoneError):
                await self.wait_event("REGISTER_OK", 0.1, len(self.events))
        assert self.started_at is not None
        return self.registered_at - self.started_at

    async def wait_incoming(self, timeout_s: float, since: int = 0) -> IncomingCall:
        """The first call ringing at the phone (from `events[since]` on)."""
        event = await self.wait_event("CALL_INCOMING", timeout_s, since)
        return IncomingCall(call_id=event.call_id, peer_uri=event.peer_uri,
                            peer_name=event.peer_name,
                            invite=await self._invite(event.call_id), at=event.at)

    async def _invite(self, call_id: str) -> str | None:
        """The head (request line and headers) of the INVITE of call_id in
        the SIP trace (the event carries only the peer's URI and name); the
        log may lag."""
        for _ in range(10):
            text = self.log_file.read_text(errors="replace")
            # Each traced request's headers run from its request line to
            # the first empty line.
            for start in re.finditer(r"^INVITE sip:", text, re.MULTILINE):
                head = re.split(r"\r?\n\r?\n", text[start.start():], maxsplit=1)[0]
                if re.search(rf"^Call-ID: *{re.escape(call_id)}\s*$", head, re.MULTILINE):
                    return head
            await asyncio.sleep(0.05)
        return None

    async def accept(self) -> None:
        """Answer the ringing call (the agent picks up)."""
        await self.command("accept")

    async def dial(self, number: str) -> None:
        """Call number (a feature code, say) at the registrar."""
        await self.command("dial", f"sip:{number}@{self.cfg.host}:{self.cfg.sip_port}")

    async def hangup(self) -> None:
        """Hang up the current call (or reject the ringing one)."""
        await self.command("hangup")

    async def send_dtmf(self, digits: str) -> None:
        """Key digits into the established call (RFC 4733 events); `sndcode`
        works over ctrl_tcp though 1.0.0's help does not list it."""
        await self.command("sndcode", digits)

    def audio_dumps(self) -> list[Path]:
        """sndfile's WAV copies, oldest first: `*-enc.wav` what was sent,
        `*-dec.wav` what was heard (complete once the call closed)."""
        return sorted(self.directory.glob("dump-*.wav"))

    async def stop(self, timeout_s: float = 5.0) -> int | None:
        """SIGTERM baresip (it unregisters), SIGKILL after timeout_s; its
        exit status. The sipp contact is not restored here."""
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
            self._pump = None
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(ConnectionError):
                await self._writer.wait_closed()
            self._writer = None
        process, self._process = self._process, None
        if process is None:
            return None
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), timeout_s)
            except TimeoutError:
                process.kill()
                await process.wait()
        return process.returncode

    async def __aenter__(self) -> Self:
        await self.start()
        try:
            await self.wait_registered()
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        await self.stop()
        # Back to the lab's state: the agent's sipp softphone is its contact.
        await asyncio.to_thread(sipp.register_agent, self.cfg, self.agent)
