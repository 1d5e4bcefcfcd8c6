"""`recobro bench pacing`: every pacing policy through a scenario matrix in
the simulator, and the LP optimum of each scenario's Markovian version. Writes JSON, a
Markdown table and one PNG plot; prints the table."""

from __future__ import annotations

import functools
import json
import os
import platform
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, replace
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from dialer.errors import ConfigError
from pacing.model import PacingPolicy
from pacing.optimum import LaunchTable, lp_optimum, lp_policy
from pacing.policies.lp import LpOptimal
from pacing.policies.pi import PiAbandon
from pacing.policies.predictive import Predictive
from pacing.policies.simple import FixedRatio, Preview, Progressive
from pacing.policies.vicidial import DropMode, VicidialAdaptive
from pacing.scenario import Scenario, ScenarioError, parse_scenarios
from pacing.simulator import simulate

# Package data of pacing (pyproject.toml), so an installed Recobro has it too.
DEFAULT_MATRIX: Traversable = resources.files("pacing") / "scenarios" / "matrix.toml"
# Fine enough that the best lawful ratio sits next to one that breaks the cap.
RATIOS = (1.25, 1.5, 1.75, 2.0, 2.25, 2.5, 2.75, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 7.0, 8.0, 10.0)
# VICIdial's knobs a tuner would turn: drop mode, maximum level, and a drop
# target below the legal cap to stay clear of it.
VICIDIAL = [(mode, top, share) for mode in DropMode for top in (1.5, 2.0, 3.0)
            for share in (1.0, 0.5)]
PI_GAINS = ((4.0, 0.02), (8.0, 0.05))
# The LP's optimal policy (knowing the scenario's truths) at these shares of
# the cap, in the Markovian versions: what the long-run optimum does to the
# 24 h windows, and the best such policy that keeps every one under the cap.
LP_CAP_SHARES = (1.0, 0.8, 0.6, 0.5, 0.4)
# The predictive policy and each family's best are run again with these seed
# offsets; the summary gives medians over all three runs.
CONFIRM_SEEDS = (1000, 2000)
FAMILIES = ("ratio", "vicidial", "pi")


@dataclass(frozen=True)
class Variant:
    family: str
    label: str
    params: tuple


def variants() -> list[Variant]:
    out = [Variant("preview", "preview", ()), Variant("progressive", "progressive", ())]
    out += [Variant("ratio", f"ratio {r:g}", (r,)) for r in RATIOS]
    out += [Variant("vicidial", f"vicidial {m.value} max {top:g} target {share:g}x",
                    (m.value, top, share)) for m, top, share in VICIDIAL]
    out += [Variant("pi", f"pi kp={kp:g} ki={ki:g}", (kp, ki)) for kp, ki in PI_GAINS]
    out.append(Variant("predictive", "recobro predictive", ()))
    out += [Variant("lp", f"LP policy at {share:g} x cap", (share,)) for share in LP_CAP_SHARES]
    return out


def runs_in(variant: Variant, scenario: Scenario) -> bool:
    """The LP's policy needs a Markovian scenario; the rest run in all."""
    return variant.family != "lp" or scenario.markovian


def build(variant: Variant, scenario: Scenario) -> PacingPolicy:
    """The policy of a variant, configured as an operator would for this
    scenario (cap, shift; AMD's known false-positive rate), never with the
    scenario's hidden truths (answer rate, talk time)."""
    match variant.family:
        case "preview":
            return Preview()
        case "progressive":
            return Progressive()
        case "ratio":
            return FixedRatio(variant.params[0])
        case "vicidial":
            mode, top, share = variant.params
            return VicidialAdaptive(DropMode(mode), drop_target=scenario.cap * share,
                                    max_level=top,
                                    shift_start=scenario.start_hour * 3600,
                                    shift_seconds=scenario.shift_hours * 3600)
        case "pi":
            kp, ki = variant.params
            return PiAbandon(target=scenario.cap, kp=kp, ki=ki)
        case "predictive":
            return Predictive(cap=scenario.cap,
                              day_end_s=(scenario.start_hour + scenario.shift_hours) * 3600,
                              amd_false_positive_rate=scenario.amd_false_positive)
        case "lp":  # a yardstick handed the truths, not a policy an operator could run
            table = _launch_table(scenario.agents, scenario.live_start, scenario.talk.mean,
                                  scenario.resolve_mean, scenario.cap * variant.params[0])
            return LpOptimal(table, seed=scenario.seed)
    raise ValueError(variant.family)


@functools.cache
def _launch_table(agents: int, answer_rate: float, talk_s: float, resolve_s: float,
                  cap: float) -> LaunchTable:
    """The LP's policy, solved once per process for each scenario and cap
    (a 200-agent team's takes 12-16 s; the seeds share it: LpOptimal only
    reads it)."""
    return lp_policy(agents, answer_rate, talk_s, resolve_s, cap)


