"""Debtors calling in, against the lab: identified by caller ID or by the
account number they key, and routed to an agent with the skills their
account needs. The sipp caller comes in through the trunk."""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from ivr import account_prompt, callback_prompts, self_service
from lab import sipp
from tests.audio import Audio, capture_lab, read_wav, received
from tests.e2e.cli import cli_env, run_cli
from tests.e2e.sounds import reference
from tests.e2e.test_campaign import fetch

pytestmark = pytest.mark.lab

ACCOUNTS = ("reference,debtor_name,balance,days_past_due,risk_score,language,phone1\n"
            "IN-ES,Rosa,300,20,0.5,es,+12125550181\n"
            "4721,John,9000,120,0.9,en,+13125550182\n"
            "LOW-1,Luis,250.75,15,0.1,es,+12125550184\n")
SKILLS = {"agent1001": "language:es=5", "agent1002": "language:en=5",
          "agent1003": "language:en=2,tier:high=3,negotiation=5", "agent1004": "language:es=2"}


def cli(lab_config, url: str, *args: str) -> None:
    result = run_cli(*args, RECOBRO_ENV_FILE=str(lab_config.env_file), DATABASE_URL=url)
    assert result.returncode == 0, result.stderr


def heard_by_callers(lab_config, capture) -> list:
    """What each debtor who called in (sipp.call_in) received, in order."""
    return received(capture.path, lab_config.sip_port, lab_config.port_base + 97)


def heard(lab_config, call, sound: str, tmp_path, first_s: float | None = None) -> bool:
    """Whether the caller heard sound (in Spanish), or its first first_s
    seconds (a key pressed cuts a prompt short)."""
    whole = read_wav(reference(lab_config, sound, "es", tmp_path))
    start = whole if first_s is None else Audio(whole.samples[:int(first_s * whole.rate)],
                                                whole.rate)
    return call.match(start).found()


