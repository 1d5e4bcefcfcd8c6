"""What the far end of a call received: RTP audio and keys, decoded and
measured, so a test can assert on sound rather than on events.

    heard = received(cap.path, cfg.sip_port, cfg.pstn_port)
    call = heard.by_number("+12125551200")
    assert match(call.audio, "safe-harbour.wav").coverage > 0.9

Pure functions on captured datagrams (see pcap.py and sip.py) and numpy
arrays: RTP streams by dialog, G.711 decoding, frame energy and activity,
reference matching by log-energy envelopes, RFC 4733 events and in-band DTMF.
"""

from __future__ import annotations

import struct
import wave
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from itertools import pairwise
from pathlib import Path

import numpy as np

from tests.audio.pcap import Datagram, Endpoint, read_pcap
from tests.audio.sip import Dialog, Media, dialogs

RATE = 8000
FRAME_S = 0.020
DEFAULT_THRESHOLD_DB = -45.0  # prompts speak at -15..-30 dBFS; their pauses sit near -65
ENVELOPE_FLOOR_BELOW_DB = 20.0  # quieter than threshold - this is all the same silence
MATCH_HOP_S = 0.010
MATCH_PHASES = 4  # sub-hop delays tried: alignment to 2.5 ms
MIN_OVERLAP_SHARE = 0.5  # of the reference's active frames, for a correlation to count
DEFAULT_GRACE_S = 0.25  # RTP still in flight when the BYE is captured
REPLAY_AFTER_S = 0.1  # an old sequence number this late is a replay, not reordering
DEFAULT_EVENT_PAYLOAD_TYPE = 101
_FULL_SCALE = 32768.0
_SILENCE_DB = -100.0

# ---------------------------------------------------------------- G.711


def _ulaw_table() -> np.ndarray:
    """ITU-T G.711 u-law code -> 16-bit linear (as Asterisk and sox decode)."""
    code = ~np.arange(256) & 0xFF
    exponent = (code >> 4) & 0x07
    magnitude = ((((code & 0x0F) << 3) + 0x84) << exponent) - 0x84
    return np.where(code & 0x80, -magnitude, magnitude).astype(np.int16)


def _alaw_table() -> np.ndarray:
    """ITU-T G.711 a-law code -> 16-bit linear."""
    code = np.arange(256) ^ 0x55
    exponent = (code >> 4) & 0x07
    mantissa = (code & 0x0F) << 4
    magnitude = np.where(exponent == 0, mantissa + 8,
                         (mantissa + 0x108) << np.maximum(exponent - 1, 0))
    return np.where(code & 0x80, magnitude, -magnitude).astype(np.int16)


ULAW_TABLE = _ulaw_table()
ALAW_TABLE = _alaw_table()
ULAW_SILENCE = 0xFF
ALAW_SILENCE = 0xD5
# The segment (exponent) of a biased magnitude's top byte.
_SEGMENT = np.array([0] + [int(value).bit_length() - 1 for value in range(1, 256)])


def ulaw_decode(data: bytes) -> np.ndarray:
    """u-law bytes -> int16 samples."""
    return ULAW_TABLE[np.frombuffer(data, dtype=np.uint8)]


def alaw_decode(data: bytes) -> np.ndarray:
    """a-law bytes -> int16 samples."""
    return ALAW_TABLE[np.frombuffer(data, dtype=np.uint8)]


def ulaw_encode(samples: np.ndarray | Sequence[int]) -> bytes:
    """16-bit linear samples -> u-law bytes (the classic biased encoder)."""
    x = np.clip(np.asarray(samples, dtype=np.int64), -32768, 32767)
    sign = np.where(x < 0, 0x80, 0)
    magnitude = np.minimum(np.abs(x), 32635) + 0x84
    exponent = _SEGMENT[(magnitude >> 7) & 0xFF]
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8).tobytes()


def alaw_encode(samples: np.ndarray | Sequence[int]) -> bytes:
    """16-bit linear samples -> a-law bytes."""
    x = np.clip(np.asarray(samples, dtype=np.int64), -32768, 32767) >> 3  # 13 bits
    mask = np.where(x >= 0, 0xD5, 0x55)
    magnitude = np.where(x >= 0, x, -x - 1)
    exponent = np.where(magnitude >= 0x20, _SEGMENT[np.minimum(magnitude >> 4, 255)], 0)
    shift = np.where(exponent < 2, 1, exponent)
    mantissa = (magnitude >> shift) & 0x0F
    return (((exponent << 4) | mantissa) ^ mask).astype(np.uint8).tobytes()


# ---------------------------------------------------------------- RTP


@dataclass(frozen=True)
class RtpPacket:
    """One RTP packet (RFC 3550) as captured."""

    time: float
    src: Endpoint
    dst: Endpoint
    payload_type: int
    marker: bool
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes


def parse_rtp(datagram: Datagram) -> RtpPacket | None:
    """The RTP packet in a datagram; None for anything else (RTCP, SIP)."""
    data = datagram.payload
    if len(data) < 12 or data[0] >> 6 != 2 or 192 <= data[1] <= 223:  # 192-223: RTCP
        return None
    first, second, sequence, timestamp, ssrc = struct.unpack_from("!BBHII", data)
    start = 12 + 4 * (first & 0x0F)  # past the CSRC list
    if first & 0x10 and len(data) >= start + 4:  # a header extension
        start += 4 + 4 * struct.unpack_from("!H", data, start + 2)[0]
    end = len(data) - (data[-1] if first & 0x20 else 0)  # RTP padding
    if start > end:
        return None
    return RtpPacket(time=datagram.time, src=datagram.src, dst=datagram.dst,
                     payload_type=second & 0x7F, marker=bool(second & 0x80),
                     sequence=sequence, timestamp=timestamp, ssrc=ssrc,
                     payload=data[start:end])