def run_one(job: tuple[Scenario, Variant]) -> dict:
    scenario, variant = job
    started = time.perf_counter()
    metrics = simulate(scenario, build(variant, scenario))
    decisions = sorted(metrics.decision_ns)
    return {
        "scenario": scenario.name, "family": variant.family, "policy": variant.label,
        "occupancy": metrics.occupancy, "agent_wait_s": metrics.mean_wait_s,
        "connects_per_agent_hour": metrics.connects_per_agent_hour,
        "abandon_rate": metrics.abandon_rate,
        "worst_24h_abandon_rate": metrics.worst_window_abandon_rate(),
        "decision_median_us": statistics.median(decisions) / 1000 if decisions else 0.0,
        "decision_p99_us": decisions[int(0.99 * (len(decisions) - 1))] / 1000 if decisions else 0.0,
        "dials": metrics.dials, "live_answers": metrics.live_answers,
        "simulated_s": time.perf_counter() - started,
    }


def best_of_family(rows: list[dict], family: str, cap: float) -> dict | None:
    """The family's variant with the most occupancy among those whose worst
    24 h window stays within the cap."""
    lawful = [r for r in rows if r["family"] == family and r["worst_24h_abandon_rate"] <= cap]
    return max(lawful, key=lambda r: r["occupancy"]) if lawful else None


def _plan(scenarios: list[Scenario]) -> list[Scenario]:
    plan: list[Scenario] = []
    for scenario in scenarios:
        plan.append(scenario)
        if not scenario.markovian:
            plan.append(scenario.markovian_version())
    return plan


def _summarise(scenario: Scenario, rows: list[dict], lawful: dict[str, dict | None],
               confirm: dict[str, list[dict]]) -> dict:
    """Medians over the seeds of the predictive policy and of each family's
    best lawful variant, and the predictive's margin over each."""
    def median_of(label: str, key: str) -> float:
        return statistics.median(r[key] for r in confirm[label])

    predictive = next(r["policy"] for r in rows if r["family"] == "predictive")
    summary = {"seeds": 1 + len(CONFIRM_SEEDS), "policies": {}}
    for label in [predictive, "progressive", *(b["policy"] for b in lawful.values() if b)]:
        summary["policies"][label] = {
            "occupancy_median": median_of(label, "occupancy"),
            "occupancies": [r["occupancy"] for r in confirm[label]],
            "worst_24h_abandon_max": max(r["worst_24h_abandon_rate"] for r in confirm[label]),
            "decision_median_us": median_of(label, "decision_median_us"),
        }
    mine = summary["policies"][predictive]
    summary["predictive_margin_points"] = {
        f: (round(100 * (mine["occupancy_median"]
                         - summary["policies"][b["policy"]]["occupancy_median"]), 2)
            if b else None) for f, b in lawful.items()}
    summary["best_within_cap"] = {f: (b["policy"] if b else None) for f, b in lawful.items()}
    summary["ratio_margin_at_equal_abandon_points"] = _margin_at_equal_abandon(rows)
    summary["predictive_within_cap_every_seed"] = mine["worst_24h_abandon_max"] <= scenario.cap
    return summary


def _lp_policy_summary(scenario: Scenario, confirm: dict[str, list[dict]]) -> dict:
    """The LP's policy at each cap over the seeds, and the one at the
    highest cap whose every 24 h window of every seed stayed within the
    scenario's cap (the best stationary policy lawful window by window on
    these seeds), with the predictive's share of its occupancy."""
    def median_occupancy(label: str) -> float:
        return statistics.median(r["occupancy"] for r in confirm[label])

    runs = {}
    for variant in variants():
        if variant.family == "lp":
            seeds = confirm[variant.label]
            runs[variant.label] = {
                "cap": scenario.cap * variant.params[0],
                "occupancy_median": median_occupancy(variant.label),
                "abandon_median": statistics.median(r["abandon_rate"] for r in seeds),
                "worst_24h_abandon_max": max(r["worst_24h_abandon_rate"] for r in seeds)}
    lawful = [label for label, run in runs.items() if run["worst_24h_abandon_max"] <= scenario.cap]
    best = max(lawful, key=lambda label: runs[label]["cap"]) if lawful else None
    return {"runs": runs, "lawful_every_window": best,
            "predictive_share_of_lawful": (median_occupancy("recobro predictive")
                                           / runs[best]["occupancy_median"] if best else None)}


