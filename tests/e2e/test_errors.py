"""Wrong credentials or a part that is down: one line naming what to fix,
a non-zero exit, no traceback. Checked against the real lab."""

from __future__ import annotations

import re
import uuid
from urllib.parse import quote

import asyncpg
import psycopg
import pytest
from psycopg import sql

from dialer.settings import read_env_file
from dialer.store.database import CONSTRAINT_WORDS, refusal_in_words
from tests.e2e.cli import run_cli

pytestmark = pytest.mark.lab

NUMBER = "+15550101200"


def failing(result, *names: str) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for name in names:
        assert name in lines[0], lines[0]
    return lines[0]


def lab_env(lab_config, **overrides: str) -> dict[str, str]:
    return {**read_env_file(lab_config.env_file), **overrides}


def test_wrong_ami_secret(lab_config):
    failing(run_cli("call", NUMBER, **lab_env(lab_config, RECOBRO_AMI_SECRET="wrong")),
            "RECOBRO_AMI_USER", "RECOBRO_AMI_SECRET")


def test_wrong_ari_password(lab_config):
    failing(run_cli("call", NUMBER, **lab_env(lab_config, RECOBRO_ARI_PASSWORD="wrong")),
            "RECOBRO_ARI_PASSWORD")


def test_ami_unreachable(lab_config):
    failing(run_cli("call", NUMBER, **lab_env(lab_config, RECOBRO_AMI_PORT="1")),
            "RECOBRO_AMI_PORT", "cannot reach Asterisk AMI")


def test_postgres_down(lab_config, tmp_path):
    url = f"postgresql://recobro:x@127.0.0.1:{lab_config.port_base + 431}/recobro"
    line = failing(run_cli("call", NUMBER, **lab_env(lab_config, DATABASE_URL=url)),
                   "DATABASE_URL", "cannot reach PostgreSQL")
    assert ":x@" not in line
    failing(run_cli("db", "migrate", DATABASE_URL=url), "DATABASE_URL")
    # A bench's own database is made on that server first: the same line,
    # not psycopg's traceback.
    failing(run_cli("bench", "hopper", "--out", str(tmp_path), **lab_env(lab_config, DATABASE_URL=url)),
            "DATABASE_URL", "cannot connect to PostgreSQL")


def test_wrong_database_password(lab_config):
    good = read_env_file(lab_config.env_file)["DATABASE_URL"]
    user, _, rest = good.partition("@")
    bad = user.rsplit(":", 1)[0] + ":wrong@" + rest
    failing(run_cli("call", NUMBER, **lab_env(lab_config, DATABASE_URL=bad)),
            "DATABASE_URL", "refused")


def test_missing_setting(lab_config, tmp_path):
    env = lab_env(lab_config)
    del env["RECOBRO_AMI_SECRET"]
    empty = tmp_path / "empty.env"
    empty.write_text("")
    failing(run_cli("call", NUMBER, RECOBRO_ENV_FILE=str(empty), **env), "RECOBRO_AMI_SECRET")


def test_missing_env_file(tmp_path):
    failing(run_cli("call", NUMBER, RECOBRO_ENV_FILE=str(tmp_path / "nope.env")),
            "RECOBRO_ENV_FILE")


def test_campaign_and_account_commands_name_the_bad_input(lab_config, fresh_database, tmp_path):
    env = lab_env(lab_config, DATABASE_URL=fresh_database)
    failing(run_cli("campaign", "create", "c1", "--window", "9-5", **env), "--window", "9-5")
    failing(run_cli("campaign", "create", "c1", "--segments", "early,overdue", **env),
            "--segments")
    failing(run_cli("campaign", "create", "c1", "--early-max-dpd", "100", **env),
            "--early-max-dpd")
    failing(run_cli("campaign", "run", "nobody", **env), "no campaign named 'nobody'")
    failing(run_cli("campaign", "pause", "nobody", **env), "no campaign named 'nobody'")
    assert run_cli("campaign", "create", "c1", **env).returncode == 0
    failing(run_cli("campaign", "create", "c1", **env), "already exists")
    strategies = tmp_path / "strategies.toml"
    strategies.write_text("[late]\nmax_attempts = 0\n")
    failing(run_cli("campaign", "create", "c2", "--strategies", str(strategies), **env),
            "[late]", "max_attempts")
    failing(run_cli("accounts", "import", str(tmp_path / "missing.csv"), **env), "missing.csv")
    mapping = tmp_path / "map.json"
    mapping.write_text('{"balanse": "Saldo"}')
    data = tmp_path / "a.csv"
    data.write_text("Saldo\n1\n")
    failing(run_cli("accounts", "import", str(data), "--mapping", str(mapping), **env),
            "unknown field(s) balanse")
    failing(run_cli("accounts", "status", "--reference", "NOPE", "--status", "paid", **env),
            "NOPE")
    failing(run_cli("agent", "ready", "agent9999", **env), "agent9999")
    failing(run_cli("dnc", "add", "--number", "12", **env), "'12'")


