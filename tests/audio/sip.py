"""SIP dialogs rebuilt from captured UDP datagrams.

Each INVITE dialog (by Call-ID) gives what a phone would show and where its
audio went: the dialed user, the caller ID (From's display name and user),
the SDP media each side announced, and when it started, was answered and
ended. The side of a message is known by its UDP source port: Asterisk's
SIP port, or the peer's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from urllib.parse import unquote

from tests.audio.pcap import Datagram, Endpoint

# RFC 3261 section 7.3.3 and later RFCs' compact header names.
COMPACT_HEADERS = {
    "a": "accept-contact", "b": "referred-by", "c": "content-type",
    "d": "request-disposition", "e": "content-encoding", "f": "from", "i": "call-id",
    "j": "reject-contact", "k": "supported", "l": "content-length", "m": "contact",
    "o": "event", "r": "refer-to", "s": "subject", "t": "to", "u": "allow-events",
    "v": "via", "x": "session-expires", "y": "identity",
}
STATIC_PAYLOAD_TYPES = {0: "PCMU/8000", 3: "GSM/8000", 8: "PCMA/8000", 9: "G722/8000",
                        13: "CN/8000", 18: "G729/8000"}

_REQUEST_LINE = re.compile(r"^([A-Z]+) (\S+) SIP/2\.0$")
_STATUS_LINE = re.compile(r"^SIP/2\.0 (\d{3})(?: (.*))?$")
_START = re.compile(rb"(?:[A-Z]+ \S+ SIP/2\.0|SIP/2\.0 \d{3})")
_HEAD_END = re.compile(rb"\r?\n\r?\n")
_QUOTED = re.compile(r'^"((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class SipMessage:
    """One SIP request or response as captured."""

    time: float
    src: Endpoint
    dst: Endpoint
    start_line: str
    headers: tuple[tuple[str, str], ...]  # (lower-case full name, value), in order
    body: bytes

    @property
    def method(self) -> str | None:
        """The request's method; None for a response."""
        found = _REQUEST_LINE.match(self.start_line)
        return found.group(1) if found else None

    @property
    def request_uri(self) -> str | None:
        found = _REQUEST_LINE.match(self.start_line)
        return found.group(2) if found else None

    @property
    def status(self) -> int | None:
        """The response's status code; None for a request."""
        found = _STATUS_LINE.match(self.start_line)
        return int(found.group(1)) if found else None

    def header(self, name: str) -> str | None:
        """The first value of a header, by full or compact name, any case."""
        values = self.header_values(name)
        return values[0] if values else None

    def header_values(self, name: str) -> list[str]:
        wanted = _canonical(name)
        return [value for key, value in self.headers if key == wanted]

    @property
    def call_id(self) -> str | None:
        return self.header("call-id")

    @property
    def cseq(self) -> tuple[int, str] | None:
        """(number, method) of the CSeq header."""
        raw = self.header("cseq")
        parts = raw.split() if raw else []
        if len(parts) != 2 or not parts[0].isdigit():
            return None
        return int(parts[0]), parts[1].upper()

    @property
    def text_body(self) -> str:
        return self.body.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class Media:
    """The audio an SDP announced: where to send it and which payload types
    mean what (static types filled in, then a=rtpmap)."""

    address: str
    port: int
    formats: tuple[int, ...]
    rtpmap: dict[int, str] = field(default_factory=dict)
    direction: str = "sendrecv"

    @property
    def endpoint(self) -> Endpoint:
        return self.address, self.port

    def payload_types(self, encoding: str) -> set[int]:
        """The payload types mapped to an encoding name (any case), e.g.
        'telephone-event' or 'PCMU'."""
        wanted = encoding.lower()
        return {pt for pt, name in self.rtpmap.items()
                if name.split("/", 1)[0].lower() == wanted}


@dataclass(frozen=True)
class CallerId:
    """A name-addr as a phone shows it: display name and URI user."""

    name: str | None
    user: str | None


@dataclass(frozen=True)
class Dialog:
    """One INVITE dialog between Asterisk and a peer, by Call-ID."""

    call_id: str
    number: str | None  # the INVITE's request-URI user: a dialed number or an endpoint
    caller_id: CallerId  # the INVITE's From
    asserted_id: CallerId | None  # its P-Asserted-Identity, when sent
    from_asterisk: bool  # Asterisk sent the INVITE (an outbound call)
    asterisk_sip: Endpoint
    peer_sip: Endpoint
    asterisk_media: tuple[Media, ...]  # every SDP Asterisk sent in the dialog, in order
    peer_media: tuple[Media, ...]  # every SDP the peer sent
    start: float  # the first INVITE
    answer: float | None  # the first 200 OK to the INVITE
    end: float  # the first BYE, or else the dialog's last message
    final_status: int | None  # the final response to the first INVITE
    bye_from_asterisk: bool | None  # who hung up; None without a BYE
    messages: tuple[SipMessage, ...]

    @property
    def answered(self) -> bool:
        return self.answer is not None

    @property
    def caller_name(self) -> str | None:
        return self.caller_id.name

    @property
    def caller_user(self) -> str | None:
        return self.caller_id.user

    @property
    def talk_seconds(self) -> float:
        """Seconds from answer to end; 0 when never answered."""
        return self.end - self.answer if self.answer is not None else 0.0


