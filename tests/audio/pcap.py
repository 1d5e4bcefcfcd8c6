"""Read a classic pcap file into UDP datagrams, in pure Python.

Handles what tcpdump and ``lab.pcap`` write: the classic format in
either byte order, micro- or nanosecond timestamps, and the link types a
loopback capture may carry (Ethernet, Linux cooked SLL and SLL2, BSD null,
raw IP), over IPv4 or IPv6. Anything that is not UDP is skipped.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

Endpoint = tuple[str, int]
"""An (IP address, UDP port) pair."""

LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276
_DLT_RAW_BSD = (12, 14)  # DLT_RAW's number on some BSDs

_ETHERTYPE_IPV4 = 0x0800
_ETHERTYPE_IPV6 = 0x86DD
_ETHERTYPE_VLAN = (0x8100, 0x88A8, 0x9100)
_UDP = 17
_IPV6_EXTENSIONS = (0, 43, 60)  # hop-by-hop, routing, destination options
_IPV6_FRAGMENT = 44
_PCAPNG_MAGIC = 0x0A0D0D0A


@dataclass(frozen=True)
class Datagram:
    """One captured UDP datagram: when it was seen, from where to where, and
    its payload (as captured: a short snap length truncates it)."""

    time: float
    src: Endpoint
    dst: Endpoint
    payload: bytes


class PcapError(ValueError):
    """The data is not a pcap file this reader understands."""


def read_pcap(source: str | Path | bytes) -> list[Datagram]:
    """Every UDP datagram of a pcap file (a path, or the file's bytes), in
    capture order."""
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    return list(iter_datagrams(data))


def iter_datagrams(data: bytes) -> Iterator[Datagram]:
    """The UDP datagrams of a classic pcap file's bytes, in capture order.
    A record cut short at the end (a capture still being written) ends it."""
    endian, time_scale, link_type = _file_header(data)
    record = struct.Struct(endian + "IIII")
    offset = 24
    while offset + record.size <= len(data):
        seconds, fraction, captured, _length = record.unpack_from(data, offset)
        offset += record.size
        frame = data[offset:offset + captured]
        offset += captured
        if len(frame) < captured:
            break
        datagram = _udp_of_frame(frame, link_type, seconds + fraction * time_scale)
        if datagram is not None:
            yield datagram


def _file_header(data: bytes) -> tuple[str, float, int]:
    """Byte order, timestamp fraction unit and link type of a pcap."""
    if len(data) < 24:
        raise PcapError(f"{len(data)} bytes: too short for a pcap file header")
    for endian in "<>":
        magic = struct.unpack_from(endian + "I", data)[0]
        if magic == 0xA1B2C3D4:
            time_scale = 1e-6
            break
        if magic == 0xA1B23C4D:
            time_scale = 1e-9
            break
    else:
        if struct.unpack_from("<I", data)[0] == _PCAPNG_MAGIC:
            raise PcapError("a pcapng file: write classic pcap (tcpdump -w does)")
        raise PcapError(f"not a pcap file (magic {data[:4].hex()})")
    link_type = struct.unpack_from(endian + "I", data, 20)[0] & 0x0FFFFFFF  # low 28 bits
    return endian, time_scale, link_type


def _udp_of_frame(frame: bytes, link_type: int, time: float) -> Datagram | None:
    """The UDP datagram in one link-layer frame, or None."""
    located = _network_layer(frame, link_type)
    if located is None:
        return None
    ethertype, offset = located
    if ethertype == _ETHERTYPE_IPV4:
        return _udp_of_ipv4(frame, offset, time)
    if ethertype == _ETHERTYPE_IPV6:
        return _udp_of_ipv6(frame, offset, time)
    return None


def _network_layer(frame: bytes, link_type: int) -> tuple[int, int] | None:
    """(ethertype, offset) of the IP packet inside a frame of link_type."""
    if link_type == LINKTYPE_ETHERNET:
        offset, ethertype = 14, _be16(frame, 12)
        while ethertype in _ETHERTYPE_VLAN and len(frame) >= offset + 4:
            ethertype, offset = _be16(frame, offset + 2), offset + 4
        return ethertype, offset
    if link_type == LINKTYPE_LINUX_SLL:
        return _be16(frame, 14), 16
    if link_type == LINKTYPE_LINUX_SLL2:
        return _be16(frame, 0), 20
    if link_type in (LINKTYPE_NULL, LINKTYPE_LOOP):
        return _ip_version(frame, 4)  # the family's byte order varies: trust the IP header
    if link_type in (LINKTYPE_RAW, *_DLT_RAW_BSD):
        return _ip_version(frame, 0)
    if link_type == LINKTYPE_IPV4:
        return _ETHERTYPE_IPV4, 0
    if link_type == LINKTYPE_IPV6:
        return _ETHERTYPE_IPV6, 0
    raise PcapError(f"link type {link_type} is not supported")


def _ip_version(frame: bytes, offset: int) -> tuple[int, int] | None:
    if len(frame) <= offset:
        return None
    version = frame[offset] >> 4
    ethertype = {4: _ETHERTYPE_IPV4, 6: _ETHERTYPE_IPV6}.get(version)
    return None if ethertype is None else (ethertype, offset)


def _be16(frame: bytes, offset: int) -> int:
    return int.from_bytes(frame[offset:offset + 2], "big") if len(frame) >= offset + 2 else -1


def _udp_of_ipv4(frame: bytes, offset: int, time: float) -> Datagram | None:
    if len(frame) < offset + 20 or frame[offset] >> 4 != 4:
        return None
    header_length = (frame[offset] & 0x0F) * 4
    total_length = _be16(frame, offset + 2)
    fragment = _be16(frame, offset + 6)
    # A fragment holds only part of a datagram; loopback's 64 KiB MTU means
    # the lab never fragments, so fragments are skipped, not reassembled.
    if frame[offset + 9] != _UDP or fragment & 0x3FFF:
        return None
    end = offset + total_length if total_length >= header_length else len(frame)
    src = str(ipaddress.IPv4Address(frame[offset + 12:offset + 16]))
    dst = str(ipaddress.IPv4Address(frame[offset + 16:offset + 20]))
    return _udp(frame[offset + header_length:end], src, dst, time)


def _udp_of_ipv6(frame: bytes, offset: int, time: float) -> Datagram | None:
    if len(frame) < offset + 40 or frame[offset] >> 4 != 6:
        return None
    next_header = frame[offset + 6]
    end = offset + 40 + _be16(frame, offset + 4)
    src = str(ipaddress.IPv6Address(frame[offset + 8:offset + 24]))
    dst = str(ipaddress.IPv6Address(frame[offset + 24:offset + 40]))
    position = offset + 40
    while next_header in _IPV6_EXTENSIONS and len(frame) >= position + 2:
        next_header, position = frame[position], position + 8 * (frame[position + 1] + 1)
    if next_header != _UDP:
        return None  # not UDP, or a fragment (see IPv4)
    return _udp(frame[position:end], src, dst, time)


def _udp(segment: bytes, src: str, dst: str, time: float) -> Datagram | None:
    if len(segment) < 8:
        return None
    src_port, dst_port, length = struct.unpack_from("!HHH", segment)
    payload = segment[8:length] if length >= 8 else segment[8:]
    return Datagram(time=time, src=(src, src_port), dst=(dst, dst_port), payload=payload)
