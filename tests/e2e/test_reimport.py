"""Re-importing a portfolio in the middle of a campaign (issue 12), against
the lab: the dialer runs, the operator imports the accounts file again with
one phone changed and one removed, and every attempt, call, call event and
fact the gate reads (Reg F 7 in 7, the 72-hour rule) is still there; the
removed phone is never dialed afterwards. And a hostile file through the
`recobro` command: the good rows import, each bad one is named, no trace."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from dialer.compliance.gate import REG_F_WINDOW
from dialer.outbound import leads
from lab.number_plan import Behaviour
from tests.e2e.cli import run_cli
from tests.e2e.test_campaign import cli, fetch, start_dialer
from tests.store.test_import import hostile_file

pytestmark = pytest.mark.lab

ACCOUNTS = 40
# What each account's first phone does, in turns: mostly talk (conversations),
# some hang up at once (hung_up: a no_interaction row, which made the old
# re-import fail), busy, never answer.
FIRST_PHONES = [(Behaviour.ANSWER_AND_STAY, "04")] * 4 + [
    (Behaviour.ANSWER_AND_HANG_UP, "00"), (Behaviour.BUSY, "00"), (Behaviour.NO_ANSWER, "00")]


def number(exchange: int, i: int, behaviour: Behaviour, parameter: str) -> str:
    """A New York number unique to account i; its last four digits are the
    lab's B P P S."""
    return f"+1212{exchange}{i:02d}{behaviour.value}{parameter}{i % 10}"


def phones_of(i: int) -> list[str]:
    behaviour, parameter = FIRST_PHONES[i % len(FIRST_PHONES)]
    return [number(5, i, behaviour, parameter), number(6, i, Behaviour.ANSWER_AND_STAY, "04")]


def write_accounts(path: Path, phones: dict[int, list[str]]) -> None:
    """R0 is the best account (early, the largest balance, sure to pay)."""
    lines = ["reference,debtor_name,balance,days_past_due,risk_score,language,phone1,phone2"]
    for i in range(ACCOUNTS):
        balance = 900000 if i == 0 else 100 + i
        listed = phones[i] + [""] * (2 - len(phones[i]))
        lines.append(f"R{i},Debtor {i},{balance},{5 if i == 0 else 40},{0 if i == 0 else 0.5},"
                     f"{'es' if i % 2 else 'en'},{listed[0]},{listed[1]}")
    path.write_text("\n".join(lines) + "\n")


async def snapshot(url: str) -> dict:
    """Every attempt, call and call event, and the gate's history of every
    account, as the dialer runs."""
    connection = await asyncpg.connect(url)
    try:
        async with connection.transaction(isolation="repeatable_read"):
            at = await connection.fetchval("SELECT now()")
            attempts = {r["id"]: dict(r) for r in await connection.fetch(
                "SELECT id, account_id, phone_id, number, started_at, result FROM attempts")}
            calls = {r["id"] for r in await connection.fetch("SELECT id FROM calls")}
            events = {r["id"] for r in await connection.fetch("SELECT id FROM call_events")}
            no_interaction = {r["attempt_id"] for r in await connection.fetch(
                "SELECT attempt_id FROM no_interaction")}
            campaign_id = await connection.fetchval("SELECT id FROM campaigns")
            ids = [r["id"] for r in await connection.fetch("SELECT id FROM accounts")]
            contexts = await leads.lead_contexts(connection, campaign_id, ids, at)
    finally:
        await connection.close()
    return {"at": at, "attempts": attempts, "calls": calls, "events": events,
            "no_interaction": no_interaction,
            "history": {c.facts.reference: c.facts.history for c in contexts}}


