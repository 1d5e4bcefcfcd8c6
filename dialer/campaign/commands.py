"""What `recobro campaign ...`, `recobro accounts ...`, `recobro dnc` and
`recobro agent` do."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
import tomllib
import unicodedata
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from dialer.agents.state import PERSON_ACTIONS, AgentTransitionError
from dialer.campaign import limits
from dialer.campaign.loop import CampaignDialer
from dialer.collections.importing import ImportDefaults, parse_phone
from dialer.collections.model import (
    AccountStatus,
    Campaign,
    DialMode,
    Language,
    MachineAction,
    Segment,
    SegmentThresholds,
    Strategy,
    default_strategies,
)
from dialer.compliance.abandon import CAP
from dialer.compliance.windows import check_profile
from dialer.errors import ConfigError
from dialer.importer import import_file, iter_report, load_mapping
from dialer.settings import load_settings
from dialer.store import reports
from dialer.store.accounts import AccountStore
from dialer.store.agents import AgentStore
from dialer.store.campaigns import CampaignStore
from dialer.store.database import open_pool


@asynccontextmanager
async def _database() -> AsyncIterator[asyncpg.Pool]:
    """A pool on the configured database for one command, closed after it."""
    pool = await open_pool(load_settings().database_url)
    try:
        yield pool
    finally:
        await pool.close()


_RETRY_FIELDS = {f"retry_{name}": name for name in
                 ("busy_s", "no_answer_s", "machine_s", "abandoned_s", "failed_s", "hung_up_s")}


def load_strategies(path: Path, dial_mode: DialMode) -> tuple[Strategy, ...]:
    """Per-segment strategies from a TOML file: a table per segment
    ([early], [mid], [late]) with dial_mode, priority, max_attempts and
    retry_*_s; what a table leaves out keeps its default."""
    try:
        tables = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ConfigError(f"strategies file {path}: {error}") from None
    strategies = {s.segment.value: s for s in default_strategies(dial_mode)}
    for name, table in tables.items():
        where = f"strategies file {path}, [{name}]"
        if name not in strategies or not isinstance(table, dict):
            raise ConfigError(f"{where}: segments are early, mid and late")
        current = strategies[name]
        retry = current.retry
        for key, value in table.items():
            if key in _RETRY_FIELDS:
                _whole_number(f"{where}: {key}", value, limits.RETRY_S)
                retry = replace(retry, **{_RETRY_FIELDS[key]: value})
            elif key == "dial_mode":
                try:
                    current = replace(current, dial_mode=DialMode(value))
                except (TypeError, ValueError):
                    raise ConfigError(f"{where}: dial_mode {value!r} is not one of "
                                      f"{', '.join(m.value for m in DialMode)}") from None
            elif key in ("priority", "max_attempts"):
                _whole_number(f"{where}: {key}", value,
                              limits.PRIORITY if key == "priority" else limits.MAX_ATTEMPTS)
                current = replace(current, **{key: value})
            else:
                raise ConfigError(f"{where}: unknown setting {key!r}")
        strategies[name] = replace(current, retry=retry)
    return tuple(strategies.values())


def _whole_number(what: str, value: object, allowed: limits.Range) -> None:
    """ConfigError unless value is an integer in range (TOML's true is not)."""
    if isinstance(value, bool) or not isinstance(value, int) or value not in allowed:
        raise ConfigError(f"{what} must be a whole number {allowed}")


def _in_range(option: str, value: float, allowed: limits.Range) -> None:
    if value not in allowed:  # NaN too: it is in no range
        shown = value if isinstance(value, int) else f"{value:g}"
        raise ConfigError(f"{option} {shown}: allowed {allowed}")


def _text(what: str, value: str, *, required: bool) -> None:
    """A name PostgreSQL stores as text and people read: no control
    characters (a NUL cannot even be stored), not too long."""
    if required and not value.strip():
        raise ConfigError(f"{what} is empty")
    if len(value) > limits.NAME_LENGTH:
        raise ConfigError(f"{what} is longer than {limits.NAME_LENGTH} characters")
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in value):
        raise ConfigError(f"{what} holds a control character")


def check_abandon_target(target: float, allow_above_cap: bool) -> None:
    """The abandon target is a share above 0 and at most the regulators'
    cap (CAP), unless the operator allows more explicitly; never 1 or more."""
    if not 0 < target < limits.ABANDON_CEILING:
        raise ConfigError(f"--abandon-target {target:g}: a share above 0, at most {CAP:g} "
                          f"(the {CAP:.0%} cap; a percentage p is written p/100)")
    if target > CAP and not allow_above_cap:
        raise ConfigError(f"--abandon-target {target:g} ({target:.1%}) is above the {CAP:.0%} "
                          "abandon cap regulators set (FCC 47 CFR 64.1200(a)(7), Ofcom): "
                          f"use {CAP:g} or less, or give --allow-abandon-above-cap to "
                          "create it anyway")


