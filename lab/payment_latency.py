"""Where, in a loopback capture of the payments bench, each debtor keyed
their last key and began to hear the result of their payment. Pure:
datagrams in, times out.

Every debtor of a bench run answers on one sipp UAS, so all their RTP
shares the UAS's media port; a call is told apart by Asterisk's port (one
per channel). After the confirm key Recobro says "one moment, please"
while it asks the gateway, then the result ("your payment of ... has been
approved"), each prompt its own ARI playback. Asterisk plays a sound file
in 20 ms frames, the last one shorter (the file's remainder: the bench
checks the wait prompt's file is not a whole number of frames), and fills
the time between playbacks with silence (transmit_silence): the wait
prompt ends at the first short packet that comes at least the prompt's
length after the last key (under load Asterisk sent a few short packets
mid-prompt), and the result begins at the first audible packet after it."""

from __future__ import annotations

import statistics
import struct
from collections.abc import Iterable
from dataclasses import dataclass

from lab.pcap import EVENT_PAYLOAD_TYPE, Datagram

PCMU = 0
# A packet is audible when a sample reaches this linear level (of 32767):
# about -40 dBFS, far above the u-law silence Asterisk may send.
AUDIBLE_PEAK = 330
FRAME_BYTES, FRAME_S = 160, 0.020  # a frame of u-law


@dataclass(frozen=True)
class KeyToResult:
    """One call's times (capture clock, seconds): the end of the debtor's
    last RFC 4733 key, the first audible audio after it (the wait prompt),
    the wait prompt's last frame, and the first audible audio after it
    (the result). None when the capture has no such moment."""

    asterisk_port: int
    last_key_at: float | None
    first_audio_at: float | None = None
    wait_end_at: float | None = None
    result_at: float | None = None

    @property
    def latency_s(self) -> float | None:
        """Last key to the result beginning to reach the debtor."""
        if self.last_key_at is None or self.result_at is None:
            return None
        return self.result_at - self.last_key_at


def _ulaw_peak(payload: bytes) -> int:
    """The largest linear magnitude of G.711 u-law samples."""
    peak = 0
    for byte in set(payload):
        value = ~byte & 0xFF
        exponent, mantissa = (value >> 4) & 0x07, value & 0x0F
        peak = max(peak, (((mantissa << 3) + 0x84) << exponent) - 0x84)
    return peak


def _rtp(payload: bytes) -> tuple[int, bytes] | None:
    """(payload type, RTP payload) of an RTP packet, or None."""
    if len(payload) < 12 or payload[0] >> 6 != 2:
        return None
    header = 12 + 4 * (payload[0] & 0x0F)
    return payload[1] & 0x7F, payload[header:]


def key_to_result(datagrams: Iterable[Datagram], debtor_port: int, wait_s: float
                  ) -> list[KeyToResult]:
    """The times of every call in a capture of the RTP to and from
    debtor_port (the UAS's media port), ordered by Asterisk's port; wait_s
    is the wait prompt's length. A key ends at the first packet of its
    event with the end bit."""
    keys_end: dict[int, float] = {}
    key_stamp: dict[int, int] = {}  # each call's last ended event's RTP timestamp
    heard: dict[int, list[tuple[float, bool, bool]]] = {}  # time, audible, short
    for datagram in datagrams:
        rtp = _rtp(datagram.payload)
        if rtp is None:
            continue
        payload_type, body = rtp
        if datagram.src_port == debtor_port and payload_type == EVENT_PAYLOAD_TYPE \
                and len(body) >= 4:
            asterisk = datagram.dst_port
            ended = bool(body[1] & 0x80)
            timestamp = struct.unpack_from("!I", datagram.payload, 4)[0]
            # An event's end is sent three times, all with its timestamp.
            if ended and key_stamp.get(asterisk) != timestamp:
                keys_end[asterisk], key_stamp[asterisk] = datagram.time, timestamp
        elif datagram.dst_port == debtor_port and payload_type == PCMU:
            heard.setdefault(datagram.src_port, []).append(
                (datagram.time, _ulaw_peak(body) >= AUDIBLE_PEAK, len(body) < FRAME_BYTES))
    ports = sorted(set(keys_end) | set(heard))
    return [_timing(port, keys_end.get(port), heard.get(port, []), wait_s) for port in ports]


def _timing(port: int, last_key: float | None, heard: list[tuple[float, bool, bool]],
            wait_s: float) -> KeyToResult:
    if last_key is None:
        return KeyToResult(port, None)
    after = [packet for packet in heard if packet[0] > last_key]
    first_audio = next((t for t, audible, _ in after if audible), None)
    # The prompt starts after the key; its last frame goes out a frame
    # before its length is up.
    earliest_end = last_key + wait_s - FRAME_S
    wait_end = next((t for t, _, short in after if short and t >= earliest_end), None)
    result = next((t for t, audible, _ in after
                   if audible and wait_end is not None and t > wait_end), None)
    return KeyToResult(port, last_key, first_audio, wait_end, result)


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank value at share (0..1) of values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def summary_ms(latencies: list[float]) -> dict[str, float] | None:
    """Median, p99, min and max of latencies (seconds), in milliseconds."""
    if not latencies:
        return None
    return {"median": round(1000 * statistics.median(latencies), 1),
            "p99": round(1000 * percentile(latencies, 0.99), 1),
            "min": round(1000 * min(latencies), 1), "max": round(1000 * max(latencies), 1)}
