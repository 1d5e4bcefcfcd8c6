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
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from dialer.compliance.windows import is_open, window_for
from dialer.lab.number_plan import Behaviour
from tests.e2e.cli import cli_env, run_cli

pytestmark = pytest.mark.lab

# Zone -> a number prefix of that zone; two digits follow, then the lab's
# four behaviour digits (B P P S).
ZONES = {
    "America/New_York": "+12125", "America/Chicago": "+13125", "America/Denver": "+13035",
    "America/Los_Angeles": "+12135", "Pacific/Honolulu": "+18085",
    "Europe/Madrid": "+34912", "America/Mexico_City": "+525512", "Asia/Tokyo": "+81312",
}
# What the debtors do, in turns: mostly answer and talk a few seconds.
BEHAVIOURS = [(Behaviour.ANSWER_AND_STAY, "04")] * 6 + [
    (Behaviour.ANSWER_AND_HANG_UP, "00"), (Behaviour.BUSY, "00"), (Behaviour.NO_ANSWER, "00"),
    (Behaviour.CONGESTION, "00")]
STATUSES = ["active"] * 16 + ["paid", "settled", "disputed", "closed"]


def window_now(zone_count: int = 2) -> str:
    """A custom calling window open now in a few of the zones (and closed in
    the others) for an hour or more, whatever the time of the run."""
    now = datetime.now(UTC)
    for anchor in ZONES:
        hour = now.astimezone(ZoneInfo(anchor)).hour
        if 1 <= hour <= 21:
            profile = f"{hour - 1:02d}:00-{hour + 2:02d}:00"
            window = window_for(profile, "")
            open_zones = {z for z in ZONES if is_open(window, z, now)}
            if 1 <= len(open_zones) <= zone_count + 1 and len(open_zones) < len(ZONES):
                return profile
    raise AssertionError("no anchor zone gives a partial window")  # cannot happen: 8 zones


def write_accounts(path: Path, count: int, stay: str = "04") -> None:
    """count accounts over every zone, with every status; phones unique."""
    lines = ["reference,debtor_name,balance,days_past_due,risk_score,language,phone1"]
    zones = list(ZONES)
    for i in range(count):
        behaviour, parameter = BEHAVIOURS[(i // len(zones)) % len(BEHAVIOURS)]
        if behaviour is Behaviour.ANSWER_AND_STAY:
            parameter = stay
        digits = f"{(i // len(zones)) % 100:02d}{behaviour.value}{parameter}{i % 10}"
        number = ZONES[zones[i % len(zones)]] + digits
        lines.append(f"E{i},Debtor {i},{50 + i % 900},{(i * 13) % 200},0.{i % 10},"
                     f"{'es' if i % 2 else 'en'},{number}")
    path.write_text("\n".join(lines) + "\n")


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


def prepare(lab_config, database_url: str, tmp_path: Path, name: str, count: int,
            stay: str = "04") -> None:
    """Accounts imported, some on the DNC list or opted out, statuses set,
    agents ready, campaign created and started."""
    accounts = tmp_path / "accounts.csv"
    write_accounts(accounts, count, stay)
    imported = cli(lab_config, database_url, "accounts", "import", str(accounts))
    assert f"imported {count} account(s) ({count} new" in imported.stdout, imported.stdout
    profile = window_now()
    for i in range(40):  # a few by the command an operator uses, the rest in bulk
        status = STATUSES[i % len(STATUSES)]
        if status != "active":
            cli(lab_config, database_url, "accounts", "status", "--reference", f"E{i}",
                "--status", status)
    for agent in lab_config.agents:
        cli(lab_config, database_url, "agent", "ready", agent.endpoint)
    cli(lab_config, database_url, "campaign", "create", name, "--mode", "predictive",
        "--window", profile, "--ring-timeout", "6", "--wrap-up", "1")
    # After the campaign drew its leads: payments, DNC and opt-outs arrive.
    asyncio.run(_bulk_status_and_dnc(database_url, count))
    cli(lab_config, database_url, "campaign", "start", name)


async def _bulk_status_and_dnc(database_url: str, count: int) -> None:
    # The CLI set the first few by hand; the rest in one statement each.
    connection = await asyncpg.connect(database_url)
    try:
        for i in range(40, count):
            status = STATUSES[i % len(STATUSES)]
            if status != "active":
                await connection.execute("UPDATE accounts SET status = $2 WHERE reference = $1",
                                         f"E{i}", status)
        await connection.execute(
            "INSERT INTO do_not_call (number, reason) SELECT p.number, 'dnc' FROM phones p "
            "JOIN accounts a ON a.id = p.account_id WHERE a.id % 17 = 3")
        await connection.execute(
            "INSERT INTO do_not_call (reference, reason) SELECT reference, 'opt_out' "
            "FROM accounts WHERE id % 19 = 5")
    finally:
        await connection.close()


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
