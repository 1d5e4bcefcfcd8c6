"""The lab's Kannel: its configuration binds every listener to loopback,
holds the generated passwords in a private file and points the replies'
service at the callback listener with its token; what fakesmsc printed is
read back into whole messages (a concatenated one joined by its UDH)."""

from __future__ import annotations

import re
import stat
from dataclasses import replace

from dialer.messages.kannel import MO_PATH
from lab import kannel
from tests.unit.test_lab_ports import lab_config


def secret_config(tmp_path):
    return replace(lab_config(tmp_path), kannel_admin_password="adm1n-Pass",
                   kannel_sendsms_password="s3ndsms-Pass",
                   message_callback_token="cb-T0ken-for-the-tests-0123")


def test_every_listener_on_loopback_and_the_replies_to_the_listener(tmp_path) -> None:
    cfg = secret_config(tmp_path)
    text = kannel.render_config(cfg)
    for setting in ("admin-interface", "smsbox-interface", "our-host", "sendsms-interface",
                    "bearerbox-host"):
        assert re.search(rf"^{setting} = 127\.0\.0\.1$", text, re.MULTILINE), setting
    for setting in ("admin-allow-ip", "box-allow-ip", "connect-allow-ip", "user-allow-ip"):
        assert re.search(rf"^{setting} = 127\.0\.0\.1$", text, re.MULTILINE), setting
    ports = {int(p) for p in re.findall(r"^\S*port = (\d+)$", text, re.MULTILINE)}
    assert ports == {cfg.kannel_admin_port, cfg.kannel_box_port, cfg.fakesmsc_port,
                     cfg.kannel_sendsms_port}
    [get_url] = re.findall(r'^get-url = "(.*)"$', text, re.MULTILINE)
    assert get_url == (f"http://127.0.0.1:{cfg.message_callback_port}{MO_PATH}"
                       "?token=cb-T0ken-for-the-tests-0123&from=%p&to=%P&text=%b&coding=%c&id=%I")
    assert "max-messages = 0" in text  # Kannel itself answers a reply with nothing
    assert "adm1n-Pass" in text and "s3ndsms-Pass" in text


def test_the_config_file_is_private(tmp_path, monkeypatch) -> None:
    cfg = secret_config(tmp_path)
    monkeypatch.setattr(kannel, "running", lambda cfg, name: 1)  # start nothing
    kannel.start(cfg)
    assert stat.S_IMODE(kannel.config_file(cfg).stat().st_mode) == 0o600


LINES = """\
2026-12-03 05:16:53 [2345] [0] INFO: fakesmsc starting
2026-12-03 05:21:38 [2345] [0] DEBUG: Got message 4: <+15550100000 +12125550111 udh %05%00%03%03%02%01 data %00H%00o%00l%00a%00+>
2026-12-03 05:21:38 [2345] [0] DEBUG: Got message 5: <+15550100000 +12125550112 text Hola señor y €>
2026-12-03 05:21:38 [2345] [0] DEBUG: Got message 6: <+15550100000 +12125550111 udh %05%00%03%03%02%02 data %00M%00a%00r%00%ED%00a>
2026-12-03 05:21:39 [2345] [0] DEBUG: Got message 7: <+15550100000 +12125550113 ucs-2 %00B%00a%00j%00%E1%00+%00%2B>
"""


def test_what_fakesmsc_received_is_read_back_whole(tmp_path) -> None:
    cfg = lab_config(tmp_path)
    kannel.received_file(cfg).parent.mkdir(parents=True)
    kannel.received_file(cfg).write_text(LINES)
    got = kannel.received(cfg)
    assert [(r.receiver, r.kind, r.segments) for r in got] == [
        ("+12125550112", "text", 1), ("+12125550111", "data", 2), ("+12125550113", "ucs-2", 1)]
    assert got[0].text() == "Hola señor y €"
    assert got[1].text("utf-16-be") == "Hola María"
    assert got[2].text("utf-16-be") == "Bajá +"
