"""What `recobro campaign ...` does: create, steer, run and report on a
campaign."""

from __future__ import annotations

import re
import sys
import tomllib
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from dialer import limits
from dialer.compliance.abandon import CAP
from dialer.compliance.windows import check_profile
from dialer.errors import ConfigError
from dialer.metrics.exporter import MetricsExporter
from dialer.outbound import reports
from dialer.outbound.dialer import CampaignDialer
from dialer.outbound.lifecycles import CampaignAction
from dialer.outbound.store import CampaignStore
from dialer.portfolio.model import (
    AnsweredTo,
    Campaign,
    DialMode,
    MachineAction,
    Segment,
    SegmentThresholds,
    Strategy,
    default_strategies,
)
from dialer.process import run_until_stopped, started
from dialer.settings import (
    configured_payment_gateway,
    load_metrics_settings,
    load_settings,
)
from dialer.store.database import configured_database

_RETRY_FIELDS = {f"retry_{name}": name for name in
                 ("busy_s", "no_answer_s", "machine_s", "abandoned_s", "failed_s", "hung_up_s")}
# What a segment offers a debtor paying by keypad, and each one's range.
PAYMENT_FIELDS = {"settlement_percent": limits.SETTLEMENT_PERCENT,
                  "instalments": limits.INSTALMENTS, "promise_days": limits.PROMISE_DAYS}
NOT_OFFERED = "none"  # a payment term's value that offers nothing


def payment_term(what: str, value: object, allowed: limits.Range) -> int | None:
    """A payment term as stored: a whole number in range, or None for
    NOT_OFFERED (a string from the command line, or a TOML value);
    ConfigError naming what and the range otherwise."""
    if value == NOT_OFFERED:
        return None
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value not in allowed:
        raise ConfigError(f"{what} {value!r}: a whole number {allowed}, or {NOT_OFFERED!r} "
                          "to offer none")
    return value


def with_payment_terms(strategies: tuple[Strategy, ...], given: dict[str, str | None]
                       ) -> tuple[Strategy, ...]:
    """strategies with the payment terms given on the command line
    (--settlement-percent, --instalments, --promise-days: field name ->
    value, None when not given) set for every segment."""
    changes = {name: payment_term(f"--{name.replace('_', '-')}", value, PAYMENT_FIELDS[name])
               for name, value in given.items() if value is not None}
    return tuple(replace(s, payment=replace(s.payment, **changes)) for s in strategies)


def load_strategies(path: Path, dial_mode: DialMode,
                    base: tuple[Strategy, ...] | None = None) -> tuple[Strategy, ...]:
    """Per-segment strategies from a TOML file: a table per segment
    ([early], [mid], [late]) with dial_mode, priority, max_attempts,
    retry_*_s and the payment terms (settlement_percent, instalments,
    promise_days, each a number or "none"); what a table leaves out keeps
    base's (the defaults when not given)."""
    try:
        tables = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ConfigError(f"strategies file {path}: {error}") from None
    strategies = {s.segment.value: s for s in base or default_strategies(dial_mode)}
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
            elif key in PAYMENT_FIELDS:
                term = payment_term(f"{where}: {key}", value, PAYMENT_FIELDS[key])
                current = replace(current, payment=replace(current.payment, **{key: term}))
            else:
                raise ConfigError(f"{where}: unknown setting {key!r}")
        strategies[name] = replace(current, retry=retry)
    return tuple(strategies.values())


def answered_lines(answered_to: str, lines: int | None) -> int | None:
    """The max_lines of a campaign whose answered calls go to answered_to:
    --lines (limits.DEFAULT_LINES when not given) for self_service, none
    for agent (agents pace that campaign); ConfigError naming the option
    otherwise."""
    try:
        where = AnsweredTo(answered_to)
    except ValueError:
        raise ConfigError(f"--answered-to {answered_to!r}: use "
                          f"{' or '.join(a.value for a in AnsweredTo)}") from None
    if where is AnsweredTo.AGENT:
        if lines is not None:
            raise ConfigError(f"--lines {lines}: only with --answered-to self_service (a "
                              "campaign answered by agents is paced to its free agents)")
        return None
    lines = limits.DEFAULT_LINES if lines is None else lines
    _in_range("--lines", lines, limits.LINES)
    return lines


def _whole_number(what: str, value: object, allowed: limits.Range) -> None:
    """ConfigError unless value is an integer in range (TOML's true is not)."""
    if isinstance(value, bool) or not isinstance(value, int) or value not in allowed:
        raise ConfigError(f"{what} must be a whole number {allowed}")