# A password holding every character a URL reserves, and more.
RESERVED_PASSWORD = "Pa55/w@rd#1?x:y%z"


def _with_password(url: str, password: str) -> str:
    """The lab's DATABASE_URL with another user part, written as given."""
    return "postgresql://recobro:" + password + "@" + url.rpartition("@")[2]


def assert_no_secret(result, *secrets: str) -> None:
    output = result.stdout + result.stderr
    for secret in secrets:
        for part in filter(lambda p: len(p) >= 3, re.split(r"[/@#?:%]", secret)):
            assert part not in output, (part, output)


@pytest.mark.parametrize("reserved", ["/", "@", "#", "?"])
def test_a_database_password_with_a_reserved_character_is_named_not_quoted(lab_config,
                                                                           reserved):
    good = read_env_file(lab_config.env_file)["DATABASE_URL"]
    password = f"Pa55{reserved}w0rd-Zq"
    for command in (("agent", "list"), ("db", "migrate"), ("call", NUMBER)):
        result = run_cli(*command, **lab_env(lab_config,
                                             DATABASE_URL=_with_password(good, password)))
        failing(result, "DATABASE_URL", "percent-encode")
        assert_no_secret(result, password)


@pytest.mark.parametrize("url", [
    "garbage", "mysql://u:Pa55w0rd-Zq@127.0.0.1/db",
    "postgresql://u:Pa55w0rd-Zq@127.0.0.1:abc/recobro",
    "postgresql://u:Pa55w0rd-Zq@127.0.0.1:99999/recobro",
    "postgresql://u:Pa55%zzw0rd-Zq@127.0.0.1/recobro",
])
def test_a_malformed_database_url_is_named_not_quoted(lab_config, url):
    for command in (("agent", "list"), ("db", "migrate")):
        result = run_cli(*command, **lab_env(lab_config, DATABASE_URL=url))
        failing(result, "DATABASE_URL")
        assert_no_secret(result, "Pa55w0rd-Zq")


def test_a_percent_encoded_password_with_reserved_characters_works(lab_config, lab_settings):
    """A role whose password holds '/', '@', '#', '?', ':' and '%' connects
    with the password percent-encoded (asyncpg and psycopg alike); a wrong
    one is refused without quoting it."""
    role = f"recobro_t_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(lab_settings.database_url, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE ROLE {} LOGIN SUPERUSER PASSWORD {}").format(
            sql.Identifier(role), sql.Literal(RESERVED_PASSWORD)))
    try:
        encoded = quote(RESERVED_PASSWORD, safe="")
        url = f"postgresql://{role}:{encoded}@" + lab_settings.database_url.rpartition("@")[2]
        for command in (("agent", "list"), ("db", "migrate")):
            result = run_cli(*command, **lab_env(lab_config, DATABASE_URL=url))
            assert result.returncode == 0, result.stderr
        wrong = url.replace(encoded, quote(RESERVED_PASSWORD + "!", safe=""))
        for command in (("agent", "list"), ("db", "migrate")):
            result = run_cli(*command, **lab_env(lab_config, DATABASE_URL=wrong))
            failing(result, "DATABASE_URL", "password authentication failed")
            assert_no_secret(result, RESERVED_PASSWORD)
    finally:
        with psycopg.connect(lab_settings.database_url, autocommit=True) as connection:
            connection.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


