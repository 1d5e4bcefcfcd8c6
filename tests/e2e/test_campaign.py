"""Campaigns end to end against the lab: the real Asterisk, the sipp PSTN
and the sipp agents' softphones, a fresh PostgreSQL database, and the
`recobro` command as an operator runs it."""

from __future__ import annotations

import asyncio
import json
import math
import re
import signal
import subprocess
import time
import uuid
from collections import Counter
from dataclasses import astuple
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from dialer.calls.outcome import AttemptResult
from dialer.compliance.windows import is_open, window_for
from dialer.outbound.history import event_of
from dialer.outbound.results import AGENT_DEADLINE, unanswered_result
from ivr import machine_message, safe_harbour
from lab import prometheus, sipp
from lab.asterisk_log import Cause
from lab.demo import (
    ZONES,
    portfolio_changes_mid_campaign,
    window_open_now,
    write_demo_accounts,
)
from lab.prompts import recording_path
from pacing.model import DialResult, WrapUpEnded
from pacing.timeline import CallMoments, heard
from tests.audio import capture_lab, received, sent
from tests.e2e.cli import cli_env, run_cli
from tests.e2e.sounds import reference

pytestmark = pytest.mark.lab

def cli(lab_config, database_url: str, *args: str, timeout: float = 60):
    result = run_cli(*args, timeout=timeout, RECOBRO_ENV_FILE=str(lab_config.env_file),
                     DATABASE_URL=database_url)
    assert result.returncode == 0, result.stderr
    return result


def start_dialer(lab_config, database_url: str, name: str, seconds: int,
                 log: Path | None = None) -> subprocess.Popen:
    """`recobro campaign run name --for seconds`; with log, logging at DEBUG
    into that file (its stderr)."""
    env = cli_env(RECOBRO_ENV_FILE=str(lab_config.env_file), DATABASE_URL=database_url)
    if log is not None:
        env["RECOBRO_LOG_LEVEL"] = "DEBUG"
    return subprocess.Popen(
        ["recobro", "campaign", "run", name, "--for", str(seconds)], env=env,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE if log is None else log.open("w"), text=True)


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


def assert_one_attempt_per_account(attempts) -> None:
    """No account was dialed twice; if one was, its attempts say how."""
    by_account: dict[int, list] = {}
    for a in attempts:
        by_account.setdefault(a["account_id"], []).append(a)
    twice = {account: [(str(a["id"]), a["result"], a["call_outcome"], str(a["started_at"]),
                        str(a["dialer_id"])) for a in rows]
             for account, rows in by_account.items() if len(rows) > 1}
    assert not twice, twice


PACING_HEARD = """
SELECT h.kind, h.at, h.since, h.result, h.heard_at FROM pacing_heard h ORDER BY h.id
"""
# A call's dial is the engine's (calls.originated_at), a moment after the attempt began.
MOMENTS = """
SELECT k.originated_at, a.answered_at, a.verdict_at, a.amd_status, a.connected_at, a.ended_at,
       a.result
FROM attempts a JOIN calls k ON k.id = a.id WHERE a.result IS NOT NULL
"""


def recorded_moments(attempts, epoch: datetime) -> list[CallMoments]:
    """Each call's moments as PostgreSQL recorded them (attempts), on
    pacing's clock; a wrap-up's end is not in them."""
    def t(moment: datetime) -> float:
        return (moment - epoch).total_seconds()

    moments = []
    for a in attempts:
        dialed = t(a["originated_at"])
        if a["answered_at"] is None:
            ended = t(a["ended_at"])
            result = unanswered_result(AttemptResult(a["result"]))
            moments.append(CallMoments(dialed, ended, result))
            continue
        answered = t(a["verdict_at"] if a["amd_status"] else a["answered_at"])
        machine = a["result"] == "machine"
        call = CallMoments(dialed, answered, DialResult.MACHINE if machine else DialResult.LIVE,
                           answered_at=answered)
        if a["connected_at"] is not None:
            call.connected_at = call.talk_started_at = t(a["connected_at"])
            call.talk_ended_at = max(t(a["ended_at"]), call.connected_at)
        elif a["result"] == "abandoned":
            call.abandoned_at = answered + AGENT_DEADLINE.total_seconds()
        moments.append(call)
    return moments


