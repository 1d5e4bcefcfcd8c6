import re
import stat
import xml.etree.ElementTree as ET

from dialer import cli
from dialer.asterisk_config import SECRET_FILES
from dialer.telephony import ami_events
from lab.asterisk import render_configs, rerender_configs
from lab.config import ASTERISK_CONF_DIR, LabAgent, LabConfig, load_lab_config
from lab.pstn_scenario import render_pstn_scenario


def lab_config(tmp_path):
    agents = (LabAgent("agent1001", "Agent 1001", "agent-s3cret", 15101, 17100),)
    return LabConfig(lab_dir=tmp_path / "lab", cache_dir=tmp_path / "cache", port_base=15000,
                     lab_id="test", ami_user="recobro", ami_secret="ami-s3cret",
                     ari_user="recobro", ari_password="ari-s3cret", api_token="api-s3cret",
                     agents=agents, asterisk_metrics_password="metrics-s3cret")


def test_configs_render_completely_and_bind_loopback(tmp_path):
    etc = render_configs(lab_config(tmp_path))
    texts = {path.name: path.read_text() for path in etc.glob("*.conf")}
    assert not [name for name, text in texts.items() if "{{" in text or "{%" in text]
    assert "bindaddr = 127.0.0.1" in texts["manager.conf"]
    assert "bindaddr = 127.0.0.1" in texts["http.conf"]
    assert "bind = 127.0.0.1:15060" in texts["pjsip.conf"]
    assert "bind_rtp_to_media_address = yes" in texts["pjsip_recobro.conf"]
    binds = re.findall(r"^(?:bind|bindaddr)\s*=\s*(\S+)", "\n".join(texts.values()), re.MULTILINE)
    assert binds and all(b.startswith("127.0.0.1") for b in binds)


def test_secrets_only_in_private_files(tmp_path):
    etc = render_configs(lab_config(tmp_path))
    for path in etc.glob("*.conf"):
        text = path.read_text()
        holds_secret = any(s in text for s in ("ami-s3cret", "ari-s3cret", "agent-s3cret",
                                               "metrics-s3cret"))
        assert holds_secret == (path.name in SECRET_FILES), path.name
        if holds_secret:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name


def test_no_dtmf_in_logs_ami_or_cel():
    cel = [line for line in (ASTERISK_CONF_DIR / "cel.conf").read_text().splitlines()
           if line.startswith("events")]
    # Asterisk 22's CEL has a DTMF event, one per key with its digit; ALL has it.
    assert cel and not any("DTMF" in line or "ALL" in line for line in cel), cel
    logger = (ASTERISK_CONF_DIR / "logger.conf").read_text()
    channels = [line for line in logger.splitlines() if "=>" in line]
    assert channels and not any("dtmf" in line for line in channels)
    manager = (ASTERISK_CONF_DIR / "manager.conf").read_text()
    assert not [line for line in manager.splitlines()
                if line.startswith(("read", "write")) and "dtmf" in line]


def test_asterisk_sends_the_ami_user_the_events_recobro_reads_and_no_other():
    manager = (ASTERISK_CONF_DIR / "manager.conf").read_text()
    filters = {line.split("=", 1)[1].strip() for line in manager.splitlines()
               if line.startswith("eventfilter")}
    assert filters == {f"Event: {name}" for name in ami_events.CALL_EVENTS}


def test_pstn_scenario_jumps_only_to_labels_it_has(tmp_path):
    root = ET.fromstring(render_pstn_scenario(tmp_path))
    played = {el.get("play_pcap_audio") for el in root.iter("exec")}
    assert str(tmp_path / "greeting-human-greeting.pcap") in played
    assert str(tmp_path / "greeting-machine-greeting.pcap") in played
    labels = {el.get("id") for el in root.iter("label")}
    targets = {el.get(attr) for el in root.iter() for attr in ("next", "ontimeout")
               if el.get(attr)}
    assert targets and targets <= labels
    tests = {el.get("test") for el in root.iter() if el.get("test")}
    assigned = {el.get("assign_to") for el in root.iter("test")}
    assert tests <= assigned


