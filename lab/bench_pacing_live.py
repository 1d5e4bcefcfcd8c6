"""`recobro bench pacing-live`: the simulator held to the lab. One
predictive campaign runs through the real lab (Asterisk, the sipp PSTN's
debtors, the lab's sipp agents with a wrap-up timer, PostgreSQL) for a
while, and the same campaign through the simulator: the same scenario, the
same debtors in the same order (pacing.fates, each written into its lab
number), the same policy (the live dialer's make_policy), the same start
hour. Both runs' figures come from their calls' moments the same way
(pacing.figures): the lab's from PostgreSQL (attempts and calls), the
simulator's from Simulation.moments. Writes pacing-live.json,
pacing-live.md and pacing-live.png; prints the table."""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from dialer.agents.store import AgentStore
from dialer.calls.outcome import AttemptResult
from dialer.errors import ConfigError
from dialer.outbound.commands import build_campaign
from dialer.outbound.dialer import CampaignDialer, make_policy
from dialer.outbound.lifecycles import CampaignAction
from dialer.outbound.results import AGENT_DEADLINE, unanswered_result
from dialer.outbound.store import CampaignStore
from dialer.portfolio.importer import import_file
from dialer.portfolio.importing import ImportDefaults
from dialer.portfolio.store import AccountStore
from dialer.settings import Settings
from dialer.store.database import open_pool
from lab import sipp
from lab.bench import read_matrix
from lab.bench_db import BenchDatabase
from lab.config import LabConfig
from lab.lab import enrol_agents
from lab.number_plan import LONGEST_STAY_SECONDS, Behaviour, lab_number
from pacing.fates import Fate, draw_fates
from pacing.figures import StretchFigures, stretch_figures
from pacing.model import DialResult, PacingPolicy
from pacing.scenario import Scenario, ScenarioError, Shape
from pacing.simulator import LAST_DIAL_S, Simulation
from pacing.timeline import CallMoments

DEFAULT_SCENARIO: Traversable = resources.files("pacing") / "scenarios" / "live.toml"
DEFAULT_MINUTES = 20.0
# Both runs are measured from here on: the closed loop's cold start and the
# first calls' ramp are left out of each alike.
WARM_UP_S = 120.0
# Leads for several times the dials the team could need, so neither run
# runs out (a run that did would say so: its dials stop short).
LEADS_MARGIN = 3.0
FATE_BEHAVIOUR = {DialResult.BUSY: Behaviour.BUSY, DialResult.FAILED: Behaviour.CONGESTION,
                  DialResult.NO_ANSWER: Behaviour.NO_ANSWER}
REGISTER_EXPIRES_S = 3600.0  # what lab/scenarios/agent_register.xml asks for
# Figures in shares, compared in points; a difference over this is explained.
POINTS_TO_EXPLAIN = 2.0


def check_scenario(scenario: Scenario, cfg: LabConfig) -> None:
    """ConfigError naming what of the scenario the lab cannot play."""
    where = scenario.name
    if scenario.agents > len(cfg.agents):
        raise ConfigError(f"{where}: agents = {scenario.agents}, but the lab runs "
                          f"{len(cfg.agents)}: `RECOBRO_LAB_AGENTS={scenario.agents} recobro lab "
                          "up` (and the same setting for `recobro lab down`)")
    if scenario.wrap.shape is not Shape.FIXED or scenario.wrap.mean != round(scenario.wrap.mean):
        raise ConfigError(f"{where}: wrap must be a whole number of seconds: the campaign's "
                          "wrap-up is a fixed timer")
    if scenario.ring_timeout != round(scenario.ring_timeout):
        raise ConfigError(f"{where}: ring_timeout must be whole seconds (the campaign's "
                          "--ring-timeout)")
    if scenario.debtor_languages or scenario.pause_per_hour or scenario.login_stagger_minutes \
            or scenario.amd_false_positive or scenario.amd_false_negative:
        raise ConfigError(f"{where}: languages, pauses, login stagger and AMD are not played "
                          "by the lab's debtors and agents; leave them out")


def lead_count(scenario: Scenario, seconds: float) -> int:
    """Enough leads for the run: every agent busy all along, LEADS_MARGIN over."""
    cycle = scenario.talk.mean + scenario.wrap.mean
    return int(LEADS_MARGIN * scenario.agents * seconds / cycle / scenario.live_start) + 100


def fate_number(fate: Fate, index: int) -> str:
    """The lab number that plays fate: a North American number (area 212),
    its exchange and last digit the lead's index, its B P P the fate."""
    if fate.result is DialResult.LIVE:
        behaviour, parameter = Behaviour.ANSWER_AND_STAY, f"{fate.talk_s:02d}"
    else:
        behaviour, parameter = FATE_BEHAVIOUR[fate.result], "00"
    return lab_number(behaviour, parameter, serial=index % 10,
                      prefix=f"+1212{200 + index // 10:03d}")


