import pytest

from dialer.errors import ConfigError
from dialer.settings import load_agi_settings, load_settings, read_env_file, secrets_of

GOOD = {"RECOBRO_AMI_USER": "u", "RECOBRO_AMI_SECRET": "ami-s3cret", "RECOBRO_ARI_USER": "u",
        "RECOBRO_ARI_PASSWORD": "ari-s3cret",
        "DATABASE_URL": "postgresql://x:db-s3cret@127.0.0.1/db"}


def test_defaults():
    settings = load_settings(GOOD)
    assert settings.ami.port == 5038 and settings.language == "es"
    assert settings.ami.ping_s == 10.0
    assert load_settings({**GOOD, "RECOBRO_AMI_PING_S": "2.5"}).ami.ping_s == 2.5
    assert settings.db_query_timeout_s == 5.0
    assert load_settings({**GOOD, "RECOBRO_DB_QUERY_TIMEOUT": "12"}).db_query_timeout_s == 12.0
    assert "s3cret" not in repr(settings)
    assert str(settings.api.recordings_dir) == "/var/spool/asterisk/monitor"


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


# Every bad value of a setting is refused in words naming the variable; a
# secret is never quoted, however the value is wrong.
@pytest.mark.parametrize("name, value, words", [
    ("RECOBRO_AMI_PORT", "abc", "a port is a whole number from 1 to 65535"),
    ("RECOBRO_AMI_PORT", "99999", "a port is a whole number from 1 to 65535"),
    ("RECOBRO_AMI_PORT", "0", "a port"),
    ("RECOBRO_AMI_PORT", "0x10", "a port"),
    ("RECOBRO_API_PORT", "70000", "a port"),
    ("RECOBRO_AMI_HOST", "", "a host name or address"),
    ("RECOBRO_ARI_URL", "127.0.0.1:8088", "use http://HOST:PORT"),
    ("RECOBRO_ARI_URL", "ftp://127.0.0.1:8088", "use http://HOST:PORT"),
    ("RECOBRO_ARI_URL", "http://", "use http://HOST:PORT"),
    ("RECOBRO_ARI_URL", "http://127.0.0.1:99999", "its port is not a whole number"),
    ("RECOBRO_ARI_URL", "http://127.0.0.1:8088/?x=1", "no query or fragment"),
    ("RECOBRO_RING_TIMEOUT", "nan", "allowed from 5 to 120 seconds"),
    ("RECOBRO_RING_TIMEOUT", "inf", "allowed from 5 to 120 seconds"),
    ("RECOBRO_RING_TIMEOUT", "0", "allowed from 5 to 120 seconds"),
    ("RECOBRO_AMI_PING_S", "0", "allowed from 1 to 300 seconds"),
    ("RECOBRO_AMI_PING_S", "301", "allowed from 1 to 300 seconds"),
    ("RECOBRO_AMI_PING_S", "often", "allowed from 1 to 300 seconds"),
    ("RECOBRO_DB_QUERY_TIMEOUT", "0.1", "allowed from 0.5 to 300 seconds"),
    ("RECOBRO_DB_QUERY_TIMEOUT", "never", "allowed from 0.5 to 300 seconds"),
    ("RECOBRO_TRUNK", "my trunk", "a PJSIP endpoint's name"),
    ("RECOBRO_TRUNK", "a/b", "a PJSIP endpoint's name"),
    ("RECOBRO_ARI_APP", "a,b", "a Stasis application's name"),
    ("RECOBRO_ASTERISK_NAME", "madrid 1", "an Asterisk server's name"),
    ("RECOBRO_ASTERISK_NAME", "madrid-1", None),
    ("RECOBRO_CALLER_ID", "5550100", None),
    ("RECOBRO_CALLER_ID", "call me", "digits (3 to 15)"),
    ("RECOBRO_CALLBACK_NUMBER", "+1 555", "digits (3 to 15)"),
    ("RECOBRO_LANGUAGE", "es\x00", "holds a control character"),
    ("RECOBRO_RECORDINGS_DIR", "spool/monitor", "give an absolute path"),
    ("RECOBRO_RECORDINGS_DIR", "/srv/asterisk/monitor", None),
])
def test_bad_settings_are_named_with_what_is_allowed(name, value, words):
    if words is None:  # a good value, for contrast
        load_settings({**GOOD, name: value})
        return
    with pytest.raises(ConfigError, match=name) as raised:
        load_settings({**GOOD, name: value})
    assert words in str(raised.value)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("name", ["RECOBRO_AMI_SECRET", "RECOBRO_ARI_PASSWORD",
                                  "DATABASE_URL"])
