"""The demo's campaign over two Asterisk servers: the lab's second one
started (lab.lab.up_second_asterisk), debtors who answer and talk a few
seconds, and a dialer bound to each server dialing one progressive
campaign; each debtor's server and the agent who took the call."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from dialer.agents.state import AgentAction
from dialer.agents.store import AgentStore
from dialer.errors import ConfigError
from dialer.outbound.commands import build_campaign
from dialer.outbound.dialer import CampaignDialer
from dialer.outbound.lifecycles import CampaignAction
from dialer.outbound.store import CampaignStore
from dialer.portfolio.importer import import_file
from dialer.portfolio.importing import ImportDefaults
from dialer.portfolio.store import AccountStore
from dialer.settings import Settings, load_settings, read_env_file
from lab.config import LabConfig
from lab.lab import up_second_asterisk
from lab.number_plan import Behaviour, lab_number

DEBTORS = 8
PREFIX = "+1212557"  # numbers of this demo's own (the main campaign's are by zone)


def write_accounts(path: Path, portfolio: str) -> None:
    """DEBTORS accounts of the portfolio whose debtors answer and talk 6 s."""
    path.write_text("reference,debtor_name,balance,days_past_due,language,phone1,"
                    "client_segment\n" + "".join(
                        f"{portfolio}{i},Debtor {i},{100 + i},20,{'es' if i % 2 else 'en'},"
                        f"{lab_number(Behaviour.ANSWER_AND_STAY, '06', i, PREFIX)},{portfolio}\n"
                        for i in range(DEBTORS)))


async def two_servers(settings: Settings, cfg: LabConfig, pool: asyncpg.Pool, work: Path,
                      stamp: str, window: str) -> str:
    """Run the two-server campaign; what each debtor reached, as a table."""
    second = await asyncio.to_thread(up_second_asterisk, cfg)
    portfolio = f"S{stamp}-"
    path = work / f"servers-{stamp}.csv"
    write_accounts(path, portfolio)
    outcome = await import_file(AccountStore(pool), path, {}, ImportDefaults())
    if outcome.report is None or outcome.errors:
        raise ConfigError(f"the two servers' accounts did not import: {outcome.errors[:3]}")
    agents = AgentStore(pool)
    for agent in second.agents:  # no API takes its feature codes: logged in here
        await agents.act(agent.endpoint, AgentAction.LOG_IN, datetime.now(UTC))
    campaign = build_campaign(
        f"demo-servers-{stamp}", "progressive", ratio=1.0, abandon_target=0.03,
        caller_id=settings.caller_id, window=window, ring_timeout_s=8, wrap_up_s=0,
        early_max_dpd=30, mid_max_dpd=90, segments="early,mid,late", strategies=None,
        portfolio=portfolio)
    campaigns = CampaignStore(pool)
    campaign_id = await campaigns.create(campaign)
    await campaigns.refresh_leads(campaign_id)
    await campaigns.steer(campaign.name, CampaignAction.START)
    on_second = load_settings({**read_env_file(second.env_file),
                               "DATABASE_URL": settings.database_url})
    print(f"demo: campaign {campaign.name} over two Asterisk servers, {cfg.asterisk_name} "
          f"(agents {', '.join(a.endpoint for a in cfg.agents)}) and {second.asterisk_name} "
          f"(agents {', '.join(a.endpoint for a in second.agents)}): a dialer bound to each, "
          f"{DEBTORS} debtors who talk 6 s", flush=True)
    dialers = [await CampaignDialer.start(s, campaign.name) for s in (settings, on_second)]
    try:
        await asyncio.gather(*(d.run(until_idle=True, seconds=180) for d in dialers))
    finally:
        for dialer in dialers:
            await dialer.close()
        await campaigns.steer(campaign.name, CampaignAction.STOP)
    rows = await pool.fetch(
        "SELECT c.reference, d.asterisk, a.agent, a.result FROM attempts a "
        "JOIN accounts c ON c.id = a.account_id JOIN dialers d ON d.id = a.dialer_id "
        "WHERE a.campaign_id = $1 ORDER BY c.reference", campaign_id)
    lines = [f"{'debtor':<22}{'server':<13}{'agent':<11}result"]
    lines += [f"{r['reference']:<22}{r['asterisk']:<13}{r['agent'] or '-':<11}{r['result']}"
              for r in rows]
    return "\n".join(lines)