def build_campaign(name: str, mode: str, *, ratio: float, abandon_target: float, caller_id: str,
                   window: str, ring_timeout_s: int, wrap_up_s: int, early_max_dpd: int,
                   mid_max_dpd: int, segments: str, strategies: Path | None,
                   portfolio: str = "", amd: bool = False,
                   machine_action: str = MachineAction.HANG_UP.value,
                   allow_above_cap: bool = False) -> Campaign:
    """A campaign from command-line settings; ConfigError names the one
    wrong and its allowed range, before PostgreSQL sees any of them."""
    dial_mode = DialMode(mode)
    _text("the campaign's name", name, required=True)
    _text("--portfolio", portfolio, required=False)
    try:
        check_profile(window)
    except ValueError as error:
        raise ConfigError(f"--window: {error}") from None
    try:
        chosen = tuple(Segment(s.strip()) for s in segments.split(",") if s.strip())
    except ValueError:
        raise ConfigError(f"--segments {segments!r}: use early, mid and late") from None
    if not chosen:
        raise ConfigError("--segments: name at least one of early, mid, late")
    _in_range("--early-max-dpd", early_max_dpd, limits.DAYS_PAST_DUE)
    _in_range("--mid-max-dpd", mid_max_dpd, limits.DAYS_PAST_DUE)
    if not early_max_dpd < mid_max_dpd:
        raise ConfigError("--early-max-dpd must be above 0 and below --mid-max-dpd")
    check_abandon_target(abandon_target, allow_above_cap)
    _in_range("--ratio", ratio, limits.DIAL_RATIO)
    _in_range("--ring-timeout", ring_timeout_s, limits.RING_TIMEOUT_S)
    _in_range("--wrap-up", wrap_up_s, limits.WRAP_UP_S)
    if not re.fullmatch(r"\+?[0-9]{3,15}", caller_id):
        raise ConfigError(f"--caller-id {caller_id!r}: digits, optionally after a +")
    return Campaign(
        id=0, name=name, dial_mode=dial_mode, dial_ratio=ratio, abandon_target=abandon_target,
        caller_id=caller_id, window_profile=window, ring_timeout_s=ring_timeout_s,
        wrap_up_s=wrap_up_s, thresholds=SegmentThresholds(early_max_dpd, mid_max_dpd),
        segments=chosen,
        strategies=load_strategies(strategies, dial_mode) if strategies
        else default_strategies(dial_mode), portfolio=portfolio, amd=amd,
        machine_action=MachineAction(machine_action))


async def create_campaign(campaign: Campaign) -> int:
    async with _database() as pool:
        store = CampaignStore(pool)
        campaign_id = await store.create(campaign)
        await store.refresh_leads(campaign_id)
        leads = await pool.fetchval("SELECT count(*) FROM leads WHERE campaign_id = $1",
                                    campaign_id)
    print(f"campaign {campaign.name} created ({campaign.dial_mode.value}, window "
          f"{campaign.window_profile}), {leads} lead(s); start it with "
          f"`recobro campaign start {campaign.name}`")
    return 0


async def set_campaign_state(name: str, state: str) -> int:
    async with _database() as pool:
        await CampaignStore(pool).set_state(name, state)
    print(f"campaign {name}: {state}")
    return 0