def in_ms(event) -> tuple:
    """An event with its times to the millisecond (PostgreSQL keeps microseconds)."""
    return (type(event).__name__,
            *(round(v, 3) if isinstance(v, float) else v for v in astuple(event)))


def call_of(attempts, moment: datetime):
    """The attempt of the call dialed or answered at that moment."""
    for a in attempts:
        for began in (a["originated_at"], a["answered_at"], a["verdict_at"]):
            if began is not None and abs((began - moment).total_seconds()) < 0.001:
                return a
    raise AssertionError(f"no call dialed or answered at {moment}")


REORDERED_S = 1.0


def assert_pacing_heard_each_outcome_as_it_happened(database_url: str, wrap_up_s: float):
    """What the live policy heard (pacing_heard, in the order heard) is what
    the simulator's policy would hear of the same calls (pacing.timeline,
    from the moments PostgreSQL recorded of each call): the same events at
    the same times, in the same order (but for outcomes under REORDERED_S
    apart); it heard the answer, the connection and the abandon while the
    call was still going on, and nothing before it happened."""
    rows = asyncio.run(fetch(database_url, PACING_HEARD))
    attempts = asyncio.run(fetch(database_url, MOMENTS))
    epoch = min(a["originated_at"] for a in attempts)
    live = [event_of((r["kind"], r["at"], r["since"], r["result"]), epoch) for r in rows]
    expected = heard(recorded_moments(attempts, epoch))
    got = [in_ms(e) for e in live if not isinstance(e, WrapUpEnded)]
    assert Counter(got) == Counter(in_ms(e) for e in expected)  # same events, same times
    # In the same order, but for outcomes less than REORDERED_S apart: each
    # is heard when the dialer learns it (an answer when its flow starts,
    # a connection when the bridge is up), and calls run side by side.
    later = float("inf")
    for event in reversed(live):
        assert event.at <= later + REORDERED_S, (event, later)
        later = min(later, event.at)
    for row in rows:
        # Never from the future (an abandon's deadline runs on the loop's
        # monotonic clock, its moment on the wall clock: a few ms apart).
        assert (row["heard_at"] - row["at"]).total_seconds() > -0.05, dict(row)
        if row["kind"] in ("connected", "abandoned") or row["result"] == "live":
            call = call_of(attempts, row["since"])
            # (A debtor who hung up at once may be gone before the flow heard the answer.)
            if call["result"] in ("conversation", "abandoned"):
                assert row["heard_at"] < call["ended_at"], dict(row)  # during the call
    talk_ends = {r["at"] for r in rows if r["kind"] == "talk_ended"}
    wraps = [r for r in rows if r["kind"] == "wrap_up_ended"]
    assert len(wraps) <= len(talk_ends)  # the last ones may end after the dialer stopped
    for wrap in wraps:  # each after a talk, its timer's length at least
        assert wrap["since"] in talk_ends
        assert (wrap["at"] - wrap["since"]).total_seconds() >= wrap_up_s - 0.05


# The portfolio's changes hit accounts by id, wherever the hopper reaches
# them: on a loaded machine a 40 s run claimed none of those put on the DNC
# list. So each zone's first lead in the hopper's order (as the claim ranks
# them) goes on the DNC list too, and its second opts out: whichever zones
# are open, the gate meets both.
FIRST_IN_EACH_ZONE_REFUSED = """
WITH ranked AS (
    SELECT l.account_id, row_number() OVER (PARTITION BY l.time_zone
                                            ORDER BY l.priority DESC, l.value DESC) AS n
    FROM leads l JOIN accounts c ON c.id = l.account_id
    WHERE l.state = 'ready' AND c.status = 'active'
      AND NOT EXISTS (SELECT 1 FROM do_not_call d WHERE d.reference = c.reference)
      AND NOT EXISTS (SELECT 1 FROM phones p JOIN do_not_call d ON d.number = p.number
                      WHERE p.account_id = c.id)),
dnc AS (
    INSERT INTO do_not_call (number, reason)
    SELECT p.number, 'dnc' FROM ranked r JOIN phones p ON p.account_id = r.account_id
    WHERE r.n = 1 ON CONFLICT DO NOTHING)
INSERT INTO do_not_call (reference, reason)
SELECT c.reference, 'opt_out' FROM ranked r JOIN accounts c ON c.id = r.account_id
WHERE r.n = 2 ON CONFLICT DO NOTHING
"""


