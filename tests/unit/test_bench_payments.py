"""The pure parts of `recobro bench payments`: reading a capture back, the
last key and the result's start per call (lab.payment_latency), the card
file, the table."""

from __future__ import annotations

from pathlib import Path

import pytest

from dialer.errors import ConfigError
from lab import key_scripts
from lab.bench_payments import BenchCard, debtor_keys, load_card, table
from lab.payment_latency import key_to_result, percentile, summary_ms
from lab.pcap import PACKET_S, keys_pcap, read_udp, rtp_packet, udp_pcap

DEBTOR = 30070  # the bench UAS's media port
LOUD = bytes([0x80, 0x00] * 80)  # u-law near full scale
SILENT = b"\xff" * 160  # u-law zero: what transmit_silence sends


class Stream:
    """Asterisk's PCMU to the debtor from one port, 20 ms a packet."""

    def __init__(self, port: int) -> None:
        self.port, self.sequence, self.packets = port, 0, []

    def play(self, start: float, seconds: float, payload: bytes) -> float:
        """Packets of payload from start for seconds; returns the end."""
        count = round(seconds / PACKET_S)
        for index in range(count):
            self.send(start + index * PACKET_S, payload)
        return start + count * PACKET_S

    def send(self, at: float, payload: bytes) -> None:
        self.packets.append((at, self.port, DEBTOR, rtp_packet(
            False, 0, self.sequence, self.sequence * 160, 0xA5, payload)))
        self.sequence += 1


def keyed(keys: str, at: float, asterisk_port: int) -> list[tuple[float, int, int, bytes]]:
    """The debtor's RFC 4733 events of keys (lab.pcap.keys_pcap) sent from
    `at` to asterisk_port, their RTP timestamps on the clock of `at` (one
    stream's events never share a timestamp)."""
    events = keys_pcap(keys, first_timestamp=round(at * 8000))
    return [(at + d.time, DEBTOR, asterisk_port, d.payload) for d in read_udp(events)]


WAIT_S = 2.0  # the wait prompt's length


def a_call(port: int, key_at: float, gateway_gap_s: float, stray_short: bool = False
           ) -> list[tuple[float, int, int, bytes]]:
    """A call whose debtor keys the confirm key at key_at over the end of
    the read-back, hears the wait prompt (audible, a pause, audible, its
    short last frame), silence while the gateway answers, then the result;
    with stray_short, a short packet in the prompt's pause too."""
    asterisk = Stream(port)
    at = asterisk.play(key_at - 1.0, 1.2, LOUD)  # the read-back, cut by the key
    at = asterisk.play(at, 0.5, LOUD)  # "un momento,"
    if stray_short:
        asterisk.send(at, SILENT[:80])
        at += PACKET_S
    at = asterisk.play(at, 0.3 - (PACKET_S if stray_short else 0), SILENT)  # a pause
    at = asterisk.play(at, WAIT_S - 0.8, LOUD)  # "por favor."
    asterisk.send(at, SILENT[:39])  # the file's last frame
    at = asterisk.play(at + 0.02, gateway_gap_s, SILENT)
    asterisk.play(at, 1.0, LOUD)  # "su pago de ..."
    return keyed("1", key_at - 0.16, port) + asterisk.packets


def capture(*calls: list[tuple[float, int, int, bytes]]) -> bytes:
    return udp_pcap(sorted(packet for call in calls for packet in call))


def test_a_capture_reads_back_with_its_ports_times_and_payloads():
    datagrams = read_udp(udp_pcap([(1.5, 30070, 29154, b"abc"), (2.25, 29154, 30070, b"")]))
    assert [(d.time, d.src_port, d.dst_port, d.payload) for d in datagrams] == [
        (1.5, 30070, 29154, b"abc"), (2.25, 29154, 30070, b"")]


def test_not_a_pcap_is_refused():
    with pytest.raises(ValueError, match="not a classic pcap"):
        read_udp(b"\x0a\x0d\x0d\x0a" + bytes(40))


def test_each_call_is_timed_from_its_last_key_to_the_result_after_the_wait_prompt():
    first = a_call(29154, key_at=100.0, gateway_gap_s=0.4)
    second = a_call(29200, key_at=100.5, gateway_gap_s=1.5)
    [one, two] = key_to_result(read_udp(capture(first, second)), DEBTOR, WAIT_S)
    assert one.asterisk_port == 29154 and two.asterisk_port == 29200
    # The key's end: its first packet with the end bit (7 packets in).
    assert one.last_key_at == pytest.approx(100.0 - 0.16 + 7 * PACKET_S)
    # The read-back still playing after the key is the first audio heard...
    assert one.first_audio_at == pytest.approx(one.last_key_at + PACKET_S, abs=0.021)
    # ...but the result is after the wait prompt's short last frame.
    assert one.wait_end_at == pytest.approx(100.2 + 0.5 + 0.3 + 1.2)
    assert one.result_at == pytest.approx(one.wait_end_at + 0.02 + 0.4)
    assert one.latency_s == pytest.approx(one.result_at - one.last_key_at)
    assert two.result_at - two.wait_end_at == pytest.approx(0.02 + 1.5)
    assert two.latency_s > one.latency_s + 1


