"""`recobro demo`: a live campaign through the lab. Accounts across eight
time zones are imported (some then pay, some go on the do-not-call list or
opt out), the lab's agents log in from their phones (feature code *81), and
a predictive campaign dials for a while; the sipp PSTN answers, talks, is
busy or never answers by the number plan, and answered calls are bridged to
the sipp agents. At the end, a table of what the attempts came to, the
abandon rate and what the compliance gate refused, and a check that
Asterisk played every prompt (its log names no missing sound)."""

from __future__ import annotations

import asyncio
import statistics
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg

from dialer.agents.state import AgentState
from dialer.agents.store import AgentStore
from dialer.compliance.windows import is_open, window_for
from dialer.errors import ConfigError, LabError
from dialer.outbound import reports
from dialer.outbound.commands import build_campaign
from dialer.outbound.dialer import CampaignDialer
from dialer.outbound.lifecycles import CampaignAction
from dialer.outbound.store import CampaignStore
from dialer.portfolio.importer import import_file
from dialer.portfolio.importing import ImportDefaults
from dialer.portfolio.store import AccountStore
from dialer.settings import load_settings
from dialer.store.database import open_pool
from lab import sipp
from lab.asterisk_log import AsteriskLog, describe
from lab.config import LabConfig, load_lab_config
from lab.number_plan import Behaviour, lab_number

# Zone -> a prefix of valid numbers there; two digits follow, then the lab's
# four behaviour digits (B P P S).
ZONES = {
    "America/New_York": "+12125", "America/Chicago": "+13125", "America/Denver": "+13035",
    "America/Los_Angeles": "+12135", "Pacific/Honolulu": "+18085",
    "Europe/Madrid": "+34912", "America/Mexico_City": "+525512", "Asia/Tokyo": "+81312",
}
# What the debtors do, in turns: mostly answer and talk.
BEHAVIOURS = [(Behaviour.ANSWER_AND_STAY, "")] * 6 + [
    (Behaviour.ANSWER_AND_HANG_UP, "00"), (Behaviour.BUSY, "00"), (Behaviour.NO_ANSWER, "00"),
    (Behaviour.CONGESTION, "00")]


