"""Campaign settings outside the law or the schema are refused before
PostgreSQL sees them, in words naming the option and the allowed range;
the ranges match the schema's CHECK constraints; whatever PostgreSQL still
refuses reaches the user in words, on one line, exit 2."""

from __future__ import annotations

import re

import asyncpg
import pytest

from dialer import cli, limits
from dialer.compliance.abandon import CAP
from dialer.errors import ConfigError
from dialer.outbound.commands import build_campaign, load_strategies
from dialer.portfolio.model import DialMode
from dialer.store.database import refusal_in_words
from dialer.store.migrate import MIGRATIONS

SCHEMA = (MIGRATIONS / "0002.campaigns.sql").read_text()
GOOD = {"ratio": 2.0, "abandon_target": 0.03, "caller_id": "+15550100000", "window": "local",
        "ring_timeout_s": 25, "wrap_up_s": 5, "early_max_dpd": 30, "mid_max_dpd": 90,
        "segments": "early,mid,late", "strategies": None}


def test_the_ranges_are_the_schemas():
    assert "ring_timeout_s integer NOT NULL DEFAULT 25 CHECK (ring_timeout_s BETWEEN " \
           f"{limits.RING_TIMEOUT_S.low:g} AND {limits.RING_TIMEOUT_S.high:g})" in SCHEMA
    assert f"CHECK (wrap_up_s >= {limits.WRAP_UP_S.low:g})" in SCHEMA
    assert f"CHECK (dial_ratio >= {limits.DIAL_RATIO.low:g})" in SCHEMA
    assert f"abandon_target < {limits.ABANDON_CEILING:g})" in SCHEMA
    assert f"CHECK (max_attempts > {limits.MAX_ATTEMPTS.low - 1:g})" in SCHEMA
    assert "CHECK (level BETWEEN " \
           f"{limits.SKILL_LEVEL.low:g} AND {limits.SKILL_LEVEL.high:g})" in SCHEMA
    # Upper bounds the schema lacks still fit PostgreSQL's integer.
    for allowed in (limits.WRAP_UP_S, limits.DAYS_PAST_DUE, limits.RETRY_S, limits.PRIORITY):
        assert -2**31 <= allowed.low and allowed.high < 2**31


def test_a_good_campaign_builds():
    campaign = build_campaign("spring", "predictive", **GOOD)
    assert campaign.abandon_target == CAP and campaign.ring_timeout_s == 25


@pytest.mark.parametrize("setting, value, words", [
    ("ring_timeout_s", 0, "--ring-timeout 0: allowed from 5 to 120 seconds"),
    ("ring_timeout_s", 121, "--ring-timeout 121: allowed from 5 to 120 seconds"),
    ("wrap_up_s", -1, "--wrap-up -1: allowed from 0 to 3600 seconds"),
    ("wrap_up_s", 99999999999, "--wrap-up 99999999999: allowed from 0 to 3600 seconds"),
    ("ratio", 0.5, "--ratio 0.5: allowed from 1 to 10 calls per agent"),
    ("ratio", float("nan"), "--ratio nan: allowed from 1 to 10"),
    ("ratio", float("inf"), "--ratio inf: allowed from 1 to 10"),
    ("early_max_dpd", 0, "--early-max-dpd 0: allowed from 1 to 36500 days"),
    ("mid_max_dpd", 99999999999, "--mid-max-dpd 99999999999: allowed from 1 to 36500"),
    ("early_max_dpd", 100, "--early-max-dpd must be above 0 and below --mid-max-dpd"),
    ("abandon_target", 0.0, "--abandon-target 0: a share above 0, at most 0.03"),
    ("abandon_target", 3.0, "--abandon-target 3: a share above 0, at most 0.03"),
    ("abandon_target", float("nan"), "--abandon-target nan: a share above 0"),
    ("caller_id", "call me", "--caller-id 'call me'"),
])
def test_each_bad_setting_names_its_option_and_range(setting, value, words):
    with pytest.raises(ConfigError) as raised:
        build_campaign("spring", "predictive", **{**GOOD, setting: value})
    assert words in str(raised.value)


@pytest.mark.parametrize("name, portfolio, words", [
    ("", "", "the campaign's name is empty"),
    ("spring\x00", "", "the campaign's name holds a control character"),
    ("s" * 101, "", "the campaign's name is longer than 100 characters"),
    ("spring", "gold\x1b[2J", "--portfolio holds a control character"),
])
def test_names_postgresql_cannot_store_or_people_cannot_read(name, portfolio, words):
    with pytest.raises(ConfigError, match=re.escape(words)):
        build_campaign(name, "predictive", **GOOD, portfolio=portfolio)


