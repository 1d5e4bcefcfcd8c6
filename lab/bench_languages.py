"""`recobro bench pacing-languages`: a campaign whose debtors speak Spanish
or English, in the simulator, with the predictive policy. Each scenario
(with debtor_languages and agent_languages) runs three ways on each seed:
the same team without language constraints (anyone takes any call), a
language-blind dialer (one snapshot of every agent; each debtor's language
drawn from the shares, connecting only to an agent who speaks it) and
pacing by language pool (pacing.pools). Figures are medians over the seeds;
abandon rates also by language, pooled over the seeds. Where every agent
speaks one language, the LP optimum of the scenario's Markovian version
too, as one pool and as its language pools sharing the cap: what no policy
can pass, so how much of the gap is the pools' own. Writes JSON and a
Markdown table; prints the table."""

from __future__ import annotations

import json
import statistics
from dataclasses import replace
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from lab.bench import build, read_matrix
from lab.bench_restart import PREDICTIVE
from pacing.optimum import lp_optimum, pools_optimum
from pacing.scenario import Scenario
from pacing.simulator import Simulation

DEFAULT_SCENARIOS: Traversable = resources.files("pacing") / "scenarios" / "languages.toml"
SEEDS = (0, 1000, 2000)
WAYS = ("no languages", "language-blind", "by pool")


def run_one(job: tuple[Scenario, str]) -> dict:
    scenario, way = job
    plain = scenario.without_languages() if way == "no languages" else scenario
    simulation = Simulation(plain, build(PREDICTIVE, plain), by_pool=way == "by pool")
    metrics = simulation.run()
    return {"scenario": scenario.name, "seed": scenario.seed, "way": way,
            "occupancy": metrics.occupancy, "abandon_rate": metrics.abandon_rate,
            "worst_24h_abandon_rate": metrics.worst_window_abandon_rate(),
            "agent_wait_s": metrics.mean_wait_s, "dials": metrics.dials,
            "live_by_language": dict(metrics.people_by_language),
            "abandoned_by_language": dict(metrics.abandoned_by_language)}


def pool_optimum(scenario: Scenario) -> dict | None:
    """The LP optimum of the Markovian version as one pool and as the
    scenario's language pools sharing the cap; None when an agent speaks
    more than one language (the pools then overlap, which the LP does not
    model)."""
    if any(len(group.languages) != 1 for group in scenario.agent_languages):
        return None
    markov = scenario.markovian_version()
    args = (markov.live_start, markov.talk.mean, markov.resolve_mean, markov.cap)
    return {"one_pool": lp_optimum(markov.agents, *args).occupancy,
            "by_pool": pools_optimum([g.count for g in scenario.agent_languages],
                                     *args).occupancy}


def run_languages(scenarios: list[Scenario], seeds: tuple[int, ...] = SEEDS) -> dict:
    """Every scenario, each seed, each way, one run at a time; and per
    scenario the medians."""
    jobs = [(replace(s, seed=s.seed + offset), way)
            for s in scenarios for offset in seeds for way in WAYS]
    rows = []
    for job in jobs:
        rows.append(run_one(job))
        print(f"{job[0].name}, seed {job[0].seed}, {job[1]}: occupancy "
              f"{rows[-1]['occupancy']:.1%}, abandons {rows[-1]['abandon_rate']:.2%}",
              flush=True)
    summary = []
    for scenario in scenarios:
        line: dict = {"scenario": scenario.name, "lp_optimum": pool_optimum(scenario)}
        for way in WAYS:
            runs = [r for r in rows if r["scenario"] == scenario.name and r["way"] == way]
            line[way] = {
                "occupancy": statistics.median(r["occupancy"] for r in runs),
                "abandon_rate": statistics.median(r["abandon_rate"] for r in runs),
                "worst_24h_abandon_rate": max(r["worst_24h_abandon_rate"] for r in runs),
                "abandon_by_language": {
                    s.language: sum(r["abandoned_by_language"].get(s.language, 0) for r in runs)
                    / max(1, sum(r["live_by_language"].get(s.language, 0) for r in runs))
                    for s in scenario.debtor_languages} if way != "no languages" else {}}
        summary.append(line)
    return {"seeds": len(seeds), "rows": rows, "summary": summary}


def table(report: dict) -> str:
    head = (f"The predictive policy, medians over {report['seeds']} seeds (occupancy, abandon "
            "rate); the worst 24 h window is the worst seed's; abandons by language pooled "
            "over the seeds.")
    lines = [head, "", ("| scenario | way | occupancy | abandon rate | worst 24 h | "
                        "abandons by language |"), "|---|---|---|---|---|---|"]
    for s in report["summary"]:
        for way in WAYS:
            w = s[way]
            languages = ", ".join(f"{k} {v:.1%}" for k, v in w["abandon_by_language"].items())
            lines.append(f"| {s['scenario']} | {way} | {w['occupancy']:.1%} | "
                         f"{w['abandon_rate']:.2%} | {w['worst_24h_abandon_rate']:.2%} | "
                         f"{languages or '-'} |")
    bounds = [(s["scenario"], s["lp_optimum"]) for s in report["summary"] if s["lp_optimum"]]
    if bounds:
        lines += ["", ("LP optimum of the Markovian version (no policy does better): "
                       "one pool, and the language pools sharing the cap."), "",
                  "| scenario | one pool | by pool | the pools' own cost |", "|---|---|---|---|"]
        lines += [f"| {name} | {lp['one_pool']:.1%} | {lp['by_pool']:.1%} | "
                  f"{100 * (lp['one_pool'] - lp['by_pool']):.1f} points |"
                  for name, lp in bounds]
    return "\n".join(lines)


def bench_languages(scenarios: Traversable = DEFAULT_SCENARIOS,
                    out_dir: Path = Path("bench-results"), runs: int = len(SEEDS)) -> int:
    """Run the language benchmark on the first `runs` of SEEDS; write
    languages.json and languages.md in out_dir, print the table."""
    report = run_languages(read_matrix(scenarios), SEEDS[:runs])
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "languages.json").write_text(json.dumps(report, indent=1))
    text = table(report)
    (out_dir / "languages.md").write_text(text + "\n")
    print(text)
    return 0
