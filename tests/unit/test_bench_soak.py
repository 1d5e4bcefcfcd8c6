"""The pure parts of `recobro bench soak`: what grew past its bound after
the settling, and the table."""

from __future__ import annotations

from lab.bench_soak import SETTLE_MINUTES, Sample, bounds_broken, table


def minute(at: float, mb: float = 80.0, fds: int = 40, connections: int = 8,
           channels: int = 200) -> Sample:
    return Sample(at, mb, fds, 200, connections, channels)


def test_growth_during_the_settling_does_not_count():
    samples = [minute(0, mb=40, fds=10), minute(SETTLE_MINUTES, mb=80), minute(30, mb=100),
               minute(60, mb=120)]
    assert bounds_broken(samples, lines=200) == []


def test_each_bound_broken_after_the_settling_is_named():
    samples = [minute(SETTLE_MINUTES), minute(60, mb=200, fds=70, connections=14, channels=260)]
    assert bounds_broken(samples, lines=200) == [
        "resident memory grew 120 MB (bound 50 MB)", "open files grew 30 (bound 20)",
        "14 PostgreSQL connections (bound 12)", "260 Asterisk channels for 200 lines (bound 210)"]


def test_a_run_shorter_than_the_settling_is_not_judged():
    assert bounds_broken([minute(0), minute(1)], lines=200) == [
        f"too short to judge: 2 sample(s), the first {SETTLE_MINUTES} minutes are the settling"]


def test_the_table_has_a_row_a_minute():
    text = table([minute(0), minute(1, mb=81.25)])
    assert text.splitlines()[3] == "| 1 | 81.2 | 40 | 200 | 8 | 200 |"
