"""The lab's SMS gateway: Debian's Kannel (bearerbox and smsbox) with a
fake SMSC, and kannel-extras' fakesmsc connected to it as the phones.

bearerbox holds a `fake` SMSC listening on loopback; fakesmsc connects to
it and prints every message bearerbox hands it (MT) as a line of its log,
`.lab/kannel/fakesmsc.out`: that file is what the other end received.
fakesmsc reads messages to send back (MO, a debtor's reply) from its
standard input, one `sender receiver text words...` line each; the lab
gives it a FIFO, `.lab/kannel/fakesmsc.in`, held open for reading and
writing by fakesmsc itself so that it never sees an end of file, and a
test writes a line into it (send_reply). smsbox serves sendsms (what
Recobro sends through), and turns the delivery reports and the replies
into HTTP GETs to Recobro's callback listener (dialer/messages/callbacks.py).

Each process is started and stopped by its own PID file (never by name)
and reused while it runs. Why each setting: docs/messages.md."""

from __future__ import annotations

import os
import re
import stat
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from dialer.errors import LabError
from dialer.messages.kannel import mo_url
from lab import process
from lab.config import LabConfig

BEARERBOX = "/usr/sbin/bearerbox"
SMSBOX = "/usr/sbin/smsbox"
FAKESMSC = "/usr/lib/kannel/test/fakesmsc"  # kannel-extras; not on PATH
SENDSMS_USER = "recobro"
SMSC_ID = "fakesmsc"
READY_S = 20.0
_CONNECTED = "Fakesmsc client connected"  # bearerbox's log, as fakesmsc connects


def directory(cfg: LabConfig) -> Path:
    return cfg.lab_dir / "kannel"


def config_file(cfg: LabConfig) -> Path:
    return directory(cfg) / "kannel.conf"


def received_file(cfg: LabConfig) -> Path:
    """fakesmsc's output: every message the fake phones received."""
    return directory(cfg) / "fakesmsc.out"


def reply_fifo(cfg: LabConfig) -> Path:
    """fakesmsc's standard input: a line written here is sent as an MO."""
    return directory(cfg) / "fakesmsc.in"


def sendsms_url(cfg: LabConfig) -> str:
    """smsbox's sendsms base URL, as RECOBRO_KANNEL_URL."""
    return f"http://{cfg.host}:{cfg.kannel_sendsms_port}"


def callback_url(cfg: LabConfig) -> str:
    """Where Kannel reaches Recobro's callback listener in the lab."""
    return f"http://{cfg.host}:{cfg.message_callback_port}"


def _pid_file(cfg: LabConfig, name: str) -> Path:
    return directory(cfg) / f"{name}.pid"


def _log(cfg: LabConfig, name: str) -> Path:
    return cfg.lab_dir / "logs" / f"{name}.out"


def _marker(cfg: LabConfig, name: str) -> str:
    """What only this lab's process has on its command line."""
    if name == "fakesmsc":
        return f"fakesmsc -H {cfg.host} -r {cfg.fakesmsc_port}"
    return f"{name} {config_file(cfg)}"