async def run_campaign(name: str, seconds: float | None) -> int:
    """Run a campaign's dialer in this process until the campaign is
    stopped, seconds pass, or SIGINT/SIGTERM (then calls in flight end)."""
    settings = load_settings()
    dialer = await CampaignDialer.start(settings, name)
    if dialer.campaign.abandon_target > CAP:
        print(f"recobro: warning: campaign {name} paces to an abandon rate of "
              f"{dialer.campaign.abandon_target:.1%}, above the {CAP:.0%} cap "
              "(--allow-abandon-above-cap)", file=sys.stderr, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        if dialer.tally.adopted:
            print(f"adopted {dialer.tally.adopted} call(s) left by a dialer that died", flush=True)
        run = asyncio.ensure_future(dialer.run(seconds=seconds,
                                               progress=lambda line: print(line, flush=True)))
        stopper = asyncio.ensure_future(stop.wait())
        await asyncio.wait([run, stopper], return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if not run.done():
            dialer.stopping = True
        await run  # its error (PostgreSQL gone for good, say) is the command's
    finally:
        await dialer.close()
    return 0


async def campaign_status(name: str) -> int:
    """The campaign's state, its leads, attempts, abandon rate and refusals."""
    now = datetime.now(UTC)
    async with _database() as pool:
        campaign = await CampaignStore(pool).load(name)
        state = await pool.fetchval("SELECT state FROM campaigns WHERE id = $1", campaign.id)
        leads = await reports.lead_counts(pool, campaign.id, now)
        results = await pool.fetch("SELECT coalesce(result, 'in flight'), count(*) FROM attempts "
                                   "WHERE campaign_id = $1 GROUP BY 1 ORDER BY 2 DESC",
                                   campaign.id)
        abandons = await reports.abandon_tallies(pool, campaign.id, now)
        refusals = await pool.fetch("SELECT rule, count(*) FROM compliance_refusals "
                                    "WHERE campaign_id = $1 GROUP BY 1 ORDER BY 2 DESC",
                                    campaign.id)
    print(f"campaign {name}: {state}, {campaign.dial_mode.value}, window "
          f"{campaign.window_profile}")
    print(f"leads: {leads}")
    print("attempts: " + (", ".join(f"{k} {v}" for k, v in results) or "none"))
    above = " (above the cap, by the operator's --allow-abandon-above-cap)" \
        if campaign.abandon_target > CAP else ""
    print("abandon rate: " + "; ".join(map(str, abandons))
          + f"; cap {CAP:.0%}, campaign target {campaign.abandon_target:.1%}{above}")
    print("refused by rule: " + (", ".join(f"{k} {v}" for k, v in refusals) or "none"))
    return 0


async def import_accounts(path: Path, mapping: Path | None, file_format: str, region: str,
                          currency: str, language: str, strict: bool) -> int:
    defaults = ImportDefaults(region=region.upper(), currency=currency.upper(),
                              language=Language(language))
    async with _database() as pool:
        outcome = await import_file(AccountStore(pool), path, load_mapping(mapping), defaults,
                                    file_format=file_format, strict=strict)
    for line in iter_report(outcome):
        print(line)
    return 1 if outcome.report is None else 0


async def show_quarantine(batch: int | None) -> int:
    async with _database() as pool:
        rows = await AccountStore(pool).quarantine(batch)
    for row in rows:
        print(f"batch {row.batch_id} {row.source} line {row.line}: {row.reason}")
    if not rows:
        print("the quarantine is empty")
    return 0


async def set_account_status(reference: str, status: str) -> int:
    """A payment, settlement, dispute or closure: dialing stops at once."""
    async with _database() as pool:
        found = await AccountStore(pool).set_status(reference, AccountStatus(status).value)
    if not found:
        raise ConfigError(f"no account with reference {reference!r}")
    print(f"account {reference}: {status}")
    return 0


async def add_do_not_call(number: str | None, reference: str | None, reason: str,
                          region: str) -> int:
    if number is not None:
        try:
            number = parse_phone(number, "number", ImportDefaults(region=region.upper())).number
        except ValueError as error:
            raise ConfigError(str(error)) from None
    async with _database() as pool:
        await AccountStore(pool).add_do_not_call(number=number, reference=reference,
                                                 reason=reason)
    print(f"do not call: {number or 'account ' + str(reference)} ({reason})")
    return 0


async def agent_command(action: str, endpoint: str | None, reason: str,
                        skills: str | None) -> int:
    """Log an agent in or out, pause or ready it, set its skills, or list
    the agents."""
    async with _database() as pool:
        store = AgentStore(pool)
        if action == "list":
            for agent in await store.list(datetime.now(UTC)):
                skill_text = ", ".join(f"{k} {v}" for k, v in sorted(agent.skills.items()))
                paused = f" ({agent.pause_reason})" if agent.pause_reason else ""
                print(f"{agent.endpoint:<12}{agent.state.value + paused:<22}{skill_text}")
            return 0
        if endpoint is None:
            raise ConfigError(f"agent {action}: give the agent's ENDPOINT")
        if action == "skills":
            await store.set_skills(endpoint, parse_skills(skills or ""))
            print(f"agent {endpoint}: skills {skills}")
            return 0
        try:
            moved = await store.act(endpoint, PERSON_ACTIONS[action], datetime.now(UTC),
                                    reason)
        except AgentTransitionError as error:
            raise ConfigError(f"agent {endpoint}: {error}") from None
    already = " (already logged in)" if moved.before is moved.after and action == "login" else ""
    print(f"agent {endpoint}: {moved.after.value}" + (f" ({reason})" if reason else "")
          + already)
    return 0


def parse_skills(text: str) -> dict[str, int]:
    """`language:es=5,negotiation=3` -> {skill: level}."""
    skills: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        skill, _, level = part.partition("=")
        if not skill or not re.fullmatch(r"[0-9]{1,3}", level):
            raise ConfigError(f"--skills: {part!r} is not skill=level (e.g. language:es=5)")
        _text(f"--skills: the skill {skill!r}", skill, required=True)
        if int(level) not in limits.SKILL_LEVEL:
            raise ConfigError(f"--skills: {skill}={level}: a level is a whole number "
                              f"{limits.SKILL_LEVEL}")
        skills[skill] = int(level)
    return skills


async def dispose(attempt: str, code: str, agent: str, note: str) -> int:
    """An agent's disposition of a call."""
    try:
        attempt_id = uuid.UUID(attempt)
    except ValueError:
        raise ConfigError(f"{attempt!r} is not an attempt id (a UUID)") from None
    async with _database() as pool:
        effect = await AgentStore(pool).dispose(attempt_id, code.upper(), agent, note,
                                                datetime.now(UTC))
    print(f"attempt {attempt}: {code.upper()}" + (f" ({effect})" if effect != "none" else ""))
    return 0