@dataclass(frozen=True)
class RtpStream:
    """The RTP one side sent the other in a dialog, in sending order (by
    SSRC as first seen, then extended sequence number), duplicates dropped.
    lost counts sequence numbers never seen; strays counts packets to the
    same destination from a source no SDP announced."""

    src: frozenset[Endpoint]
    dst: frozenset[Endpoint]
    packets: tuple[RtpPacket, ...]
    lost: int = 0
    duplicates: int = 0
    reordered: int = 0
    strays: int = 0

    @property
    def ssrcs(self) -> tuple[int, ...]:
        return tuple(dict.fromkeys(packet.ssrc for packet in self.packets))

    def of_types(self, payload_types: Iterable[int]) -> list[RtpPacket]:
        wanted = set(payload_types)
        return [packet for packet in self.packets if packet.payload_type in wanted]


def rtp_stream(datagrams: Iterable[Datagram], src: Iterable[Endpoint],
               dst: Iterable[Endpoint], start: float = float("-inf"),
               end: float = float("inf")) -> RtpStream:
    """The RTP packets from any of src to any of dst seen in [start, end],
    put in order (see RtpStream)."""
    sources, destinations = frozenset(src), frozenset(dst)
    found = [packet for packet in map(parse_rtp, datagrams)
             if packet is not None and start <= packet.time <= end
             and packet.src in sources and packet.dst in destinations]
    packets, lost, duplicates, reordered = order_packets(found)
    return RtpStream(src=sources, dst=destinations, packets=tuple(packets), lost=lost,
                     duplicates=duplicates, reordered=reordered)


def order_packets(packets: Sequence[RtpPacket], replay_after_s: float = REPLAY_AFTER_S
                  ) -> tuple[list[RtpPacket], int, int, int]:
    """(packets in order, lost, duplicates, reordered).

    Packets are taken in runs: one per SSRC, and a new run when a sequence
    number at or below the highest seen arrives more than replay_after_s
    after it (too late to be reordering: a sender replaying a recorded
    pcap, as sipp does with every key, repeats its numbers). Within a run
    packets are sorted by extended sequence number and a repeated number is
    a duplicate (RFC 2833 senders repeat the end packet so); runs keep the
    order they started in. lost counts numbers missing inside runs."""
    runs: list[dict[int, RtpPacket]] = []
    state: dict[int, tuple[int, int, float]] = {}  # ssrc -> run index, top number, its time
    duplicates = reordered = 0
    for packet in packets:
        current = state.get(packet.ssrc)
        extended = packet.sequence if current is None else _extend(current[1], packet.sequence)
        if current is None or (extended <= current[1]
                               and packet.time - current[2] > replay_after_s):
            runs.append({})
            current = (len(runs) - 1, packet.sequence, packet.time)
            extended = packet.sequence
        run = runs[current[0]]
        if extended in run:
            duplicates += 1
            continue
        if extended < current[1]:
            reordered += 1
        run[extended] = packet
        if extended >= current[1]:
            current = (current[0], extended, packet.time)
        state[packet.ssrc] = current
    ordered, lost = [], 0
    for run in runs:
        numbers = sorted(run)
        lost += numbers[-1] - numbers[0] + 1 - len(numbers)
        ordered += [run[number] for number in numbers]
    return ordered, lost, duplicates, reordered


def _extend(reference: int, sequence: int) -> int:
    """The extended sequence number nearest the reference (RFC 3550 A.1)."""
    delta = (sequence - reference) & 0xFFFF
    return reference + (delta - 0x10000 if delta >= 0x8000 else delta)


def _signed32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


# ---------------------------------------------------------------- audio