def test_a_campaign_dials_only_who_may_be_called(lab_config, fresh_database, tmp_path):
    url = fresh_database
    prepare(lab_config, url, tmp_path, "e2e", 520)
    asyncio.run(fetch(url, FIRST_IN_EACH_ZONE_REFUSED))
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
    assert_one_attempt_per_account(attempts)  # no retry due within the run
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
    shown = cli(lab_config, url, "campaign", "status", "e2e").stdout
    assert "conversation" in shown and "account_status" in shown
    leads = {row["state"]: row["count"] for row in asyncio.run(fetch(
        url, "SELECT state, count(*) FROM leads GROUP BY 1"))}
    assert f"dialing 0, done {leads.get('done', 0)}" in shown, shown
    live = sum(1 for a in attempts if a["result"] in ("conversation", "hung_up", "abandoned"))
    assert "abandon rate: 24 h: " in shown and f"of {live} live answers" in shown, shown
    assert_pacing_heard_each_outcome_as_it_happened(url, wrap_up_s=1)
    kinds = {r["kind"] for r in asyncio.run(fetch(url, "SELECT kind FROM pacing_heard"))}
    assert {"resolved", "connected", "talk_ended", "wrap_up_ended"} <= kinds


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
    assert_one_attempt_per_account(attempts)
    assert all(a["result"] is not None for a in attempts)


WARMED = re.compile(r"pacing: (\d+) outcome\(s\) of the campaign's history read back")
ELSEWHERE = re.compile(r"pacing: (\d+) outcome\(s\) heard from the campaign's other dialers; "
                       r"the regulator's window: (\d+) live answer\(s\), (\d+) abandoned")


def wait_for(database_url: str, query: str, what: str, timeout_s: float = 90) -> None:
    """Poll until the query's one value is true or non-zero (AssertionError
    naming what was not seen)."""
    deadline = time.monotonic() + timeout_s
    while not asyncio.run(fetch(database_url, query))[0][0]:
        assert time.monotonic() < deadline, f"no {what} within {timeout_s:g} s"
        time.sleep(0.3)


def test_two_dialers_pace_one_campaign_on_all_its_outcomes(lab_config, fresh_database, tmp_path):
    """Two dialers pace one predictive campaign, the second started once the
    first has kept outcomes: each policy heard every outcome the campaign's
    pacing kept (pacing_heard): the second's warm start, its own and the
    other's rows add up to all of them, each once; and both hold the
    campaign's regulator's window, what the attempts say: every live
    answer connected or abandoned."""
    url = fresh_database
    prepare(lab_config, url, tmp_path, "budget", 520)
    first = start_dialer(lab_config, url, "budget", 240)
    wait_for(url, "SELECT count(*) FROM pacing_heard WHERE kind = 'connected'",
             "outcome kept by the first dialer")
    second = start_dialer(lab_config, url, "budget", 240)
    wait_for(url, "SELECT count(DISTINCT dialer_id) = 2 FROM pacing_heard",
             "outcome kept by the second dialer")
    time.sleep(20)  # both dialing
    cli(lab_config, url, "campaign", "pause", "budget")
    # Every call ended and its outcomes kept (each dialer keeps and reads
    # every 0.5 s): then both stop, each reading the other's last rows.
    wait_for(url, "SELECT count(*) = 0 FROM attempts WHERE result IS NULL", "call left open")
    time.sleep(2)
    wait_for(url, "SELECT count(*) = 0 FROM attempts WHERE result IS NULL", "call left open")
    assert first.poll() is None and second.poll() is None, "a dialer stopped before the end"
    cli(lab_config, url, "campaign", "stop", "budget")
    printed = {}
    for process in (first, second):
        stdout, stderr = process.communicate(timeout=240)
        assert process.returncode == 0, stderr
        printed[process.pid] = stdout
    dialer_of = {r["pid"]: r["id"] for r in asyncio.run(fetch(url, "SELECT id, pid FROM dialers"))}
    rows = asyncio.run(fetch(url, "SELECT dialer_id, kind FROM pacing_heard"))
    own = Counter(r["dialer_id"] for r in rows)
    assert len(own) == 2
    live = sum(r["kind"] in ("connected", "abandoned") for r in rows)
    abandoned = sum(r["kind"] == "abandoned" for r in rows)
    attempts = asyncio.run(fetch(url, ATTEMPTS))
    assert live == sum(a["connected_at"] is not None or a["result"] == "abandoned"
                       for a in attempts) > 0
    assert abandoned == sum(a["result"] == "abandoned" for a in attempts)
    warmed = {}
    for pid, stdout in printed.items():
        warmed[pid] = int(WARMED.search(stdout)[1])
        heard = ELSEWHERE.search(stdout)
        assert heard, stdout
        elsewhere, window_live, window_abandoned = map(int, heard.groups())
        # Its warm start, then the others' rows as they came, then its own:
        # every row of the campaign's pacing history once.
        assert warmed[pid] + elsewhere + own[dialer_of[pid]] == len(rows), stdout
        assert (window_live, window_abandoned) == (live, abandoned), stdout
    assert warmed[first.pid] == 0 < warmed[second.pid]  # the second read the first's back