def parse_sip(payload: bytes, *, time: float = 0.0, src: Endpoint = ("", 0),
              dst: Endpoint = ("", 0)) -> list[SipMessage]:
    """The SIP messages in one datagram (or stream chunk). Several messages
    follow one another by Content-Length; a keep-alive (CRLF only) or a
    payload that is not SIP (RTP, STUN) gives none."""
    messages = []
    position = _skip_blank(payload, 0)
    while position < len(payload) and _START.match(payload, position):
        start_line, headers, body, position = _parse_one(payload, position)
        messages.append(SipMessage(time=time, src=src, dst=dst, start_line=start_line,
                                   headers=headers, body=body))
        position = _skip_blank(payload, position)
    return messages


def _skip_blank(payload: bytes, position: int) -> int:
    while position < len(payload) and payload[position] in b"\r\n":
        position += 1
    return position


def _parse_one(payload: bytes, start: int
               ) -> tuple[str, tuple[tuple[str, str], ...], bytes, int]:
    """One message from start: (start line, headers, body, where it ends)."""
    found = _HEAD_END.search(payload, start)
    head_end, body_start = (found.start(), found.end()) if found else (len(payload),) * 2
    lines = payload[start:head_end].decode("utf-8", errors="replace").splitlines()
    headers = _headers(lines[1:])
    length = next((value for key, value in headers if key == "content-length"), "")
    if length.isdigit():
        body_end = min(body_start + int(length), len(payload))
    else:
        body_end = len(payload)  # over UDP a missing length means the rest
    return lines[0].strip(), headers, payload[body_start:body_end], body_end


def _headers(lines: list[str]) -> tuple[tuple[str, str], ...]:
    """(canonical name, value) pairs; folded lines join the one above."""
    unfolded: list[str] = []
    for line in lines:
        if line[:1] in (" ", "\t") and unfolded:
            unfolded[-1] += " " + line.strip()
        elif line.strip():
            unfolded.append(line)
    pairs = []
    for line in unfolded:
        name, colon, value = line.partition(":")
        if colon:
            pairs.append((_canonical(name), value.strip()))
    return tuple(pairs)


def _canonical(name: str) -> str:
    lowered = name.strip().lower()
    return COMPACT_HEADERS.get(lowered, lowered)


def sip_messages(datagrams: Iterable[Datagram],
                 ports: Iterable[int] | None = None) -> list[SipMessage]:
    """The SIP messages among datagrams, in capture order; with ports, only
    datagrams from or to one of them."""
    wanted = set(ports) if ports is not None else None
    found = []
    for datagram in datagrams:
        if wanted is not None and not {datagram.src[1], datagram.dst[1]} & wanted:
            continue
        found += parse_sip(datagram.payload, time=datagram.time, src=datagram.src,
                           dst=datagram.dst)
    return found


def parse_sdp(text: str) -> Media | None:
    """The first audio stream an SDP announces; None without one. A
    media-level c= wins over the session's."""
    session_address: str | None = None
    media: dict | None = None
    for line in text.splitlines():
        kind, equals, value = line.strip().partition("=")
        if not equals:
            continue
        if kind == "m":
            if media is not None:
                break  # only the first audio stream
            parts = value.split()
            if len(parts) >= 3 and parts[0] == "audio" and parts[1].split("/")[0].isdigit():
                formats = tuple(int(pt) for pt in parts[3:] if pt.isdigit())
                media = {"port": int(parts[1].split("/")[0]), "formats": formats,
                         "address": session_address, "rtpmap": {}, "direction": "sendrecv"}
        elif kind == "c":
            address = value.split()[-1].split("/")[0] if value.split() else None
            if media is None:
                session_address = address
            else:
                media["address"] = address
        elif kind == "a" and media is not None:
            _media_attribute(media, value)
    if media is None or media["address"] is None:
        return None
    rtpmap = {pt: STATIC_PAYLOAD_TYPES[pt] for pt in media["formats"]
              if pt in STATIC_PAYLOAD_TYPES}
    rtpmap.update(media["rtpmap"])
    return Media(address=media["address"], port=media["port"], formats=media["formats"],
                 rtpmap=rtpmap, direction=media["direction"])