def test_feature_codes_are_reachable_from_agents_phones_only(tmp_path):
    text = (render_configs(lab_config(tmp_path)) / "extensions_recobro.conf").read_text()
    contexts: dict[str, list[str]] = {}
    current = ""
    for line in text.splitlines():
        if line.startswith("["):
            current = line.strip("[]")
        elif line.startswith("exten =>"):
            contexts.setdefault(current, []).append(line.split("=>")[1].split(",")[0].strip())
    assert contexts["recobro-agents"] == ["*80", "*81", "*82", "*83", "*84", "_*84X", "9000"]
    assert not [e for e in contexts["recobro-from-trunk"] if e.startswith(("*", "_*"))]


def test_lab_render_writes_the_configs_and_starts_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RECOBRO_LAB_DIR", str(tmp_path / "lab"))
    monkeypatch.setenv("RECOBRO_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("RECOBRO_LAB_PORT_BASE", "27000")
    assert cli.main(["lab", "render"]) == 0
    cfg = load_lab_config()
    etc = cfg.asterisk_run_dir / "etc"  # where `lab up` renders them
    assert capsys.readouterr().out == f"asterisk configs: {etc}\n"
    assert sorted(p.name for p in etc.iterdir()) == sorted(
        p.name for p in ASTERISK_CONF_DIR.iterdir() if p.name.endswith(".conf"))
    assert "bind = 127.0.0.1:27060" in (etc / "pjsip.conf").read_text()
    # Only etc/: the run directories come with `lab up`, and no process ran.
    assert [p.name for p in cfg.asterisk_run_dir.iterdir()] == ["etc"]
    assert not (cfg.lab_dir / "asterisk.pid").exists()


def test_lab_to_goes_with_render_only(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RECOBRO_LAB_DIR", str(tmp_path / "lab"))
    assert cli.main(["lab", "status", "--to", str(tmp_path / "etc")]) == 2
    assert "lab status: --to goes with `lab render` only" in capsys.readouterr().err
    assert not (tmp_path / "lab").exists()


def test_the_trunk_and_every_agent_carry_keys_as_rfc_4733(tmp_path):
    """Issue 14: in-band DTMF would leak a card's digits (its first
    milliseconds reach the other side, and a recording, before detection).
    Every endpoint Recobro has, the trunk and each agent, takes
    recobro-endpoint's dtmf_mode, and nothing sets another."""
    cfg = lab_config(tmp_path)
    text = (render_configs(cfg) / "pjsip_recobro.conf").read_text()
    sections = re.findall(r"^\[([^\]]+)\](\([^)]*\))?\n((?:(?!\[).*\n?)*)", text, re.MULTILINE)
    endpoints = {name: (template, body) for name, template, body in sections
                 if "type = endpoint" in body or template}
    assert endpoints["recobro-endpoint"][1].count("dtmf_mode = rfc4733") == 1
    for name in ("recobro-trunk", *(a.endpoint for a in cfg.agents)):
        template, body = endpoints[name]
        assert template == "(recobro-endpoint)" and "dtmf_mode" not in body, name
    assert re.findall(r"dtmf_mode\s*=\s*(\S+)", text) == ["rfc4733"]


def test_the_keying_debtor_answers_keys_and_stays(tmp_path):
    from lab.pstn_scenario import render_keying_debtor

    root = ET.fromstring(render_keying_debtor(tmp_path / "keys.pcap", 30, keys_after_s=2.5))
    assert [el.get("play_pcap_audio") for el in root.iter("exec")] == [str(tmp_path / "keys.pcap")]
    assert {el.get("milliseconds") for el in root.iter("pause")} >= {"2500"}
    labels = {el.get("id") for el in root.iter("label")}
    assert {el.get(a) for el in root.iter() for a in ("next", "ontimeout") if el.get(a)} <= labels


def test_configs_rendered_again_say_whether_a_running_asterisk_must_reload(tmp_path):
    cfg = lab_config(tmp_path)
    assert rerender_configs(cfg)  # none yet
    assert not rerender_configs(cfg)  # the same code renders the same files
    extensions = cfg.asterisk_run_dir / "etc" / "extensions.conf"
    extensions.write_text("; what an older checkout rendered\n")
    assert rerender_configs(cfg)
    assert "[lab-agi]" in extensions.read_text()
