"""The strategy report's pure core (issue 17): the Wilson interval and the
costs against hand-computed values, the bootstrap's interval, what counts
as a right-party contact, a promise and a kept promise, cells and totals
from hand-made attempts, and the report as CSV (it parses), JSON, a table
and a PNG chart."""

from __future__ import annotations

import csv
import io
import json
import sys
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from dialer.errors import ConfigError
from dialer.reports.chart import MISSING, contact_rate_png
from dialer.reports.stats import Interval, bootstrap_mean, cost, wilson
from dialer.reports.strategy import (
    ALL_DIMENSIONS,
    CSV_FIGURES,
    Attempt,
    Dimension,
    Filters,
    build_report,
    parse_dimensions,
    to_csv,
    to_json,
    to_table,
)

AS_OF = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


# Hand-computed with z = 1.96: centre (p + z²/2n) / (1 + z²/n), half-width
# z √(p(1-p)/n + z²/4n²) / (1 + z²/n).
@pytest.mark.parametrize(("successes", "trials", "low", "high"), [
    (3, 10, 0.10779, 0.60323),  # centre 0.355508, half 0.247719
    (0, 10, 0.0, 0.27754),  # z²/(n+z²) = 3.8416/13.8416
    (10, 10, 0.72246, 1.0),  # n/(n+z²)
    (1, 2, 0.09453, 0.90547),  # centre 0.5, half 0.405470
    (50, 100, 0.40383, 0.59617),
])
def test_the_wilson_interval_matches_hand_computed_values(successes, trials, low, high) -> None:
    interval = wilson(successes, trials)
    assert interval.estimate == successes / trials
    assert interval.low == pytest.approx(low, abs=5e-5)
    assert interval.high == pytest.approx(high, abs=5e-5)


def test_no_trials_give_no_rate_and_impossible_counts_are_refused() -> None:
    assert wilson(0, 0).estimate is None and wilson(0, 0).low is None
    with pytest.raises(ValueError, match="successes 4 of trials 3"):
        wilson(4, 3)


def test_a_cost_is_the_reciprocal_of_the_rate_and_its_wilson_bounds() -> None:
    three = cost(3, 10)
    assert three.estimate == pytest.approx(10 / 3)
    assert three.low == pytest.approx(1 / 0.60323, abs=1e-3)  # 1.6577
    assert three.high == pytest.approx(1 / 0.10779, abs=5e-3)  # 9.277
    none = cost(0, 10)  # no contact yet: at least 3.6 attempts each, no upper bound
    assert none.estimate is None and none.high is None
    assert none.low == pytest.approx(1 / 0.27754, abs=1e-3)


def test_the_bootstrap_interval_is_seeded_and_where_the_normal_one_is_for_a_large_sample(
) -> None:
    amounts = [0.0] * 90 + [100.0] * 10  # mean 10; normal 95%: 10 ± 1.96·3.0 = [4.1, 15.9]
    first = bootstrap_mean(amounts, "cell a")
    assert first == bootstrap_mean(amounts, "cell a")  # the same on every run
    assert first.estimate == pytest.approx(10.0)
    assert 3.0 <= first.low <= 5.5 and 14.5 <= first.high <= 17.0
    assert bootstrap_mean([25.0, 25.0], "b") == Interval(25.0, 25.0, 25.0)
    assert bootstrap_mean([], "c") == Interval(None, None, None)


def _attempt(**kw) -> Attempt:
    base = {"segment": "early", "local_hour": 10, "weekday": 1, "dial_mode": "predictive",
            "result": "conversation"}
    return Attempt(**(base | kw))


def test_what_counts_as_a_right_party_contact_and_a_promise() -> None:
    assert _attempt(disposition="RPC").right_party
    assert _attempt(disposition="REFUSED").right_party
    assert _attempt(disposition="PTP").promised and _attempt(disposition="PTP").right_party
    # Whoever answers may ask not to be called, or to be called back; a
    # wrong number is someone else; a conversation without a disposition
    # says nothing of who spoke.
    for code in ("OPT_OUT", "CALLBACK", "WRONG_NUMBER", None):
        assert not _attempt(disposition=code).right_party, code
    assert _attempt(result="self_served").right_party  # the account keyed and proved
    assert not _attempt(result="unverified").right_party
    assert not _attempt(result="no_answer").right_party
    promise = _attempt(result="self_served", promises=1)
    assert promise.promised and promise.right_party
    assert _attempt(collected=Decimal("50.00")).right_party  # paid on the call


def _hand_made() -> list[Attempt]:
    """Two cells. early/10/Mon/predictive: 4 attempts, 2 contacts (an RPC and
    a self-served promise, due and kept), 1 promise, 120.00 collected on one
    of them. late/18/Sat/progressive: 3 attempts, 1 contact with a PTP
    disposition (not judged: no date recorded) and a promise that is due and
    broken."""
    early = {"segment": "early", "local_hour": 10, "weekday": 1, "dial_mode": "predictive"}
    late = {"segment": "late", "local_hour": 18, "weekday": 6, "dial_mode": "progressive"}
    return [
        Attempt(**early, result="no_answer"),
        Attempt(**early, result="conversation", disposition="RPC",
                collected=Decimal("120.00")),
        Attempt(**early, result="self_served", promises=1, promises_due=1, promises_kept=1),
        Attempt(**early, result="busy"),
        Attempt(**late, result="conversation", disposition="PTP", promises=1, promises_due=1),
        Attempt(**late, result="machine"),
        Attempt(**late, result="conversation", disposition="WRONG_NUMBER"),
    ]


