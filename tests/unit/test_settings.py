import pytest

from dialer.errors import ConfigError
from dialer.settings import load_settings, read_env_file

GOOD = {"RECOBRO_AMI_USER": "u", "RECOBRO_AMI_SECRET": "ami-s3cret", "RECOBRO_ARI_USER": "u",
        "RECOBRO_ARI_PASSWORD": "ari-s3cret",
        "DATABASE_URL": "postgresql://x:db-s3cret@127.0.0.1/db"}


def test_defaults():
    settings = load_settings(GOOD)
    assert settings.ami.port == 5038 and settings.language == "es"
    assert "s3cret" not in repr(settings)


@pytest.mark.parametrize("missing", sorted(GOOD))
def test_missing_setting_is_named(missing):
    env = {k: v for k, v in GOOD.items() if k != missing}
    with pytest.raises(ConfigError, match=missing):
        load_settings(env)


@pytest.mark.parametrize("name, value", [("RECOBRO_AMI_PORT", "x"), ("RECOBRO_AMI_PORT", "-1"),
                                         ("RECOBRO_RING_TIMEOUT", "soon"),
                                         ("RECOBRO_LANGUAGE", "fr")])
def test_bad_value_is_named(name, value):
    with pytest.raises(ConfigError, match=name):
        load_settings({**GOOD, name: value})


def test_env_file_errors_name_the_line(tmp_path):
    path = tmp_path / "recobro.env"
    path.write_text("# comment\nA=1\n\nnot a setting\n")
    with pytest.raises(ConfigError, match=r"recobro.env:4"):
        read_env_file(path)
    path.write_text("A=1\nB = two\n")
    assert read_env_file(path) == {"A": "1", "B": "two"}