def _margin_at_equal_abandon(rows: list[dict]) -> float | None:
    """Predictive minus the best fixed ratio whose worst 24 h abandon rate is
    at most the predictive's, on the first seed, in points."""
    mine = next(r for r in rows if r["family"] == "predictive")
    peers = [r for r in rows if r["family"] == "ratio"
             and r["worst_24h_abandon_rate"] <= mine["worst_24h_abandon_rate"]]
    if not peers:
        return None
    return round(100 * (mine["occupancy"] - max(r["occupancy"] for r in peers)), 2)


def run_matrix(scenarios: list[Scenario], workers: int | None = None) -> dict:
    """Simulate every variant in every scenario and in its Markovian version
    (whose LP optimum is the yardstick), then run the predictive policy and each
    family's best again with more seeds; return the report as plain data."""
    plan = _plan(scenarios)
    by_label = {v.label: v for v in variants()}
    with ProcessPoolExecutor(max_workers=workers or os.cpu_count()) as pool:
        results = list(pool.map(run_one, [(s, v) for s in plan for v in variants()
                                          if runs_in(v, s)]))
        lawful: dict[str, dict[str, dict | None]] = {}
        chosen: dict[str, list[str]] = {}
        for scenario in plan:
            rows = [r for r in results if r["scenario"] == scenario.name]
            lawful[scenario.name] = {f: best_of_family(rows, f, scenario.cap) for f in FAMILIES}
            chosen[scenario.name] = ["recobro predictive", "progressive",
                                     *(b["policy"] for b in lawful[scenario.name].values() if b),
                                     *(v.label for v in variants()
                                       if v.family == "lp" and runs_in(v, scenario))]
        again = [(replace(s, seed=s.seed + offset), by_label[label])
                 for s in plan for label in chosen[s.name] for offset in CONFIRM_SEEDS]
        reruns = list(pool.map(run_one, again))
    report = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                          "processor": platform.processor() or platform.machine()},
              "scenarios": []}
    for scenario in plan:
        rows = [r for r in results if r["scenario"] == scenario.name]
        entry = {"name": scenario.name, "scenario": _jsonable(asdict(scenario)),
                 "rows": rows, "lp_optimum": None}
        if scenario.markovian:
            optimum = lp_optimum(scenario.agents, scenario.live_start, scenario.talk.mean,
                                 scenario.resolve_mean, scenario.cap)
            entry["lp_optimum"] = asdict(optimum)
            for row in rows + [r for r in reruns if r["scenario"] == scenario.name]:
                row["share_of_lp"] = row["occupancy"] / optimum.occupancy
        confirm = {label: [r for r in rows + reruns
                           if r["scenario"] == scenario.name and r["policy"] == label]
                   for label in chosen[scenario.name]}
        entry["summary"] = _summarise(scenario, rows, lawful[scenario.name], confirm)
        if scenario.markovian:
            entry["summary"]["lp_policy"] = _lp_policy_summary(scenario, confirm)
        best_ratio = lawful[scenario.name]["ratio"]
        if entry["lp_optimum"] and best_ratio:
            ratio_median = entry["summary"]["policies"][best_ratio["policy"]]["occupancy_median"]
            entry["summary"]["lp_room_above_best_ratio_points"] = round(
                100 * (entry["lp_optimum"]["occupancy"] - ratio_median), 2)
        report["scenarios"].append(entry)
    return report


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if hasattr(value, "value"):
        return value.value
    return value


def table(report: dict) -> str:
    """The report as Markdown tables, one per scenario."""
    lines = []
    for entry in report["scenarios"]:
        lp = entry["lp_optimum"]
        lines.append(f"### {entry['name']}")
        if lp:
            lines.append(f"LP optimum occupancy {lp['occupancy']:.1%} "
                         f"(clairvoyant bound 100%)")
        lines.append("")
        lines.append("| policy | occupancy | of LP | wait s | connects/agent-h | abandon | "
                     "worst 24 h | decision median µs |")
        lines.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        marks = {v for v in entry["summary"]["best_within_cap"].values() if v}
        for r in entry["rows"]:
            share = f"{r['share_of_lp']:.1%}" if "share_of_lp" in r else "-"
            name = f"**{r['policy']}**" if r["policy"] in marks or r["family"] == "predictive" \
                else r["policy"]
            lines.append(f"| {name} | {r['occupancy']:.1%} | {share} | {r['agent_wait_s']:.0f} | "
                         f"{r['connects_per_agent_hour']:.1f} | {r['abandon_rate']:.2%} | "
                         f"{r['worst_24h_abandon_rate']:.2%} | {r['decision_median_us']:.0f} |")
        summary = entry["summary"]
        lines.append("")
        lines.append(f"Median of {summary['seeds']} seeds: " + "; ".join(
            f"{label} {p['occupancy_median']:.1%} (worst 24 h up to "
            f"{p['worst_24h_abandon_max']:.2%})" for label, p in summary["policies"].items())
            + ". Predictive minus each family's best within the cap, in points: "
            + _margins(summary["predictive_margin_points"]) + ". Predictive within the cap "
            f"in every 24 h window of every seed: "
            f"{'yes' if summary['predictive_within_cap_every_seed'] else 'NO'}."
            + _equal_abandon(summary) + _room(summary) + _lp_policy(summary))
        lines.append("")
    return "\n".join(lines)


