"""`recobro bench messages`: how many messages per second the sender
renders and hands to the lab's Kannel, from an outbox of 100,000 due
messages (one per account), in a database of its own in the lab's
PostgreSQL. Each run is the real command, `recobro messages run --once`,
timed from its start to its end (the process's start-up included); then
how many texts the fake SMSC received. Writes messages.json and
messages.md; prints the table."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from dialer.messages import store
from dialer.messages.callbacks import serve
from dialer.messages.model import Channel, Trigger
from dialer.messages.templates import TemplateKey
from dialer.settings import load_message_channel_settings, read_env_file
from lab import kannel
from lab.bench_db import BenchDatabase
from lab.config import LabConfig

MESSAGES = 100_000
GOAL_PER_S = 500
TEMPLATE = ("Hola {{ first_name }}: su saldo es {{ balance }}. Pague en {{ payment_link }} "
            "{{ opt_out }}")
_MAKE_ACCOUNTS = """
INSERT INTO accounts (reference, debtor_name, balance, currency, days_past_due, risk_score,
                      language, time_zone)
SELECT 'M' || i, 'Deudor ' || i, (i % 5000) + 10.5, 'USD', 10, 0.5, 'es', 'America/New_York'
FROM generate_series(1, $1) AS i
"""
_MAKE_PHONES = """
INSERT INTO phones (account_id, position, number, kind, sms_capable, consent, region, time_zones)
SELECT id, 1, '+1212' || lpad(id::text, 7, '0'), 'mobile', true, true, 'US',
       ARRAY['America/New_York'] FROM accounts
"""
_MAKE_MESSAGES = """
INSERT INTO messages (account_id, campaign_id, trigger, channel, idempotency_key)
SELECT a.id, $1, 'no_interaction', 'sms', 'bench:' || a.id FROM accounts a
"""


async def _fill(url: str, count: int) -> None:
    """count accounts, each with one due silent-hang-up text; the campaign
    sends at any hour and caps nothing the bench would meet."""
    pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
    try:
        campaign = await pool.fetchval(
            "INSERT INTO campaigns (name, dial_mode, caller_id, window_profile, "
            "messages_per_day, messages_per_week) VALUES ('bench', 'progressive', "
            "'+15550100000', '00:00-24:00', 100, 700) RETURNING id")
        await store.save_template(pool, TemplateKey("bench", "", Trigger.NO_INTERACTION,
                                                    Channel.SMS, "es"), TEMPLATE, None)
        await pool.execute(_MAKE_ACCOUNTS, count)
        await pool.execute(_MAKE_PHONES)
        await pool.execute(_MAKE_MESSAGES, campaign)
        await pool.execute("ANALYZE")
    finally:
        await pool.close()


async def _statuses(url: str) -> dict[str, int]:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch("SELECT status, count(*) FROM messages GROUP BY status")
    finally:
        await connection.close()
    return {r["status"]: r["count"] for r in rows}


async def _take_last_reports(cfg: LabConfig, url: str, handed: int,
                             quiet_s: float = 15.0) -> None:
    """Listen for Kannel's delivery reports as the senders did until every
    handed text has its final one, or none came for quiet_s."""
    callback = load_message_channel_settings(read_env_file(cfg.env_file)).callback
    pool = await asyncpg.create_pool(url, min_size=1, max_size=4)
    try:
        runner = await serve(pool, callback.host, callback.port, callback.token)
        try:
            final, since = -1, time.monotonic()
            while time.monotonic() - since < quiet_s:
                now_final = await pool.fetchval(
                    "SELECT count(*) FROM messages WHERE delivery_code IN (1, 2, 16)")
                if now_final >= handed:
                    break
                if now_final != final:
                    final, since = now_final, time.monotonic()
                await asyncio.sleep(0.5)
        finally:
            await runner.cleanup()
    finally:
        await pool.close()


def _one_run(cfg: LabConfig, database_url: str, count: int, senders: int) -> dict:
    """One run: the outbox filled, then senders processes of `recobro
    messages run --once` at once (sharing it by SKIP LOCKED; the first
    listens for Kannel's reports), timed from the first start to the last
    end."""
    with BenchDatabase(database_url) as url:
        asyncio.run(_fill(url, count))
        before = len(kannel.received(cfg))
        env = {**os.environ, "DATABASE_URL": url}
        command = [sys.executable, "-m", "dialer.cli", "messages", "run", "--once"]
        started = time.perf_counter()
        processes = [subprocess.Popen(command + (["--no-listen"] if i else []), env=env,
                                      stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True)
                     for i in range(senders)]
        ended = [(p, *p.communicate(timeout=3600)) for p in processes]
        seconds = time.perf_counter() - started
        for process, _, stderr in ended:
            if process.returncode != 0:
                raise RuntimeError(f"recobro messages run failed: {stderr.strip()[-500:]}")
        statuses = asyncio.run(_statuses(url))
        handed = sum(statuses.get(s, 0) for s in ("sent", "delivered", "undelivered"))
        # Kannel's last reports are taken in at once, not left to its
        # retries (a backlog that holds up the next user's replies).
        asyncio.run(_take_last_reports(cfg, url, handed))
        # The fake SMSC drains Kannel's queue after the sender is done.
        deadline = time.monotonic() + 120
        while len(kannel.received(cfg)) - before < handed and time.monotonic() < deadline:
            time.sleep(1)
        statuses = asyncio.run(_statuses(url))
        return {"messages": count, "senders": senders, "handed_to_kannel": handed,
                "seconds": round(seconds, 1),
                "per_s": round(handed / seconds), "statuses": statuses,
                "received_by_fakesmsc": len(kannel.received(cfg)) - before}


def table(report: dict) -> str:
    header = ("| run | senders | messages | handed to Kannel | seconds | messages/s | "
              "fakesmsc received |")
    lines = [header, "| --- | --- | --- | --- | --- | --- | --- |"]
    for i, run in enumerate(report["runs"], 1):
        lines.append(f"| {i} | {run['senders']} | {run['messages']} | "
                     f"{run['handed_to_kannel']} | "
                     f"{run['seconds']} | {run['per_s']} | {run['received_by_fakesmsc']} |")
    for senders, median in report["median_per_s"].items():
        runs = sum(1 for r in report["runs"] if str(r["senders"]) == senders)
        lines.append(f"\n{senders} sender(s): median {median} messages/s over {runs} run(s) "
                     f"(goal: {GOAL_PER_S}/s).")
    return "\n".join(lines)


def bench_messages(cfg: LabConfig, database_url: str, out_dir: Path, runs: int,
                   count: int = MESSAGES, senders: tuple[int, ...] = (1,)) -> int:
    """Run the messages benchmark runs times with each number of senders
    (runs alternate between them); write messages.json and messages.md."""
    results = []
    for i in range(runs):
        for n in senders:
            print(f"run {i + 1}/{runs}, {n} sender(s): {count} messages...", flush=True)
            results.append(_one_run(cfg, database_url, count, n))
            print(f"  {results[-1]['per_s']} messages/s", flush=True)
    report = {"when": datetime.now(UTC).isoformat(timespec="seconds"),
              "machine": f"{platform.machine()}, {os.cpu_count()} cores",
              "runs": results,
              "median_per_s": {str(n): round(statistics.median(
                  r["per_s"] for r in results if r["senders"] == n)) for n in senders}}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "messages.json").write_text(json.dumps(report, indent=2))
    text = table(report)
    (out_dir / "messages.md").write_text(text + "\n")
    print(text)
    print(f"wrote {out_dir / 'messages.json'} and messages.md")
    return 0