def _in_range(option: str, value: float, allowed: limits.Range) -> None:
    if value not in allowed:  # NaN too: it is in no range
        shown = value if isinstance(value, int) else f"{value:g}"
        raise ConfigError(f"{option} {shown}: allowed {allowed}")


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
                   allow_above_cap: bool = False,
                   payment: dict[str, str | None] | None = None,
                   answered_to: str = AnsweredTo.AGENT.value,
                   lines: int | None = None) -> Campaign:
    """A campaign from command-line settings; ConfigError names the one
    wrong and its allowed range, before PostgreSQL sees any of them.
    payment: the payment terms given for every segment (field name ->
    value, see with_payment_terms); a strategies file may then set a
    segment's own. answered_to: where answered live calls go (agent, or
    self_service: an agentless press-to-pay campaign, paced by its lines,
    at most that many calls in flight)."""
    dial_mode = DialMode(mode)
    max_lines = answered_lines(answered_to, lines)
    limits.check_text("the campaign's name", name, required=True)
    limits.check_text("--portfolio", portfolio, required=False)
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
    base = with_payment_terms(default_strategies(dial_mode), payment or {})
    return Campaign(
        id=0, name=name, dial_mode=dial_mode, dial_ratio=ratio, abandon_target=abandon_target,
        caller_id=caller_id, window_profile=window, ring_timeout_s=ring_timeout_s,
        wrap_up_s=wrap_up_s, thresholds=SegmentThresholds(early_max_dpd, mid_max_dpd),
        segments=chosen,
        strategies=load_strategies(strategies, dial_mode, base) if strategies else base,
        portfolio=portfolio, amd=amd,
        machine_action=MachineAction(machine_action), answered_to=AnsweredTo(answered_to),
        max_lines=max_lines)


def pacing(campaign: Campaign) -> str:
    """How the campaign is paced, in words: its dial mode, or a
    self-service campaign's lines."""
    if campaign.max_lines is None:
        return campaign.dial_mode.value
    return f"self-service, at most {campaign.max_lines} call(s) at once"


async def create_campaign(campaign: Campaign) -> int:
    async with configured_database() as pool:
        _, leads = await CampaignStore(pool).create_with_leads(campaign)
    print(f"campaign {campaign.name} created ({pacing(campaign)}, window "
          f"{campaign.window_profile}), {leads} lead(s); start it with "
          f"`recobro campaign start {campaign.name}`")
    return 0


async def steer_campaign(name: str, action: str) -> int:
    """Start, pause, resume or stop a campaign."""
    async with configured_database() as pool:
        state = await CampaignStore(pool).steer(name, CampaignAction(action))
    print(f"campaign {name}: {state.value}")
    return 0


async def run_campaign(name: str, seconds: float | None, until_idle: bool = False) -> int:
    """Run a campaign's dialer in this process until the campaign is
    stopped, seconds pass, it is idle (with until_idle: nothing left to dial
    now and no call up), or SIGINT/SIGTERM (then calls in flight end)."""
    settings = load_settings()
    metrics = load_metrics_settings()
    # With a card gateway (RECOBRO_PAYMENT_GATEWAY_URL), debtors may pay by
    # keypad in self-service and agents may hand their debtors to the capture.
    gateway = configured_payment_gateway()
    dialer = await CampaignDialer.start(settings, name, gateway)
    if dialer.campaign.answered_to is AnsweredTo.SELF_SERVICE and gateway is None:
        print(f"recobro: warning: campaign {name}: no card gateway (RECOBRO_PAYMENT_GATEWAY_URL), so "
              "its self-service menu offers no payment by keypad", file=sys.stderr, flush=True)
    if dialer.campaign.abandon_target > CAP:
        print(f"recobro: warning: campaign {name} paces to an abandon rate of "
              f"{dialer.campaign.abandon_target:.1%}, above the {CAP:.0%} cap "
              "(--allow-abandon-above-cap)", file=sys.stderr, flush=True)
    try:
        if dialer.tally.adopted:
            print(f"adopted {dialer.tally.adopted} call(s) left by a dialer that died", flush=True)
        started()
        async with MetricsExporter(metrics, "dialer"):
            # Its error (PostgreSQL gone for good, say) is the command's.
            await run_until_stopped(
                dialer.run(seconds=seconds, until_idle=until_idle, progress=lambda line: print(line, flush=True)),
                dialer.stop)
    finally:
        await dialer.close()
    return 0


async def campaign_status(name: str) -> int:
    """The campaign's state, its leads, attempts, abandon rate and refusals."""
    now = datetime.now(UTC)
    async with configured_database() as pool:
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
    print(f"campaign {name}: {state}, {pacing(campaign)}, window "
          f"{campaign.window_profile}")
    print(f"leads: {leads}")
    print("attempts: " + (", ".join(f"{k} {v}" for k, v in results) or "none"))
    above = " (above the cap, by the operator's --allow-abandon-above-cap)" \
        if campaign.abandon_target > CAP else ""
    print("abandon rate: " + "; ".join(map(str, abandons))
          + f"; cap {CAP:.0%}, campaign target {campaign.abandon_target:.1%}{above}")
    print("refused by rule: " + (", ".join(f"{k} {v}" for k, v in refusals) or "none"))
    return 0
