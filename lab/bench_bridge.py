"""`recobro bench bridge`: against the lab's real Asterisk, the time from a
debtor's answer (Asterisk's clock) to the agent's bridge, over 200 answered
calls of a progressive campaign (a free agent waits for every call, so the
figure is the connection path itself), in two modes side by side:

- ringing: each answered debtor's agent is called (the sipp agents answer
  at once) and bridged to the debtor: reserve an agent in PostgreSQL, call
  the agent's softphone over ARI, bridge;
- sessions: each sipp agent's line is held open for the run (the lab's
  `recobro api` calls it once, it answers and stays up) and each debtor
  joins the agent's bridge after the short tone: reserve, tone, join.

From the bridge on the agent hears the debtor. `--runs R` repeats both
(interleaved, ringing first); the figures are medians over the runs. Writes
bridge.json, bridge.md and bridge.png (each call's figure, per run and
mode); prints the table."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import statistics
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from dialer.agents.commands import request_session
from dialer.agents.state import AgentAction, AgentState
from dialer.agents.store import AgentStore
from dialer.errors import ConfigError
from dialer.outbound.commands import build_campaign
from dialer.outbound.dialer import CampaignDialer
from dialer.outbound.lifecycles import CampaignAction
from dialer.outbound.store import CampaignStore
from dialer.portfolio.importer import import_file
from dialer.portfolio.importing import ImportDefaults
from dialer.portfolio.store import AccountStore
from dialer.process import started
from dialer.settings import Settings
from dialer.store.database import open_pool
from lab import sipp
from lab.config import LabConfig

CALLS = 200
DEBTOR_STAYS = "01"  # seconds each debtor talks (lab number plan: B=1, PP=01)
RINGING = "ringing"
SESSIONS = "sessions"
MODES = (RINGING, SESSIONS)
MODE_NAMES = {RINGING: "per-call ringing", SESSIONS: "sessions"}
# The sipp agents answer at once; the lab's API opens each session as the
# answered leg enters its Stasis application.
SESSIONS_OPEN_S = 10.0


def _write_accounts(path: Path, prefix: str, count: int) -> None:
    lines = ["reference,debtor_name,balance,days_past_due,phone1,client_segment"]
    for i in range(count):
        lines.append(f"{prefix}{i},Debtor {i},100,10,+12125{i // 10:02d}1{DEBTOR_STAYS}{i % 10},"
                     f"{prefix}")
    path.write_text("\n".join(lines) + "\n")


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def _wait_until(pool: asyncpg.Pool, query: str, expected: int, timeout_s: float) -> bool:
    """Whether query's count reached expected within timeout_s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while await pool.fetchval(query) != expected:
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.1)
    return True


async def _open_sessions(settings: Settings, pool: asyncpg.Pool, agents: list[str]) -> None:
    """A session for each agent, through the lab's `recobro api`; each
    agent's phone answers its one call and is logged in on its line."""
    for endpoint in agents:
        await request_session(settings.api, endpoint)
    if not await _wait_until(pool, "SELECT count(*) FROM agent_sessions WHERE closed_at IS NULL",
                             len(agents), SESSIONS_OPEN_S):
        raise ConfigError(f"the agents' sessions did not all open in {SESSIONS_OPEN_S:.0f} s: "
                          "are the lab's agents registered and `recobro api` running? "
                          "(`recobro lab status`)")


async def _close_sessions(pool: asyncpg.Pool, agents: list[str]) -> None:
    """Log the agents out: the API closes their sessions and hangs their
    lines up (the sipp agents wait for the next call again)."""
    store = AgentStore(pool)
    for endpoint in agents:
        await store.act(endpoint, AgentAction.LOG_OUT, datetime.now(UTC))
    if not await _wait_until(pool, "SELECT count(*) FROM agent_sessions WHERE closed_at IS NULL",
                             0, SESSIONS_OPEN_S):
        raise ConfigError("the agents' sessions did not close after logging them out: is "
                          "`recobro api` running? (`recobro lab status`)")


