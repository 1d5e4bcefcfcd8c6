"""The secrets every Recobro process may take from a file instead of a
variable (NAME_FILE: a secret a deployment mounts, docker/compose.yaml)."""

import pytest

from dialer.errors import ConfigError
from dialer.settings import load_database_url, load_settings, secrets_of

GOOD = {"RECOBRO_AMI_USER": "u", "RECOBRO_ARI_USER": "u"}
SECRETS = {"RECOBRO_AMI_SECRET": "ami-s3cret", "RECOBRO_ARI_PASSWORD": "ari-s3cret",
           "RECOBRO_API_TOKEN": "api-s3cret-api-s3cret-api-s3cret",
           "DATABASE_URL": "postgresql://x:db-s3cret@127.0.0.1/db"}


def test_every_process_secret_may_come_from_a_file(tmp_path):
    env = dict(GOOD)
    for name, value in SECRETS.items():
        (tmp_path / name).write_text(value + "\n")
        env[f"{name}_FILE"] = str(tmp_path / name)
    settings = load_settings(env)
    assert (settings.ami.secret, settings.ari.password, settings.api.token,
            settings.database_url) == tuple(SECRETS.values())
    assert load_database_url(env) == SECRETS["DATABASE_URL"]
    # What the CLI masks in its error lines includes them.
    assert {"ami-s3cret", "ari-s3cret", "db-s3cret"} <= set(secrets_of(env))


@pytest.mark.parametrize("name", sorted(SECRETS))
def test_a_secret_and_its_file_together_are_refused(tmp_path, name):
    (tmp_path / "f").write_text(SECRETS[name] + "\n")
    env = {**GOOD, **SECRETS, f"{name}_FILE": str(tmp_path / "f")}
    with pytest.raises(ConfigError, match=f"set {name} or {name}_FILE, not both"):
        load_settings(env)


def test_a_missing_secret_file_is_named(tmp_path):
    env = {**GOOD, **SECRETS}
    del env["DATABASE_URL"]
    env["DATABASE_URL_FILE"] = str(tmp_path / "nowhere")
    with pytest.raises(ConfigError, match="DATABASE_URL_FILE=.*: cannot read it"):
        load_settings(env)


def test_a_malformed_database_url_from_a_file_names_the_file_setting(tmp_path):
    (tmp_path / "url").write_text("mysql://x:db-s3cret@h/db\n")
    with pytest.raises(ConfigError, match="^DATABASE_URL_FILE must start with") as raised:
        load_database_url({"DATABASE_URL_FILE": str(tmp_path / "url")})
    assert "s3cret" not in str(raised.value)
