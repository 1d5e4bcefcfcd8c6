"""Campaigns end to end against the lab: the real Asterisk, the sipp PSTN
and the sipp agents' softphones, a fresh PostgreSQL database, and the
`recobro` command as an operator runs it."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from dialer.compliance.windows import is_open, window_for
from dialer.demo import (
    ZONES,
    portfolio_changes_mid_campaign,
    window_open_now,
    write_demo_accounts,
)
from dialer.lab import sipp
from tests.e2e.cli import cli_env, run_cli

pytestmark = pytest.mark.lab

def cli(lab_config, database_url: str, *args: str, timeout: float = 60):
    result = run_cli(*args, timeout=timeout, RECOBRO_ENV_FILE=str(lab_config.env_file),
                     DATABASE_URL=database_url)
    assert result.returncode == 0, result.stderr
    return result


def start_dialer(lab_config, database_url: str, name: str, seconds: int) -> subprocess.Popen:
    return subprocess.Popen(
        ["recobro", "campaign", "run", name, "--for", str(seconds)],
        env=cli_env(RECOBRO_ENV_FILE=str(lab_config.env_file), DATABASE_URL=database_url),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


STATUSES = ["paid", "settled", "disputed", "closed"]


def prepare(lab_config, database_url: str, tmp_path: Path, name: str, count: int,
            stay: str = "04") -> None:
    """Accounts imported, a few closed before the campaign starts (by the
    command an operator uses), agents ready, campaign created; then more pay
    or settle, go on the DNC list or opt out; the campaign is started."""
    accounts = tmp_path / "accounts.csv"
    write_demo_accounts(accounts, count, stay=stay)
    imported = cli(lab_config, database_url, "accounts", "import", str(accounts))
    assert f"imported {count} account(s) ({count} new" in imported.stdout, imported.stdout
    for i, status in enumerate(STATUSES):
        cli(lab_config, database_url, "accounts", "status", "--reference", f"E{i * 7}",
            "--status", status)
    for agent in lab_config.agents:
        cli(lab_config, database_url, "agent", "login", agent.endpoint)
    cli(lab_config, database_url, "campaign", "create", name, "--mode", "predictive",
        "--window", window_open_now(), "--ring-timeout", "6", "--wrap-up", "1")
    asyncio.run(_mid_campaign(database_url))
    cli(lab_config, database_url, "campaign", "start", name)


async def _mid_campaign(database_url: str) -> None:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    try:
        await portfolio_changes_mid_campaign(pool, "E")
    finally:
        await pool.close()


async def fetch(database_url: str, query: str, *args):
    connection = await asyncpg.connect(database_url)
    try:
        return await connection.fetch(query, *args)
    finally:
        await connection.close()


ATTEMPTS = """
SELECT a.id, a.account_id, c.reference, c.status, a.number, a.started_at, a.answered_at,
       a.connected_at, a.agent, a.result, a.dialer_id, p.time_zones,
       EXISTS (SELECT 1 FROM do_not_call d WHERE d.number = a.number) AS on_dnc,
       EXISTS (SELECT 1 FROM do_not_call d WHERE d.reference = c.reference) AS opted_out,
       k.outcome AS call_outcome, k.state AS call_state
