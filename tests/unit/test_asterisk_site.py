"""The Asterisk image's settings (load_asterisk_site), rendered by the
renderer the lab uses (dialer.asterisk_config)."""

import stat

import pytest

from dialer.asterisk_config import SECRET_FILES, render
from dialer.errors import ConfigError
from dialer.settings import load_asterisk_site
from lab.config import ASTERISK_CONF_DIR


@pytest.fixture
def site_env(tmp_path):
    """The fewest settings an Asterisk site needs, secrets in files."""
    env = {"RECOBRO_AMI_USER": "recobro", "RECOBRO_ARI_USER": "recobro",
           "RECOBRO_ASTERISK_TRUNK_HOST": "192.0.2.10"}
    for name, value in (("RECOBRO_AMI_SECRET", "amis3cret"), ("RECOBRO_ARI_PASSWORD", "aris3cret"),
                        ("RECOBRO_ASTERISK_METRICS_PASSWORD", "metricss3cret")):
        (tmp_path / name).write_text(value + "\n")
        env[f"{name}_FILE"] = str(tmp_path / name)
    return env


def test_a_site_listens_on_loopback_unless_told(site_env):
    site = load_asterisk_site(site_env)
    assert {site.ami_host, site.http_host, site.sip_host, site.agi_host} == {"127.0.0.1"}
    assert site.ami_permit == "127.0.0.1/255.255.255.255"
    assert (site.ami_port, site.http_port, site.sip_port, site.trunk_port) == (
        5038, 8088, 5060, 5060)
    assert (site.rtp_start, site.rtp_end) == (10000, 10999)
    assert (site.run_dir, site.external_address, site.agents) == ("/srv/asterisk", "", ())
    assert (site.ami_secret, site.ari_password, site.metrics_password) == (
        "amis3cret", "aris3cret", "metricss3cret")
    assert "s3cret" not in repr(site)


def test_agents_come_from_their_file(site_env, tmp_path):
    agents = tmp_path / "agents"
    agents.write_text("# endpoint secret name\nagent1001 a1s3cret Ana Pérez\n\nagent1002 a2s3cret\n")
    site = load_asterisk_site({**site_env, "RECOBRO_ASTERISK_AGENTS_FILE": str(agents)})
    assert [(a.endpoint, a.name, a.secret) for a in site.agents] == [
        ("agent1001", "Ana Pérez", "a1s3cret"), ("agent1002", "agent1002", "a2s3cret")]


@pytest.mark.parametrize("line, words", [
    ("agent1001", "line 1: expected ENDPOINT SECRET [NAME]"),
    ("agent@1001 s3cret", "line 1: expected ENDPOINT SECRET [NAME]"),
    ("agent1001 s3c;ret", "the secret without ';'"),
    ("agent1001 s3cret Ana <x>", 'line 1: the name holds a control character or one of'),
    ("agent1001 s3cret\nagent1001 other", "line 2: endpoint agent1001 is listed twice"),
])
def test_a_bad_agents_file_names_its_line(site_env, tmp_path, line, words):
    agents = tmp_path / "agents"
    agents.write_text(line + "\n")
    with pytest.raises(ConfigError, match="RECOBRO_ASTERISK_AGENTS_FILE") as raised:
        load_asterisk_site({**site_env, "RECOBRO_ASTERISK_AGENTS_FILE": str(agents)})
    assert words in str(raised.value)
    assert "s3c" not in str(raised.value)


@pytest.mark.parametrize("name, value, words", [
    ("RECOBRO_ASTERISK_RTP_PORTS", "10000", "FIRST-LAST"),
    ("RECOBRO_ASTERISK_RTP_PORTS", "20000-10000", "FIRST below LAST"),
    ("RECOBRO_ASTERISK_AMI_PERMIT", "everyone", "ADDRESS/MASK"),
    ("RECOBRO_ASTERISK_SIP_PORT", "70000", "a port is a whole number"),
    ("RECOBRO_ASTERISK_RUN_DIR", "srv/asterisk", "give an absolute path"),
    ("RECOBRO_ASTERISK_TRUNK_HOST", "", "RECOBRO_ASTERISK_TRUNK_HOST is not set"),
    ("RECOBRO_AMI_USER", "", "RECOBRO_AMI_USER is not set"),
    ("RECOBRO_ASTERISK_EXTERNAL_ADDRESS", "203.0.113.5", "RECOBRO_ASTERISK_LOCAL_NET is not set"),
    ("RECOBRO_LANGUAGE", "fr", "use es or en"),
])
def test_bad_site_settings_are_named(site_env, name, value, words):
    with pytest.raises(ConfigError) as raised:
        load_asterisk_site({**site_env, name: value})
    assert words in str(raised.value)
    assert name in str(raised.value)


def test_a_secret_asterisk_would_read_as_a_comment_is_refused_unquoted(site_env, tmp_path):
    (tmp_path / "ami").write_text("ami;s3cret\n")
    with pytest.raises(ConfigError, match="RECOBRO_AMI_SECRET.*';'") as raised:
        load_asterisk_site({**site_env, "RECOBRO_AMI_SECRET_FILE": str(tmp_path / "ami")})
    assert "s3cret" not in str(raised.value)


def test_behind_nat_sip_and_sdp_offer_the_external_address(site_env, tmp_path):
    site = load_asterisk_site({**site_env, "RECOBRO_ASTERISK_SIP_HOST": "172.30.77.10",
                               "RECOBRO_ASTERISK_EXTERNAL_ADDRESS": "203.0.113.5",
                               "RECOBRO_ASTERISK_LOCAL_NET": "172.30.77.0/24"})
    etc = render(site, ASTERISK_CONF_DIR, tmp_path / "etc")
    assert ("bind = 172.30.77.10:5060\n; Behind NAT" in (etc / "pjsip.conf").read_text())
    for line in ("external_media_address = 203.0.113.5",
                 "external_signaling_address = 203.0.113.5", "local_net = 172.30.77.0/24"):
        assert line in (etc / "pjsip.conf").read_text()
    for path in etc.iterdir():
        assert (stat.S_IMODE(path.stat().st_mode) == 0o600) == (path.name in SECRET_FILES)
