"""The strategy reports' pure core (issue 17): the Wilson interval and the
costs against hand-computed values, the bootstrap's interval, what counts
as a right-party contact, a promise and a kept promise, cells and totals
from hand-made attempts and messages, and the report as CSV (it parses),
JSON, a table and a PNG chart."""

from __future__ import annotations

import csv
import io
import json
import sys
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from dialer.errors import ConfigError
from dialer.reports.cells import (
    Dimension,
    Filters,
    parse_dimensions,
    to_csv,
    to_json,
    to_table,
)
from dialer.reports.chart import MISSING, contact_rate_png
from dialer.reports.messaging import MESSAGE_DIMENSIONS, Message, messages_report
from dialer.reports.stats import Interval, bootstrap_mean, cost, wilson
from dialer.reports.strategy import CALL_DIMENSIONS, HEADINGS, Attempt, calls_report

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
    assert first == bootstrap_mean(amounts[::-1], "cell a")  # in whatever order read
    assert first != bootstrap_mean(amounts, "cell b")  # each cell its own draws
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


def _counts(cell, *names: str) -> tuple:
    """successes and n of each rate named."""
    return tuple(x for name in names for x in (cell[name].successes, cell[name].n))


def test_cells_and_totals_from_hand_made_attempts() -> None:
    report = calls_report(_hand_made(), CALL_DIMENSIONS, Filters(), AS_OF, "USD")
    early, late = report.cells
    assert early.key == ("early", 10, 1, "predictive") and early.count == 4
    assert _counts(early, "right_party_contact", "promise", "kept_promise") == (2, 4, 1, 2, 1, 1)
    assert early["collected"].total == Decimal("120.00")
    assert early["collected"].per_item.estimate == pytest.approx(30.0)
    assert early["attempts_per_contact"].interval.estimate == 2.0
    assert early["attempts_per_promise"].interval.estimate == 4.0
    # Wilson 2/4: centre 0.5, half-width 0.34997.
    assert early["right_party_contact"].interval.low == pytest.approx(0.15003, abs=5e-5)
    assert late.key == ("late", 18, 6, "progressive") and late.count == 3
    assert _counts(late, "right_party_contact", "promise", "kept_promise") == (1, 3, 1, 1, 0, 1)
    assert late["collected"].total == 0 and late["collected"].per_item.estimate == 0.0
    totals = report.totals
    assert totals.count == 7
    assert _counts(totals, "right_party_contact", "promise", "kept_promise") == (
        3, 7, 2, 3, 1, 2)
    by_segment = calls_report(_hand_made(), (Dimension.SEGMENT,), Filters(), AS_OF, "USD")
    assert [c.key for c in by_segment.cells] == [("early",), ("late",)]


def test_the_csv_parses_and_holds_every_figure_of_every_cell() -> None:
    report = calls_report(_hand_made(), CALL_DIMENSIONS, Filters(campaign="spring"), AS_OF,
                          "USD")
    rows = list(csv.DictReader(io.StringIO(to_csv(report))))
    assert len(rows) == 2
    assert list(rows[0])[:9] == ["segment", "local_hour", "weekday", "dial_mode", "attempts",
                                 "right_party_contact_n", "right_party_contact_successes",
                                 "right_party_contact_rate", "right_party_contact_low"]
    assert list(rows[0])[-3:] == ["attempts_per_promise", "attempts_per_promise_low",
                                  "attempts_per_promise_high"]
    early = rows[0]
    assert (early["segment"], early["local_hour"], early["weekday"]) == ("early", "10", "Mon")
    assert (early["attempts"], early["right_party_contact_successes"],
            early["promise_successes"], early["promise_n"]) == ("4", "2", "1", "2")
    assert float(early["right_party_contact_rate"]) == 0.5
    assert float(early["right_party_contact_low"]) == pytest.approx(0.15, abs=1e-3)
    assert (early["collected_total"], early["collected_per_item"]) == ("120.00", "30.0")
    assert rows[1]["attempts_per_promise"] == "3.0"
    assert rows[1]["kept_promise_rate"] == "0.0" and rows[1]["attempts_per_contact_high"]


