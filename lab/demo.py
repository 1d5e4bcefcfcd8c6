"""`recobro demo`: a live campaign through the lab. Accounts across eight
time zones are imported (some then pay, some go on the do-not-call list or
opt out), the lab's agents log in from their phones (feature code *81), and
a predictive campaign dials for a while; the sipp PSTN answers, talks, is
busy or never answers by the number plan, and answered calls are bridged to
the sipp agents. Meanwhile an agentless press-to-pay campaign calls the
lab's keying debtors (number plan behaviour 0; their scripts and Stripe's
test cards in tests/fixtures/demo_cards.toml): they prove their account
and pay by keypad through the lab's localstripe, one after a declined
card, while a wrong party hears nothing of the debt. Once the predictive
campaign has stopped dialing (its agents free again), a small agent
campaign calls the keying debtor of an agent's campaign: bridged to an
agent, who stays on the line, the debtor is handed to the payment capture
by the demo acting as the agent's desktop (the lab API's POST
/attempts/{id}/payment, its progress on the agent's WebSocket) and pays
by keypad. At the end, a table of what the attempts came to, the abandon
rate and what the compliance gate refused; the texts the debtors who
answered and hung up without a word received through the lab's Kannel
(lab/demo_messages.py); a table of the payments
(brand and last four only); then a campaign over two Asterisk servers
(lab/demo_servers.py: the lab's second one started, a dialer bound to
each), with each debtor's server and agent; and a check that Asterisk
played every prompt (its log names no missing sound)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import asyncpg

from dialer.access.roles import Role
from dialer.access.tokens import TokenStore
from dialer.agents.state import AgentState
from dialer.agents.store import AgentStore
from dialer.compliance.windows import is_open, window_for
from dialer.errors import ConfigError, LabError
from dialer.metrics.exporter import MetricsExporter
from dialer.outbound import reports
from dialer.outbound.commands import NOT_OFFERED, build_campaign
from dialer.outbound.dialer import CampaignDialer
from dialer.outbound.lifecycles import CampaignAction
from dialer.outbound.store import CampaignStore
from dialer.portfolio.importer import import_file
from dialer.portfolio.importing import ImportDefaults
from dialer.portfolio.model import AnsweredTo
from dialer.portfolio.store import AccountStore
from dialer.settings import (
    PaymentGatewaySettings,
    Settings,
    configured_payment_gateway,
    load_metrics_settings,
    load_settings,
)
from dialer.store.database import open_pool
from dialer.store.migrate import apply_migrations
from lab import demo_messages, demo_servers, key_scripts, prometheus, sipp
from lab.asterisk_log import AsteriskLog, describe
from lab.config import LabConfig, load_lab_config
from lab.dashboard_pictures import draw_dashboards
from lab.key_scripts import KeyScript
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


# The press-to-pay part: its keying debtors call in New York (+1 212), in
# Spanish (the scripts follow the Spanish prompts), with early debt.
PAYERS_PREFIX = "+1212555"
ALL_DAY = "00:00-24:00"


def write_payer_accounts(path: Path, scripts: Mapping[str, KeyScript]) -> None:
    """One account per key script, called on the number whose debtor keys it."""
    lines = ["reference,debtor_name,balance,days_past_due,risk_score,language,phone1"]
    for i, (number, script) in enumerate(sorted(scripts.items())):
        phone = lab_number(Behaviour.ANSWER_AND_KEY_SCRIPT, number, prefix=PAYERS_PREFIX)
        lines.append(f"{script.account},Payer {number},{120 + 37.5 * i:.2f},15,0.5,es,{phone}")
    path.write_text("\n".join(lines) + "\n")


@dataclass(frozen=True)
class PaymentCalls:
    """The calls of one campaign whose debtors may pay, and how to name
    each debtor's part (by account reference) in the payments table."""

    pool: asyncpg.Pool
    campaign_id: int
    what: Mapping[str, str]


async def _calls_and_tries(source: PaymentCalls) -> tuple[list[asyncpg.Record],
                                                         list[asyncpg.Record]]:
    calls = await source.pool.fetch(
        "SELECT c.id, c.reference, a.result, a.agent FROM attempts a JOIN accounts c "
        "ON c.id = a.account_id WHERE a.campaign_id = $1 ORDER BY c.reference",
        source.campaign_id)
    tried = await source.pool.fetch(
        "SELECT account_id, attempt, status, amount, currency, brand, last4, decline_reason "
        "FROM payment_attempts WHERE account_id = ANY($1::bigint[]) "
        "ORDER BY account_id, started_at", [c["id"] for c in calls])
    return calls, tried