def render_config(cfg: LabConfig) -> str:
    """kannel.conf for bearerbox and smsbox: every listener on loopback,
    the sendsms user's generated password, and the replies' service."""
    directory_ = directory(cfg)
    return f"""# Written by `recobro lab up` (lab/kannel.py); docs/messages.md.
group = core
admin-port = {cfg.kannel_admin_port}
admin-interface = {cfg.host}
admin-password = {cfg.kannel_admin_password}
admin-allow-ip = {cfg.host}
smsbox-port = {cfg.kannel_box_port}
smsbox-interface = {cfg.host}
box-allow-ip = {cfg.host}
dlr-storage = internal
log-file = "{directory_ / 'bearerbox.log'}"
log-level = 1
access-log = "{directory_ / 'access.log'}"

group = smsc
smsc = fake
smsc-id = {SMSC_ID}
port = {cfg.fakesmsc_port}
our-host = {cfg.host}
connect-allow-ip = {cfg.host}

group = smsbox
bearerbox-host = {cfg.host}
bearerbox-port = {cfg.kannel_box_port}
sendsms-port = {cfg.kannel_sendsms_port}
sendsms-interface = {cfg.host}
mo-recode = true
http-request-retry = 3
http-queue-delay = 1
log-file = "{directory_ / 'smsbox.log'}"
log-level = 1
access-log = "{directory_ / 'smsbox-access.log'}"

group = sendsms-user
username = {SENDSMS_USER}
password = {cfg.kannel_sendsms_password}
user-allow-ip = {cfg.host}
concatenation = true
max-messages = 10

# A debtor's reply goes to Recobro; Kannel answers it with nothing
# (max-messages = 0): Recobro's one confirmation goes through its outbox.
group = sms-service
keyword = default
catch-all = true
get-url = "{mo_url(callback_url(cfg), cfg.message_callback_token)}"
max-messages = 0
omit-empty = true
"""


def running(cfg: LabConfig, name: str) -> int | None:
    """The PID of this lab's bearerbox, smsbox or fakesmsc, if it runs."""
    return process.running_pid(_pid_file(cfg, name), _marker(cfg, name))


def _ensure_fifo(path: Path) -> None:
    if path.exists() and not stat.S_ISFIFO(path.stat().st_mode):
        path.unlink()
    if not path.exists():
        os.mkfifo(path, 0o600)


def _start_fakesmsc(cfg: LabConfig) -> int:
    fifo = reply_fifo(cfg)
    _ensure_fifo(fifo)
    log = directory(cfg) / "bearerbox.log"
    connections = _read(log).count(_CONNECTED)
    # Read and write: fakesmsc holds a writer itself, so a test's writer
    # closing is never an end of file (fakesmsc would crash on one).
    stdin = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
    os.set_blocking(stdin, True)
    try:
        pid = process.start(
            [FAKESMSC, "-H", cfg.host, "-r", str(cfg.fakesmsc_port), "-i", "0", "-v", "0"],
            _pid_file(cfg, "fakesmsc"), received_file(cfg), stdin=stdin)
    finally:
        os.close(stdin)

    def connected() -> bool:
        if not process.alive(pid):
            raise LabError(f"fakesmsc exited at start; see {received_file(cfg)}")
        return _read(log).count(_CONNECTED) > connections

    if not process.wait_until(connected, timeout_s=READY_S):
        raise LabError(f"fakesmsc did not connect to bearerbox within {READY_S:.0f} s; see "
                       f"{received_file(cfg)}")
    return pid


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def start(cfg: LabConfig) -> None:
    """Start bearerbox, fakesmsc and smsbox, each unless it runs."""
    directory(cfg).mkdir(parents=True, exist_ok=True)
    config_file(cfg).touch(mode=0o600)  # it holds the passwords
    config_file(cfg).write_text(render_config(cfg))
    if running(cfg, "bearerbox") is None:
        # A fresh bearerbox: what fakesmsc and smsbox were connected to is gone.
        stop_part(cfg, "smsbox")
        stop_part(cfg, "fakesmsc")
        (directory(cfg) / "bearerbox.log").unlink(missing_ok=True)
        process.start_listening(
            "Kannel's bearerbox", [BEARERBOX, str(config_file(cfg))],
            _pid_file(cfg, "bearerbox"), _log(cfg, "bearerbox"), cfg.host,
            cfg.fakesmsc_port, READY_S)
    if running(cfg, "fakesmsc") is None:
        _start_fakesmsc(cfg)
    if running(cfg, "smsbox") is None:
        process.start_listening(
            "Kannel's smsbox", [SMSBOX, str(config_file(cfg))], _pid_file(cfg, "smsbox"),
            _log(cfg, "smsbox"), cfg.host, cfg.kannel_sendsms_port, READY_S)