def _equal_abandon(summary: dict) -> str:
    margin = summary["ratio_margin_at_equal_abandon_points"]
    if margin is None:
        return " No fixed ratio kept its abandons at or under the predictive's."
    return (f" Against the best fixed ratio at equal or lower worst 24 h abandon "
            f"(first seed): {margin:+.1f} points.")


def _room(summary: dict) -> str:
    room = summary.get("lp_room_above_best_ratio_points")
    return "" if room is None else f" Room the LP optimum leaves above the best ratio: {room:.1f} points."


def _lp_policy(summary: dict) -> str:
    lp = summary.get("lp_policy")
    if lp is None:
        return ""
    runs = "; ".join(f"at {100 * run['cap']:.1f}% {run['occupancy_median']:.1%}, worst 24 h "
                     f"{run['worst_24h_abandon_max']:.2%}" for run in lp["runs"].values())
    best = lp["lawful_every_window"]
    verdict = (f"the highest cap whose every window held: {100 * lp['runs'][best]['cap']:.1f}%; "
               f"the predictive reaches {lp['predictive_share_of_lawful']:.1%} of it"
               if best else "none kept every window within the cap")
    return f" The LP's own policy in the simulator (median of the seeds): {runs}: {verdict}."


def _margins(margins: dict) -> str:
    return ", ".join(f"{f} {m:+.1f}" if m is not None else f"{f} (none)"
                     for f, m in margins.items())


def plot(report: dict, path: Path) -> None:
    """Occupancy against worst-24 h abandon rate, one panel per scenario."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    entries = report["scenarios"]
    cols = 3
    rows_n = (len(entries) + cols - 1) // cols
    fig, axes = plt.subplots(rows_n, cols, figsize=(5 * cols, 4 * rows_n), squeeze=False)
    colours = {"preview": "grey", "progressive": "black", "ratio": "tab:blue",
               "vicidial": "tab:orange", "pi": "tab:green", "predictive": "tab:red",
               "lp": "purple"}
    for ax, entry in zip(axes.flat, entries, strict=False):
        for family, colour in colours.items():
            rows = [r for r in entry["rows"] if r["family"] == family]
            ax.scatter([100 * r["worst_24h_abandon_rate"] for r in rows],
                       [100 * r["occupancy"] for r in rows], c=colour, label=family,
                       s=60 if family == "predictive" else 25)
        cap = 100 * entry["scenario"]["cap"]
        ax.axvline(cap, color="red", linestyle=":", linewidth=1)
        if entry["lp_optimum"]:
            ax.axhline(100 * entry["lp_optimum"]["occupancy"], color="purple",
                       linestyle="--", linewidth=1, label="LP optimum")
        ax.set_xscale("symlog", linthresh=1)
        ax.set_xlim(left=0)
        ax.set_title(entry["name"], fontsize=9)
        ax.set_xlabel("abandon rate, worst 24 h (%)")
        ax.set_ylabel("occupancy (%)")
    for ax in list(axes.flat)[len(entries):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def read_matrix(matrix: Traversable) -> list[Scenario]:
    """The scenarios of a TOML or JSON file (a clear error naming what is wrong)."""
    try:
        text = matrix.read_text()
    except OSError as error:
        raise ConfigError(f"scenario file {matrix}: {error.strerror}") from None
    try:
        return parse_scenarios(text, "json" if matrix.name.endswith(".json") else "toml",
                               where=str(matrix))
    except ScenarioError as error:
        raise ConfigError(str(error)) from None


def bench_pacing(matrix: Traversable, out_dir: Path) -> int:
    """Run the matrix, write pacing.json, pacing.md and pacing.png."""
    scenarios = read_matrix(matrix)
    started = time.perf_counter()
    report = run_matrix(scenarios)
    report["wall_seconds"] = round(time.perf_counter() - started, 1)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "pacing.json").write_text(json.dumps(report, indent=2))
    text = table(report)
    (out_dir / "pacing.md").write_text(text + "\n")
    plot(report, out_dir / "pacing.png")
    print(text)
    print(f"wrote {out_dir / 'pacing.json'}, pacing.md and pacing.png "
          f"in {report['wall_seconds']} s")
    return 0