async def payments_table(*sources: PaymentCalls) -> str:
    """Each payer's call and each card authorisation it sent (status,
    amount, brand and last four: never more of a card), then the totals."""
    width = 26
    lines = [f"{'account':<{width}}{'call':<13}{'try':>4}  {'status':<10}{'amount':>14}  card",
             "-" * (width + 52)]
    approved: list[asyncpg.Record] = []
    declined = 0
    for source in sources:
        calls, tried = await _calls_and_tries(source)
        for call in calls:
            what = source.what.get(call["reference"], "")
            if call["agent"]:
                what = f"{what} ({call['agent']})"
            lines.append(f"{call['reference']:<{width}}{call['result'] or 'in flight':<13}"
                         f"  {what}")
            for t in (t for t in tried if t["account_id"] == call["id"]):
                reason = f" ({t['decline_reason']})" if t["decline_reason"] else ""
                lines.append(f"{'':<{width + 13}}{t['attempt']:>4}  {t['status']:<10}"
                             f"{t['amount']:>10} {t['currency']}  {t['brand']} {t['last4']}"
                             f"{reason}")
        approved += [t for t in tried if t["status"] == "approved"]
        declined += sum(1 for t in tried if t["status"] == "declined")
    total = sum((t["amount"] for t in approved), start=0)
    currencies = " ".join(sorted({t["currency"] for t in approved}))
    lines += ["-" * (width + 52), (f"approved {len(approved)} ({total:.2f} {currencies}), "
              f"declined {declined}; a wrong party (unverified) is told nothing of the debt")]
    return "\n".join(lines)