def write_accounts(path: Path, prefix: str, fates: list[Fate]) -> None:
    """One account per fate; balances fall with the index, so the hopper
    (highest value first) dials them in the fates' order, as the simulator
    does, and stay in the low tier, so any agent may take any debtor (a high
    balance needs an agent of the high tier: dialer.agents.routing)."""
    if len(fates) > 8000:
        raise ConfigError(f"{len(fates)} leads: the lab numbers hold 8,000; run shorter")
    lines = ["reference,debtor_name,balance,days_past_due,phone1,client_segment"]
    lines += [f"{prefix}{i},Debtor {i},{900 - i / 10:.2f},10,{fate_number(fate, i)},{prefix}"
              for i, fate in enumerate(fates)]
    path.write_text("\n".join(lines) + "\n")


# A call's dial is the engine's (calls.originated_at), a moment after the attempt began.
_ATTEMPTS = """
SELECT a.started_at, k.originated_at, a.answered_at, a.connected_at, a.ended_at, a.result,
       a.account_id
FROM attempts a JOIN calls k ON k.id = a.id
WHERE a.campaign_id = $1 AND a.result IS NOT NULL
"""


def lab_moments(rows: list, epoch: datetime, wrap_s: float) -> list[CallMoments]:
    """Each lab call's moments on the run's clock (seconds since epoch): an
    answered call's wrap-up ends wrap_s after its end (the agent's timer),
    an abandon AGENT_DEADLINE after the answer."""
    def t(moment: datetime) -> float:
        return (moment - epoch).total_seconds()

    moments = []
    for row in rows:
        dialed = t(row["originated_at"])
        if row["answered_at"] is None:
            moments.append(CallMoments(dialed, t(row["ended_at"]),
                                       unanswered_result(AttemptResult(row["result"]))))
            continue
        answered = t(row["answered_at"])
        call = CallMoments(dialed, answered, DialResult.LIVE, answered_at=answered)
        if row["connected_at"] is not None:
            call.connected_at = call.talk_started_at = t(row["connected_at"])
            call.talk_ended_at = max(t(row["ended_at"]), call.connected_at)
            call.wrap_up_ended_at = call.talk_ended_at + wrap_s
        elif row["result"] == AttemptResult.ABANDONED.value:
            call.abandoned_at = answered + AGENT_DEADLINE.total_seconds()
        moments.append(call)
    return moments


def _seconds(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3),
            "max": round(max(values), 3), "count": len(values)}


async def run_lab(settings: Settings, cfg: LabConfig, scenario: Scenario, fates: list[Fate],
                  seconds: float, work: Path) -> dict:
    """The campaign through the lab, on a bench database of its own."""
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    prefix = f"PL{stamp}-"
    team = cfg.agents[:scenario.agents]
    # A lab's phones register once, for REGISTER_EXPIRES_S: a lab up for
    # longer would have Asterisk refuse to call them in mid-run.
    for agent in team:
        sipp.register_agent(cfg, agent)
    with BenchDatabase(settings.database_url) as url:
        enrol_agents(replace(cfg, agents=team), url)
        bench_settings = replace(settings, database_url=url)
        pool = await open_pool(url)
        try:
            accounts = work / "pacing-live-accounts.csv"
            write_accounts(accounts, prefix, fates)
            outcome = await import_file(AccountStore(pool), accounts, {}, ImportDefaults())
            if outcome.errors:
                raise ConfigError(f"bench accounts did not import: {outcome.errors[:3]}")
            campaign = build_campaign(
                f"pacing-live-{stamp}", "predictive", ratio=1.0, abandon_target=scenario.cap,
                caller_id=settings.caller_id, window="00:00-24:00",
                ring_timeout_s=int(scenario.ring_timeout), wrap_up_s=int(scenario.wrap.mean),
                early_max_dpd=30, mid_max_dpd=90, segments="early,mid,late", strategies=None,
                portfolio=prefix)
            campaigns = CampaignStore(pool)
            campaign_id = await campaigns.create(campaign)
            await AgentStore(pool).log_in_everyone(datetime.now(UTC))
            await campaigns.steer(campaign.name, CampaignAction.START)
            dialer = await CampaignDialer.start(bench_settings, campaign.name)
            began = datetime.now(UTC)
            try:
                await dialer.run(seconds=seconds, progress=lambda line: print(line, flush=True))
            finally:
                await campaigns.steer(campaign.name, CampaignAction.STOP)
                await dialer.close()
            rows = await pool.fetch(_ATTEMPTS, campaign_id)
            paused = await pool.fetch("SELECT endpoint, pause_reason FROM agents "
                                      "WHERE state = 'paused'")
            left = await pool.fetchval("SELECT count(*) FROM leads WHERE campaign_id = $1 "
                                       "AND state = 'ready' AND attempts = 0", campaign_id)
        finally:
            await pool.close()
    moments = lab_moments(rows, began, scenario.wrap.mean)
    results: dict[str, int] = {}
    for row in rows:
        results[row["result"]] = results.get(row["result"], 0) + 1
    answers = [c.resolved_at - c.dialed_at for c in moments if c.result is DialResult.LIVE]
    rejects = [c.resolved_at - c.dialed_at for c in moments
               if c.result in (DialResult.BUSY, DialResult.FAILED)]
    placing = [(r["originated_at"] - r["started_at"]).total_seconds() for r in rows]
    return {"began": began.isoformat(timespec="seconds"), "moments": moments,
            "results": results, "leads_left": left,
            "redials": len(rows) - len({r["account_id"] for r in rows}),
            "attempt_to_originate_s": _seconds(placing),
            "paused_agents": [f"{r['endpoint']} ({r['pause_reason']})" for r in paused],
            "dial_to_answer_s": _seconds(answers), "dial_to_refusal_s": _seconds(rejects),
            "campaign": campaign}