@pytest.mark.parametrize("name, value, words", [
    ("RECOBRO_AMI_PORT", "abc", "a port is a whole number from 1 to 65535"),
    ("RECOBRO_AMI_PORT", "99999", "a port is a whole number from 1 to 65535"),
    ("RECOBRO_ARI_URL", "127.0.0.1:8088", "use http://HOST:PORT"),
    ("RECOBRO_ARI_URL", "http://recobro:s3cretpw@127.0.0.1:8088", "must not hold a user"),
    ("RECOBRO_RING_TIMEOUT", "nan", "allowed from 5 to 120 seconds"),
    ("RECOBRO_TRUNK", "bad/trunk", "a PJSIP endpoint's name"),
])
def test_a_bad_setting_is_named_in_one_line(lab_config, name, value, words):
    result = run_cli("call", NUMBER, **lab_env(lab_config, **{name: value}))
    failing(result, name, words)
    assert_no_secret(result, "s3cretpw", read_env_file(lab_config.env_file)
                     ["RECOBRO_AMI_SECRET"])


def test_an_env_file_that_is_not_utf8_is_named(tmp_path):
    env_file = tmp_path / "bad.env"
    env_file.write_bytes(b"RECOBRO_AMI_USER=recobro\nRECOBRO_AMI_SECRET=s\xe9cret\n")
    failing(run_cli("--env-file", str(env_file), "call", NUMBER), "bad.env:2", "not UTF-8")


CAMPAIGN_REFUSALS = [
    ("--abandon-target", "0.5", "above the 3% abandon cap"),
    ("--abandon-target", "0", "a share above 0"),
    ("--ring-timeout", "0", "allowed from 5 to 120 seconds"),
    ("--ring-timeout", "121", "allowed from 5 to 120 seconds"),
    ("--wrap-up", "-1", "allowed from 0 to 3600 seconds"),
    ("--wrap-up", "99999999999", "allowed from 0 to 3600 seconds"),
    ("--ratio", "0.5", "allowed from 1 to 10"),
    ("--ratio", "nan", "allowed from 1 to 10"),
    ("--mid-max-dpd", "99999999999", "allowed from 1 to 36500 days"),
    ("--ring-timeout", "soon", "invalid int value"),
]


def test_campaign_settings_out_of_range_are_refused_before_postgresql(lab_config,
                                                                      fresh_database):
    env = lab_env(lab_config, DATABASE_URL=fresh_database)
    for option, value, words in CAMPAIGN_REFUSALS:
        line = failing(run_cli("campaign", "create", "c1", option, value, **env), option,
                       words)
        assert "constraint" not in line and "_check" not in line
    failing(run_cli("campaign", "status", "c1", **env), "no campaign named 'c1'")


def test_an_abandon_target_above_the_cap_takes_the_operators_word(lab_config, fresh_database):
    env = lab_env(lab_config, DATABASE_URL=fresh_database)
    failing(run_cli("campaign", "create", "c1", "--abandon-target", "0.05", **env),
            "--abandon-target 0.05", "3%", "--allow-abandon-above-cap")
    created = run_cli("campaign", "create", "c1", "--abandon-target", "0.05",
                      "--allow-abandon-above-cap", **env)
    assert created.returncode == 0, created.stderr
    assert created.stderr.strip().splitlines() == [
        ("recobro: warning: campaign c1: --abandon-target 0.05 (5.0%) is above the 3% "
         "abandon cap regulators set; allowed by --allow-abandon-above-cap")]
    status = run_cli("campaign", "status", "c1", **env)
    assert ("cap 3%, campaign target 5.0% (above the cap, by the operator's "
            "--allow-abandon-above-cap)") in status.stdout
    dialer = run_cli("campaign", "run", "c1", "--for", "1", **env)
    assert dialer.returncode == 0, dialer.stderr
    assert ("recobro: warning: campaign c1 paces to an abandon rate of 5.0%, above the 3% "
            "cap") in dialer.stderr


async def test_the_constraints_given_words_are_the_schemas(fresh_database):
    connection = await asyncpg.connect(fresh_database)
    try:
        names = {row["conname"] for row in await connection.fetch(
            "SELECT conname FROM pg_constraint WHERE connamespace = 'public'::regnamespace")}
        # One that still reaches PostgreSQL comes back in words.
        with pytest.raises(asyncpg.CheckViolationError) as raised:
            await connection.execute(
                "INSERT INTO campaigns (name, dial_mode, caller_id, window_profile, "
                "ring_timeout_s) VALUES ('c', 'ratio', '+1555', 'us', 0)")
    finally:
        await connection.close()
    assert set(CONSTRAINT_WORDS) <= names, set(CONSTRAINT_WORDS) - names
    assert refusal_in_words(raised.value) == ("the database refused it: --ring-timeout must "
                                              "be from 5 to 120 seconds")