def test_a_short_packet_sooner_than_the_wait_prompt_can_end_is_not_its_end():
    [timing] = key_to_result(read_udp(capture(a_call(29154, key_at=100.0, gateway_gap_s=0.4,
                                                     stray_short=True))), DEBTOR, WAIT_S)
    assert timing.wait_end_at == pytest.approx(102.2)
    assert timing.result_at == pytest.approx(102.2 + 0.02 + 0.4)


def test_an_earlier_key_and_its_repeated_end_packets_do_not_count_as_the_last_key():
    call = a_call(29154, key_at=50.0, gateway_gap_s=0.2)
    earlier = keyed("4", 40.0, 29154)
    [timing] = key_to_result(read_udp(capture(earlier, call)), DEBTOR, WAIT_S)
    assert timing.last_key_at == pytest.approx(50.0 - 0.16 + 7 * PACKET_S)


def test_a_call_with_no_result_or_no_key_has_no_latency():
    no_result = Stream(29300)
    at = no_result.play(10.0, 1.0, LOUD)
    no_result.send(at, SILENT[:39])
    no_result.play(at + 0.02, 3.0, SILENT)  # the debtor hung up before the result
    silent = Stream(29400)
    silent.play(10.0, 2.0, LOUD)  # never keyed
    timings = key_to_result(read_udp(capture(keyed("1", 9.5, 29300), no_result.packets,
                                             silent.packets)), DEBTOR, wait_s=1.0)
    assert [(t.asterisk_port, t.latency_s) for t in timings] == [(29300, None), (29400, None)]
    assert timings[0].wait_end_at is not None and timings[1].last_key_at is None


def test_summary_gives_median_and_nearest_rank_p99_in_milliseconds():
    values = [i / 1000 for i in range(1, 101)]  # 1 ms .. 100 ms
    assert percentile(values, 0.99) == 0.099
    assert summary_ms(values) == {"median": 50.5, "p99": 99.0, "min": 1.0, "max": 100.0}
    assert summary_ms([]) is None


def test_the_card_file_is_read_and_its_faults_named(tmp_path: Path):
    good = tmp_path / "card.toml"
    good.write_text('[bench]\nnumber = "4242424242424242"\nexpiry = "1230"\ncvv = "123"\n')
    card = load_card(good)
    assert (card.number, card.expiry, card.cvv) == ("4242424242424242", "1230", "123")
    assert "4242" not in repr(card)
    with pytest.raises(ConfigError, match=r"missing\.toml: no such file.*--card"):
        load_card(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text('[bench]\nnumber = "4242424242424242"\nexpiry = "12/30"\ncvv = "123"\n')
    with pytest.raises(ConfigError, match=r"\[bench\]: expiry must be a string of 4 digits"):
        load_card(bad)
    tableless = tmp_path / "tableless.toml"
    tableless.write_text('number = "4242424242424242"\n')
    with pytest.raises(ConfigError, match=r"no \[bench\] table"):
        load_card(tableless)


def test_the_demo_cards_file_holds_the_bench_card_beside_the_demo_scripts():
    card = load_card()
    assert key_scripts.load()  # the demo's scripts still read
    assert card.number == "4242424242424242"  # Stripe's test Visa that succeeds


def test_the_debtor_keys_pay_then_the_card_then_confirms():
    keys = debtor_keys(BenchCard("4242424242424242", "1230", "123"))
    assert keys.replace(",", "") == "1" + "4242424242424242#" + "1230" + "123" + "1"
    assert keys.startswith(",,,,,,,,,1,") and keys.endswith(",1")


def test_the_table_has_a_row_per_concurrency():
    report = {"wait_prompt_s": 2.012, "steps": [
        {"concurrent": 1, "runs": 3, "captures": 3, "paid": 3, "errors": 0, "measured": 3,
         "median_ms": 2030.2, "p99_ms": 2040.0, "beyond_wait_median_ms": 20.0,
         "first_audio_median_ms": 4.6},
        {"concurrent": 32, "runs": 3, "captures": 96, "paid": 95, "errors": 1,
         "measured": 94, "median_ms": None, "p99_ms": None, "beyond_wait_median_ms": None,
         "first_audio_median_ms": None}]}
    lines = table(report).splitlines()
    assert lines[2] == "| 1 | 3 | 3 / 3 | 0 | 3 | 2030 ms | 2040 ms | 20 ms | 5 ms |"
    assert lines[3] == "| 32 | 3 | 95 / 96 | 1 | 94 | - | - | - | - |"
    assert lines[-2] == "Every capture ended paid up to 1 at once."
    assert "2.01 s" in lines[-1]