def test_a_reimport_mid_campaign_keeps_every_attempt_event_and_reg_f_count(
        lab_config, fresh_database, tmp_path):
    url = fresh_database
    phones = {i: phones_of(i) for i in range(ACCOUNTS)}
    accounts = tmp_path / "accounts.csv"
    write_accounts(accounts, phones)
    imported = cli(lab_config, url, "accounts", "import", str(accounts))
    assert f"imported {ACCOUNTS} account(s) ({ACCOUNTS} new" in imported.stdout, imported.stdout
    for agent in lab_config.agents:
        cli(lab_config, url, "agent", "login", agent.endpoint)
    cli(lab_config, url, "campaign", "create", "reimport", "--mode", "predictive",
        "--window", "00:00-24:00", "--ring-timeout", "6", "--wrap-up", "1")
    cli(lab_config, url, "campaign", "start", "reimport")
    # R0, the best lead, waits (as for a retry delay) until its first phone
    # has been removed: then it is the first lead the dialer wants.
    asyncio.run(fetch(url, "UPDATE leads SET next_callable_at = 'infinity' WHERE account_id = "
                           "(SELECT id FROM accounts WHERE reference = 'R0')"))
    dialer = start_dialer(lab_config, url, "reimport", 45)

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        rows = asyncio.run(fetch(url, "SELECT count(*) FILTER (WHERE result IS NOT NULL) AS done, "
                                      "(SELECT count(*) FROM no_interaction) AS quiet "
                                      "FROM attempts"))
        if rows[0]["done"] >= 10 and rows[0]["quiet"] >= 1:
            break
        time.sleep(0.5)
    before = asyncio.run(snapshot(url))
    finished = [a for a in before["attempts"].values() if a["result"] is not None]
    assert len(finished) >= 10 and before["no_interaction"], before["attempts"]

    # The re-import: a changed phone on an account whose old phone has
    # history (a no_interaction row, if there is one), R0's first phone gone.
    references = {r["id"]: r["reference"] for r in asyncio.run(
        fetch(url, "SELECT id, reference FROM accounts"))}
    dialed = sorted(finished, key=lambda a: a["id"] not in before["no_interaction"])
    changed = next(int(references[a["account_id"]][1:]) for a in dialed
                   if a["number"] == phones[int(references[a["account_id"]][1:])][0])
    old_number = phones[changed][0]
    removed = phones[0][0]
    phones[changed] = [number(7, changed, Behaviour.ANSWER_AND_STAY, "04"), phones[changed][1]]
    phones[0] = [phones[0][1]]
    write_accounts(accounts, phones)
    reimported = cli(lab_config, url, "accounts", "import", str(accounts))
    assert reimported.returncode == 0 and "Traceback" not in reimported.stderr
    assert (f"imported {ACCOUNTS} account(s) (0 new, {ACCOUNTS} updated); "
            "2 phone(s) retired, 0 back; 0 row(s) quarantined") in reimported.stdout
    asyncio.run(fetch(url, "UPDATE leads SET next_callable_at = now() WHERE account_id = "
                           "(SELECT id FROM accounts WHERE reference = 'R0')"))
    stdout, stderr = dialer.communicate(timeout=240)
    assert dialer.returncode == 0, stderr
    after = asyncio.run(snapshot(url))

    # Every attempt is still there, on the phone row it dialed; every call
    # and event, every no_interaction row.
    for attempt_id, attempt in before["attempts"].items():
        kept = after["attempts"][attempt_id]
        assert {k: kept[k] for k in ("account_id", "phone_id", "number", "started_at")} == \
            {k: attempt[k] for k in ("account_id", "phone_id", "number", "started_at")}
        if attempt["result"] is not None:
            assert kept["result"] == attempt["result"]
    assert before["calls"] <= after["calls"] and before["events"] <= after["events"]
    assert before["no_interaction"] <= after["no_interaction"]
    # The gate's facts: every account's attempts up to the snapshot, with
    # their results: the Reg F counts and the 72-hour rule's abandons.
    for reference, history in before["history"].items():
        kept = {a for a in after["history"][reference] if a.started_at <= before["at"]}
        assert {a.started_at for a in kept} == {a.started_at for a in history}, reference
        assert {a for a in history if a.result is not None} <= kept, reference
        assert len([a for a in kept if a.started_at > before["at"] - REG_F_WINDOW]) == \
            len([a for a in history if a.started_at > before["at"] - REG_F_WINDOW])

    # The old numbers are retired, never dialed afterwards; R0 was dialed,
    # on the phone it has left.
    retired = asyncio.run(fetch(url, "SELECT number, retired_at FROM phones "
                                     "WHERE retired_at IS NOT NULL ORDER BY number"))
    assert [r["number"] for r in retired] == sorted([old_number, removed])
    late = asyncio.run(fetch(url, "SELECT a.number FROM attempts a JOIN phones p "
                                  "ON p.id = a.phone_id WHERE p.retired_at IS NOT NULL "
                                  "AND a.started_at >= p.retired_at"))
    assert late == []
    r0 = [a for a in after["attempts"].values() if references[a["account_id"]] == "R0"]
    assert r0 and {a["number"] for a in r0} == {phones[0][0]}, (r0, stdout)


def test_a_hostile_file_through_the_command(lab_config, fresh_database, tmp_path):
    data, bad = hostile_file(3200)
    path = tmp_path / "hostile.csv"
    path.write_bytes(data)
    env = {"RECOBRO_ENV_FILE": str(lab_config.env_file), "DATABASE_URL": fresh_database}
    started = datetime.now(UTC)
    strict = run_cli("accounts", "import", str(path), "--strict", **env)
    assert strict.returncode == 1 and "Traceback" not in strict.stderr, strict.stderr
    assert [line.split(":")[0] for line in strict.stdout.splitlines()[1:]] == \
        [f"  line {n}" for n in sorted(bad)]
    result = run_cli("accounts", "import", str(path), **env)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == (f"imported {3200 - len(bad)} account(s) ({3200 - len(bad)} new, 0 "
                        f"updated); {len(bad)} row(s) quarantined in batch 1")
    for line, reason in sorted(bad.items()):
        assert any(shown.startswith(f"  line {line}: {reason}") for shown in lines), (line, lines)
    quarantine = run_cli("accounts", "quarantine", **env)
    assert quarantine.returncode == 0 and len(quarantine.stdout.splitlines()) == len(bad)
    assert (datetime.now(UTC) - started).total_seconds() < 60