def test_kill_9_mid_campaign_then_restart_loses_no_outcome(lab_config, fresh_database,
                                                           tmp_path):
    url = fresh_database
    prepare(lab_config, url, tmp_path, "crash", 520, stay="12")
    victim = start_dialer(lab_config, url, "crash", 120, tmp_path / "victim.log")
    deadline = time.monotonic() + 90
    in_flight: list = []
    while time.monotonic() < deadline:
        in_flight = asyncio.run(fetch(url, "SELECT id, connected_at FROM attempts "
                                           "WHERE result IS NULL"))
        kept = asyncio.run(fetch(url, "SELECT count(*) FROM pacing_state"))[0][0]
        if len(in_flight) >= 3 and any(a["connected_at"] for a in in_flight) and kept:
            break  # (and its pacing has kept some history: it does every 0.5 s)
        time.sleep(0.3)
    victim.send_signal(signal.SIGKILL)  # the process we started, by its own pid
    victim.communicate(timeout=30)
    assert len(in_flight) >= 3, "no calls in flight to kill"
    bridged = {a["id"] for a in in_flight if a["connected_at"]}
    # What the dead dialer's pacing heard, and its closed loop's last state.
    heard = asyncio.run(fetch(url, "SELECT count(*) FROM pacing_heard"))[0][0]
    log_lambda = asyncio.run(fetch(url, "SELECT log_lambda FROM pacing_state"))[0][0]
    assert heard > 0
    survivor = start_dialer(lab_config, url, "crash", 20, tmp_path / "survivor.log")
    stdout, _ = survivor.communicate(timeout=240)
    assert survivor.returncode == 0, (tmp_path / "survivor.log").read_text()[-3000:]
    assert "adopted" in stdout
    # The new dialer read it all back (warm start) instead of starting from zero.
    assert (f"pacing: {heard} outcome(s) of the campaign's history read back, closed loop "
            f"at lambda {math.exp(log_lambda):.4f}") in stdout, stdout
    attempts = asyncio.run(fetch(url, ATTEMPTS))
    for a in attempts:  # exactly one final outcome each, in both tables
        assert a["result"] is not None and a["call_state"] == "ended", dict(a)
        assert a["call_outcome"] is not None
    # Calls bridged to an agent when the dialer died stayed up and ended as
    # conversations, not as lost.
    results = {a["id"]: a["result"] for a in attempts}
    assert all(results[i] == "conversation" for i in bridged), {i: results[i] for i in bridged}
    assert_one_attempt_per_account(attempts)
    agents = asyncio.run(fetch(url, "SELECT state FROM agents"))
    assert {a["state"] for a in agents} <= {"ready", "wrap_up"}


def harbour_campaign(lab_config, url: str, tmp_path: Path, debtors: list[tuple[str, str]],
                     name: str = "harbour") -> None:
    """One agent, a ratio of 5 calls per free agent: most live answers find
    no agent. debtors: (number behaviour digits, language) of each account."""
    rows = ["reference,debtor_name,balance,days_past_due,phone1,language"]
    rows += [f"S{i},Debtor {i},100,10,+1212555{behaviour}{i % 10},{language}"
             for i, (behaviour, language) in enumerate(debtors)]
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("\n".join(rows) + "\n")
    cli(lab_config, url, "accounts", "import", str(accounts))
    cli(lab_config, url, "agent", "login", lab_config.agents[0].endpoint)
    cli(lab_config, url, "campaign", "create", name, "--mode", "ratio", "--ratio", "5",
        "--window", "00:00-24:00", "--ring-timeout", "6", "--wrap-up", "30")
    cli(lab_config, url, "campaign", "start", name)