def run_simulator(scenario: Scenario, fates: list[Fate], seconds: float, began: datetime,
                  policy: PacingPolicy) -> list[CallMoments]:
    """The same campaign in the simulator: the same fates and policy, the
    shift starting at the lab run's hour and dialing as long; moments on
    the run's clock."""
    start_s = (began - began.replace(hour=0, minute=0, second=0, microsecond=0)).total_seconds()
    shifted = replace(scenario, start_hour=start_s / 3600.0, days=1,
                      shift_hours=(seconds + LAST_DIAL_S) / 3600.0)
    simulation = Simulation(shifted, policy, fates=fates)
    simulation.run()
    return [replace(call, **{name: (value - start_s if isinstance(value, float) else value)
                             for name, value in asdict(call).items()})
            for call in simulation.moments.values()]


def _figures(figures: StretchFigures) -> dict:
    return {**asdict(figures), "dials_per_agent_hour": figures.dials_per_agent_hour}


def compare(lab: StretchFigures, simulated: StretchFigures) -> list[dict]:
    """Each figure in both runs and their difference; shares in points."""
    rows = []
    for name, share in (("occupancy", True), ("abandon_rate", True), ("agent_wait_s", False),
                        ("dial_level", False), ("dials_per_agent_hour", False),
                        ("talk_s", False)):
        mine, theirs = getattr(lab, name), getattr(simulated, name)
        difference = (mine - theirs) * (100.0 if share else 1.0)
        rows.append({"figure": name, "lab": mine, "simulator": theirs,
                     "difference": difference, "in_points": share,
                     "to_explain": share and abs(difference) > POINTS_TO_EXPLAIN})
    return rows


_LABELS = {"occupancy": "occupancy", "abandon_rate": "abandon rate",
           "agent_wait_s": "agent wait (s)", "dial_level": "dial level (calls ringing per agent)",
           "dials_per_agent_hour": "dials per agent-hour",
           "talk_s": "talk per connection (s)"}


def table(report: dict) -> str:
    """The side-by-side table in Markdown, with the counts under it."""
    head = (f"{report['scenario']}: {report['minutes']:g} min dialing, measured from minute "
            f"{WARM_UP_S / 60:g}.")
    lines = [head, "", "| figure | lab | simulator | lab - simulator |",
             "| --- | ---: | ---: | ---: |"]
    for row in report["comparison"]:
        if row["in_points"]:
            cells = (f"{row['lab']:.1%}", f"{row['simulator']:.1%}",
                     f"{row['difference']:+.1f} points{' (over 2)' if row['to_explain'] else ''}")
        else:
            cells = (f"{row['lab']:.2f}", f"{row['simulator']:.2f}", f"{row['difference']:+.2f}")
        lines.append(f"| {_LABELS[row['figure']]} | " + " | ".join(cells) + " |")
    for run in ("lab", "simulator"):
        f = report[run]
        lines.append("")
        lines.append(f"{run}: {f['dials']} dials, {f['people']} people answered, "
                     f"{f['connects']} connected, {f['abandoned']} abandoned (in the measured "
                     "stretch)")
    return "\n".join(lines)


PLOT_STEP_S = 10.0