def _media_attribute(media: dict, value: str) -> None:
    name, _colon, argument = value.partition(":")
    if name == "rtpmap":
        pt, _space, encoding = argument.partition(" ")
        if pt.isdigit():
            media["rtpmap"][int(pt)] = encoding.strip()
    elif name in ("sendrecv", "sendonly", "recvonly", "inactive"):
        media["direction"] = name


def uri_user(uri: str | None) -> str | None:
    """The user part of a sip:, sips: or tel: URI (percent-decoded)."""
    if not uri:
        return None
    uri = uri.strip().strip("<>")
    scheme, colon, rest = uri.partition(":")
    if not colon:
        return None
    if scheme.lower() == "tel":
        return unquote(rest.split(";", 1)[0]) or None
    if "@" not in rest:
        return None
    user = rest.split("@", 1)[0].split(";", 1)[0].split(":", 1)[0]
    return unquote(user) or None


def parse_name_addr(value: str | None) -> CallerId:
    """Display name and URI user of a From, To or P-Asserted-Identity value:
    '"Name" <sip:user@host>;tag=x', 'Name <sip:...>' or 'sip:user@host;tag=x'."""
    if not value:
        return CallerId(None, None)
    value = value.strip()
    if "<" in value:
        quoted = _QUOTED.match(value)
        if quoted:
            name = re.sub(r"\\(.)", r"\1", quoted.group(1))
            rest = value[quoted.end():].partition("<")[2]
        else:
            display, _bracket, rest = value.partition("<")
            name = display.strip()
        return CallerId(name.strip() or None, uri_user(rest.split(">", 1)[0]))
    return CallerId(None, uri_user(value.split(";", 1)[0]))


def dialogs(datagrams: Iterable[Datagram], asterisk_sip_port: int,
            peer_sip_port: int | None = None) -> list[Dialog]:
    """Every INVITE dialog between Asterisk (its SIP port) and peers (one
    peer's SIP port, or any), in the order they started."""
    messages = [m for m in sip_messages(datagrams)
                if _between(m, asterisk_sip_port, peer_sip_port)]
    by_call: dict[str, list[SipMessage]] = {}
    for message in messages:
        if message.call_id:
            by_call.setdefault(message.call_id, []).append(message)
    built = (_dialog(call_id, found, asterisk_sip_port) for call_id, found in by_call.items())
    return sorted((d for d in built if d is not None), key=lambda d: d.start)


def _between(message: SipMessage, asterisk_port: int, peer_port: int | None) -> bool:
    ports = (message.src[1], message.dst[1])
    if asterisk_port not in ports:
        return False
    return peer_port is None or peer_port in ports


def _dialog(call_id: str, messages: list[SipMessage], asterisk_port: int) -> Dialog | None:
    invites = [m for m in messages if m.method == "INVITE"]
    if not invites:
        return None  # OPTIONS, REGISTER and the like
    invite = invites[0]
    from_asterisk = invite.src[1] == asterisk_port
    asterisk_sip, peer_sip = ((invite.src, invite.dst) if from_asterisk
                              else (invite.dst, invite.src))
    first_cseq = invite.cseq
    responses = [m for m in messages if m.status is not None and m.cseq == first_cseq]
    final = next((m for m in responses if m.status is not None and m.status >= 200), None)
    answer = final.time if final is not None and final.status == 200 else None
    bye = next((m for m in messages if m.method == "BYE"), None)
    asserted = invite.header("p-asserted-identity")
    return Dialog(
        call_id=call_id,
        number=uri_user(invite.request_uri),
        caller_id=parse_name_addr(invite.header("from")),
        asserted_id=parse_name_addr(asserted) if asserted else None,
        from_asterisk=from_asterisk,
        asterisk_sip=asterisk_sip,
        peer_sip=peer_sip,
        asterisk_media=tuple(_sdps(messages, asterisk_port, from_asterisk=True)),
        peer_media=tuple(_sdps(messages, asterisk_port, from_asterisk=False)),
        start=invite.time,
        answer=answer,
        end=bye.time if bye is not None else messages[-1].time,
        final_status=final.status if final is not None else None,
        bye_from_asterisk=None if bye is None else bye.src[1] == asterisk_port,
        messages=tuple(messages),
    )


def _sdps(messages: list[SipMessage], asterisk_port: int, *,
          from_asterisk: bool) -> Iterator[Media]:
    """The audio of each distinct SDP one side sent (retransmissions once)."""
    seen: set[bytes] = set()
    for message in messages:
        if (message.src[1] == asterisk_port) != from_asterisk or not message.body:
            continue
        content_type = (message.header("content-type") or "").lower()
        if "application/sdp" not in content_type or message.body in seen:
            continue
        seen.add(message.body)
        media = parse_sdp(message.text_body)
        if media is not None:
            yield media
