"""`recobro bench bridge`: against the lab's real Asterisk, the time from a
debtor's answer (Asterisk's clock) to the agent's bridge, over 200 answered
calls of a progressive campaign (a free agent waits for every call, so the
figure is the connection path itself: reserve an agent in PostgreSQL, call
the agent's auto-answering softphone over ARI, bridge). Writes bridge.json
and bridge.md; prints the table."""

from __future__ import annotations

import asyncio
import json
import statistics
from datetime import UTC, datetime
from pathlib import Path

from dialer.agents.store import AgentStore
from dialer.errors import ConfigError
from dialer.outbound.commands import build_campaign
from dialer.outbound.dialer import CampaignDialer
from dialer.outbound.lifecycles import CampaignAction
from dialer.outbound.store import CampaignStore
from dialer.portfolio.importer import import_file
from dialer.portfolio.importing import ImportDefaults
from dialer.portfolio.store import AccountStore
from dialer.settings import Settings
from dialer.store.database import open_pool

CALLS = 200
DEBTOR_STAYS = "01"  # seconds each debtor talks (lab number plan: B=1, PP=01)


def _write_accounts(path: Path, prefix: str, count: int) -> None:
    lines = ["reference,debtor_name,balance,days_past_due,phone1,client_segment"]
    for i in range(count):
        lines.append(f"{prefix}{i},Debtor {i},100,10,+12125{i // 10:02d}1{DEBTOR_STAYS}{i % 10},"
                     f"{prefix}")
    path.write_text("\n".join(lines) + "\n")


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def _run(settings: Settings, out_dir: Path) -> dict:
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    prefix = f"BR{stamp}-"
    path = out_dir / "bridge-accounts.csv"
    _write_accounts(path, prefix, CALLS)
    pool = await open_pool(settings.database_url)
    try:
        outcome = await import_file(AccountStore(pool), path, {}, ImportDefaults())
        if outcome.errors:
            raise ConfigError(f"bench accounts did not import: {outcome.errors[:3]}")
        path.unlink()
        await AgentStore(pool).log_in_everyone(datetime.now(UTC))
        agents = await pool.fetchval("SELECT count(*) FROM agents WHERE state <> 'logged_out'")
        campaign = build_campaign(
            f"bridge-{stamp}", "progressive", ratio=1.0, abandon_target=0.03,
            caller_id=settings.caller_id, window="00:00-23:59", ring_timeout_s=10, wrap_up_s=0,
            early_max_dpd=30, mid_max_dpd=90, segments="early,mid,late", strategies=None,
            portfolio=prefix)
        campaigns = CampaignStore(pool)
        campaign_id = await campaigns.create(campaign)
        await campaigns.steer(campaign.name, CampaignAction.START)
        dialer = await CampaignDialer.start(settings, campaign.name)
        try:
            while await pool.fetchval("SELECT count(*) FROM attempts WHERE campaign_id = $1 "
                                      "AND result IS NOT NULL", campaign_id) < CALLS:
                await dialer.run(seconds=5.0)
                if not await pool.fetchval("SELECT count(*) FROM leads WHERE campaign_id = $1 "
                                           "AND state IN ('ready', 'dialing') "
                                           "AND next_callable_at <= now()", campaign_id):
                    break
        finally:
            await campaigns.steer(campaign.name, CampaignAction.STOP)
            await dialer.close()
        rows = await pool.fetch(
            "SELECT result, extract(epoch FROM connected_at - answered_at) AS bridge "
            "FROM attempts WHERE campaign_id = $1", campaign_id)
    finally:
        await pool.close()
    bridges = [float(r["bridge"]) * 1000 for r in rows if r["bridge"] is not None]
    results: dict[str, int] = {}
    for row in rows:
        results[row["result"]] = results.get(row["result"], 0) + 1
    return {
        "calls": len(rows), "agents": agents, "results": results, "bridged": len(bridges),
        "answer_to_bridge_ms": {
            "median": round(statistics.median(bridges), 1),
            "p90": round(_percentile(bridges, 0.90), 1),
            "p99": round(_percentile(bridges, 0.99), 1),
            "max": round(max(bridges), 1), "min": round(min(bridges), 1),
        } if bridges else None,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def table(report: dict) -> str:
    ms = report["answer_to_bridge_ms"]
    return "\n".join([
        "| measure | figure |", "| --- | ---: |",
        f"| answered calls bridged to an agent | {report['bridged']} of {report['calls']} |",
        f"| answer to bridge, median | {ms['median']} ms |",
        f"| answer to bridge, p90 / p99 / max | {ms['p90']} / {ms['p99']} / {ms['max']} ms |",
    ])


def bench_bridge(settings: Settings, out_dir: Path) -> int:
    """Run the bridge benchmark, write bridge.json and bridge.md."""
    out_dir.mkdir(parents=True, exist_ok=True)
    report = asyncio.run(_run(settings, out_dir))
    if report["answer_to_bridge_ms"] is None:
        raise ConfigError(f"no call was bridged: {report['results']}; are the lab's agents "
                          "registered? (`recobro lab status`)")
    (out_dir / "bridge.json").write_text(json.dumps(report, indent=2))
    text = table(report)
    (out_dir / "bridge.md").write_text(text + "\n")
    print(text)
    print(f"wrote {out_dir / 'bridge.json'} and bridge.md")
    return 0