@dataclass(frozen=True, eq=False)
class Audio:
    """Mono 16-bit samples at rate; start is the capture time of sample 0
    (0.0 for a file)."""

    samples: np.ndarray
    rate: int = RATE
    start: float = 0.0

    @property
    def duration(self) -> float:
        return len(self.samples) / self.rate

    def time_of(self, offset: float) -> float:
        """The capture time of a point offset seconds into the audio."""
        return self.start + offset

    def write_wav(self, path: str | Path) -> None:
        """Save as a 16-bit mono .wav, to listen to what a test heard."""
        with wave.open(str(path), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(self.rate)
            out.writeframes(np.asarray(self.samples, dtype="<i2").tobytes())


def read_wav(path: str | Path) -> Audio:
    """A 16-bit mono .wav (as Asterisk plays at 8 kHz); ValueError otherwise,
    naming the sox command that converts it."""
    with wave.open(str(path), "rb") as source:
        if source.getnchannels() != 1 or source.getsampwidth() != 2:
            raise ValueError(f"{path}: need 16-bit mono, got {source.getnchannels()} "
                             f"channel(s) of {8 * source.getsampwidth()} bits; convert with "
                             f"`sox IN -r 8000 -c 1 -b 16 OUT.wav`")
        frames = source.readframes(source.getnframes())
        return Audio(np.frombuffer(frames, dtype="<i2").astype(np.int16),
                     rate=source.getframerate())


CODECS = {"pcmu": ulaw_decode, "pcma": alaw_decode}


def decode_audio(packets: Sequence[RtpPacket], decoders: dict[int, str],
                 rate: int = RATE, max_drift_s: float = 0.5) -> Audio:
    """The audio of ordered RTP packets (payload type -> 'PCMU' or 'PCMA'),
    laid out by RTP timestamp so missing time (lost packets, pauses without
    RTP) is silence. Each SSRC, and any timestamp jump that disagrees with
    the arrival times by more than max_drift_s, restarts the layout at the
    packet's arrival time. Other payload types are left out."""
    audio = [p for p in packets if _is_audio(p, decoders)]
    if not audio:
        return Audio(np.zeros(0, dtype=np.int16), rate=rate)
    origin = audio[0].time
    pieces: list[tuple[int, np.ndarray]] = []
    anchor: tuple[int, int, int] | None = None  # ssrc, timestamp, sample position
    for packet in audio:
        position = None
        if anchor is not None and anchor[0] == packet.ssrc:
            position = anchor[2] + _signed32(packet.timestamp - anchor[1])
            if abs(position / rate - (packet.time - origin)) > max_drift_s:
                position = None
        if position is None:
            position = round((packet.time - origin) * rate)
            anchor = (packet.ssrc, packet.timestamp, position)
        decode = CODECS[decoders[packet.payload_type].lower()]
        pieces.append((position, decode(packet.payload)))
    return Audio(_lay_out(pieces), rate=rate, start=origin)


# Asterisk on a loaded host stops sending for a moment mid-prompt (CI: 90 ms,
# consecutive sequence numbers, the timestamp moved on by the pause); the
# phone plays the rest late, so the prompt was heard whole, only later.
MAX_STALL_S = 0.3


@dataclass(frozen=True)
class Stall:
    """A pause in a sender's RTP between two consecutive packets: at (seconds
    into the audio with the stalls before it closed) and how long."""

    at: float
    seconds: float


def close_stalls(packets: Sequence[RtpPacket], decoders: dict[int, str], rate: int = RATE,
                 max_stall_s: float = MAX_STALL_S
                 ) -> tuple[list[RtpPacket], tuple[Stall, ...]]:
    """The packets with each stall of a G.711 stream (payload type -> codec
    as decode_audio) closed: a pause of at most max_stall_s between packets
    of one SSRC with consecutive sequence numbers, the later one stamped
    later than the earlier one's samples end. Every packet after a stall
    moves back by its length, in timestamp and arrival time, so the whole
    timeline is one. The stalls, to map a point back (see Heard.match)."""
    closed: list[RtpPacket] = []
    stalls: list[Stall] = []
    shift = 0  # samples taken out so far
    previous: RtpPacket | None = None
    for packet in packets:
        if (previous is not None and packet.ssrc == previous.ssrc
                and packet.sequence == (previous.sequence + 1) & 0xFFFF
                and _is_audio(packet, decoders) and _is_audio(previous, decoders)):
            pause = _signed32(packet.timestamp - previous.timestamp) - len(previous.payload)
            if 0 < pause <= max_stall_s * rate:
                ends = closed[-1].time - closed[0].time + len(previous.payload) / rate
                stalls.append(Stall(at=ends, seconds=pause / rate))
                shift += pause
        previous = packet
        closed.append(replace(packet, timestamp=(packet.timestamp - shift) & 0xFFFFFFFF,
                              time=packet.time - shift / rate))
    return closed, tuple(stalls)


def _is_audio(packet: RtpPacket, decoders: dict[int, str]) -> bool:
    return decoders.get(packet.payload_type, "").lower() in CODECS


def _lay_out(pieces: list[tuple[int, np.ndarray]]) -> np.ndarray:
    """One int16 array with each piece at its position, silence between."""
    length = max(position + len(samples) for position, samples in pieces)
    out = np.zeros(max(length, 0), dtype=np.int16)
    for position, samples in pieces:
        if position < 0:
            samples, position = samples[-position:], 0
        out[position:position + len(samples)] = samples
    return out


# ---------------------------------------------------------------- energy


def _samples_of(audio: Audio | np.ndarray) -> tuple[np.ndarray, int]:
    if isinstance(audio, Audio):
        return np.asarray(audio.samples, dtype=np.float64), audio.rate
    return np.asarray(audio, dtype=np.float64), RATE


def frame_energy(audio: Audio | np.ndarray, frame_s: float = FRAME_S,
                 hop_s: float | None = None) -> np.ndarray:
    """Each frame's energy in dBFS (RMS against full scale, so a full-scale
    sine is -3 dB; digital silence -100). Frames of frame_s every hop_s
    (default: back to back); a last partial frame is dropped. A bare array
    is taken as 8 kHz int16-scaled samples."""
    samples, rate = _samples_of(audio)
    size = round(frame_s * rate)
    hop = round((hop_s or frame_s) * rate)
    if len(samples) < size:
        return np.zeros(0)
    windows = np.lib.stride_tricks.sliding_window_view(samples, size)[::hop]
    power = np.mean(windows ** 2, axis=1) / _FULL_SCALE ** 2
    return np.maximum(10 * np.log10(np.maximum(power, 1e-30)), _SILENCE_DB)


@dataclass(frozen=True, eq=False)
class Activity:
    """Which 20 ms frames are louder than a threshold (speech or tone)."""

    active: np.ndarray  # bool per frame
    frame_s: float
    threshold_db: float

    @property
    def seconds(self) -> float:
        """Total active time."""
        return float(np.count_nonzero(self.active)) * self.frame_s

    @property
    def span(self) -> tuple[float, float] | None:
        """(start of the first active frame, end of the last), seconds into
        the audio; None when all is quiet."""
        indexes = np.flatnonzero(self.active)
        if not len(indexes):
            return None
        return float(indexes[0] * self.frame_s), float((indexes[-1] + 1) * self.frame_s)

    def segments(self, max_gap_s: float = 0.3) -> list[tuple[float, float]]:
        """Bursts of activity (start, end) in seconds; pauses up to max_gap_s
        (between words) stay inside a burst."""
        bursts: list[list[float]] = []
        for index in np.flatnonzero(self.active):
            start, end = index * self.frame_s, (index + 1) * self.frame_s
            if bursts and start - bursts[-1][1] <= max_gap_s + 1e-9:
                bursts[-1][1] = end
            else:
                bursts.append([start, end])
        return [(float(start), float(end)) for start, end in bursts]


def activity(audio: Audio | np.ndarray, threshold_db: float = DEFAULT_THRESHOLD_DB,
             frame_s: float = FRAME_S) -> Activity:
    """The frames of audio above threshold_db dBFS."""
    return Activity(active=frame_energy(audio, frame_s) > threshold_db, frame_s=frame_s,
                    threshold_db=threshold_db)


# ---------------------------------------------------------------- matching


# A waveform correlation only the very file played (through G.711) reaches.
SAME_SAMPLES = 0.7


@dataclass(frozen=True)
class Match:
    """Where a reference recording best lines up with what was heard.

    offset: seconds into the heard audio where the reference starts (may be
    negative, or run past the end, when only part of it was heard).
    correlation: Pearson correlation of the two per-band log-energy
    envelopes there, over the reference's active frames that were heard.
    coverage: share of the reference's active frames whose heard frame is
    active too (1.0: heard for its whole length).
    level_db: median heard-minus-reference level over those frames.
    waveform: best normalized sample correlation near offset (about 1 when
    the very file was played through G.711; low through a lossy codec).
    """

    offset: float
    correlation: float
    coverage: float
    level_db: float
    waveform: float

    def found(self, min_correlation: float = 0.8, min_coverage: float = 0.9) -> bool:
        """Whether the reference was heard: shape and length both. The
        very samples lined up (waveform) stand for the shape when packets
        lost on a loaded machine blur the envelopes (CI: correlation 0.75
        with waveform 0.79, coverage 0.97, level 0 dB); another sound's
        samples never line up so."""
        shape = self.correlation >= min_correlation or self.waveform >= SAME_SAMPLES
        return shape and self.coverage >= min_coverage


Reference = Audio | np.ndarray | str | Path


def match(heard: Audio | np.ndarray, reference: Reference,
          threshold_db: float = DEFAULT_THRESHOLD_DB,
          bands: Sequence[tuple[float, float]] | None = None) -> Match:
    """Find reference (a .wav path, Audio or 8 kHz samples) in heard.

    Both become log-energy envelopes: 20 ms frames every 10 ms, per
    frequency band (DEFAULT_BANDS), floored 20 dB under threshold_db. The
    reference's envelope slides along the heard one; at each offset the
    score is the Pearson correlation over the reference's active frames,
    each band centred on its own mean. Only active frames, because the
    jump from silence to speech would otherwise dominate, and any one-second
    prompt would correlate with any other; centred bands, because every
    voice has more energy low than high. The reference may hang over either
    end of heard (a prompt cut short by a hang-up): the correlation is then
    over the part heard, and coverage tells how much of it that was."""
    heard_audio = heard if isinstance(heard, Audio) else Audio(np.asarray(heard))
    ref_audio = _reference(reference)
    if heard_audio.rate != ref_audio.rate:
        raise ValueError(f"heard is {heard_audio.rate} Hz but the reference "
                         f"{ref_audio.rate} Hz; convert with `sox IN -r {heard_audio.rate} OUT`")
    bands = DEFAULT_BANDS if bands is None else bands
    floor = threshold_db - ENVELOPE_FLOOR_BELOW_DB
    # The reference at a few sub-hop delays: a prompt starts anywhere, not
    # on the 10 ms grid, and half a hop off costs some correlation.
    hop = round(MATCH_HOP_S * ref_audio.rate)
    delays = range(0, hop, max(hop // MATCH_PHASES, 1))
    shifted = [Audio(np.concatenate([np.zeros(delay, dtype=np.int16), ref_audio.samples]),
                     rate=ref_audio.rate) for delay in delays]
    ref_envs = [envelope(audio, bands, floor) for audio in shifted]
    ref_louds = [envelope(audio, FULL_BAND, floor)[:, 0] for audio in shifted]
    if np.count_nonzero(ref_louds[0] > threshold_db) < 2:
        raise ValueError("the reference has no sound above the threshold: nothing to find")
    pad = max(len(env) for env in ref_envs) - 1
    heard_env = _pad(envelope(heard_audio, bands, floor), pad, floor)
    heard_loud = _pad(envelope(heard_audio, FULL_BAND, floor), pad, floor)[:, 0]
    present = _pad(np.ones((len(heard_env) - 2 * pad, 1)), pad, 0.0)[:, 0]
    candidates = []
    for delay, ref_env, ref_loud in zip(delays, ref_envs, ref_louds, strict=True):
        # Less the floor: the same correlation, smaller sums to subtract.
        correlations = _sliding_pearson(heard_env - floor, present, ref_env - floor,
                                        ref_loud > threshold_db)
        best = int(np.argmax(correlations))
        candidates.append((float(correlations[best]), best, delay, ref_loud))
    correlation, best, delay, ref_loud = max(candidates, key=lambda found: found[0])
    ref_active = ref_loud > threshold_db
    window = heard_loud[best:best + len(ref_loud)]
    both = ref_active & (window > threshold_db)
    level = float(np.median(window[both] - ref_loud[both])) if both.any() else float("nan")
    offset = (best - pad) * MATCH_HOP_S + delay / ref_audio.rate
    return Match(offset=round(offset, 6), correlation=correlation,
                 coverage=float(np.count_nonzero(both) / np.count_nonzero(ref_active)),
                 level_db=level,
                 waveform=_waveform_similarity(heard_audio, ref_audio, offset))


FULL_BAND: tuple[tuple[float, float], ...] = ((0.0, RATE / 2),)
# Eight log-spaced bands from 150 Hz to 3.8 kHz: what changes from one
# sound of speech to the next, and what G.711 and GSM both keep.
_EDGES = np.geomspace(150.0, 3800.0, 9)
DEFAULT_BANDS: tuple[tuple[float, float], ...] = tuple(
    (float(low), float(high)) for low, high in pairwise(_EDGES))


def envelope(audio: Audio, bands: Sequence[tuple[float, float]], floor_db: float,
             frame_s: float = FRAME_S, hop_s: float = MATCH_HOP_S) -> np.ndarray:
    """Log energy (dBFS, floored at floor_db) per frame and band: an array
    of shape (frames, bands). Band energies are scaled so a single band
    covering the whole spectrum equals frame_energy."""
    samples = np.asarray(audio.samples, dtype=np.float64)
    size, hop = round(frame_s * audio.rate), round(hop_s * audio.rate)
    if len(samples) < size:
        return np.full((0, len(bands)), floor_db)
    windows = np.lib.stride_tricks.sliding_window_view(samples, size)[::hop]
    spectrum = np.abs(np.fft.rfft(windows, axis=1)) ** 2
    frequencies = np.fft.rfftfreq(size, 1 / audio.rate)
    # Parseval: sum over a one-sided spectrum (doubled but for DC and
    # Nyquist) / size**2 is the frame's mean power.
    weights = np.full(len(frequencies), 2.0)
    weights[0] = 1.0
    if size % 2 == 0:
        weights[-1] = 1.0
    columns = []
    for low, high in bands:
        chosen = (frequencies >= low) & (frequencies <= high)
        power = (spectrum[:, chosen] * weights[chosen]).sum(axis=1) / size ** 2
        columns.append(10 * np.log10(np.maximum(power / _FULL_SCALE ** 2, 1e-30)))
    return np.maximum(np.stack(columns, axis=1), floor_db)


def _reference(reference: Reference) -> Audio:
    if isinstance(reference, Audio):
        return reference
    if isinstance(reference, (str, Path)):
        return read_wav(reference)
    return Audio(np.asarray(reference))


def _pad(features: np.ndarray, count: int, value: float) -> np.ndarray:
    filler = np.full((count, features.shape[1]), value)
    return np.concatenate([filler, features, filler])


def _sliding_pearson(heard: np.ndarray, present: np.ndarray, reference: np.ndarray,
                     active: np.ndarray, min_share: float = MIN_OVERLAP_SHARE) -> np.ndarray:
    """For every len(reference)-frame window of heard (frames, bands): the
    Pearson correlation with reference over the frames active in the
    reference and present in heard (not padding), each band of each side
    centred on its own mean there. 0 where heard is flat, or where fewer
    than min_share of the active frames (of those that can overlap at
    best) overlap heard: a sliver of overlap would correlate by chance.
    Every sum is a sliding np.correlate."""
    windows = len(heard) - len(reference) + 1
    if windows < 1:
        return np.zeros(1)
    weights = active.astype(np.float64)
    heard = heard * present[:, None]  # padding adds nothing to any sum

    def slide(values: np.ndarray, kernel: np.ndarray) -> np.ndarray:
        return np.correlate(values, kernel, mode="valid")

    count = slide(present, weights)
    safe = np.maximum(count, 1.0)
    cross = np.zeros(windows)
    heard_var = np.zeros(windows)
    ref_var = np.zeros(windows)
    for band in range(heard.shape[1]):
        h, r = heard[:, band], reference[:, band] * weights
        h_sum, r_sum = slide(h, weights), slide(present, r)
        cross += slide(h, r) - h_sum * r_sum / safe
        heard_var += slide(h ** 2, weights) - h_sum ** 2 / safe
        ref_var += slide(present, r * reference[:, band]) - r_sum ** 2 / safe
    # A heard stretch shorter than the reference: half of what can overlap.
    needed = np.ceil(min_share * min(weights.sum(), count.max()))
    denominator = np.sqrt(np.maximum(heard_var, 0.0) * np.maximum(ref_var, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        result = np.where((denominator > 1e-6 * safe) & (count >= max(needed, 2)),
                          cross / denominator, 0.0)
    return np.clip(result, -1.0, 1.0)


def _window_sums(values: np.ndarray, size: int) -> np.ndarray:
    """Sums of every size-long window of values."""
    totals = np.concatenate([[0.0], np.cumsum(values)])
    return totals[size:] - totals[:-size]


def _waveform_similarity(heard: Audio, reference: Audio, offset: float,
                         search_s: float = 0.015) -> float:
    """The best Pearson correlation of the reference's samples with heard's
    within search_s of offset (the envelope's offset is good to a hop)."""
    ref = np.asarray(reference.samples, dtype=np.float64)
    ref = ref - ref.mean()
    ref_norm = np.sqrt(np.sum(ref ** 2))
    if ref_norm == 0:
        return 0.0
    search = round(search_s * heard.rate)
    first = round(offset * heard.rate) - search
    samples = np.asarray(heard.samples, dtype=np.float64)
    segment = np.zeros(len(ref) + 2 * search)
    low, high = max(first, 0), min(first + len(segment), len(samples))
    if high > low:
        segment[low - first:high - first] = samples[low:high]
    cross = np.correlate(segment, ref, mode="valid")
    sums = _window_sums(segment, len(ref))
    squares = _window_sums(segment ** 2, len(ref))
    norms = np.sqrt(np.maximum(squares - sums ** 2 / len(ref), 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        values = np.where(norms > 1e-9, cross / (norms * ref_norm), 0.0)
    return float(np.max(values))


# ---------------------------------------------------------------- keys

EVENT_KEYS = "0123456789*#ABCD"  # RFC 4733 events 0-15; 16 is flash


@dataclass(frozen=True)
class TelephoneEvent:
    """One RFC 4733 event (a key) as received: its digit, when its first
    packet arrived, how long it lasted (the largest duration sent) and
    whether an end packet came."""

    digit: str
    start: float
    duration: float
    ended: bool
    volume: int  # dBm0 below zero, as sent
    timestamp: int


def telephone_events(packets: Sequence[RtpPacket], payload_types: Iterable[int],
                     rate: int = RATE) -> list[TelephoneEvent]:
    """The events among ordered RTP packets of the telephone-event payload
    types. Packets of one event share its RTP timestamp; a new timestamp,
    a new event code, or a marked packet after an end starts the next one."""
    wanted = set(payload_types)
    events: list[dict] = []
    for packet in packets:
        if packet.payload_type not in wanted or len(packet.payload) < 4:
            continue
        code, flags, duration = struct.unpack_from("!BBH", packet.payload)
        current = events[-1] if events else None
        new = (current is None or current["timestamp"] != packet.timestamp
               or current["code"] != code or (packet.marker and current["ended"]))
        if new:
            events.append({"code": code, "start": packet.time, "timestamp": packet.timestamp,
                           "duration": duration, "ended": bool(flags & 0x80),
                           "volume": flags & 0x3F})
            continue
        assert current is not None
        current["duration"] = max(current["duration"], duration)
        current["ended"] = current["ended"] or bool(flags & 0x80)
    return [TelephoneEvent(digit=EVENT_KEYS[e["code"]] if e["code"] < 16 else f"<{e['code']}>",
                           start=e["start"], duration=e["duration"] / rate, ended=e["ended"],
                           volume=e["volume"], timestamp=e["timestamp"]) for e in events]


DTMF_ROWS = (697.0, 770.0, 852.0, 941.0)
DTMF_COLUMNS = (1209.0, 1336.0, 1477.0, 1633.0)
DTMF_KEYS = ("123A", "456B", "789C", "*0#D")
GOERTZEL_BLOCK = 205  # 25.6 ms at 8 kHz: bins 39 Hz apart separate every DTMF tone


@dataclass(frozen=True)
class ToneDigit:
    """A DTMF digit found in the audio itself (in-band)."""

    digit: str
    start: float  # seconds: the audio's start plus the first block's offset
    duration: float
    level_db: float  # the weaker tone's level, dBFS


@dataclass(frozen=True)
class DtmfLimits:
    """What a block must show to count as a DTMF digit."""

    min_level_db: float = -36.0  # each tone, dBFS (a sine's power against full scale)
    max_twist_db: float = 8.0  # high group louder than low group by at most this
    max_reverse_twist_db: float = 8.0  # low group louder than high group
    min_peak_ratio_db: float = 10.0  # each tone over the others of its group
    min_tone_share: float = 0.7  # the two tones' share of the block's energy
    min_blocks: int = 2  # consecutive blocks (hop 10 ms): about 40 ms of tone
    max_gap_blocks: int = 2  # a dropout this short stays inside one digit


def goertzel_power(blocks: np.ndarray, frequencies: Sequence[float],
                   rate: int = RATE) -> np.ndarray:
    """|X(f)|^2 of each block (rows) at each frequency, by the Goertzel
    recurrence (exact frequency, not the nearest DFT bin)."""
    coefficients = 2 * np.cos(2 * np.pi * np.asarray(frequencies) / rate)
    s1 = np.zeros((blocks.shape[0], len(coefficients)))
    s2 = np.zeros_like(s1)
    for column in blocks.T:
        s1, s2 = column[:, None] + coefficients * s1 - s2, s1
    return s1 ** 2 + s2 ** 2 - coefficients * s1 * s2


def dtmf_blocks(samples: np.ndarray, rate: int = RATE, hop: int = 80,
                limits: DtmfLimits = DtmfLimits()) -> list[tuple[int, str | None, float]]:
    """(first sample, digit or None, weaker tone's dBFS) per Goertzel block."""
    x = np.asarray(samples, dtype=np.float64)
    if len(x) < GOERTZEL_BLOCK:
        return []
    blocks = np.lib.stride_tricks.sliding_window_view(x, GOERTZEL_BLOCK)[::hop]
    # A sine of amplitude A at the probed frequency gives |X| = A N / 2: its
    # mean power A^2 / 2 is 2 |X|^2 / N^2.
    powers = 2 * goertzel_power(blocks, DTMF_ROWS + DTMF_COLUMNS, rate) / GOERTZEL_BLOCK ** 2
    mean_power = np.mean(blocks ** 2, axis=1)
    return [(index * hop, *_block_digit(row, mean, limits))
            for index, (row, mean) in enumerate(zip(powers, mean_power, strict=True))]


def _block_digit(powers: np.ndarray, mean_power: float,
                 limits: DtmfLimits) -> tuple[str | None, float]:
    rows, columns = powers[:4], powers[4:]
    row, column = int(np.argmax(rows)), int(np.argmax(columns))
    low, high = rows[row], columns[column]
    level = 10 * np.log10(max(min(low, high), 1e-30) / _FULL_SCALE ** 2)
    ratio = 10 ** (limits.min_peak_ratio_db / 10)
    twist = 10 * np.log10(max(high, 1e-30) / max(low, 1e-30))
    accepted = (
        level >= limits.min_level_db
        and -limits.max_reverse_twist_db <= twist <= limits.max_twist_db
        and all(low >= ratio * other for i, other in enumerate(rows) if i != row)
        and all(high >= ratio * other for i, other in enumerate(columns) if i != column)
        and low + high >= limits.min_tone_share * mean_power
    )
    return (DTMF_KEYS[row][column] if accepted else None), float(level)


def dtmf_tones(audio: Audio | np.ndarray, limits: DtmfLimits = DtmfLimits(),
               hop_s: float = 0.010) -> list[ToneDigit]:
    """In-band DTMF digits: runs of Goertzel blocks (25.6 ms every 10 ms)
    that show the same digit, with level, twist, peak and tone-share checks
    so speech and noise do not count."""
    samples, rate = _samples_of(audio)
    start = audio.start if isinstance(audio, Audio) else 0.0
    hop = round(hop_s * rate)
    runs: list[list] = []  # digit, first block, last block, weakest level
    for index, (_, digit, level) in enumerate(dtmf_blocks(samples, rate, hop, limits)):
        if digit is None:
            continue
        if runs and runs[-1][0] == digit and index - runs[-1][2] <= limits.max_gap_blocks + 1:
            runs[-1][2], runs[-1][3] = index, min(runs[-1][3], level)
        else:
            runs.append([digit, index, index, level])
    return [ToneDigit(digit=digit, start=start + first * hop / rate,
                      duration=((last - first) * hop + GOERTZEL_BLOCK) / rate,
                      level_db=round(level, 1))
            for digit, first, last, level in runs if last - first + 1 >= limits.min_blocks]


# ---------------------------------------------------------------- calls


@dataclass(frozen=True, eq=False)
class Heard:
    """What one side of one dialog received from the other: by default what
    the peer (a debtor, an agent) got from Asterisk."""

    dialog: Dialog
    stream: RtpStream
    audio: Audio
    events: tuple[TelephoneEvent, ...]
    threshold_db: float = DEFAULT_THRESHOLD_DB
    decoders: dict[int, str] = field(default_factory=dict)

    @property
    def number(self) -> str | None:
        """The dialed user (request-URI of the INVITE)."""
        return self.dialog.number

    @property
    def caller_name(self) -> str | None:
        """The caller ID name the phone would show (From's display name)."""
        return self.dialog.caller_id.name

    @property
    def caller_user(self) -> str | None:
        """The caller ID number the phone would show (From's user)."""
        return self.dialog.caller_id.user

    @cached_property
    def activity(self) -> Activity:
        return activity(self.audio, self.threshold_db)

    @property
    def speech_seconds(self) -> float:
        """Seconds of sound above the threshold."""
        return self.activity.seconds

    @property
    def speech_span(self) -> tuple[float, float] | None:
        """Capture times of the first and last sound; None if silent."""
        span = self.activity.span
        return None if span is None else (self.audio.time_of(span[0]),
                                          self.audio.time_of(span[1]))

    @cached_property
    def tones(self) -> tuple[ToneDigit, ...]:
        """In-band DTMF digits in the audio."""
        return tuple(dtmf_tones(self.audio))

    @property
    def keys(self) -> str:
        """The RFC 4733 keys received, in order."""
        return "".join(event.digit for event in self.events)

    @property
    def tone_keys(self) -> str:
        """The in-band DTMF digits, in order."""
        return "".join(tone.digit for tone in self.tones)

    @cached_property
    def unstalled(self) -> tuple[Audio, tuple[Stall, ...]]:
        """The audio with the sender's short stalls closed (close_stalls),
        and those stalls."""
        packets, stalls = close_stalls(self.stream.packets, self.decoders)
        return decode_audio(packets, self.decoders), stalls

    def match(self, reference: Reference,
              bands: Sequence[tuple[float, float]] | None = None,
              before_s: float | None = None) -> Match:
        """match(self.audio, reference) at this call's threshold (within the
        first before_s seconds if given); see match. A reference not found
        so is looked for again with the sender's stalls closed: a prompt
        Asterisk paused for a moment was still heard whole. The offset is
        on this call's audio either way."""
        found = match(_first(self.audio, before_s), reference, self.threshold_db, bands)
        audio, stalls = self.unstalled
        if found.found() or not stalls:
            return found
        closed = match(_first(audio, before_s), reference, self.threshold_db, bands)
        if not closed.found():
            return found
        paused = sum(stall.seconds for stall in stalls if stall.at <= closed.offset)
        return replace(closed, offset=round(closed.offset + paused, 6))


def _first(audio: Audio, seconds: float | None) -> Audio:
    """audio's first seconds (all of it for None)."""
    if seconds is None:
        return audio
    return Audio(audio.samples[:int(seconds * audio.rate)], audio.rate, audio.start)


class HeardCalls(list[Heard]):
    """The dialogs of a capture, each with what was received."""

    def by_number(self, number: str) -> Heard:
        """The one dialog to this request-URI user; LookupError names what
        the capture has when there is none, or more than one."""
        found = self.all_by_number(number)
        if len(found) != 1:
            seen = ", ".join(str(heard.number) for heard in self) or "none"
            hint = "; all_by_number() gives them all" if found else ""
            raise LookupError(f"{len(found)} dialogs to {number!r} in the capture "
                              f"(its dialogs: {seen}){hint}")
        return found[0]

    def all_by_number(self, number: str) -> list[Heard]:
        return [heard for heard in self if heard.number == number]

    def by_call_id(self, call_id: str) -> Heard:
        for heard in self:
            if heard.dialog.call_id == call_id:
                return heard
        raise LookupError(f"no dialog with Call-ID {call_id!r} in the capture")


Source = str | Path | bytes | Sequence[Datagram]


def received(source: Source, asterisk_sip_port: int, peer_sip_port: int | None = None,
             threshold_db: float = DEFAULT_THRESHOLD_DB,
             grace_s: float = DEFAULT_GRACE_S) -> HeardCalls:
    """What each peer received from Asterisk, per INVITE dialog between
    Asterisk's SIP port and the peer's (or any peer): RTP from Asterisk's
    SDP address to the peer's, from the INVITE to grace_s after the end."""
    return _heard(source, asterisk_sip_port, peer_sip_port, threshold_db, grace_s,
                  to_peer=True)


def sent(source: Source, asterisk_sip_port: int, peer_sip_port: int | None = None,
         threshold_db: float = DEFAULT_THRESHOLD_DB,
         grace_s: float = DEFAULT_GRACE_S) -> HeardCalls:
    """What Asterisk received from each peer (the peer's RTP to Asterisk's
    SDP address): a debtor's keys and voice, as they left the peer."""
    return _heard(source, asterisk_sip_port, peer_sip_port, threshold_db, grace_s,
                  to_peer=False)


def _heard(source: Source, asterisk_sip_port: int, peer_sip_port: int | None,
           threshold_db: float, grace_s: float, *, to_peer: bool) -> HeardCalls:
    datagrams = (read_pcap(source) if isinstance(source, (str, Path, bytes))
                 else list(source))
    found = dialogs(datagrams, asterisk_sip_port, peer_sip_port)
    announced = {media.endpoint for d in found for media in (*d.asterisk_media, *d.peer_media)}
    calls = HeardCalls()
    for dialog in found:
        senders = dialog.asterisk_media if to_peer else dialog.peer_media
        receivers = dialog.peer_media if to_peer else dialog.asterisk_media
        stream = rtp_stream(datagrams, (m.endpoint for m in senders),
                            (m.endpoint for m in receivers), dialog.start,
                            dialog.end + grace_s)
        strays = _strays(datagrams, {m.endpoint for m in receivers}, announced,
                         dialog.start, dialog.end + grace_s)
        stream = RtpStream(src=stream.src, dst=stream.dst, packets=stream.packets,
                           lost=stream.lost, duplicates=stream.duplicates,
                           reordered=stream.reordered, strays=strays)
        decoders = _decoders(senders, receivers)
        audio = decode_audio(stream.packets, decoders)
        events = telephone_events(stream.packets, _event_types(senders, receivers))
        calls.append(Heard(dialog=dialog, stream=stream, audio=audio, events=tuple(events),
                           threshold_db=threshold_db, decoders=decoders))
    return calls


def _strays(datagrams: Iterable[Datagram], receivers: set[Endpoint],
            announced: set[Endpoint], start: float, end: float) -> int:
    """RTP to a receiver from an address no SDP in the capture announced:
    non-zero means the sender's media port differs from its SDP."""
    return sum(1 for d in datagrams
               if start <= d.time <= end and d.dst in receivers and d.src not in announced
               and parse_rtp(d) is not None)


def _decoders(*sides: Sequence[Media]) -> dict[int, str]:
    """Payload type -> 'PCMU'/'PCMA' from both sides' SDP (each sends with
    the numbers the other announced; in practice they agree)."""
    decoders = {0: "PCMU", 8: "PCMA"}
    for media in (m for side in sides for m in side):
        for name in ("PCMU", "PCMA"):
            decoders.update(dict.fromkeys(media.payload_types(name), name))
    return decoders


def _event_types(*sides: Sequence[Media]) -> set[int]:
    types = {pt for side in sides for media in side
             for pt in media.payload_types("telephone-event")}
    return types or {DEFAULT_EVENT_PAYLOAD_TYPE}
