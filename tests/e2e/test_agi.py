"""The FastAGI hooks against the lab: `recobro agi` answers the lab's
Asterisk, whose lab-agi context (asterisk_conf/extensions.conf, an
engineer's own dialplan) calls a hook and logs, at NOTICE, the channel
variables the hook really set. Calls are originated over AMI into a Local
channel with the caller ID a call from that number would have."""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from panoramisk import Manager

from dialer.compliance.windows import next_opening, window_for
from lab.config import LabConfig
from tests.e2e.cli import cli_env, run_cli
from tests.e2e.test_campaign import fetch
from tests.e2e.test_errors import failing
from tests.e2e.test_inbound import cli

pytestmark = pytest.mark.lab

CONTEXT = "lab-agi"
ACCOUNTS = ("reference,debtor_name,balance,days_past_due,risk_score,language,phone1\n"
            "AGI-ES,Rosa,3000,20,0.25,es,+12125550181\n"
            "AGI-EN,John,9000,120,0.9,en,+13125550182\n")
ROSA, JOHN, NOBODY = "+12125550181", "+13125550182", "+15005550199"
NEW_YORK = ZoneInfo("America/New_York")
LINE = re.compile(r'recobro-agi (\w+) (.*?)"?$')


@contextmanager
def agi_server(lab_config: LabConfig, url: str, tmp_path) -> Iterator[list[str]]:
    """ACCOUNTS imported and `recobro agi` answering on the lab's AGI port
    (its log level the default); stopped after (by its handle), when the
    list it yields gets what it logged."""
    accounts = tmp_path / "accounts.csv"
    accounts.write_text(ACCOUNTS)
    cli(lab_config, url, "accounts", "import", str(accounts))
    server = subprocess.Popen(
        ["recobro", "agi"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
        env=cli_env(RECOBRO_ENV_FILE=str(lab_config.env_file), DATABASE_URL=url))
    logged: list[str] = []
    try:
        assert f"agi://127.0.0.1:{lab_config.agi_port}/" in server.stdout.readline()
        yield logged
    finally:
        server.terminate()
        server.wait(timeout=30)
        logged.append(server.stderr.read())
        assert server.returncode in (0, -15), logged


async def originate(lab_config: LabConfig, extension: str, caller: str,
                    variables: dict[str, str]) -> None:
    """A call from caller into extension@lab-agi (a Local channel, whose
    dialplan half runs the hook); queued, not awaited."""
    manager = Manager(host=lab_config.host, port=lab_config.ami_port,
                      username=lab_config.ami_user, secret=lab_config.ami_secret,
                      events="off", ping_delay=0)
    await manager.connect()
    try:
        action = {"Action": "Originate", "Channel": f"Local/{extension}@{CONTEXT}/n",
                  "CallerID": caller, "Application": "Wait", "Data": "1", "Async": "true"}
        if variables:
            action["Variable"] = [f"{k}={v}" for k, v in variables.items()]
        reply = await manager.send_action(action, as_list=False)
        assert reply.Response == "Success", reply
    finally:
        manager.close()


def hook(lab_config: LabConfig, extension: str, caller: str = "", **variables: str
         ) -> dict[str, str]:
    """Run extension@lab-agi for a call from caller (with these channel
    variables) and return what the dialplan logged the hook had set: the
    hook's name under "hook", then each variable by the log's names."""
    log = lab_config.asterisk_run_dir / "log" / "messages.log"
    start = log.stat().st_size
    asyncio.run(originate(lab_config, extension, caller, variables))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with log.open("rb") as text:
            text.seek(start)
            for line in text.read().decode(errors="replace").splitlines():
                found = LINE.search(line)
                if found:
                    fields, _, error = found.group(2).partition("error=")
                    pairs = dict(f.split("=", 1) for f in fields.split())
                    return {"hook": found.group(1), **pairs, "error": error}
        time.sleep(0.2)
    raise AssertionError(f"{extension}@{CONTEXT} logged nothing in 30 s")


def test_a_lookup_sets_the_account_for_a_known_caller_and_unknown_for_others(
        lab_config, fresh_database, tmp_path):
    with agi_server(lab_config, fresh_database, tmp_path) as logged:
        rosa = hook(lab_config, "lookup", ROSA)
        john = hook(lab_config, "lookup", JOHN)
        nobody = hook(lab_config, "lookup", NOBODY)
        nonsense = hook(lab_config, "nonsense", ROSA)
        no_caller = hook(lab_config, "lookup")
        again = hook(lab_config, "lookup", ROSA)  # the server outlived the bad requests
    assert rosa == {"hook": "lookup", "caller": ROSA, "lookup": "found", "account": "AGI-ES",
                    "language": "es", "tier": "mid", "risk": "0.25", "error": ""}
    assert (john["lookup"], john["account"], john["language"], john["tier"], john["risk"]) == \
        ("found", "AGI-EN", "en", "high", "0.9")
    assert nobody == {"hook": "lookup", "caller": NOBODY, "lookup": "unknown", "account": "",
                      "language": "", "tier": "", "risk": "", "error": ""}
    assert nonsense["error"] == "no such hook: agi://HOST:PORT/ then one of lookup, gate, optout"
    assert no_caller["lookup"] == ""
    assert no_caller["error"] == ("lookup: no number: the call has no caller ID and argument 1 "
                                  "is missing")
    assert again == rosa
    # The server warned of the two bad requests, and named no caller or account.
    [log] = logged
    assert log.count("WARNING dialer.agi.server") == 2, log
    assert "no such hook" in log and "no caller ID" in log
    assert not any(secret in log for secret in (ROSA, JOHN, NOBODY, "AGI-ES", "AGI-EN")), log


def closed_window(now: datetime) -> str:
    """A custom window (every day) that is not open now in New York: the
    hour that starts two hours from now there."""
    opens = (now.astimezone(NEW_YORK) + timedelta(hours=2)).hour
    return f"{opens:02d}:00-{opens:02d}:59"


def test_the_gate_refuses_a_number_outside_its_window_and_allows_it_inside(
        lab_config, fresh_database, tmp_path):
    url = fresh_database
    now = datetime.now(UTC)
    closed = closed_window(now)
    with agi_server(lab_config, url, tmp_path):  # the accounts first: campaigns draw on them
        cli(lab_config, url, "campaign", "create", "closed-now", "--window", closed)
        cli(lab_config, url, "campaign", "create", "open-now", "--window", "00:00-24:00")
        refused = hook(lab_config, ROSA, RECOBRO_CAMPAIGN="closed-now")
        allowed = hook(lab_config, ROSA, RECOBRO_CAMPAIGN="open-now")
        stranger = hook(lab_config, NOBODY, RECOBRO_CAMPAIGN="open-now")
        no_campaign = hook(lab_config, ROSA, RECOBRO_CAMPAIGN="nope")
    opening = next_opening(window_for(closed, "US"), ("America/New_York",), now)
    assert refused == {"hook": "gate", "number": ROSA, "gate": "refused",
                       "rule": "calling_window",
                       "until": opening.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                       "error": ""}
    assert opening.astimezone(NEW_YORK).strftime("%H:%M") == closed[:5]
    assert allowed == {"hook": "gate", "number": ROSA, "gate": "allowed", "rule": "",
                       "until": "", "error": ""}
    assert (stranger["gate"], stranger["rule"], stranger["until"]) == \
        ("refused", "not_a_lead", "")
    assert no_campaign["gate"] == ""
    assert no_campaign["error"] == "gate: argument 2: no campaign named 'nope'"


def test_an_opt_out_from_the_dialplan_puts_the_number_on_the_list_and_the_gate_refuses_it(
        lab_config, fresh_database, tmp_path):
    url = fresh_database
    with agi_server(lab_config, url, tmp_path):
        cli(lab_config, url, "campaign", "create", "open-now", "--window", "00:00-24:00")
        before = hook(lab_config, JOHN, RECOBRO_CAMPAIGN="open-now")
        opted_out = hook(lab_config, "optout", JOHN)
        after = hook(lab_config, JOHN, RECOBRO_CAMPAIGN="open-now")
    assert before["gate"] == "allowed"
    assert opted_out == {"hook": "optout", "caller": JOHN, "optout": "done", "error": ""}
    rows = asyncio.run(fetch(url, "SELECT number, reference, reason FROM do_not_call"))
    assert [tuple(r) for r in rows] == [(JOHN, None, "opt_out")]
    assert (after["gate"], after["rule"], after["until"]) == ("refused", "do_not_call", "")


def test_a_port_taken_or_wrong_is_named_in_one_line(lab_config, fresh_database):
    taken = run_cli("agi", timeout=30, RECOBRO_ENV_FILE=str(lab_config.env_file),
                    DATABASE_URL=fresh_database, RECOBRO_AGI_PORT=str(lab_config.ami_port))
    failing(taken, f"cannot listen on 127.0.0.1:{lab_config.ami_port}",
            "(RECOBRO_AGI_HOST, RECOBRO_AGI_PORT)")
    wrong = run_cli("agi", timeout=30, RECOBRO_ENV_FILE=str(lab_config.env_file),
                    DATABASE_URL=fresh_database, RECOBRO_AGI_PORT="4573x")
    failing(wrong, "RECOBRO_AGI_PORT='4573x': a port is a whole number")