def test_no_agent_in_time_plays_the_safe_harbour_message(lab_config, fresh_database,
                                                          tmp_path):
    """Answered debtors with no agent in time hear the whole safe-harbour
    message in their language (proved by what their phones received) and
    are counted abandoned; debtors who press 9 during it are opted out."""
    url = fresh_database
    # Even: answers and stays 30 s (the message lasts about 18); odd: answers
    # and keys 9 9 (then stays).
    harbour_campaign(lab_config, url, tmp_path, [
        ("130" if i % 2 == 0 else "699", "es" if i % 3 else "en") for i in range(12)])
    with capture_lab(lab_config, tmp_path / "harbour.pcap") as capture:
        cli(lab_config, url, "campaign", "run", "harbour", "--for", "8", timeout=240)
    heard = received(capture.path, lab_config.sip_port, lab_config.pstn_port)
    attempts = asyncio.run(fetch(url, ATTEMPTS.replace("a.number,", "a.number, c.language,")))
    abandoned = [a for a in attempts if a["result"] == "abandoned"]
    assert len(abandoned) >= 3, [a["result"] for a in attempts]
    kinds = {(r["call_id"], r["kind"]) for r in asyncio.run(fetch(
        url, "SELECT call_id, kind FROM call_events"))}
    opted_out = {r["reference"] for r in asyncio.run(fetch(
        url, "SELECT reference FROM do_not_call WHERE reason = 'opt_out'"))}
    for a in abandoned:
        assert a["agent"] is None and a["call_outcome"] == "answered"  # Recobro ended it
        assert (a["id"], "playback_failed") not in kinds
        assert (a["id"], "playback_finished") in kinds
        message = heard.by_number(a["number"]).match(
            reference(lab_config, safe_harbour.SOUND, a["language"], tmp_path))
        assert message.found(), (a["number"], a["language"], message)
        keys_nine = a["number"][-4] == "6"
        assert (a["reference"] in opted_out) == keys_nine
    assert opted_out <= {a["reference"] for a in abandoned}
    assert_pacing_heard_each_outcome_as_it_happened(url, wrap_up_s=30)


@pytest.mark.removes_recordings
def test_a_recording_asterisk_cannot_play_fails_loudly_and_falls_back(
        lab_config, fresh_database, tmp_path, asterisk_log):
    """With the safe-harbour recording removed (in both languages: Asterisk
    plays the English one when a language lacks it), `recobro sounds check`
    names it, each abandoned debtor's call records the failed playback and
    the fallback, and the debtor hears the callback number said digit by
    digit, not the message that is not there."""
    url = fresh_database
    recordings = [recording_path(lab_config, safe_harbour.SOUND, lang) for lang in ("es", "en")]
    recording = recordings[0]
    start = asterisk_log.offset()
    for path in recordings:
        path.rename(path.with_name(path.name + ".removed"))
    try:
        check = run_cli("sounds", "check", RECOBRO_ENV_FILE=str(lab_config.env_file))
        assert check.returncode == 2, check.stdout
        assert "recobro/safe-harbour in es/en (no agent within 2 s" in check.stderr
        harbour_campaign(lab_config, url, tmp_path, [("130", "es")] * 6, name="removed")
        with capture_lab(lab_config, tmp_path / "removed.pcap") as capture:
            cli(lab_config, url, "campaign", "run", "removed", "--for", "6", timeout=240)
        # Asterisk says so too, and the run's end-of-run check would name it.
        assert ("recobro/safe-harbour", Cause.MISSING) in {
            (f.sound, f.cause) for f in asterisk_log.unplayable(start)}
    finally:
        for path in recordings:
            path.with_name(path.name + ".removed").rename(path)
        asterisk_log.excuse(start, asterisk_log.offset())
    heard = received(capture.path, lab_config.sip_port, lab_config.pstn_port)
    abandoned = [a for a in asyncio.run(fetch(url, ATTEMPTS)) if a["result"] == "abandoned"]
    assert len(abandoned) >= 3
    events = asyncio.run(fetch(url, "SELECT call_id, kind, detail FROM call_events "
                                    "WHERE kind IN ('playback_failed', 'fallback_played')"))
    for a in abandoned:
        mine = {e["kind"]: json.loads(e["detail"]) for e in events if e["call_id"] == a["id"]}
        assert mine["playback_failed"]["media"] == f"sound:{safe_harbour.SOUND}"
        assert mine["fallback_played"]["media"] == "digits:15550100000"
        call = heard.by_number(a["number"])
        assert not call.match(recording).found()  # the audio check of the message fails
        assert call.match(reference(lab_config, "digits/5", "es", tmp_path)).found()
    restored = run_cli("sounds", "check", RECOBRO_ENV_FILE=str(lab_config.env_file))
    assert restored.returncode == 0, restored.stderr