class PayersDatabase:
    """A database of its own in the lab's PostgreSQL for the press-to-pay
    part of one demo: its payers keep fixed account numbers (their scripts
    key them), and a fresh ledger lets them owe and pay again at every
    demo (in the lab's database a payment made would stop dialing them, as
    it must). Dropped at the end."""

    def __init__(self, settings: Settings, stamp: str) -> None:
        base = settings.database_url.rsplit("/", 1)[0]
        self.admin = f"{base}/postgres"
        self.name = f"recobro_demo_pay_{stamp}"
        self.url = f"{base}/{self.name}"

    async def __aenter__(self) -> str:
        connection = await asyncpg.connect(self.admin)
        try:
            await connection.execute(f"CREATE DATABASE {self.name}")
        finally:
            await connection.close()
        await asyncio.to_thread(apply_migrations, self.url)
        return self.url

    async def __aexit__(self, *_: object) -> None:
        connection = await asyncpg.connect(self.admin)
        try:
            await connection.execute(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")
        finally:
            await connection.close()


async def press_to_pay(settings: Settings, gateway: PaymentGatewaySettings, url: str,
                       work: Path, stamp: str, scripts: Mapping[str, KeyScript]
                       ) -> tuple[CampaignDialer, int]:
    """The payers imported into url's database and an agentless campaign
    for them started; its dialer (every payer on a line of their own)."""
    path = work / f"payers-{stamp}.csv"
    write_payer_accounts(path, scripts)
    pool = await open_pool(url, max_size=2)
    try:
        outcome = await import_file(AccountStore(pool), path, {}, ImportDefaults())
        if outcome.report is None or outcome.errors:
            raise ConfigError(f"demo payers did not import: {outcome.errors[:3]}")
        campaign = build_campaign(
            f"demo-pay-{stamp}", "predictive", ratio=2.0, abandon_target=0.03,
            caller_id=settings.caller_id, window=ALL_DAY, ring_timeout_s=15, wrap_up_s=0,
            early_max_dpd=30, mid_max_dpd=90, segments="early,mid,late", strategies=None,
            answered_to="self_service", lines=len(scripts))
        campaigns = CampaignStore(pool)
        campaign_id = await campaigns.create(campaign)
        await campaigns.refresh_leads(campaign_id)
        await campaigns.steer(campaign.name, CampaignAction.START)
    finally:
        await pool.close()
    return await CampaignDialer.start(dataclasses.replace(settings, database_url=url),
                                      campaign.name, gateway), campaign_id


# The agent-assisted part: a small agent campaign in the lab's database
# (the lab API, whose POST /attempts/{id}/payment the agent's desktop calls,
# serves that one), with a fresh account at every demo (an account paid
# is not called again, nor one spoken to within a week). It offers the
# balance in full only: the key script's timing follows that short menu.
ASSISTED_TERMS: dict[str, str | None] = {"instalments": NOT_OFFERED,
                                         "promise_days": NOT_OFFERED}
# How long the agent's desktop waits for its debtor to be bridged, and
# then for the payment's outcome.
BRIDGED_WITHIN_S = 60.0
PAID_WITHIN_S = 150.0
# The demo desk's agent token outlives any payment it follows (revoked after).
DESK_TOKEN_LIFETIME = timedelta(minutes=15)


def write_assisted_account(path: Path, script: KeyScript, reference: str, portfolio: str
                           ) -> None:
    """The one account of the agent-assisted part, called on the number
    whose debtor keys script, in the portfolio of its campaign."""
    phone = lab_number(Behaviour.ANSWER_AND_KEY_SCRIPT, script.number, prefix=PAYERS_PREFIX)
    path.write_text("reference,debtor_name,balance,days_past_due,risk_score,language,phone1,"
                    f"client_segment\n{reference},Payer {script.number},212.40,15,0.5,es,"
                    f"{phone},{portfolio}\n")


async def assisted_campaign(pool: asyncpg.Pool, settings: Settings, work: Path, stamp: str,
                            script: KeyScript) -> tuple[str, int, str]:
    """The assisted payer imported and its agent campaign created and
    started: the campaign's name and id, and the payer's reference."""
    portfolio = f"A{stamp}-"
    reference = f"{portfolio}{script.account}"
    path = work / f"assisted-{stamp}.csv"
    write_assisted_account(path, script, reference, portfolio)
    outcome = await import_file(AccountStore(pool), path, {}, ImportDefaults())
    if outcome.report is None or outcome.errors:
        raise ConfigError(f"the demo's assisted payer did not import: {outcome.errors[:3]}")
    campaign = build_campaign(
        f"demo-assist-{stamp}", "progressive", ratio=1.0, abandon_target=0.03,
        caller_id=settings.caller_id, window=ALL_DAY, ring_timeout_s=15, wrap_up_s=0,
        early_max_dpd=30, mid_max_dpd=90, segments="early,mid,late", strategies=None,
        portfolio=portfolio, payment=dict(ASSISTED_TERMS))
    campaigns = CampaignStore(pool)
    campaign_id = await campaigns.create(campaign)
    await campaigns.refresh_leads(campaign_id)
    await campaigns.steer(campaign.name, CampaignAction.START)
    return campaign.name, campaign_id, reference


async def agent_desktop(cfg: LabConfig, pool: asyncpg.Pool, campaign_id: int,
                        say: Callable[[str], None]) -> None:
    """What an agent's desktop does for an agent-assisted payment: once the
    campaign's debtor is bridged to an agent (the attempt the agent's
    screen pop named, connected), it asks the lab API for the payment and
    follows its progress on the agent's WebSocket to the outcome."""
    loop = asyncio.get_running_loop()
    until = loop.time() + BRIDGED_WITHIN_S
    while (call := await pool.fetchrow(
            "SELECT id, agent FROM attempts WHERE campaign_id = $1 AND connected_at IS NOT NULL "
            "AND agent IS NOT NULL", campaign_id)) is None:
        if loop.time() > until:
            say(f"no debtor was bridged to an agent within {BRIDGED_WITHIN_S:.0f} s: "
                "no payment asked for")
            return
        await asyncio.sleep(0.2)
    api = f"http://{cfg.host}:{cfg.api_port}"
    # The desk shows the agent's own token, as a real one would: it acts as
    # that agent, on its own call, and hears its own events only.
    tokens = TokenStore(pool)
    token_id, secret = await tokens.issue(Role.AGENT, call["agent"], "recobro demo desk",
                                          datetime.now(UTC), DESK_TOKEN_LIFETIME)
    try:
        await _desk(api, secret, call, say)
    finally:
        await tokens.revoke(token_id, datetime.now(UTC))


async def _desk(api: str, secret: str, call: asyncpg.Record,
                say: Callable[[str], None]) -> None:
    headers = {"Authorization": f"Bearer {secret}"}
    async with aiohttp.ClientSession(headers=headers) as session, \
            session.ws_connect(f"{api}/agents/{call['agent']}/events") as socket:
        async with session.post(f"{api}/attempts/{call['id']}/payment") as response:
            answer = await response.text()
            if response.status != 202:
                say(f"the API refused the payment ({response.status}): {answer}")
                return
        say(f"{call['agent']} hands attempt {call['id']} to the payment capture and stays "
            "on the line")
        try:
            async with asyncio.timeout(PAID_WITHIN_S):
                async for message in socket:
                    event = json.loads(message.data)
                    if event.get("type") != "payment" or event.get("call") != str(call["id"]):
                        continue
                    say(f"{call['agent']}'s desktop: {event['text']}")
                    # The outcome (a decline may be followed by another
                    # card), or a capture that could not start.
                    if (event["step"] == "result" and event["status"] != "declined") \
                            or event["status"].startswith("not "):
                        return
        except TimeoutError:
            say(f"no outcome on the agent's desktop within {PAID_WITHIN_S:.0f} s")


async def with_an_agent(settings: Settings, gateway: PaymentGatewaySettings, cfg: LabConfig,
                        pool: asyncpg.Pool, name: str, campaign_id: int) -> None:
    """The agent campaign dials its one debtor; the demo, as the agent's
    desktop, asks for the payment once the debtor is bridged; then the
    campaign stops."""
    loop = asyncio.get_running_loop()
    until = loop.time() + BRIDGED_WITHIN_S
    # The predictive campaign's last calls may leave their agents in wrap-up.
    while not await pool.fetchval(
            "SELECT count(*) FROM agents WHERE state = 'ready' OR (state = 'wrap_up' "
            "AND coalesce(wrap_up_until, state_since) <= now())") and loop.time() < until:
        await asyncio.sleep(0.5)
    dialer = await CampaignDialer.start(settings, name, gateway)
    try:
        await asyncio.gather(
            dialer.run(seconds=3.0, progress=lambda line: print(f"with an agent: {line}",
                                                               flush=True)),
            agent_desktop(cfg, pool, campaign_id,
                          lambda line: print(f"with an agent: {line}", flush=True)))
    finally:
        await dialer.close()
        await CampaignStore(pool).steer(name, CampaignAction.STOP)


async def demo_command(accounts: int, seconds: float) -> int:
    """Import demo accounts, log the lab's agents in, run a campaign and,
    beside it, a press-to-pay one."""
    settings = load_settings()
    cfg = load_lab_config()
    scripts = key_scripts.load()  # a LabError without tests/ (a wheel install)
    by_keypad = {n: s for n, s in scripts.items() if s.answered_to is AnsweredTo.SELF_SERVICE}
    with_agent = [s for _, s in sorted(scripts.items()) if s.answered_to is AnsweredTo.AGENT]
    if not by_keypad or not with_agent:
        raise LabError(f"{key_scripts.SCRIPTS_FILE} needs a press-to-pay script and an "
                       "agent campaign's (answered_to = \"agent\")")
    assisted_script = with_agent[0]
    gateway = configured_payment_gateway()
    if gateway is None:
        raise ConfigError("the demo's payments need the lab's card gateway: "
                          "RECOBRO_PAYMENT_GATEWAY_URL is not set (run `recobro lab up`, "
                          "which writes it into the lab's settings)")
    log = AsteriskLog(cfg)
    started = time.time()
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    prefix = f"D{stamp}-"
    work = cfg.lab_dir / "demo"
    work.mkdir(parents=True, exist_ok=True)
    path = work / f"accounts-{stamp}.csv"
    write_demo_accounts(path, accounts, prefix, stay="06")
    pool = await open_pool(settings.database_url)
    # The demo's dialer is this process: its /metrics, for the lab's Prometheus.
    exporter = MetricsExporter(load_metrics_settings(), "dialer")
    try:
        await exporter.start()
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
        await demo_messages.switch_on(pool, campaign.name, prefix)
        await portfolio_changes_mid_campaign(pool, prefix)
        await campaigns.steer(campaign.name, CampaignAction.START)
        print(f"demo: {accounts} accounts in 8 time zones ({path}); {ready} agents ready "
              f"({', '.join(agents) or 'none'} from their phones); campaign {campaign.name}, predictive, "
              f"calling window {window} local time; dialing for {seconds:.0f} s", flush=True)
        assisted_name, assisted_id, assisted_reference = await assisted_campaign(
            pool, settings, work, stamp, assisted_script)
        payers_database = PayersDatabase(settings, stamp)
        async with payers_database as payers_url:
            payers, payers_campaign = await press_to_pay(settings, gateway, payers_url, work,
                                                         stamp, by_keypad)
            print(f"demo: press-to-pay campaign demo-pay-{stamp} (no agents, "
                  f"{len(by_keypad)} lines) calls {len(by_keypad)} keying debtors who pay by "
                  f"keypad through localstripe (database {payers_database.name}); then agent "
                  f"campaign {assisted_name} calls one who pays with an agent on the line",
                  flush=True)
            dialer = await CampaignDialer.start(settings, campaign.name)
            try:
                # The payers are all dialed at once; dialing goes on while
                # the longest script keys (nobody is called twice: a served
                # debtor waits a week), then their calls end. Meanwhile,
                # once the predictive campaign's calls have ended (its
                # agents free), the agent-assisted payment.
                async def predictive_then_assisted() -> None:
                    await dialer.run(seconds=seconds,
                                     progress=lambda line: print(line, flush=True))
                    await campaigns.steer(campaign.name, CampaignAction.STOP)
                    await with_an_agent(settings, gateway, cfg, pool, assisted_name,
                                        assisted_id)

                await asyncio.gather(
                    predictive_then_assisted(),
                    payers.run(seconds=max(s.seconds for s in by_keypad.values()),
                               progress=lambda line: print(f"press-to-pay: {line}",
                                                           flush=True)))
            finally:
                await dialer.close()
                await payers.close()
            print()
            print(await summary(pool, campaign_id))
            print()
            print(await demo_messages.send_and_show(pool, cfg, campaign_id))
            payers_pool = await open_pool(payers_url, max_size=1)
            try:
                print()
                print(f"payments by keypad (press-to-pay campaign demo-pay-{stamp}, and "
                      f"agent campaign {assisted_name}):")
                print(await payments_table(
                    PaymentCalls(payers_pool, payers_campaign,
                                 {s.account: s.what for s in by_keypad.values()}),
                    PaymentCalls(pool, assisted_id, {assisted_reference: assisted_script.what})))
            finally:
                await payers_pool.close()
            print()
            print(await demo_servers.two_servers(settings, cfg, pool, work, stamp, window))
            if exporter.port is not None:
                print()
                print(await asyncio.to_thread(scraped_figures, cfg, campaign.name))
                pictures, _ = await asyncio.to_thread(
                    draw_dashboards, cfg, started, time.time(), campaign.name,
                    work / f"dashboards-{stamp}")
                print("dashboards, drawn from the lab's Prometheus (matplotlib, not "
                      f"Grafana): {', '.join(str(p) for p in pictures)}")
    finally:
        await exporter.close()
        await pool.close()
    unplayable = log.unplayable()
    if unplayable:
        raise LabError(f"Asterisk could not play these during the demo (callers heard "
                       f"silence): {describe(unplayable)}; see {log.path}")
    print("prompts: Asterisk's log names no sound it could not play")
    return 0


def scraped_figures(cfg: LabConfig, campaign: str) -> str:
    """The campaign as the lab's Prometheus scraped it: calls by outcome
    from the dialer, the abandon rate and agents by state from the API's
    exporter (PostgreSQL's figures), after one more scrape."""
    time.sleep(2 * prometheus.SCRAPE_S)
    calls = prometheus.query(cfg, "sum by (outcome) (max_over_time(recobro_calls_total"
                                  f'{{campaign="{campaign}"}}[1h]))')
    rates = prometheus.query(cfg, f'recobro_abandon_rate{{campaign="{campaign}"}}')
    agents = prometheus.query(cfg, "sum by (state) (recobro_agents)")
    counted = ", ".join(f"{s['metric']['outcome']} {float(s['value'][1]):g}"
                        for s in sorted(calls, key=lambda s: s["metric"]["outcome"]))
    windows = ", ".join(f"{s['metric']['window']} {float(s['value'][1]):.1%}"
                        for s in sorted(rates, key=lambda s: s["metric"]["window"]))
    states = ", ".join(f"{s['metric']['state']} {float(s['value'][1]):g}"
                       for s in sorted(agents, key=lambda s: s["metric"]["state"]))
    return (f"metrics, as the lab's Prometheus scraped them ({prometheus.url(cfg)}):\n"
            f"  calls by outcome: {counted or 'none scraped'}\n"
            f"  abandon rate: {windows or 'no live answers'}\n"
            f"  agents: {states or 'none scraped'}")


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
