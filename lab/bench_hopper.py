"""`recobro bench hopper`: import speed (100,000 CSV rows, first import and
re-import) and hopper claim latency (1,000 leads claimed through the
compliance gate out of 1,000,000 accounts), on the lab's PostgreSQL in a
database of its own. Writes hopper.json and hopper.md; prints the table."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from dialer.outbound import claiming
from dialer.outbound.commands import build_campaign
from dialer.outbound.store import CampaignStore
from dialer.portfolio.importer import import_file
from dialer.portfolio.importing import ImportDefaults
from dialer.portfolio.model import Campaign, DialMode, Segment
from dialer.portfolio.store import AccountStore
from lab.bench_db import BenchDatabase

IMPORT_ROWS = 100_000
ACCOUNTS = 1_000_000
CLAIM = 1_000
CLAIM_ROUNDS = 15
ZONES = {"America/New_York": "212", "America/Chicago": "312", "America/Denver": "303",
         "America/Los_Angeles": "213"}
# Noon in New York on a Tuesday: every US zone is inside its window.
NOW = datetime(2026, 11, 24, 17, 0, tzinfo=UTC)
# Accounts made by SQL: 1 in 20 paid, 1 in 50 numbers on the DNC list, so
# the gate has refusals to record as it would in a real portfolio.
_MAKE_ACCOUNTS = """
INSERT INTO accounts (reference, debtor_name, balance, currency, days_past_due, risk_score,
                      language, status)
SELECT 'B' || i, 'Debtor ' || i, (i % 5000) + 10.5, 'USD', i % 240, (i % 100) / 100.0,
       CASE WHEN i % 2 = 0 THEN 'es' ELSE 'en' END,
       CASE WHEN i % 20 = 0 THEN 'paid' ELSE 'active' END
FROM generate_series(1, $1) AS i
"""
_MAKE_PHONES = """
INSERT INTO phones (account_id, position, number, kind, sms_capable, consent, region, time_zones)
SELECT a.id, 1, '+1' || (ARRAY['212', '312', '303', '213'])[1 + a.id % 4]
                || lpad((2000000 + a.id)::text, 7, '0'),
       'mobile', true, true, 'US',
       ARRAY[(ARRAY['America/New_York', 'America/Chicago', 'America/Denver',
                    'America/Los_Angeles'])[1 + a.id % 4]]