def test_the_agent_hears_the_debtor_and_sees_who_is_calling(lab_config, fresh_database,
                                                            tmp_path):
    """The debtor answers with "¿Bueno?": the agent's phone rings showing the
    debtor's name and number, answers at once, and hears the greeting."""
    url = fresh_database
    agent = lab_config.agents[0]
    number = "+12125558051"  # a person's greeting, then 5 s on the line
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("reference,debtor_name,balance,days_past_due,phone1\n"
                        f"G1,Rosa Díaz,100,10,{number}\n")
    cli(lab_config, url, "accounts", "import", str(accounts))
    cli(lab_config, url, "agent", "login", agent.endpoint)
    cli(lab_config, url, "campaign", "create", "greet", "--mode", "progressive",
        "--window", "00:00-24:00", "--wrap-up", "0")
    cli(lab_config, url, "campaign", "start", "greet")
    with capture_lab(lab_config, tmp_path / "greet.pcap") as capture:
        cli(lab_config, url, "campaign", "run", "greet", "--for", "2", timeout=120)
    attempt = asyncio.run(fetch(url, ATTEMPTS))[0]
    assert attempt["result"] == "conversation" and attempt["agent"] == agent.endpoint
    agent_leg = received(capture.path, lab_config.sip_port, agent.sip_port).by_number(
        agent.endpoint)
    assert (agent_leg.caller_name, agent_leg.caller_user) == ("Rosa Díaz", number)
    said = sent(capture.path, lab_config.sip_port, lab_config.pstn_port).by_number(number)
    assert said.speech_seconds > 0.3  # the greeting left the debtor's phone
    greeting = agent_leg.match(said.audio)
    assert greeting.found(), greeting


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
    name = f"amd-{uuid.uuid4().hex[:8]}"  # the lab's Prometheus keeps earlier runs' series
    cli(lab_config, url, "campaign", "create", name, "--mode", "progressive", "--amd",
        "--machine-action", "leave_message", "--window", "00:00-24:00", "--wrap-up", "0")
    cli(lab_config, url, "campaign", "start", name)
    with capture_lab(lab_config, tmp_path / "amd.pcap") as capture:
        cli(lab_config, url, "campaign", "run", name, "--for", "25", timeout=240)
    heard = received(capture.path, lab_config.sip_port, lab_config.pstn_port)
    message = reference(lab_config, machine_message.SOUND, "es", tmp_path)
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
            assert heard.by_number(a["number"]).match(message).found()  # the machine got it
        else:
            assert (a["amd_status"], a["result"]) == ("HUMAN", "conversation"), dict(a)
            assert (a["connected_at"] - a["verdict_at"]).total_seconds() < 2.0
            assert a["verdict_at"] > a["answered_at"]
            assert a["id"] not in outbox
    # The dialer's metrics, as the lab's Prometheus scraped them: each
    # verdict, and each person's wait for an agent from the verdict.
    verdicts = prometheus.query(lab_config, "max_over_time(recobro_amd_verdicts_total"
                                            f'{{campaign="{name}"}}[10m])')
    assert {v["metric"]["verdict"]: float(v["value"][1]) for v in verdicts} \
        == {"machine": 4.0, "human": 4.0}
    waits = prometheus.query(lab_config, "max_over_time(recobro_answer_to_agent_seconds_bucket"
                                         f'{{campaign="{name}",le=~"2.0|.Inf"}}[10m])')
    assert {w["metric"]["le"]: float(w["value"][1]) for w in waits} == {"2.0": 4.0, "+Inf": 4.0}


