"""Recorded AMI and ARI traffic: the fixture format that lab/record_traffic.py
writes and the replay Asterisk of tests/replay reads.

A fixture is a JSON-lines file. Its first line describes the recording
(scenario, what it shows, when, Asterisk's clock at its start); each other
line is one thing seen between the engine and Asterisk, `t` seconds after
the start, in the order the recording proxy saw it:

- `{"via": "ami", "dir": "action", "headers": [[name, value], ...]}`: an AMI
  action the engine sent (headers in order; a name may repeat, as
  `Variable` does);
- `{"via": "ami", "dir": "message", "headers": [...]}`: what Asterisk sent on
  AMI, a response (it has `Response`) or an event;
- `{"via": "ari", "dir": "request", "method", "path", "query", "status",
  "body"}`: an ARI REST request (path after `/ari`) and Asterisk's answer;
- `{"via": "ari", "dir": "connect", "query": {...}}`: the event WebSocket
  opened;
- `{"via": "ari", "dir": "event", "event": {...}}`: an event on it.

Secrets never reach a fixture: the AMI login's `Secret` is replaced by
REDACTED, and no HTTP header (ARI's Basic authorisation) is kept."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REDACTED = "<redacted>"
SECRET_HEADERS = frozenset({"secret"})  # AMI headers whose value is a credential

Headers = list[tuple[str, str]]


@dataclass(frozen=True)
class Recorded:
    """One line of a fixture after the first."""

    t: float  # seconds since the recording started
    via: str  # "ami" or "ari"
    dir: str  # action, message, request, connect, event
    headers: Headers = field(default_factory=list)  # AMI
    method: str = ""  # ARI request
    path: str = ""
    query: dict[str, str] = field(default_factory=dict)  # ARI request, connect
    status: int = 0
    body: Any = None  # ARI response body (JSON), or None
    event: dict[str, Any] = field(default_factory=dict)  # ARI event

    @property
    def is_request(self) -> bool:
        """Something the engine sent (a replay answers it and what followed
        it in the recording comes after it)."""
        return self.dir in ("action", "request", "connect")

    def header(self, name: str) -> str:
        """An AMI header's first value ("" when absent), by name in any case."""
        return next((value for key, value in self.headers if key.lower() == name.lower()), "")

    def to_json(self) -> dict[str, Any]:
        line: dict[str, Any] = {"t": round(self.t, 4), "via": self.via, "dir": self.dir}
        if self.via == "ami":
            line["headers"] = [list(pair) for pair in self.headers]
        elif self.dir == "request":
            line.update(method=self.method, path=self.path, query=self.query,
                        status=self.status, body=self.body)
        elif self.dir == "connect":
            line["query"] = self.query
        else:
            line["event"] = self.event
        return line

    @classmethod
    def from_json(cls, line: dict[str, Any]) -> Recorded:
        return cls(t=float(line["t"]), via=line["via"], dir=line["dir"],
                   headers=[(str(k), str(v)) for k, v in line.get("headers", [])],
                   method=line.get("method", ""), path=line.get("path", ""),
                   query=dict(line.get("query", {})), status=int(line.get("status", 0)),
                   body=line.get("body"), event=dict(line.get("event", {})))


@dataclass(frozen=True)
class Fixture:
    """A recorded scenario: what it is, and what was seen, in order."""

    scenario: str
    what: str
    recorded_on: str  # the date (UTC)
    started_epoch: float  # Asterisk's clock (Unix time) when the recording started
    lines: tuple[Recorded, ...]


def redact(headers: Sequence[tuple[str, str]]) -> Headers:
    """AMI headers with every credential's value replaced."""
    return [(key, REDACTED if key.lower() in SECRET_HEADERS else value)
            for key, value in headers]


def write_fixture(path: Path, fixture: Fixture, secrets: Iterable[str]) -> None:
    """Write the fixture; ValueError, and nothing written, when any of the
    lab's secrets would appear in it."""
    head = {"scenario": fixture.scenario, "what": fixture.what,
            "recorded_on": fixture.recorded_on, "started_epoch": fixture.started_epoch}
    text = "".join(json.dumps(line, ensure_ascii=False) + "\n"
                   for line in [head, *(r.to_json() for r in fixture.lines)])
    leaked = [secret for secret in secrets if len(secret) >= 8 and secret in text]
    if leaked:
        raise ValueError(f"{path.name}: {len(leaked)} of the lab's secrets would be written; "
                         "not saved")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def read_fixture(path: Path) -> Fixture:
    """A fixture as write_fixture wrote it."""
    head, *rest = (json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
                   if line.strip())
    return Fixture(scenario=head["scenario"], what=head["what"],
                   recorded_on=head["recorded_on"], started_epoch=float(head["started_epoch"]),
                   lines=tuple(Recorded.from_json(line) for line in rest))


def parse_ami(text: str) -> Headers:
    """One AMI message (without its blank line) as ordered headers."""
    headers: Headers = []
    for line in text.split("\r\n"):
        key, sep, value = line.partition(":")
        if sep:
            headers.append((key.strip(), value.strip()))
    return headers


def format_ami(headers: Iterable[tuple[str, str]]) -> bytes:
    """AMI headers as Asterisk frames a message."""
    return ("".join(f"{key}: {value}\r\n" for key, value in headers) + "\r\n").encode()


class AmiFramer:
    """Splits an AMI byte stream into messages (a blank line ends each),
    and the banner Asterisk sends first ("Asterisk Call Manager/...")."""

    def __init__(self, from_asterisk: bool) -> None:
        self._buffer = ""
        self._awaiting_banner = from_asterisk
        self.banner = ""

    def feed(self, data: bytes) -> list[Headers]:
        """The messages data completes."""
        self._buffer += data.decode("utf-8", "replace")
        if self._awaiting_banner:
            line, sep, rest = self._buffer.partition("\r\n")
            if not sep:
                return []
            self.banner, self._buffer = line, rest
            self._awaiting_banner = False
        *complete, self._buffer = self._buffer.split("\r\n\r\n")
        return [parse_ami(message) for message in complete if message.strip()]
