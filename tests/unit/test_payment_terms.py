"""What a campaign offers a debtor paying by keypad (issue 14): per-segment
payment terms with defaults, set for every segment by `recobro campaign
create` flags or per segment in a strategies file, refused outside their
ranges in words naming the field; the ranges are the schema's (migration
0006) and the capture's (payment_ivr.terms)."""

from __future__ import annotations

import re

import pytest

from dialer import cli, limits
from dialer.errors import ConfigError
from dialer.outbound.commands import build_campaign, load_strategies
from dialer.portfolio.model import DialMode, PaymentTerms, Segment
from dialer.store.migrate import MIGRATIONS
from payment_ivr import terms
from tests.unit.test_campaign_limits import GOOD

SCHEMA = (MIGRATIONS / "0006.payment_terms.sql").read_text()


def payment_of(campaign):
    return {s.segment: s.payment for s in campaign.strategies}


def test_the_ranges_are_the_schemas_and_the_captures():
    for column, allowed in (("settlement_percent", limits.SETTLEMENT_PERCENT),
                            ("instalments", limits.INSTALMENTS),
                            ("promise_days", limits.PROMISE_DAYS)):
        assert f"CHECK ({column} BETWEEN {allowed.low:g} AND {allowed.high:g})" in SCHEMA
    assert limits.INSTALMENTS.high == terms.MAX_INSTALMENTS
    assert limits.PROMISE_DAYS.high == terms.MAX_PROMISE_DAYS
    money = terms.Money(100)
    for low_or_high in (limits.SETTLEMENT_PERCENT.low, limits.SETTLEMENT_PERCENT.high):
        terms.PaymentOptions(money, settlement_percent=int(low_or_high))
    for low_or_high in (limits.INSTALMENTS.low, limits.INSTALMENTS.high):
        terms.PaymentOptions(money, instalments=int(low_or_high))
    for low_or_high in (limits.PROMISE_DAYS.low, limits.PROMISE_DAYS.high):
        terms.PaymentOptions(money, promise_days=int(low_or_high))


def test_the_defaults_offer_more_the_later_the_debt():
    offered = payment_of(build_campaign("spring", "predictive", **GOOD))
    assert offered == {
        Segment.EARLY: PaymentTerms(instalments=3, promise_days=14),
        Segment.MID: PaymentTerms(instalments=6, promise_days=14),
        Segment.LATE: PaymentTerms(settlement_percent=70, instalments=12, promise_days=14)}
    # The migration gives strategies made before it the same.
    assert "promise_days = 14" in SCHEMA and "'late' THEN 70" in SCHEMA


def test_flags_set_every_segment_and_a_strategies_file_one(tmp_path):
    path = tmp_path / "strategies.toml"
    path.write_text('[late]\nsettlement_percent = 60\ninstalments = "none"\n')
    args = cli.build_parser().parse_args([
        "campaign", "create", "spring", "--settlement-percent", "80", "--instalments", "none",
        "--promise-days", "30"])
    given = {"settlement_percent": args.settlement_percent, "instalments": args.instalments,
             "promise_days": args.promise_days}
    offered = payment_of(build_campaign("spring", "predictive", **{**GOOD, "strategies": path},
                                        payment=given))
    assert offered[Segment.EARLY] == PaymentTerms(80, None, 30)
    assert offered[Segment.LATE] == PaymentTerms(60, None, 30)


@pytest.mark.parametrize("field, value, words", [
    ("settlement_percent", "100", ("--settlement-percent 100: a whole number from 1 to 99 "
                                   "percent of the balance, or 'none' to offer none")),
    ("settlement_percent", "0", "--settlement-percent 0: a whole number from 1 to 99"),
    ("instalments", "1", "--instalments 1: a whole number from 2 to 24 monthly payments"),
    ("instalments", "six", "--instalments 'six': a whole number from 2 to 24"),
    ("promise_days", "181", "--promise-days 181: a whole number from 0 to 180 days"),
    ("promise_days", "-1", "--promise-days -1: a whole number from 0 to 180 days"),
])
def test_a_bad_flag_names_its_field_and_range(field, value, words):
    with pytest.raises(ConfigError, match=re.escape(words)):
        build_campaign("spring", "predictive", **GOOD, payment={field: value})


@pytest.mark.parametrize("toml, words", [
    ("[late]\nsettlement_percent = 100\n", ("[late]: settlement_percent 100: a whole number "
                                            "from 1 to 99")),
    ("[mid]\ninstalments = true\n", "[mid]: instalments True: a whole number from 2 to 24"),
    ("[early]\npromise_days = 1.5\n", "[early]: promise_days 1.5: a whole number"),
])
def test_a_bad_strategies_file_names_its_segment_and_field(tmp_path, toml, words):
    path = tmp_path / "strategies.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError, match=re.escape(words)):
        load_strategies(path, DialMode.PREDICTIVE)