def test_an_agent_softphone_that_vanishes_loses_no_call_record(lab_config, fresh_database,
                                                               tmp_path):
    """agent1001's softphone dies mid-call: the debtor's call still ends with
    its full record; the next call the agent cannot take is not lost either
    (the debtor hears the safe-harbour message) and the agent is paused with
    the reason, not tried again."""
    url = fresh_database
    agent = lab_config.agents[0]
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("reference,debtor_name,balance,days_past_due,phone1\n"
                        "V1,First,100,10,+12125001100\nV2,Second,100,10,+12125001101\n")
    cli(lab_config, url, "accounts", "import", str(accounts))
    cli(lab_config, url, "agent", "login", agent.endpoint)
    cli(lab_config, url, "campaign", "create", "vanish", "--mode", "progressive",
        "--window", "00:00-24:00", "--wrap-up", "0")
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
    states = asyncio.run(fetch(url, "SELECT state, pause_reason FROM agents "
                                    "WHERE endpoint = $1", agent.endpoint))
    assert (states[0]["state"], states[0]["pause_reason"]) in (
        ("paused", "missed_call"), ("paused", "unreachable")), dict(states[0])


def test_each_answered_debtor_reaches_an_agent_of_their_language(lab_config, fresh_database,
                                                                 tmp_path):
    """Five Spanish-speaking debtors and five English-speaking ones, one
    agent who speaks only Spanish and one only English, a progressive
    campaign paced by language pool: each person who answers is bridged to
    the agent of their language (that agent's phone rang showing the
    debtor's number) and nobody is abandoned. Paced as one team, two free
    agents would bring two debtors of whatever language came first, and the
    second of one language would find only the other agent free."""
    url = fresh_database
    spanish, english = lab_config.agents[0], lab_config.agents[1]
    # A person's greeting, then 10 s on the line (the PSTN's 810 behaviour).
    language = {f"+1212555810{i}": "es" if i % 2 else "en" for i in range(10)}
    rows = ["reference,debtor_name,balance,days_past_due,phone1,language"]
    rows += [f"L{i},Debtor {i},100,10,{number},{spoken}"
             for i, (number, spoken) in enumerate(language.items())]
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("\n".join(rows) + "\n")
    cli(lab_config, url, "accounts", "import", str(accounts))
    cli(lab_config, url, "agent", "skills", spanish.endpoint, "--skills", "language:es=5")
    cli(lab_config, url, "agent", "skills", english.endpoint, "--skills", "language:en=5")
    for agent in (spanish, english):
        cli(lab_config, url, "agent", "login", agent.endpoint)
    cli(lab_config, url, "campaign", "create", "langs", "--mode", "progressive",
        "--window", "00:00-24:00", "--wrap-up", "0")
    cli(lab_config, url, "campaign", "start", "langs")
    with capture_lab(lab_config, tmp_path / "langs.pcap") as capture:
        cli(lab_config, url, "campaign", "run", "langs", "--for", "40", timeout=240)
    attempts = asyncio.run(fetch(url, ATTEMPTS))
    results = Counter(a["result"] for a in attempts)
    assert results["abandoned"] == 0, [dict(a) for a in attempts]
    talked = [a for a in attempts if a["result"] == "conversation"]
    speaks = {spanish.endpoint: "es", english.endpoint: "en"}
    assert {language[a["number"]] for a in talked} == {"es", "en"}, results
    for a in talked:
        assert speaks[a["agent"]] == language[a["number"]], dict(a)
    for agent in (spanish, english):
        rung = received(capture.path, lab_config.sip_port, agent.sip_port).all_by_number(
            agent.endpoint)
        # This campaign's debtors only: a retransmitted INVITE of an earlier
        # test's call to a phone that test stopped can reach it once restarted.
        shown = {leg.caller_user for leg in rung} & language.keys()
        assert shown == {a["number"] for a in talked if a["agent"] == agent.endpoint}, shown
        assert {language[number] for number in shown} == {speaks[agent.endpoint]}
