"""`recobro template set|show|preview|list` as a user runs it, against the
lab's PostgreSQL: a bad template refused with where, exit 2 and nothing
stored; versions kept and shown; a preview of a real account with a link
that verifies under the lab's key."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from dialer.messages.links import verify_link
from dialer.settings import load_payment_link_settings, read_env_file
from tests.e2e.cli import run_cli
from tests.store.test_messages_store import ACCOUNTS

pytestmark = pytest.mark.lab

SMS = ["--campaign", "spring", "--trigger", "no_interaction", "--channel", "sms"]


@pytest.fixture
def recobro(fresh_database, lab_config, tmp_path):
    accounts = tmp_path / "accounts.csv"
    accounts.write_text(ACCOUNTS)

    def run(*args: str):
        return run_cli(*args, RECOBRO_ENV_FILE=str(lab_config.env_file),
                       DATABASE_URL=fresh_database)

    assert run("accounts", "import", str(accounts)).returncode == 0
    assert run("campaign", "create", "spring", "--mode", "progressive").returncode == 0
    return run


def test_set_show_preview_and_list(recobro, lab_config) -> None:
    refused = recobro("template", "set", *SMS, "--language", "es",
                      "--text", "Hola {{ first_name }}\n{{ deuda }} {{ opt_out }}")
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr == (
        "recobro: error: template spring/any/no_interaction/sms/es refused: body line 2: "
        "unknown variable 'deuda' (allowed: balance, debtor_name, first_name, opt_out, "
        "payment_link, reference_tail)\n")
    missing = recobro("template", "set", *SMS, "--language", "es", "--text", "Hola")
    assert "opt-out notice 'Responda BAJA para no recibir mensajes.' is missing" in missing.stderr
    assert recobro("template", "list").stdout == "no templates\n"

    for text in ("v1 {{ opt_out }}", "Hola {{ first_name }}: {{ payment_link }} {{ opt_out }}"):
        saved = recobro("template", "set", *SMS, "--language", "es", "--text", text,
                        "--author", "ana")
        assert saved.returncode == 0, saved.stderr
    assert saved.stdout.startswith("saved spring/any/no_interaction/sms/es version 2 (")
    shown = recobro("template", "show", *SMS, "--language", "es", "--all")
    assert re.findall(r"version (\d)", shown.stdout) == ["1", "2"]
    assert "v1 {{ opt_out }}" in shown.stdout

    preview = recobro("template", "preview", *SMS, "--account", "ES-0001")
    assert preview.returncode == 0, preview.stderr
    lines = preview.stdout.splitlines()
    assert lines[0].startswith("spring/any/no_interaction/sms/es version 2 (")
    assert lines[0].endswith(" for account ES-0001")
    link = re.fullmatch(r"Hola María: (\S+) Responda BAJA para no recibir mensajes\.",
                        lines[1]).group(1)
    settings = load_payment_link_settings(read_env_file(lab_config.env_file))
    assert link.startswith(settings.base_url + "?")
    verify_link(link, settings.key, datetime.now(UTC))
    # The body is one line; María's í makes it UCS-2 (67 a segment once split).
    units = len(lines[1])
    assert units > 70
    assert lines[2] == f"  SMS: UCS-2, forced by 'í': {units} UTF-16 units, {-(-units // 67)} segments"

    none = recobro("template", "preview", *SMS, "--account", "EN-0002")
    assert none.returncode == 2 and "no template for spring/late/no_interaction/sms/en" in (
        none.stderr)
    listed = recobro("template", "list", "--campaign", "spring")
    assert listed.stdout.startswith("spring/any/no_interaction/sms/es version 2 (")