def test_an_abandon_target_above_the_cap_needs_the_operators_word():
    with pytest.raises(ConfigError) as raised:
        build_campaign("spring", "predictive", **{**GOOD, "abandon_target": 0.5})
    message = str(raised.value)
    assert "--abandon-target 0.5 (50.0%) is above the 3% abandon cap" in message
    assert "--allow-abandon-above-cap" in message
    campaign = build_campaign("spring", "predictive", **{**GOOD, "abandon_target": 0.5},
                              allow_above_cap=True)
    assert campaign.abandon_target == 0.5
    # The flag allows more than the cap, never 1 or more.
    with pytest.raises(ConfigError, match="a share above 0"):
        build_campaign("spring", "predictive", **{**GOOD, "abandon_target": 1.0},
                       allow_above_cap=True)


@pytest.mark.parametrize("toml, words", [
    ("[late]\nmax_attempts = 0\n", "[late]: max_attempts must be a whole number from 1 to 100"),
    ("[late]\nmax_attempts = true\n", "max_attempts must be a whole number"),
    ("[mid]\npriority = 99999999999\n", "priority must be a whole number from -1000 to 1000"),
    ("[early]\nretry_busy_s = -5\n", "retry_busy_s must be a whole number from 0 to"),
    ("[early]\nretry_busy_s = 99999999999\n", "retry_busy_s must be a whole number"),
    ("[early]\ndial_mode = 3\n", "dial_mode 3 is not one of"),
])
def test_strategies_files_are_held_to_the_ranges(tmp_path, toml, words):
    path = tmp_path / "strategies.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError, match=re.escape(words)):
        load_strategies(path, DialMode.PREDICTIVE)


def _postgres_error(sqlstate: str, constraint: str = "", table: str = "",
                    message: str = "") -> asyncpg.PostgresError:
    fields = {"C": sqlstate, "M": message or "raw server text", "S": "ERROR"}
    if constraint:
        fields["n"] = constraint
    if table:
        fields["t"] = table
    return asyncpg.PostgresError.new(fields)


@pytest.mark.parametrize("error, words", [
    (_postgres_error("23514", "campaigns_ring_timeout_s_check", "campaigns",
                     'new row for relation "campaigns" violates check constraint '
                     '"campaigns_ring_timeout_s_check"'),
     "--ring-timeout must be from 5 to 120 seconds"),
    (_postgres_error("23514", "some_new_check", "payments"),
     "a value in payments is outside what is allowed"),
    (_postgres_error("23505", "payments_ref_key", "payments"),
     "a row in payments with the same key already exists"),
    (_postgres_error("23503", "x_fkey", "dispositions"),
     "a row in dispositions refers to one that does not exist"),
    (_postgres_error("22021", message='invalid byte sequence for encoding "UTF8": 0x00'),
     "a text holds a NUL"),
    (_postgres_error("22003", message="numeric field overflow"),
     "a number is too large for the database"),
    (asyncpg.exceptions._base.DataError(
        "invalid input for query argument $8: 99999999999 (value out of int32 range)"),
     "a number is too large for the database"),
])
def test_refusals_in_words_quote_neither_the_constraint_nor_the_value(error, words):
    said = refusal_in_words(error)
    assert words in said
    assert "violates" not in said and "_check" not in said and "99999999999" not in said


def test_the_cli_says_a_refusal_in_one_line(monkeypatch, capsys):
    def refused(args):
        raise _postgres_error("23514", "agent_skills_level_check", "agent_skills",
                              'violates check constraint "agent_skills_level_check"')

    monkeypatch.setattr(cli, "_dnc", refused)
    assert cli.main(["dnc", "add", "--number", "+15550100000"]) == 2
    err = capsys.readouterr().err
    assert err == "recobro: error: the database refused it: a skill's level must be " \
                  "from 1 to 5\n"


def test_the_cli_masks_a_secret_a_message_might_quote(monkeypatch, capsys, tmp_path):
    secret = "Pa55/w0rd-Zq"
    empty = tmp_path / "empty.env"
    empty.write_text("")
    monkeypatch.setenv("DATABASE_URL", f"postgresql://u:{secret}@h/db")
    monkeypatch.setenv("RECOBRO_ENV_FILE", str(empty))

    def leaky(args):
        raise ConfigError(f"a driver said: bad password {secret}\nsecond line")

    monkeypatch.setattr(cli, "_dnc", leaky)
    assert cli.main(["dnc", "add", "--number", "+15550100000"]) == 2
    err = capsys.readouterr().err
    assert secret not in err and err.count("\n") == 1 and "***" in err


def test_argparse_errors_are_one_line_too(capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(["campaign", "create", "x", "--ring-timeout", "soon"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--ring-timeout" in err and "invalid int value" in err