FROM accounts a
"""
_MAKE_DNC = ("INSERT INTO do_not_call (number, reason) "
             "SELECT number, 'dnc' FROM phones WHERE account_id % 50 = 7 ON CONFLICT DO NOTHING")


def _write_csv(path: Path, rows: int) -> None:
    codes = list(ZONES.values())
    with path.open("w") as handle:
        handle.write("reference,debtor_name,balance,days_past_due,risk_score,language,phone1\n")
        for i in range(rows):
            handle.write(f"I{i},Debtor {i},{10 + i % 5000}.25,{i % 240},0.{i % 10},"
                         f"{'es' if i % 2 else 'en'},+1{codes[i % 4]}{3000000 + i:07d}\n")


async def _bench_import(pool: asyncpg.Pool, work: Path) -> dict:
    path = work / "import.csv"
    _write_csv(path, IMPORT_ROWS)
    store = AccountStore(pool)
    timings = {}
    for run in ("first import", "re-import"):
        started = time.perf_counter()
        outcome = await import_file(store, path, {}, ImportDefaults())
        seconds = time.perf_counter() - started
        assert outcome.report is not None and not outcome.errors
        timings[run] = {"seconds": round(seconds, 2), "rows_per_s": round(IMPORT_ROWS / seconds)}
    await pool.execute("TRUNCATE accounts, import_batches CASCADE")
    return timings


async def _claim_once(pool: asyncpg.Pool, campaign: Campaign,
                      dialer_id: uuid.UUID) -> tuple[float, int, int]:
    """One claim of CLAIM leads, by the code the dialer's tick runs
    (claiming.claim: lock, hold, read the gate's facts, decide, set refusals
    aside); then the leads are put back so every round sees the same
    hopper."""
    zones = list(ZONES)
    started = time.perf_counter()
    async with pool.acquire() as connection, connection.transaction():
        claim = await claiming.claim(connection, campaign, dialer_id,
                                     ((CLAIM, list(Segment)),), zones, [0.25] * len(zones), NOW)
    seconds = time.perf_counter() - started
    await pool.execute("UPDATE leads SET state = 'ready', dialer_id = NULL "
                       "WHERE campaign_id = $1 AND state = 'dialing'", campaign.id)
    return seconds, len(claim.allowed), len(claim.refused)


async def _bench_claims(pool: asyncpg.Pool) -> dict:
    started = time.perf_counter()
    await pool.execute(_MAKE_ACCOUNTS, ACCOUNTS)
    await pool.execute(_MAKE_PHONES)
    await pool.execute(_MAKE_DNC)
    await pool.execute("ANALYZE")
    load_s = time.perf_counter() - started
    campaigns = CampaignStore(pool)
    campaign = build_campaign("bench", DialMode.PREDICTIVE.value, ratio=2.0, abandon_target=0.03,
                              caller_id="+15550100000", window="us", ring_timeout_s=25,
                              wrap_up_s=5, early_max_dpd=30, mid_max_dpd=90,
                              segments="early,mid,late", strategies=None)
    campaign_id = await campaigns.create(campaign)
    started = time.perf_counter()
    await campaigns.refresh_leads(campaign_id)
    refresh_s = time.perf_counter() - started
    await pool.execute("ANALYZE leads")
    leads = await pool.fetchval("SELECT count(*) FROM leads")
    dialer_id = uuid.uuid4()
    await pool.execute("INSERT INTO dialers (id, campaign_id, pid) VALUES ($1, $2, 0)",
                       dialer_id, campaign_id)
    stored = await campaigns.load(campaign.name)
    rounds = [await _claim_once(pool, stored, dialer_id) for _ in range(CLAIM_ROUNDS)]
    times = sorted(r[0] for r in rounds)
    return {
        "accounts": ACCOUNTS, "leads": leads, "claim": CLAIM, "rounds": CLAIM_ROUNDS,
        "load_accounts_s": round(load_s, 1), "refresh_leads_s": round(refresh_s, 1),
        "claim_ms_median": round(statistics.median(times) * 1000, 1),
        "claim_ms_p90": round(times[int(0.9 * (len(times) - 1))] * 1000, 1),
        "claim_ms_min": round(times[0] * 1000, 1),
        "allowed_first_round": rounds[0][1], "refused_first_round": rounds[0][2],
    }


def table(report: dict) -> str:
    imp, claims = report["import"], report["claims"]
    lines = [
        "| measure | figure |", "| --- | ---: |",
        (f"| import {IMPORT_ROWS:,} CSV rows (new accounts) | {imp['first import']['seconds']} s "
        f"({imp['first import']['rows_per_s']:,} rows/s) |"),
        (f"| re-import of the same rows (updates) | {imp['re-import']['seconds']} s "
        f"({imp['re-import']['rows_per_s']:,} rows/s) |"),
        (f"| leads drawn from {claims['accounts']:,} accounts (refresh) | "
        f"{claims['refresh_leads_s']} s for {claims['leads']:,} leads |"),
        (f"| claim {claims['claim']:,} leads through the gate, median of {claims['rounds']} | "
        f"{claims['claim_ms_median']} ms (p90 {claims['claim_ms_p90']} ms, "
        f"min {claims['claim_ms_min']} ms) |"),
    ]
    return "\n".join(lines)


async def _run(database_url: str, work: Path) -> dict:
    with BenchDatabase(database_url) as url:
        pool = await asyncpg.create_pool(url, min_size=1, max_size=4)
        try:
            return {"import": await _bench_import(pool, work),
                    "claims": await _bench_claims(pool)}
        finally:
            await pool.close()


def bench_hopper(database_url: str, out_dir: Path) -> int:
    """Run the hopper benchmark, write hopper.json and hopper.md."""
    out_dir.mkdir(parents=True, exist_ok=True)
    report = asyncio.run(_run(database_url, out_dir))
    report["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version()}
    report["when"] = datetime.now(UTC).isoformat(timespec="seconds")
    (out_dir / "hopper.json").write_text(json.dumps(report, indent=2))
    text = table(report)
    (out_dir / "hopper.md").write_text(text + "\n")
    print(text)
    print(f"wrote {out_dir / 'hopper.json'} and hopper.md")
    (out_dir / "import.csv").unlink(missing_ok=True)
    return 0