def write_demo_accounts(path: Path, count: int, prefix: str = "E", stay: str = "04") -> None:
    """count accounts spread over ZONES and the number plan; a debtor who
    answers stays `stay` seconds. Every phone is unique."""
    lines = [("reference,debtor_name,balance,days_past_due,risk_score,language,phone1,"
             "client_segment")]
    zones = list(ZONES)
    for i in range(count):
        behaviour, parameter = BEHAVIOURS[(i // len(zones)) % len(BEHAVIOURS)]
        zone_prefix = f"{ZONES[zones[i % len(zones)]]}{(i // len(zones)) % 100:02d}"
        number = lab_number(behaviour, parameter or stay, serial=i % 10, prefix=zone_prefix)
        lines.append(f"{prefix}{i},Debtor {i},{50 + i % 900},{(i * 13) % 200},0.{i % 10},"
                     f"{'es' if i % 2 else 'en'},{number},{prefix}")
    path.write_text("\n".join(lines) + "\n")


def window_open_now(now: datetime | None = None) -> str:
    """A custom calling window (hh:00-hh:00, three hours) open now in some
    of ZONES and closed in the others, whatever the time of day, so a demo
    or a test always has both callable and out-of-window debtors."""
    now = now or datetime.now(UTC)
    for anchor in ZONES:
        hour = now.astimezone(ZoneInfo(anchor)).hour
        if 1 <= hour <= 21:
            profile = f"{hour - 1:02d}:00-{hour + 2:02d}:00"
            opened = [z for z in ZONES if is_open(window_for(profile, ""), z, now)]
            if len(opened) < len(ZONES):
                return profile
    raise AssertionError("eight zones always leave one outside three hours")


async def portfolio_changes_mid_campaign(pool: asyncpg.Pool, prefix: str) -> None:
    """What happens to a portfolio during a campaign: 1 account in 10 pays
    or settles or disputes, some numbers go on the DNC list, some opt out."""
    statuses = ["paid", "settled", "disputed", "closed"]
    await pool.execute(
        "UPDATE accounts SET status = ($2::text[])[1 + id % 4], updated_at = now() "
        "WHERE reference LIKE $1 || '%' AND id % 10 = 9", prefix, statuses)
    await pool.execute(
        "INSERT INTO do_not_call (number, reason) SELECT p.number, 'dnc' FROM phones p "
        "JOIN accounts a ON a.id = p.account_id WHERE a.reference LIKE $1 || '%' "
        "AND a.id % 17 = 3 ON CONFLICT DO NOTHING", prefix)
    await pool.execute(
        "INSERT INTO do_not_call (reference, reason) SELECT reference, 'opt_out' FROM accounts "
        "WHERE reference LIKE $1 || '%' AND id % 19 = 5 ON CONFLICT DO NOTHING", prefix)


async def summary(pool: asyncpg.Pool, campaign_id: int) -> str:
    """Attempts by result (with ring and talk medians) and refusals by rule."""
    rows = await pool.fetch(
        "SELECT a.result, extract(epoch FROM coalesce(a.answered_at, a.ended_at) - a.started_at) "
        "AS ring, extract(epoch FROM a.ended_at - a.connected_at) AS talk "
        "FROM attempts a WHERE a.campaign_id = $1", campaign_id)
    lines = [f"{'result':<14}{'attempts':>9}{'share':>8}{'ring s':>9}{'talk s':>9}", "-" * 49]
    results = sorted({r["result"] or "in flight" for r in rows})
    for result in results:
        group = [r for r in rows if (r["result"] or "in flight") == result]
        rings = [float(r["ring"]) for r in group if r["ring"] is not None]
        talks = [float(r["talk"]) for r in group if r["talk"] is not None]
        ring = f"{statistics.median(rings):.1f}" if rings else "-"
        talk = f"{statistics.median(talks):.1f}" if talks else "-"
        lines.append(f"{result:<14}{len(group):>9}{len(group) / len(rows):>8.0%}"
                     f"{ring:>9}{talk:>9}")
    day = (await reports.abandon_tallies(pool, campaign_id, datetime.now(UTC)))[0]
    lines += ["-" * 49, f"{'total':<14}{len(rows):>9}", f"abandon rate over {day}", "",
              "refused by the gate:"]
    refusals = await pool.fetch("SELECT rule, stage, count(*) FROM compliance_refusals "
                                "WHERE campaign_id = $1 GROUP BY 1, 2 ORDER BY 3 DESC",
                                campaign_id)
    lines += [f"  {r['rule']:<28}{r['stage']:<7}{r['count']:>5}" for r in refusals] or ["  none"]
    return "\n".join(lines)


async def demo_command(accounts: int, seconds: float) -> int:
    """Import demo accounts, log the lab's agents in, run a campaign."""
    settings = load_settings()
    cfg = load_lab_config()
    log = AsteriskLog(cfg)
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    prefix = f"D{stamp}-"
    work = Path(".lab") / "demo"
    work.mkdir(parents=True, exist_ok=True)
    path = work / f"accounts-{stamp}.csv"
    write_demo_accounts(path, accounts, prefix, stay="06")
    pool = await open_pool(settings.database_url)
    try:
        outcome = await import_file(AccountStore(pool), path, {}, ImportDefaults())
        if outcome.report is None or outcome.errors:
            raise ConfigError(f"demo accounts did not import: {outcome.errors[:3]}")
        agents = await _agents_log_in(cfg, AgentStore(pool))
        ready = await pool.fetchval("SELECT count(*) FROM agents WHERE state <> 'logged_out'")
        if not ready:
            raise ConfigError("no agents: run `recobro lab up` (it enrols the lab's agents)")
        window = window_open_now()
        campaign = build_campaign(
            f"demo-{stamp}", "predictive", ratio=2.0, abandon_target=0.03,
            caller_id=settings.caller_id, window=window, ring_timeout_s=8, wrap_up_s=2,
            early_max_dpd=30, mid_max_dpd=90, segments="early,mid,late", strategies=None,
            portfolio=prefix)
        campaigns = CampaignStore(pool)
        campaign_id = await campaigns.create(campaign)
        await campaigns.refresh_leads(campaign_id)
        await portfolio_changes_mid_campaign(pool, prefix)
        await campaigns.steer(campaign.name, CampaignAction.START)
        print(f"demo: {accounts} accounts in 8 time zones ({path}); {ready} agents ready "
              f"({', '.join(agents) or 'none'} from their phones); campaign {campaign.name}, predictive, "
              f"calling window {window} local time; dialing for {seconds:.0f} s", flush=True)
        dialer = await CampaignDialer.start(settings, campaign.name)
        try:
            await dialer.run(seconds=seconds, progress=lambda line: print(line, flush=True))
        finally:
            await dialer.close()
        await campaigns.steer(campaign.name, CampaignAction.STOP)
        print()
        print(await summary(pool, campaign_id))
    finally:
        await pool.close()
    unplayable = log.unplayable()
    if unplayable:
        raise LabError(f"Asterisk could not play these during the demo (callers heard "
                       f"silence): {describe(unplayable)}; see {log.path}")
    print("prompts: Asterisk's log names no sound it could not play")
    return 0


async def _agents_log_in(cfg: LabConfig, store: AgentStore) -> list[str]:
    """Agents logged out dial *81 from their (sipp) phones, paused ones *83:
    the lab's `recobro api` takes the feature codes. Who did, and how."""
    done = []
    for agent in await store.list(datetime.now(UTC)):
        code = {AgentState.LOGGED_OUT: "*81", AgentState.PAUSED: "*83"}.get(agent.state)
        lab_agent = next((a for a in cfg.agents if a.endpoint == agent.endpoint), None)
        if code is not None and lab_agent is not None:
            await asyncio.to_thread(sipp.dial_feature_code, cfg, lab_agent, code)
            done.append(f"{agent.endpoint} {code}")
    return done