FROM attempts a JOIN accounts c ON c.id = a.account_id JOIN phones p ON p.id = a.phone_id
LEFT JOIN calls k ON k.id = a.id
"""


def test_a_campaign_dials_only_who_may_be_called(lab_config, fresh_database, tmp_path):
    url = fresh_database
    prepare(lab_config, url, tmp_path, "e2e", 520)
    profile = asyncio.run(fetch(url, "SELECT window_profile FROM campaigns"))[0][0]
    window = window_for(profile, "")
    began = datetime.now(UTC)
    status = cli(lab_config, url, "campaign", "run", "e2e", "--for", "40", timeout=240)
    assert "dialed" in status.stdout
    # The window is hours wide: a zone closed at both ends was closed throughout.
    closed = {z for z in ZONES if not is_open(window, z, began)
              and not is_open(window, z, datetime.now(UTC))}
    attempts = asyncio.run(fetch(url, ATTEMPTS))
    assert len(attempts) >= 20, status.stdout
    for a in attempts:
        assert a["status"] == "active" and not a["on_dnc"] and not a["opted_out"], dict(a)
        assert all(is_open(window, zone, a["started_at"]) for zone in a["time_zones"]), dict(a)
        assert a["time_zones"][0] not in closed
        assert a["result"] is not None and a["call_state"] == "ended", dict(a)
    per_account = [a["account_id"] for a in attempts]
    assert len(per_account) == len(set(per_account))  # no retry due within the run
    results = {a["result"] for a in attempts}
    assert {"conversation", "busy", "no_answer"} <= results, status.stdout
    conversations = [a for a in attempts if a["result"] == "conversation"]
    for a in conversations:
        assert a["agent"].startswith("agent")
        assert (a["connected_at"] - a["answered_at"]).total_seconds() < 2.0
    refused = {r["rule"] for r in asyncio.run(fetch(url, "SELECT DISTINCT rule FROM "
                                                         "compliance_refusals"))}
    assert {"account_status", "do_not_call", "opt_out"} <= refused, refused
    agents = asyncio.run(fetch(url, "SELECT state FROM agents"))
    assert {a["state"] for a in agents} <= {"ready", "wrap_up"}
    shown = cli(lab_config, url, "campaign", "status", "e2e")
    assert "conversation" in shown.stdout and "account_status" in shown.stdout


def test_two_dialers_on_one_campaign_dial_no_lead_twice(lab_config, fresh_database, tmp_path):
    url = fresh_database
    prepare(lab_config, url, tmp_path, "twins", 520)
    first = start_dialer(lab_config, url, "twins", 30)
    second = start_dialer(lab_config, url, "twins", 30)
    for process in (first, second):
        _, stderr = process.communicate(timeout=240)
        assert process.returncode == 0, stderr
    attempts = asyncio.run(fetch(url, ATTEMPTS))
    assert len(attempts) >= 20
    assert len({a["dialer_id"] for a in attempts}) == 2  # both dialed
    # and both connected their answered calls to agents (each has its own
    # Stasis application: Asterisk sends an app's events to one socket only)
    talked = {a["dialer_id"] for a in attempts if a["result"] == "conversation"}
    assert len(talked) == 2, [(a["dialer_id"], a["result"]) for a in attempts]
    per_account = [a["account_id"] for a in attempts]
    assert len(per_account) == len(set(per_account))
    assert all(a["result"] is not None for a in attempts)


def test_kill_9_mid_campaign_then_restart_loses_no_outcome(lab_config, fresh_database,
                                                           tmp_path):
    url = fresh_database
    prepare(lab_config, url, tmp_path, "crash", 520, stay="12")
    victim = start_dialer(lab_config, url, "crash", 120)
    deadline = time.monotonic() + 90
    in_flight: list = []
    while time.monotonic() < deadline:
        in_flight = asyncio.run(fetch(url, "SELECT id, connected_at FROM attempts "
                                           "WHERE result IS NULL"))
        if len(in_flight) >= 3 and any(a["connected_at"] for a in in_flight):
            break
        time.sleep(0.3)
    victim.send_signal(signal.SIGKILL)  # the process we started, by its own pid
    victim.communicate(timeout=30)
    assert len(in_flight) >= 3, "no calls in flight to kill"
    bridged = {a["id"] for a in in_flight if a["connected_at"]}
    survivor = start_dialer(lab_config, url, "crash", 20)
    stdout, stderr = survivor.communicate(timeout=240)
    assert survivor.returncode == 0, stderr
    assert "adopted" in stdout
    attempts = asyncio.run(fetch(url, ATTEMPTS))
    for a in attempts:  # exactly one final outcome each, in both tables
        assert a["result"] is not None and a["call_state"] == "ended", dict(a)
        assert a["call_outcome"] is not None
    # Calls bridged to an agent when the dialer died stayed up and ended as
    # conversations, not as lost.
    results = {a["id"]: a["result"] for a in attempts}
    assert all(results[i] == "conversation" for i in bridged), {i: results[i] for i in bridged}
    per_account = [a["account_id"] for a in attempts]
    assert len(per_account) == len(set(per_account))
    agents = asyncio.run(fetch(url, "SELECT state FROM agents"))
    assert {a["state"] for a in agents} <= {"ready", "wrap_up"}


def test_no_agent_in_time_plays_the_safe_harbour_message(lab_config, fresh_database,
                                                          tmp_path):
    """One agent, a ratio of 5 calls per free agent: most live answers find
    no agent. They hear the safe-harbour message and are counted abandoned;
    debtors who press 9 during it are opted out."""
    for language in ("es", "en"):
        assert (lab_config.asterisk_root / "usr/share/asterisk/sounds/recobro" / language
                / "safe-harbour.wav").is_file()
    url = fresh_database
    rows = ["reference,debtor_name,balance,days_past_due,phone1,language"]
    for i in range(12):
        # Even: answers and stays 20 s; odd: answers and keys 9 9 (then stays).
        behaviour = "120" if i % 2 == 0 else "699"
        rows.append(f"S{i},Debtor {i},100,10,+1212555{behaviour}{i % 10},{'es' if i % 3 else 'en'}")
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("\n".join(rows) + "\n")
    cli(lab_config, url, "accounts", "import", str(accounts))
    cli(lab_config, url, "agent", "login", lab_config.agents[0].endpoint)
    cli(lab_config, url, "campaign", "create", "harbour", "--mode", "ratio", "--ratio", "5",
        "--window", "00:00-23:59", "--ring-timeout", "6", "--wrap-up", "30")
    cli(lab_config, url, "campaign", "start", "harbour")
    cli(lab_config, url, "campaign", "run", "harbour", "--for", "8", timeout=240)
    attempts = asyncio.run(fetch(url, ATTEMPTS))
    abandoned = [a for a in attempts if a["result"] == "abandoned"]
    assert len(abandoned) >= 3, [a["result"] for a in attempts]
    played = asyncio.run(fetch(
        url, "SELECT call_id FROM call_events WHERE kind = 'playback_finished'"))
    played_ids = {p["call_id"] for p in played}
    opted_out = {r["reference"] for r in asyncio.run(fetch(
        url, "SELECT reference FROM do_not_call WHERE reason = 'opt_out'"))}
    for a in abandoned:
        assert a["agent"] is None and a["call_outcome"] == "answered"  # Recobro ended it
        number_keys_nine = a["number"][-4] == "6"
        if number_keys_nine:
            assert a["reference"] in opted_out
        else:
            assert a["id"] in played_ids  # the whole message was played
            assert a["reference"] not in opted_out
    assert opted_out <= {a["reference"] for a in abandoned}


def test_answering_machines_are_detected_and_people_reach_agents(lab_config, fresh_database,
                                                                 tmp_path):
    """The sipp debtors answer with a recorded greeting: a person's short
    "¿Bueno?" or an answering machine's long one. Asterisk's AMD tells them
    apart; machines get the campaign's message and go to the follow-up
    outbox, people are bridged to an agent within 2 s of the verdict."""
    url = fresh_database
    rows = ["reference,debtor_name,balance,days_past_due,phone1"]
    for i in range(8):
        behaviour = "810" if i % 2 == 0 else "915"  # person stays 10 s; machine 15 s
        rows.append(f"M{i},Debtor {i},100,10,+1212555{behaviour}{i}")
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("\n".join(rows) + "\n")
    cli(lab_config, url, "accounts", "import", str(accounts))
    for agent in lab_config.agents:
        cli(lab_config, url, "agent", "login", agent.endpoint)
    cli(lab_config, url, "campaign", "create", "amd", "--mode", "progressive", "--amd",
        "--machine-action", "leave_message", "--window", "00:00-23:59", "--wrap-up", "0")
    cli(lab_config, url, "campaign", "start", "amd")
    cli(lab_config, url, "campaign", "run", "amd", "--for", "25", timeout=240)
    attempts = asyncio.run(fetch(url, ATTEMPTS.replace(
        "a.result, a.dialer_id", "a.result, a.dialer_id, a.amd_status, a.verdict_at")))
    assert len(attempts) == 8, [dict(a) for a in attempts]
    played = {p["call_id"] for p in asyncio.run(fetch(
        url, "SELECT call_id FROM call_events WHERE kind = 'playback_finished'"))}
    outbox = {r["attempt_id"]: r["result"] for r in asyncio.run(fetch(
        url, "SELECT attempt_id, result FROM no_interaction"))}
    for a in attempts:
        if a["number"][-4] == "9":
            assert (a["amd_status"], a["result"]) == ("MACHINE", "machine"), dict(a)
            assert a["agent"] is None and a["id"] in played
            assert outbox.get(a["id"]) == "machine"
        else:
            assert (a["amd_status"], a["result"]) == ("HUMAN", "conversation"), dict(a)
            assert (a["connected_at"] - a["verdict_at"]).total_seconds() < 2.0
            assert a["verdict_at"] > a["answered_at"]
            assert a["id"] not in outbox


def test_an_agent_softphone_that_vanishes_loses_no_call_record(lab_config, fresh_database,
                                                               tmp_path):
    """agent1001's softphone dies mid-call: the debtor's call still ends with
    its full record; the next call the agent cannot take is not lost either
    (the debtor hears the safe-harbour message) and the agent is logged out."""
    url = fresh_database
    agent = lab_config.agents[0]
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("reference,debtor_name,balance,days_past_due,phone1\n"
                        "V1,First,100,10,+12125001100\nV2,Second,100,10,+12125001101\n")
    cli(lab_config, url, "accounts", "import", str(accounts))
    cli(lab_config, url, "agent", "login", agent.endpoint)
    cli(lab_config, url, "campaign", "create", "vanish", "--mode", "progressive",
        "--window", "00:00-23:59", "--wrap-up", "0")
    cli(lab_config, url, "campaign", "start", "vanish")
    dialer = start_dialer(lab_config, url, "vanish", 20)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            bridged = asyncio.run(fetch(url, "SELECT id FROM attempts "
                                             "WHERE connected_at IS NOT NULL"))
            if bridged:
                break
            time.sleep(0.2)
        assert bridged, "no call reached the agent"
        assert sipp.stop_agent(lab_config, agent)
        _, stderr = dialer.communicate(timeout=240)
        assert dialer.returncode == 0, stderr
    finally:
        sipp.start_agent(lab_config, agent)
        sipp.register_agent(lab_config, agent)
    attempts = {a["reference"]: a for a in asyncio.run(fetch(url, ATTEMPTS))}
    first = attempts["V1"]
    assert first["result"] == "conversation" and first["agent"] == agent.endpoint
    assert first["call_state"] == "ended" and first["call_outcome"] is not None
    second = attempts["V2"]
    assert second["result"] == "abandoned" and second["call_state"] == "ended"
    states = asyncio.run(fetch(url, "SELECT state FROM agents WHERE endpoint = $1",
                               agent.endpoint))
    assert states[0]["state"] == "logged_out"
