"""Pcaps of one RTP stream, for sipp's play_pcap_audio: G.711 u-law audio
cut into 20 ms packets (160 bytes, payload type 0), or keys pressed as
RFC 4733 telephone events (payload type 101); and the UDP datagrams of a
capture, read back. Pure: bytes in, bytes out."""

from __future__ import annotations

import struct
from dataclasses import dataclass

SAMPLES_PER_PACKET = 160  # 20 ms at 8 kHz
PACKET_S = 0.020
_SRC = bytes([127, 0, 0, 1])
_DST = bytes([127, 0, 0, 1])
_SRC_PORT, _DST_PORT = 40000, 40002


def _ipv4_header(payload_length: int) -> bytes:
    total = 20 + payload_length
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 0, 0x4000, 64, 17, 0, _SRC, _DST)
    checksum = _checksum(header)
    return header[:10] + struct.pack("!H", checksum) + header[12:]


def _checksum(data: bytes) -> int:
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _pcap(packets: list[tuple[float, bytes]]) -> bytes:
    """A pcap file (Ethernet, IPv4, UDP) of RTP packets sent at their times."""
    return udp_pcap([(at, _SRC_PORT, _DST_PORT, rtp) for at, rtp in packets])


def udp_pcap(datagrams: list[tuple[float, int, int, bytes]]) -> bytes:
    """A pcap file (Ethernet, IPv4, UDP on loopback) of (time, source port,
    destination port, payload) datagrams."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    ethernet = b"\x00" * 12 + b"\x08\x00"
    for at, src_port, dst_port, rtp in datagrams:
        udp = struct.pack("!HHHH", src_port, dst_port, 8 + len(rtp), 0) + rtp
        frame = ethernet + _ipv4_header(len(udp)) + udp
        micros = round(at * 1_000_000)
        out.append(struct.pack("<IIII", micros // 1_000_000, micros % 1_000_000,
                               len(frame), len(frame)))
        out.append(frame)
    return b"".join(out)


def rtp_packet(marker: bool, payload_type: int, sequence: int, timestamp: int, ssrc: int,
         payload: bytes) -> bytes:
    """One RTP packet (version 2, no CSRC, no extension)."""
    return struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | payload_type,
                       sequence & 0xFFFF, timestamp & 0xFFFFFFFF, ssrc) + payload


def rtp_pcap(ulaw: bytes, ssrc: int = 0x5EC0B20) -> bytes:
    """The pcap carrying ulaw as PCMU, 20 ms a packet."""
    packets = []
    for index, start in enumerate(range(0, len(ulaw), SAMPLES_PER_PACKET)):
        chunk = ulaw[start:start + SAMPLES_PER_PACKET].ljust(SAMPLES_PER_PACKET, b"\xff")
        packets.append((index * PACKET_S, rtp_packet(index == 0, 0, index,
                                               index * SAMPLES_PER_PACKET, ssrc, chunk)))
    return _pcap(packets)


EVENT_PAYLOAD_TYPE = 101
EVENTS = {**{str(d): d for d in range(10)}, "*": 10, "#": 11}  # key -> RFC 4733 event
KEY_PACKETS = 8  # 160 ms of each key
KEY_GAP_S = 0.3


def keys_pcap(keys: str, ssrc: int = 0x5EC0B21, first_sequence: int = 0,
              first_timestamp: int = 0) -> bytes:
    """The pcap of keys pressed one after another as RFC 4733 events: each
    key 160 ms (its last packet, with the end bit, sent three times), then
    a pause; one timestamp per key, sequence numbers running on from
    first_sequence, timestamps from first_timestamp (pcaps played one after
    another must not repeat them: a repeat is a retransmission, and the
    receiver drops it). A ',' in keys is a second's pause; pauses before
    the first key are lost, since a player (sipp) times packets from the
    first one (lab.sipp's callers turn them into a pause of the scenario)."""
    packets = []
    sequence, at = first_sequence, 0.0
    for key in keys:
        if key == ",":
            at += 1.0
            continue
        event = EVENTS.get(key)
        if event is None:
            raise ValueError(f"key {key!r}: only 0-9, * and #")
        timestamp = first_timestamp + round(at * 8000)
        for index in range(KEY_PACKETS + 2):
            last = index >= KEY_PACKETS - 1
            duration = min(index + 1, KEY_PACKETS) * SAMPLES_PER_PACKET
            payload = struct.pack("!BBH", event, (0x80 if last else 0) | 10, duration)
            sent = at + min(index, KEY_PACKETS - 1) * PACKET_S
            packets.append((sent, rtp_packet(index == 0, EVENT_PAYLOAD_TYPE, sequence, timestamp,
                                       ssrc, payload)))
            sequence += 1
        at += KEY_PACKETS * PACKET_S + KEY_GAP_S
    return _pcap(packets)


def keying_seconds(keys: str) -> float:
    """How long keys take to press (keys_pcap's timing): a second per
    ',', a key's packets and the gap after it per key."""
    pauses = keys.count(",")
    return pauses + (len(keys) - pauses) * (KEY_PACKETS * PACKET_S + KEY_GAP_S)


def leading_pause(keys: str) -> tuple[float, str]:
    """The seconds of pause (',') before the first key, and the keys after."""
    rest = keys.lstrip(",")
    return float(len(keys) - len(rest)), rest


@dataclass(frozen=True)
class Datagram:
    """One UDP datagram of a capture: when, between which loopback ports."""

    time: float
    src_port: int
    dst_port: int
    payload: bytes


_LINKTYPE_ETHERNET, _LINKTYPE_LINUX_SLL = 1, 113


def read_udp(data: bytes) -> list[Datagram]:
    """The IPv4 UDP datagrams of a classic pcap (tcpdump -w on lo, or
    udp_pcap), in capture order; a record cut short at the end ends it."""
    if len(data) < 24:
        raise ValueError(f"{len(data)} bytes: too short for a pcap file")
    for endian, scale in (("<", 1e-6), (">", 1e-6), ("<", 1e-9), (">", 1e-9)):
        magic = struct.unpack_from(endian + "I", data)[0]
        if magic == (0xA1B2C3D4 if scale == 1e-6 else 0xA1B23C4D):
            break
    else:
        raise ValueError(f"not a classic pcap file (magic {data[:4].hex()})")
    link = struct.unpack_from(endian + "I", data, 20)[0] & 0x0FFFFFFF
    ip_at = {_LINKTYPE_ETHERNET: 14, _LINKTYPE_LINUX_SLL: 16}.get(link)
    if ip_at is None:
        raise ValueError(f"pcap link type {link}: only Ethernet (lo) and Linux SLL")
    record = struct.Struct(endian + "IIII")
    out, offset = [], 24
    while offset + record.size <= len(data):
        seconds, fraction, captured, _ = record.unpack_from(data, offset)
        frame = data[offset + record.size:offset + record.size + captured]
        offset += record.size + captured
        if len(frame) < captured:
            break
        if len(frame) < ip_at + 28 or frame[ip_at] >> 4 != 4 or frame[ip_at + 9] != 17:
            continue
        udp_at = ip_at + (frame[ip_at] & 0x0F) * 4
        src_port, dst_port, length = struct.unpack_from("!HHH", frame, udp_at)
        out.append(Datagram(seconds + fraction * scale, src_port, dst_port,
                            frame[udp_at + 8:udp_at + max(length, 8)]))
    return out