def test_a_secret_with_a_control_character_is_refused_unquoted(name):
    secret = {"DATABASE_URL": "postgresql://x:db-s3cret\x01@127.0.0.1/db"}.get(
        name, "s3cret\x00value")
    with pytest.raises(ConfigError, match=name) as raised:
        load_settings({**GOOD, name: secret})
    assert "s3cret" not in str(raised.value)


PASSWORD = "Pa55{}w0rd-Zq"  # {} takes a character a URL reserves


@pytest.mark.parametrize("written", [
    "postgresql://recobro:" + PASSWORD.format("/") + "@127.0.0.1:5432/recobro",
    "postgresql://recobro:" + PASSWORD.format("@") + "@127.0.0.1:5432/recobro",
    "postgresql://recobro:" + PASSWORD.format("#") + "@127.0.0.1:5432/recobro",
    "postgresql://recobro:" + PASSWORD.format("?") + "@127.0.0.1:5432/recobro",
    "postgresql://recobro:1{}x@127.0.0.1:5432/recobro".format("?"),
    "postgresql://recobro@" + PASSWORD.format("/") + "@127.0.0.1/recobro",
])
def test_a_database_url_with_a_reserved_character_unencoded_is_refused_unquoted(written):
    with pytest.raises(ConfigError, match="DATABASE_URL") as raised:
        load_settings({**GOOD, "DATABASE_URL": written})
    message = str(raised.value)
    assert "percent-encode" in message
    for part in ("Pa55", "w0rd-Zq", "127.0.0.1"):
        assert part not in message


@pytest.mark.parametrize("written, words", [
    ("garbage", "must start with postgresql://"),
    ("mysql://u:Pa55w0rd-Zq@127.0.0.1/db", "must start with postgresql://"),
    ("postgresql://u:Pa55w0rd-Zq@127.0.0.1:abc/db", "the port after the host"),
    ("postgresql://u:Pa55w0rd-Zq@127.0.0.1:99999/db", "the port after the host"),
    ("postgresql://u:Pa55%zzw0rd-Zq@127.0.0.1/db", "write '%' itself as %25"),
])
def test_a_malformed_database_url_is_named_unquoted(written, words):
    with pytest.raises(ConfigError, match="DATABASE_URL") as raised:
        load_settings({**GOOD, "DATABASE_URL": written})
    assert words in str(raised.value)
    assert "Pa55" not in str(raised.value)


@pytest.mark.parametrize("url", [
    "postgresql://recobro:Pa55%2F%40%23%3F%3A%25w0rd@127.0.0.1:5432/recobro",
    "postgres://127.0.0.1/recobro",
    "postgresql:///recobro?host=/var/run/postgresql",
    "postgresql://u:p@[::1]:5432/db",
    "postgresql://u:p@h1:5432,h2:5433/db?target_session_attrs=read-write",
    "postgresql://h/db?user=me@corp&password=x",
])
def test_well_formed_database_urls_pass(url):
    assert load_settings({**GOOD, "DATABASE_URL": url}).database_url == url


def test_secrets_of_the_settings_are_found_to_be_masked():
    env = {**GOOD, "DATABASE_URL": "postgresql://x:" + PASSWORD.format("/") + "@h/db"}
    found = secrets_of(env)
    assert PASSWORD.format("/") in found and "ami-s3cret" in found


def test_env_file_that_is_not_utf8_names_the_line(tmp_path):
    path = tmp_path / "recobro.env"
    path.write_bytes(b"A=1\nB=caf\xe9\n")
    with pytest.raises(ConfigError, match=r"recobro.env:2: not UTF-8"):
        read_env_file(path)


def test_agi_settings_listen_on_loopback_at_fastagis_port_unless_set():
    settings = load_agi_settings({"DATABASE_URL": GOOD["DATABASE_URL"]})
    assert (settings.host, settings.port) == ("127.0.0.1", 4573)
    assert "s3cret" not in repr(settings)
    assert load_agi_settings({**GOOD, "RECOBRO_AGI_PORT": "9146"}).port == 9146
    with pytest.raises(ConfigError, match="RECOBRO_AGI_PORT='0': a port"):
        load_agi_settings({**GOOD, "RECOBRO_AGI_PORT": "0"})
    with pytest.raises(ConfigError, match="RECOBRO_AGI_HOST='': a host"):
        load_agi_settings({**GOOD, "RECOBRO_AGI_HOST": ""})
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        load_agi_settings({})
