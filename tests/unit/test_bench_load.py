"""The pure parts of `recobro bench load`: reading a dialer's /metrics, a
histogram's quantile between two scrapes, the bench's numbers, and when a
step holds."""

from __future__ import annotations

import pytest
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from dialer.errors import ConfigError
from lab.bench_load import (
    AREAS,
    StepFigures,
    histogram_quantile,
    holds,
    numbers,
    parse_scrape,
    stay_s,
)
from lab.number_plan import Behaviour, parse_lab_number

BUCKETS = (0.01, 0.1, 1.0)


def exposition(in_flight: float, lag: list[float], events: int) -> str:
    """A dialer's /metrics text, made by prometheus-client as the exporter's is."""
    registry = CollectorRegistry()
    Gauge("recobro_calls_in_flight", "", ["campaign"], registry=registry).labels("a").set(
        in_flight)
    histogram = Histogram("recobro_event_loop_lag_seconds", "", buckets=BUCKETS,
                          registry=registry)
    for value in lag:
        histogram.observe(value)
    Counter("recobro_asterisk_events_total", "", ["link"], registry=registry).labels(
        "ami").inc(events)
    return generate_latest(registry).decode()


def test_a_scrape_reads_calls_in_flight_events_and_the_lag_buckets():
    scrape = parse_scrape(exposition(42, [0.005, 0.05, 0.5], 7), at=3.0)
    assert (scrape.at, scrape.in_flight, scrape.ami_events, scrape.ari_events) == (3.0, 42, 7, 0)
    assert scrape.lag == ((0.01, 1), (0.1, 2), (1.0, 3), (float("inf"), 3))
    assert scrape.to_flow == ()


def test_two_dialers_scrapes_add_up():
    a = parse_scrape(exposition(10, [0.005], 5), at=1.0)
    b = parse_scrape(exposition(20, [0.5], 6), at=1.2)
    total = a + b
    assert (total.at, total.in_flight, total.ami_events) == (1.0, 30, 11)
    assert total.lag == ((0.01, 1), (0.1, 1), (1.0, 2), (float("inf"), 2))


def test_the_quantile_counts_only_what_was_observed_between_the_scrapes():
    first = ((0.01, 100.0), (0.1, 100.0), (1.0, 100.0), (float("inf"), 100.0))
    # Then 100 more: 90 under 10 ms, 9 between 10 and 100 ms, 1 between 0.1 and 1 s.
    last = ((0.01, 190.0), (0.1, 199.0), (1.0, 200.0), (float("inf"), 200.0))
    assert histogram_quantile(first, last, 0.5) == pytest.approx(0.01 * 50 / 90)
    assert histogram_quantile(first, last, 0.99) == pytest.approx(0.1)
    assert histogram_quantile(first, last, 0.995) == pytest.approx(0.55)
    assert histogram_quantile(last, last, 0.99) is None  # nothing observed


def test_beyond_the_largest_bucket_the_quantile_is_its_bound():
    last = ((0.01, 0.0), (1.0, 1.0), (float("inf"), 10.0))
    assert histogram_quantile((), last, 0.99) == 1.0


def test_the_numbers_answer_in_the_share_asked_each_once_across_area_codes():
    made = numbers(20, 0.25, 8, first=7_990)
    assert len(set(made)) == 20
    plans = [parse_lab_number(n) for n in made]
    answered = [p for p in plans if p.behaviour is Behaviour.ANSWER_AND_STAY]
    assert len(answered) == 5 and all(4 <= p.stay_seconds <= 12 for p in answered)
    assert {p.behaviour for p in plans} == {Behaviour.ANSWER_AND_STAY, Behaviour.NO_ANSWER}
    assert made[0].startswith(f"+1{AREAS[0]}999") and made[-1].startswith(f"+1{AREAS[1]}200")


def test_debtors_stay_from_half_to_one_and_a_half_the_talk_time_evenly():
    stays = [stay_s(8, i) for i in range(900)]
    assert min(stays) == 4 and max(stays) == 12
    assert sum(stays) / len(stays) == pytest.approx(8, abs=0.05)


def test_more_numbers_than_the_plan_holds_are_refused_naming_the_count():
    with pytest.raises(ConfigError, match=f"{8000 * len(AREAS) + 1} leads"):
        numbers(2, 1.0, 8, first=8000 * len(AREAS) - 1)


def step(**changes) -> StepFigures:
    figures = {"lines": 100, "dialers": 1, "measured_s": 60.0, "originates_per_s": 11.0,
               "answers_per_s": 11.0, "in_flight_mean": 98.0, "in_flight_min": 90.0,
               "line_s_per_call": 8.9, "dial_to_answer_p50_ms": 350.0,
               "dial_to_answer_p99_ms": 600.0, "cpu_share": [0.2], "loop_lag_p99_ms": 20.0,
               "call_to_flow_p50_ms": 3.0, "call_to_flow_p99_ms": 30.0,
               "ami_events_per_s": 100.0, "ari_events_per_s": 90.0, "db_commits_per_s": 200.0,
               "db_rows_written_per_s": 300.0, "results": {}, "errors": 0, "error_lines": 0,
               "held": True}
    return StepFigures(**{**figures, **changes})


def test_a_step_holds_with_its_lines_busy_no_error_and_the_loop_on_time():
    assert holds(step()) == (True, "")
    assert holds(step(in_flight_mean=80.0)) == (
        False, "80 calls in flight on average, under 90% of its 100 lines")
    assert holds(step(errors=2)) == (False, "2 failed or lost call(s), 0 error line(s)")
    assert holds(step(loop_lag_p99_ms=400.0)) == (False, "event-loop lag p99 400 ms")
    assert holds(step(call_to_flow_p99_ms=2500.0)) == (
        False, "an answered debtor waited 2500 ms (p99) for the call's flow")