def test_the_json_names_counts_intervals_and_what_it_covers() -> None:
    filters = Filters("spring", date(2026, 11, 1), date(2026, 11, 30))
    document = json.loads(to_json(calls_report(_hand_made(), CALL_DIMENSIONS, filters, AS_OF,
                                               "USD")))
    assert document["report"] == "calls"
    assert document["filters"] == {"campaign": "spring", "from": "2026-11-01",
                                   "to": "2026-11-30", "dates_in": "the debtor's local time"}
    assert document["intervals"]["rates"] == "Wilson score, 95%"
    late = document["cells"][1]
    assert (late["segment"], late["weekday"], late["dial_mode"]) == ("late", "Sat",
                                                                     "progressive")
    # Wilson 0/1: the upper bound is z²/(1+z²) = 3.8415/4.8415.
    assert late["kept_promise"] == {"n": 1, "successes": 0, "rate": 0.0, "low": 0.0,
                                    "high": pytest.approx(0.7935, abs=1e-4)}
    # Wilson 1/3: centre 0.42693, half-width 0.36543: [0.0615, 0.7924].
    assert late["attempts_per_contact"] == {"estimate": 3.0, "low": 1.26, "high": 16.26}
    assert document["totals"]["attempts"] == 7


def test_the_table_shows_counts_rates_and_intervals() -> None:
    report = calls_report(_hand_made(), CALL_DIMENSIONS, Filters(), AS_OF, "USD")
    table = to_table(report, HEADINGS)
    assert table.splitlines()[0].split()[:5] == [
        "segment", "local_hour", "weekday", "dial_mode", "attempts"]
    assert "  right-party contact  promise (of contacts)  kept (of due)" in table
    early = next(line for line in table.splitlines() if line.startswith("early"))
    assert "2/4 50% [15-85]" in early and "1/2 50% [9-91]" in early
    assert "30.00 [" in early and "(120.00)" in early and "2.0 [1.2-6.7]" in early
    assert "amounts in USD" in table


def _message(**kw) -> Message:
    base = {"segment": "early", "local_hour": 19, "weekday": 3, "channel": "sms",
            "template": "no_interaction es v2", "delivery": True, "judged": True}
    return Message(**(base | kw))


def test_messages_by_channel_and_template_version() -> None:
    """sms v2: 3 sent, 2 delivered and 1 not; of the 2 judged, one paid
    80.00 and promised; the third's window is still open (its payment
    not counted). e-mail v1: no delivery report, judged, nothing came."""
    messages = [
        _message(paid=True, promised=True, collected=Decimal("80.00")),
        _message(delivery=False),
        _message(judged=False, paid=True, collected=Decimal("40.00")),
        _message(channel="email", template="pre_due en v1", delivery=None),
    ]
    report = messages_report(messages, MESSAGE_DIMENSIONS, Filters(), AS_OF, "USD")
    email, sms = report.cells
    assert email.key == ("early", 19, 3, "email", "pre_due en v1")
    assert email["delivered"].n == 0 and email["delivered"].interval.estimate is None
    assert _counts(email, "paid", "promise") == (0, 1, 0, 1)
    assert sms.count == 3
    assert _counts(sms, "delivered", "paid", "promise") == (2, 3, 1, 2, 1, 2)
    assert sms["collected"].total == Decimal("80.00") and sms["collected"].n == 2
    assert sms["messages_per_payment"].interval.estimate == 2.0
    rows = list(csv.DictReader(io.StringIO(to_csv(report))))
    assert [(r["channel"], r["template"], r["messages"], r["paid_successes"]) for r in rows] == [
        ("email", "pre_due en v1", "1", "0"), ("sms", "no_interaction es v2", "3", "1")]
    assert json.loads(to_json(report))["cells"][1]["delivered"]["successes"] == 2


def test_dimensions_and_dates_are_checked_with_the_field_named() -> None:
    assert parse_dimensions("hour,segment", CALL_DIMENSIONS) == (Dimension.SEGMENT,
                                                                 Dimension.HOUR)
    assert parse_dimensions("template,channel", MESSAGE_DIMENSIONS) == (Dimension.CHANNEL,
                                                                        Dimension.TEMPLATE)
    with pytest.raises(ValueError, match="'hour,zone': a comma-separated list of segment, "
                                         "hour, weekday, mode$"):
        parse_dimensions("hour,zone", CALL_DIMENSIONS)
    with pytest.raises(ValueError, match="'mode': a comma-separated list of segment, hour, "
                                         "weekday, channel, template$"):
        parse_dimensions("mode", MESSAGE_DIMENSIONS)
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
