"""The RTP pcap writer the lab's greetings are played from."""

import struct

import pytest

from lab.pcap import SAMPLES_PER_PACKET, rtp_pcap


def packets(data: bytes):
    magic, major, minor, _, _, _snaplen, link = struct.unpack("<IHHiIII", data[:24])
    assert (magic, major, minor, link) == (0xA1B2C3D4, 2, 4, 1)
    offset = 24
    while offset < len(data):
        seconds, micros, captured, length = struct.unpack("<IIII", data[offset:offset + 16])
        assert captured == length
        yield seconds + micros / 1e6, data[offset + 16:offset + 16 + captured]
        offset += 16 + captured


def test_audio_is_cut_in_20_ms_pcmu_packets():
    audio = bytes(range(256)) * 2  # 512 samples: three full packets and a padded one
    frames = list(packets(rtp_pcap(audio)))
    assert len(frames) == 4
    for index, (at, frame) in enumerate(frames):
        assert abs(at - index * 0.02) < 1e-9
        ip = frame[14:34]
        assert ip[9] == 17 and struct.unpack("!H", ip[2:4])[0] == len(frame) - 14
        rtp = frame[42:]
        version, marker_pt, sequence, timestamp, _ = struct.unpack("!BBHII", rtp[:12])
        assert version == 0x80 and marker_pt & 0x7F == 0  # PCMU
        assert (sequence, timestamp) == (index, index * SAMPLES_PER_PACKET)
        assert len(rtp) - 12 == SAMPLES_PER_PACKET
    assert frames[0][1][42 + 12:42 + 12 + 4] == bytes([0, 1, 2, 3])
    assert frames[-1][1][-1:] == b"\xff"  # padded with u-law silence


def test_keys_are_rfc_4733_events_with_an_end():
    from lab.pcap import KEY_PACKETS, keys_pcap

    frames = list(packets(keys_pcap("4#")))
    assert len(frames) == 2 * (KEY_PACKETS + 2)
    events = []
    for _, frame in frames:
        rtp = frame[42:]
        _, marker_pt, sequence, timestamp, _ = struct.unpack("!BBHII", rtp[:12])
        event, flags, _duration = struct.unpack("!BBH", rtp[12:16])
        events.append((marker_pt & 0x7F, event, bool(flags & 0x80), sequence, timestamp))
    assert {e[0] for e in events} == {101}
    assert [e[1] for e in events] == [4] * (KEY_PACKETS + 2) + [11] * (KEY_PACKETS + 2)
    assert [e[3] for e in events] == list(range(len(events)))  # sequence runs on
    first, second = events[:KEY_PACKETS + 2], events[KEY_PACKETS + 2:]
    assert len({e[4] for e in first}) == 1 and first[0][4] < second[0][4]
    assert [e[2] for e in first][-3:] == [True] * 3  # the end, sent three times
    with pytest.raises(ValueError, match="only 0-9"):
        keys_pcap("A")


def test_a_pause_before_the_first_key_is_the_scenarios():
    # sipp times a pcap's packets from its first: lab.sipp waits that long
    # in the scenario instead (issue 14: a debtor hears a menu out first).
    from lab.pcap import leading_pause

    assert leading_pause(",,,1,,2") == (3.0, "1,,2")
    assert leading_pause("12") == (0.0, "12")
    assert leading_pause("") == (0.0, "")