async def _run(settings: Settings, out_dir: Path, mode: str) -> dict:
    """One campaign of CALLS debtors in mode; its figures and each call's."""
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    prefix = f"BR{stamp}{mode[0].upper()}-"
    path = out_dir / "bridge-accounts.csv"
    _write_accounts(path, prefix, CALLS)
    load_before = os.getloadavg()[0]
    pool = await open_pool(settings.database_url)
    try:
        outcome = await import_file(AccountStore(pool), path, {}, ImportDefaults())
        if outcome.errors:
            raise ConfigError(f"bench accounts did not import: {outcome.errors[:3]}")
        path.unlink()
        agents = AgentStore(pool)
        await agents.log_in_everyone(datetime.now(UTC))
        # This server's agents (a lab once started with a second Asterisk
        # keeps that one's agents enrolled, with their server named).
        ours = AgentStore(pool, settings.asterisk_name)
        logged_in = [a.endpoint for a in await agents.list(datetime.now(UTC))
                     if a.state is not AgentState.LOGGED_OUT and ours.reaches(a.asterisk)]
        campaign = build_campaign(
            f"bridge-{mode}-{stamp}", "progressive", ratio=1.0, abandon_target=0.03,
            caller_id=settings.caller_id, window="00:00-24:00", ring_timeout_s=10, wrap_up_s=0,
            early_max_dpd=30, mid_max_dpd=90, segments="early,mid,late", strategies=None,
            portfolio=prefix)
        campaigns = CampaignStore(pool)
        campaign_id = await campaigns.create(campaign)
        opened_from = datetime.now(UTC)
        if mode == SESSIONS:
            try:
                await _open_sessions(settings, pool, logged_in)
            except BaseException:
                await _close_sessions(pool, logged_in)
                await agents.log_in_everyone(datetime.now(UTC))
                raise
        try:
            await campaigns.steer(campaign.name, CampaignAction.START)
            dialer = await CampaignDialer.start(settings, campaign.name)
            started()  # as `recobro campaign run` does
            try:
                while await pool.fetchval("SELECT count(*) FROM attempts WHERE campaign_id = $1 "
                                          "AND result IS NOT NULL", campaign_id) < CALLS:
                    await dialer.run(seconds=5.0)
                    if not await pool.fetchval("SELECT count(*) FROM agents WHERE state NOT IN "
                                               "('logged_out', 'paused') AND endpoint = ANY ($1)",
                                               logged_in):
                        paused = await pool.fetch("SELECT endpoint, pause_reason FROM agents "
                                                  "WHERE endpoint = ANY ($1)", logged_in)
                        raise ConfigError(f"{MODE_NAMES[mode]}: no agent can take a call: "
                                          + ", ".join(f"{r['endpoint']} {r['pause_reason']}"
                                                      for r in paused))
                    if not await pool.fetchval(
                            "SELECT count(*) FROM leads WHERE campaign_id = $1 "
                            "AND state IN ('ready', 'dialing') "
                            "AND next_callable_at <= now()", campaign_id):
                        break
            finally:
                await campaigns.steer(campaign.name, CampaignAction.STOP)
                await dialer.close()
                gc.unfreeze()  # this run's dialer is garbage now: freed as such
        finally:
            if mode == SESSIONS:
                # The agents go back to per-call ringing, as the lab keeps them.
                await _close_sessions(pool, logged_in)
                await agents.log_in_everyone(datetime.now(UTC))
        rows = await pool.fetch(
            "SELECT result, extract(epoch FROM connected_at - answered_at) AS bridge, "
            "agent_channel IN (SELECT channel FROM agent_sessions WHERE opened_at >= $2) "
            "AS on_line FROM attempts WHERE campaign_id = $1", campaign_id, opened_from)
    finally:
        await pool.close()
    bridges = [float(r["bridge"]) * 1000 for r in rows if r["bridge"] is not None]
    results: dict[str, int] = {}
    for row in rows:
        results[row["result"]] = results.get(row["result"], 0) + 1
    return {
        "mode": mode, "calls": len(rows), "agents": len(logged_in), "results": results,
        "bridged": len(bridges),
        # Debtors who joined an agent's session line (none when ringing).
        "joined_session_lines": sum(1 for r in rows if r["on_line"]),
        "answer_to_bridge_ms": {
            "median": round(statistics.median(bridges), 1),
            "p90": round(_percentile(bridges, 0.90), 1),
            "p99": round(_percentile(bridges, 0.99), 1),
            "max": round(max(bridges), 1), "min": round(min(bridges), 1),
        } if bridges else None,
        "each_call_ms": [round(b, 2) for b in bridges],
        "load_1min": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)},
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def medians(runs: list[dict]) -> dict[str, dict[str, float]]:
    """Per mode, each figure's median over the runs."""
    out: dict[str, dict[str, float]] = {}
    for mode in MODES:
        figures = [r["answer_to_bridge_ms"] for r in runs if r["mode"] == mode]
        out[mode] = {key: round(statistics.median(f[key] for f in figures), 1)
                     for key in ("median", "p90", "p99", "max")}
    return out


