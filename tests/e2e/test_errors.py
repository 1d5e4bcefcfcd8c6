"""Wrong credentials or a part that is down: one line naming what to fix,
a non-zero exit, no traceback. Checked against the real lab."""

from __future__ import annotations

import pytest

from dialer.settings import read_env_file
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


def test_postgres_down(lab_config):
    url = f"postgresql://recobro:x@127.0.0.1:{lab_config.port_base + 431}/recobro"
    line = failing(run_cli("call", NUMBER, **lab_env(lab_config, DATABASE_URL=url)),
                   "DATABASE_URL", "cannot reach PostgreSQL")
    assert ":x@" not in line
    failing(run_cli("db", "migrate", DATABASE_URL=url), "DATABASE_URL")


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