def stop_part(cfg: LabConfig, name: str) -> bool:
    return process.stop(_pid_file(cfg, name), _marker(cfg, name))


def stop(cfg: LabConfig) -> None:
    """Stop smsbox, fakesmsc and bearerbox by their PID files."""
    for name in ("smsbox", "fakesmsc", "bearerbox"):
        stop_part(cfg, name)


@dataclass(frozen=True)
class Received:
    """A message fakesmsc received: its line(s), decoded; a concatenated
    message's parts joined (segments: how many there were)."""

    sender: str
    receiver: str
    kind: str  # text (as is), data or ucs-2 (URL-encoded bytes)
    data: bytes
    segments: int = 1

    def text(self, encoding: str = "utf-8") -> str:
        """The text in encoding (Kannel keeps a UCS-2 text as UTF-16BE)."""
        return self.data.decode(encoding)

    def decoded(self) -> str:
        """The text as the phone shows it: a UCS-2 one (coding 2) arrives as
        UTF-16BE bytes; a GSM-7 one as text, which never holds a NUL."""
        return self.text("utf-16-be" if b"\x00" in self.data else "utf-8")


# "sender receiver kind data", or "sender receiver udh UDH kind data"
_GOT = re.compile(r"Got message \d+: <(\S+) (\S+) (?:udh (\S+) )?(text|data|ucs-2) (.*)>$")


def _decoded(kind: str, rest: str) -> bytes:
    if kind == "text":
        return rest.encode("utf-8")
    return urllib.parse.unquote_to_bytes(rest.replace("+", " "))


def _concatenation(udh: bytes) -> tuple[int, int, int] | None:
    """(reference, parts, this part) from a UDH's concatenation element
    (IEI 0: an 8-bit reference; IEI 8: a 16-bit one)."""
    index = 1
    while index + 1 < len(udh):
        iei, length = udh[index], udh[index + 1]
        value = udh[index + 2:index + 2 + length]
        if iei == 0 and length == 3:
            return value[0], value[1], value[2]
        if iei == 8 and length == 4:
            return value[0] << 8 | value[1], value[2], value[3]
        index += 2 + length
    return None


def received(cfg: LabConfig) -> list[Received]:
    """Every message fakesmsc has received (in the order it completed),
    each concatenated one whole."""
    found: list[Received] = []
    pending: dict[tuple[str, str, int], dict[int, Received]] = {}
    for line in _read(received_file(cfg)).splitlines():
        match = _GOT.search(line)
        if match is None:
            continue
        sender, receiver, udh, kind, rest = match.groups()
        part = Received(sender, receiver, kind, _decoded(kind, rest))
        joined = _concatenation(_decoded("data", udh)) if udh else None
        if joined is None:
            found.append(part)
            continue
        reference, count, number = joined
        parts = pending.setdefault((sender, receiver, reference), {})
        parts[number] = part
        if len(parts) == count:
            del pending[(sender, receiver, reference)]
            found.append(Received(sender, receiver, kind,
                                  b"".join(parts[n].data for n in sorted(parts)), count))
    return found


def send_reply(cfg: LabConfig, sender: str, receiver: str, text: str) -> None:
    """Have fakesmsc send an MO: a debtor at sender replies text to
    receiver (our number). The text goes url-encoded as UTF-8 bytes."""
    if running(cfg, "fakesmsc") is None:
        raise LabError("fakesmsc is not running: run `recobro lab up`")
    encoded = urllib.parse.quote_plus(text.encode("utf-8"))
    line = f"{sender} {receiver} data {encoded}\n".encode("ascii")
    if len(line) > 250:  # fakesmsc reads 256 bytes a line
        raise LabError(f"a reply of {len(line)} bytes is too long for fakesmsc")
    descriptor = os.open(reply_fifo(cfg), os.O_WRONLY | os.O_NONBLOCK)
    try:
        os.write(descriptor, line)
    finally:
        os.close(descriptor)