def _busy_over_time(calls: list[CallMoments], seconds: float) -> tuple[list[float], list[float]]:
    """At each PLOT_STEP_S, the agents in a call or its wrap-up, and the
    calls ringing."""
    times = [PLOT_STEP_S * i for i in range(int(seconds / PLOT_STEP_S) + 1)]
    busy = [sum(1 for c in calls if c.talk_started_at is not None
                and c.talk_started_at <= t < (c.wrap_up_ended_at or c.talk_ended_at or t))
            for t in times]
    ringing = [sum(1 for c in calls if c.dialed_at <= t < c.resolved_at) for t in times]
    return busy, ringing


def plot(lab: list[CallMoments], simulated: list[CallMoments], agents: int, seconds: float,
         path: Path) -> None:
    """Agents busy (talk and wrap-up) and calls ringing over the run, lab
    and simulator."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    minutes = [PLOT_STEP_S * i / 60.0 for i in range(int(seconds / PLOT_STEP_S) + 1)]
    fig, ax = plt.subplots(figsize=(7, 4))
    for calls, name, style in ((lab, "lab", "-"), (simulated, "simulator", "--")):
        busy, ringing = _busy_over_time(calls, seconds)
        ax.plot(minutes, busy, style, color="tab:blue", label=f"agents busy, {name}")
        ax.plot(minutes, ringing, style, color="tab:orange", label=f"calls ringing, {name}")
    ax.axhline(agents, color="grey", linestyle=":", label="agents")
    ax.axvline(WARM_UP_S / 60.0, color="grey", linestyle="-.", linewidth=0.8)
    ax.set_xlabel("minutes since the dialer started")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize="small", loc="lower right")
    ax.set_title("recobro bench pacing-live")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def bench_pacing_live(settings: Settings, cfg: LabConfig, scenario_file: Traversable,
                      minutes: float, out_dir: Path) -> int:
    """Run the scenario file's first scenario through the lab for minutes,
    then through the simulator; write pacing-live.json and pacing-live.md."""
    scenario = read_matrix(scenario_file)[0]
    check_scenario(scenario, cfg)
    seconds = minutes * 60.0
    if seconds > REGISTER_EXPIRES_S - 300.0:
        raise ConfigError(f"--minutes {minutes:g}: at most {(REGISTER_EXPIRES_S - 300) / 60:g}, "
                          "within the agents' registration (renewed when the bench starts)")
    if seconds <= WARM_UP_S + 60.0:
        raise ConfigError(f"--minutes {minutes:g}: at least {(WARM_UP_S + 60.0) / 60:g}, the "
                          "warm-up left out and a minute measured")
    try:
        fates = draw_fates(scenario, lead_count(scenario, seconds), LONGEST_STAY_SECONDS)
    except ScenarioError as error:
        raise ConfigError(str(error)) from None
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="recobro-bench-pacing-live-") as work:
        lab = asyncio.run(run_lab(settings, cfg, scenario, fates, seconds, Path(work)))
    began = datetime.fromisoformat(lab["began"])
    simulated = run_simulator(scenario, fates, seconds, began, make_policy(lab["campaign"]))
    lab_figures = stretch_figures(lab["moments"], scenario.agents, WARM_UP_S, seconds)
    sim_figures = stretch_figures(simulated, scenario.agents, WARM_UP_S, seconds)
    report = {
        "scenario": scenario.name, "minutes": minutes, "warm_up_s": WARM_UP_S,
        "leads": len(fates), "lab_started": lab["began"],
        "lab_ended": (began + timedelta(seconds=seconds)).isoformat(timespec="seconds"),
        "lab": _figures(lab_figures), "simulator": _figures(sim_figures),
        "comparison": compare(lab_figures, sim_figures),
        "lab_results": lab["results"], "lab_leads_never_dialed": lab["leads_left"],
        "lab_redials": lab["redials"],
        "lab_attempt_to_originate_s": lab["attempt_to_originate_s"],
        "lab_paused_agents": lab["paused_agents"],
        "lab_dial_to_answer_s": lab["dial_to_answer_s"],
        "lab_dial_to_refusal_s": lab["dial_to_refusal_s"],
        "scenario_answer_delay_s": scenario.answer_delay.mean,
        "scenario_reject_delay_s": scenario.reject_delay.mean,
    }
    (out_dir / "pacing-live.json").write_text(json.dumps(report, indent=2))
    text = table(report)
    (out_dir / "pacing-live.md").write_text(text + "\n")
    plot(lab["moments"], simulated, scenario.agents, seconds, out_dir / "pacing-live.png")
    print(text)
    if report["lab_paused_agents"]:
        print(f"agents paused in the lab (their time counted as ready): "
              f"{', '.join(report['lab_paused_agents'])}")
    print(f"wrote {out_dir / 'pacing-live.json'}, pacing-live.md and pacing-live.png")
    return 0