@contextmanager
def inbound_desk(lab_config, url: str, tmp_path) -> Iterator[None]:
    """ACCOUNTS imported and `recobro inbound` taking calls; stopped after."""
    accounts = tmp_path / "accounts.csv"
    accounts.write_text(ACCOUNTS)
    cli(lab_config, url, "accounts", "import", str(accounts))
    desk = subprocess.Popen(
        ["recobro", "inbound"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
        env=cli_env(RECOBRO_ENV_FILE=str(lab_config.env_file), DATABASE_URL=url))
    try:
        assert "taking calls" in desk.stdout.readline()
        yield
    finally:
        desk.terminate()
        desk.wait(timeout=30)


def test_callers_are_identified_and_routed_by_skill(lab_config, fresh_database, tmp_path):
    url = fresh_database
    for agent, skills in SKILLS.items():
        cli(lab_config, url, "agent", "skills", agent, "--skills", skills)
        cli(lab_config, url, "agent", "login", agent)
    with inbound_desk(lab_config, url, tmp_path), \
            capture_lab(lab_config, tmp_path / "in.pcap") as capture:
        # Rosa calls from her own phone; John from a number nobody has, and
        # keys his account number.
        sipp.call_in(lab_config, "+12125550181", stay_s=4)
        sipp.call_in(lab_config, "+15005550199", keys="4721#", stay_s=8)
        time.sleep(1.0)
    calls = {r["reference"]: r for r in asyncio.run(fetch(url, """
        SELECT a.reference, i.identified_by, i.agent, i.connected_at, i.caller, k.direction,
               k.state
        FROM inbound_calls i JOIN accounts a ON a.id = i.account_id
        JOIN calls k ON k.id = i.call_id"""))}
    rosa, john = calls["IN-ES"], calls["4721"]
    assert (rosa["identified_by"], rosa["caller"]) == ("caller_id", "+12125550181")
    assert rosa["agent"] in ("agent1001", "agent1004") and rosa["connected_at"]
    assert john["identified_by"] == "account_number"
    assert john["agent"] == "agent1003"  # English, high balance, high risk
    assert {rosa["direction"], john["direction"]} == {"inbound"}
    assert {rosa["state"], john["state"]} == {"ended"}
    # John heard the request for his account number (his keys came 2 s in).
    john_heard = heard_by_callers(lab_config, capture)[1]
    assert heard(lab_config, john_heard, account_prompt.SOUND, tmp_path, first_s=2.0)
    # Each agent's phone showed who was calling.
    shown = {}
    for agent in lab_config.agents:
        for call in received(capture.path, lab_config.sip_port, agent.sip_port):
            shown[call.number] = (call.caller_name, call.caller_user)
    assert shown[rosa["agent"]] == ("Rosa", "+12125550181")
    assert shown[john["agent"]] == ("John", "+15005550199")


def test_with_no_agent_free_callers_wait_with_music_and_may_choose_a_call_back(
        lab_config, fresh_database, tmp_path):
    url = fresh_database
    with inbound_desk(lab_config, url, tmp_path), \
            capture_lab(lab_config, tmp_path / "in.pcap") as capture:  # every agent logged out
        # Rosa hears she is next and the offer, and presses 1.
        sipp.call_in(lab_config, "+12125550181", keys="1", stay_s=15)
        time.sleep(1.0)
    rows = asyncio.run(fetch(url, """
        SELECT i.agent, i.identified_by, b.number, b.account_id IS NOT NULL AS known,
               k.hung_up_by_app, k.state
        FROM inbound_calls i JOIN callbacks b ON b.inbound_id = i.id
        JOIN calls k ON k.id = i.call_id"""))
    assert len(rows) == 1, rows
    row = rows[0]
    assert row["agent"] is None and row["identified_by"] == "caller_id" and row["known"]
    assert row["number"] == "+12125550181"
    assert row["hung_up_by_app"] and row["state"] == "ended"  # after the confirmation
    rosa = heard_by_callers(lab_config, capture)[0]
    # Her key, 2 s in, cut "you are next" short: the call-back was booked.
    assert heard(lab_config, rosa, callback_prompts.YOU_ARE_NEXT, tmp_path, first_s=1.5)
    assert heard(lab_config, rosa, callback_prompts.BOOKED, tmp_path)


def test_a_waiting_caller_reaches_the_first_agent_to_log_in(lab_config, fresh_database,
                                                            tmp_path):
    url = fresh_database
    with inbound_desk(lab_config, url, tmp_path), \
            capture_lab(lab_config, tmp_path / "in.pcap") as capture:  # every agent logged out
        caller = threading.Thread(target=sipp.call_in, args=(lab_config, "+12125550181"),
                                  kwargs={"stay_s": 14})
        caller.start()
        time.sleep(6.0)  # hearing the place in line (6.6 s), then the offer
        cli(lab_config, url, "agent", "login", "agent1004")
        caller.join(timeout=60)
    row = asyncio.run(fetch(url, "SELECT agent, arrived_at, connected_at FROM inbound_calls"))[0]
    assert row["agent"] == "agent1004"
    assert (row["connected_at"] - row["arrived_at"]).total_seconds() >= 5.0
    rosa = heard_by_callers(lab_config, capture)[0]
    assert heard(lab_config, rosa, callback_prompts.YOU_ARE_NEXT, tmp_path, first_s=4.0)
    # The agent came free during the announcement: it stopped there, the
    # caller went to the agent without the rest (the whole offer unheard).
    assert not heard(lab_config, rosa, callback_prompts.OFFER, tmp_path)


def test_low_risk_callers_serve_themselves(lab_config, fresh_database, tmp_path):
    """Luis (risk 0.1) hears the menu, presses 1 for his balance, then 2 to
    promise to pay it within seven days; no agent is needed."""
    url = fresh_database
    with inbound_desk(lab_config, url, tmp_path), \
            capture_lab(lab_config, tmp_path / "in.pcap") as capture:
        sipp.call_in(lab_config, "+12125550184", keys="1,,,,,2", stay_s=25)
        time.sleep(1.0)
    promise = asyncio.run(fetch(url, """
        SELECT p.amount, p.due_by - p.at::date AS days, p.source, i.agent, k.hung_up_by_app,
               (SELECT count(*) FROM call_events e WHERE e.call_id = i.call_id
                AND e.kind = 'dtmf_received') AS keys
        FROM promises p JOIN inbound_calls i ON i.id = p.inbound_id
        JOIN calls k ON k.id = i.call_id"""))
    assert len(promise) == 1, promise
    row = promise[0]
    assert (float(row["amount"]), row["days"], row["source"]) == (250.75, 7, "ivr")
    assert row["agent"] is None and row["hung_up_by_app"] and row["keys"] == 2
    luis = heard_by_callers(lab_config, capture)[0]
    assert heard(lab_config, luis, self_service.MENU, tmp_path, first_s=1.5)  # cut by 1
    assert heard(lab_config, luis, self_service.YOUR_BALANCE, tmp_path)
    assert heard(lab_config, luis, self_service.PROMISE_RECORDED, tmp_path)