def test_cells_and_totals_from_hand_made_attempts() -> None:
    report = build_report(_hand_made(), ALL_DIMENSIONS, Filters(), AS_OF, "USD")
    early, late = report.cells
    assert early.key == ("early", 10, 1, "predictive")
    assert (early.attempts, early.right_party.successes, early.right_party.n) == (4, 2, 4)
    assert (early.promise.successes, early.promise.n) == (1, 2)
    assert (early.kept.successes, early.kept.n) == (1, 1)
    assert early.collected == Decimal("120.00")
    assert early.collected_per_attempt.estimate == pytest.approx(30.0)
    assert early.attempts_per_contact.estimate == 2.0
    assert early.attempts_per_promise.estimate == 4.0
    assert early.right_party.interval.low == pytest.approx(0.15003, abs=5e-5)  # Wilson 2/4
    assert late.key == ("late", 18, 6, "progressive")
    assert (late.attempts, late.right_party.successes, late.promise.successes) == (3, 1, 1)
    assert (late.kept.successes, late.kept.n) == (0, 1)
    assert late.collected == 0 and late.collected_per_attempt.estimate == 0.0
    totals = report.totals
    assert (totals.attempts, totals.right_party.successes, totals.promise.successes,
            totals.kept.successes, totals.kept.n) == (7, 3, 2, 1, 2)
    by_segment = build_report(_hand_made(), (Dimension.SEGMENT,), Filters(), AS_OF, "USD")
    assert [c.key for c in by_segment.cells] == [("early",), ("late",)]


def test_the_csv_parses_and_holds_every_figure_of_every_cell() -> None:
    report = build_report(_hand_made(), ALL_DIMENSIONS, Filters(campaign="spring"), AS_OF,
                          "USD")
    rows = list(csv.DictReader(io.StringIO(to_csv(report))))
    assert len(rows) == 2
    assert list(rows[0]) == ["segment", "local_hour", "weekday", "dial_mode", *CSV_FIGURES]
    early = rows[0]
    assert (early["segment"], early["local_hour"], early["weekday"]) == ("early", "10", "Mon")
    assert (early["attempts"], early["right_party_contacts"], early["promises"]) == ("4", "2",
                                                                                     "1")
    assert float(early["right_party_rate"]) == 0.5
    assert float(early["right_party_low"]) == pytest.approx(0.15, abs=1e-3)
    assert early["collected"] == "120.00"
    assert rows[1]["attempts_per_promise"] == "3.0"


def test_the_json_names_counts_intervals_and_what_it_covers() -> None:
    filters = Filters("spring", date(2026, 11, 1), date(2026, 11, 30))
    document = json.loads(to_json(build_report(_hand_made(), ALL_DIMENSIONS, filters, AS_OF,
                                               "USD")))
    assert document["filters"] == {"campaign": "spring", "from": "2026-11-01",
                                   "to": "2026-11-30", "dates_in": "the debtor's local time"}
    assert document["intervals"]["rates"] == "Wilson score, 95%"
    late = document["cells"][1]
    assert (late["segment"], late["weekday"], late["dial_mode"]) == ("late", "Sat",
                                                                     "progressive")
    assert late["kept_promise"] == {"n": 1, "successes": 0, "rate": 0.0, "low": 0.0,
                                    "high": pytest.approx(0.7935, abs=1e-4)}
    assert document["totals"]["attempts"] == 7


def test_the_table_shows_counts_rates_and_intervals() -> None:
    table = to_table(build_report(_hand_made(), ALL_DIMENSIONS, Filters(), AS_OF, "USD"))
    early = next(line for line in table.splitlines() if line.startswith("early"))
    assert "2/4 50% [15-85]" in early and "1/2 50% [9-91]" in early
    assert "30.00 [" in early and "2.0 [1.2-6.7]" in early
    assert "amounts in USD" in table


def test_dimensions_and_dates_are_checked_with_the_field_named() -> None:
    assert parse_dimensions("hour,segment") == (Dimension.SEGMENT, Dimension.HOUR)
    with pytest.raises(ValueError, match="'hour,zone': a comma-separated list"):
        parse_dimensions("hour,zone")
    with pytest.raises(ValueError, match="from 2026-11-30 is after to 2026-11-01"):
        Filters(date_from=date(2026, 11, 30), date_to=date(2026, 11, 1))


def test_the_chart_is_a_png() -> None:
    png = contact_rate_png(_hand_made(), "test")
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000


def test_the_chart_without_matplotlib_names_the_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import fails
    with pytest.raises(ConfigError) as error:
        contact_rate_png(_hand_made(), "test")
    assert str(error.value) == MISSING and "recobro[report]" in MISSING