def table(report: dict) -> str:
    """The figures as markdown: medians over the runs by mode, then each run."""
    mid = report["medians"]
    bridged = {mode: f"{sum(r['bridged'] for r in report['runs'] if r['mode'] == mode)} of "
                     f"{sum(r['calls'] for r in report['runs'] if r['mode'] == mode)}"
               for mode in MODES}
    lines = [
        f"| answer to bridge ({len(report['runs']) // len(MODES)} run(s), medians) | "
        + " | ".join(MODE_NAMES[m] for m in MODES) + " |",
        "| --- | ---: | ---: |",
        "| answered calls bridged to an agent | " + " | ".join(bridged[m] for m in MODES) + " |",
    ]
    for key in ("median", "p90", "p99", "max"):
        lines.append(f"| {key} | " + " | ".join(f"{mid[m][key]} ms" for m in MODES) + " |")
    lines += ["", ("| run | mode | bridged | on session lines | median | p90 | p99 | max "
                   "| load (1 min) |"),
              "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for index, run in enumerate(report["runs"]):
        ms = run["answer_to_bridge_ms"]
        lines.append(f"| {index // len(MODES) + 1} | {MODE_NAMES[run['mode']]} | "
                     f"{run['bridged']} of {run['calls']} | {run['joined_session_lines']} | "
                     f"{ms['median']} ms | {ms['p90']} ms | {ms['p99']} ms | {ms['max']} ms | "
                     f"{run['load_1min']['before']} / {run['load_1min']['after']} |")
    return "\n".join(lines)


def plot(report: dict, path: Path) -> None:
    """Each call's answer to bridge, sorted (a CDF), per run and mode."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {RINGING: "tab:blue", SESSIONS: "tab:red"}
    fig, ax = plt.subplots(figsize=(8, 5))
    labelled: set[str] = set()
    for run in report["runs"]:
        values = sorted(run["each_call_ms"])
        shares = [100 * (i + 1) / len(values) for i in range(len(values))]
        mode = run["mode"]
        ax.plot(values, shares, color=colours[mode], linewidth=1,
                label=None if mode in labelled else MODE_NAMES[mode])
        labelled.add(mode)
    ax.axvline(20, color="grey", linestyle=":", linewidth=1, label="20 ms")
    ax.set_xlabel("answer to agent bridge (ms)")
    ax.set_ylabel("calls at or under (%)")
    ax.set_title(f"recobro bench bridge: {CALLS} calls a run, one line a run")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def bench_bridge(settings: Settings, cfg: LabConfig, out_dir: Path, runs: int = 1) -> int:
    """Run the bridge benchmark runs times in each mode, write bridge.json,
    bridge.md and bridge.png."""
    out_dir.mkdir(parents=True, exist_ok=True)
    measured = []
    for _ in range(runs):
        for mode in MODES:
            # The lab's phones register once, for an hour: a lab up longer
            # would have Asterisk refuse to call them in mid-run.
            for agent in cfg.agents:
                sipp.register_agent(cfg, agent)
            run = asyncio.run(_run(settings, out_dir, mode))
            if run["answer_to_bridge_ms"] is None:
                raise ConfigError(f"{MODE_NAMES[mode]}: no call was bridged: {run['results']}; "
                                  "are the lab's agents registered? (`recobro lab status`)")
            measured.append(run)
    report = {"calls_per_run": CALLS, "cores": os.cpu_count(), "medians": medians(measured),
              "runs": measured}
    (out_dir / "bridge.json").write_text(json.dumps(report, indent=2))
    text = table(report)
    (out_dir / "bridge.md").write_text(text + "\n")
    plot(report, out_dir / "bridge.png")
    print(text)
    print(f"wrote {out_dir / 'bridge.json'}, bridge.md and bridge.png")
    return 0
