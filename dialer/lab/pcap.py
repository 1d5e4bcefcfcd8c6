"""A pcap of one RTP stream, for sipp's play_pcap_audio: G.711 u-law audio
cut into 20 ms packets (160 bytes, payload type 0), with timestamps 20 ms
apart. Pure: bytes in, bytes out."""

from __future__ import annotations

import struct

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


def rtp_pcap(ulaw: bytes, ssrc: int = 0x5EC0B20) -> bytes:
    """The pcap file (Ethernet, IPv4, UDP, RTP) carrying ulaw as PCMU."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    ethernet = b"\x00" * 12 + b"\x08\x00"
    for index, start in enumerate(range(0, len(ulaw), SAMPLES_PER_PACKET)):
        chunk = ulaw[start:start + SAMPLES_PER_PACKET].ljust(SAMPLES_PER_PACKET, b"\xff")
        rtp = struct.pack("!BBHII", 0x80, 0x80 if index == 0 else 0x00, index & 0xFFFF,
                          (index * SAMPLES_PER_PACKET) & 0xFFFFFFFF, ssrc) + chunk
        udp = struct.pack("!HHHH", _SRC_PORT, _DST_PORT, 8 + len(rtp), 0) + rtp
        frame = ethernet + _ipv4_header(len(udp)) + udp
        micros = round(index * PACKET_S * 1_000_000)
        out.append(struct.pack("<IIII", micros // 1_000_000, micros % 1_000_000,
                               len(frame), len(frame)))
        out.append(frame)
    return b"".join(out)
