"""`recobro bench pacing-restart`: what restarting the dialer mid-shift
costs the predictive policy, in the simulator. Each scenario runs three
ways on each seed: uninterrupted; the dialer stopped two hours into the
shift and a new one started (GAPS later) cold (a new policy that knows
nothing); or warm (the new policy reads what the campaign's pacing heard
until the stop, and the closed loop's last state, as a restarted dialer
reads them from PostgreSQL). The figure is the occupancy of the PROBE_S after
the stop, against the uninterrupted run's over the same window (medians
over the seeds). Writes JSON and a Markdown table; prints the table."""

from __future__ import annotations

import json
import statistics
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from importlib.resources.abc import Traversable
from pathlib import Path

from lab.bench import DEFAULT_MATRIX, Variant, build, read_matrix
from pacing.model import PacingEvent, PacingPolicy
from pacing.policies.predictive import Predictive
from pacing.scenario import Scenario
from pacing.simulator import Restart, Simulation

STOP_AFTER_S = 2 * 3600.0  # into the shift: the uninterrupted policy has learnt for 2 h
# From the old dialer's stop to the new one's first tick: none (a new dialer
# started before the old one stops: only the policy's state is at stake), or
# 10 s of a crash and restart (answers meanwhile are abandoned).
GAPS = (0.0, 10.0)
PROBE_S = 15 * 60.0
SHIFT_HOURS = 2.5  # the shift is cut after the probe (dialing stops 2 min before its end)
# 45 seeds: over 15 a median loss was good to about a point (S8's warm
# restart after 10 s: 1.17 points over 15 seeds, 0.00 over 90).
SEEDS = tuple(101 * i for i in range(45))
RESTARTS = ("cold", "warm")
PREDICTIVE = Variant("predictive", "recobro predictive", ())


def _restart(way: str, gap_s: float, scenario: Scenario, at: float) -> Restart | None:
    def cold(history: list[PacingEvent], stopped: PacingPolicy) -> PacingPolicy:
        return build(PREDICTIVE, scenario)

    def warm(history: list[PacingEvent], stopped: PacingPolicy) -> PacingPolicy:
        policy = build(PREDICTIVE, scenario)
        assert isinstance(policy, Predictive) and isinstance(stopped, Predictive)
        policy.warm_start(history, stopped.log_lambda)
        return policy

    match way:
        case "cold":
            return Restart(at, gap_s, cold)
        case "warm":
            return Restart(at, gap_s, warm)
    return None


def run_one(job: tuple[Scenario, str, float]) -> dict:
    scenario, way, gap_s = job
    stop = scenario.start_hour * 3600.0 + STOP_AFTER_S
    probe = (stop, stop + PROBE_S)
    simulation = Simulation(scenario, build(PREDICTIVE, scenario),
                            _restart(way, gap_s, scenario, stop), probe)
    metrics = simulation.run()
    in_probe = [(live, ab) for t, live, ab in metrics.answer_log if probe[0] <= t < probe[1]]
    live = sum(live for live, _ in in_probe)
    return {"scenario": scenario.name, "seed": scenario.seed, "way": way, "gap_s": gap_s,
            "probe_occupancy": metrics.probe_occupancy,
            "probe_abandons": sum(ab for _, ab in in_probe), "probe_live_answers": live}


def _ways() -> list[tuple[str, float]]:
    return [("uninterrupted", 0.0)] + [(way, gap) for gap in GAPS for way in RESTARTS]


def run_restarts(scenarios: list[Scenario], seeds: tuple[int, ...] = SEEDS,
                 workers: int = 2) -> dict:
    """Every scenario, each seed, each way; and per scenario the medians."""
    jobs = [(replace(s, seed=s.seed + offset, days=1, shift_hours=SHIFT_HOURS), way, gap)
            for s in scenarios for offset in seeds for way, gap in _ways()]
    with ProcessPoolExecutor(workers) as pool:
        rows = list(pool.map(run_one, jobs))
    summary = []
    for scenario in scenarios:
        mine = [r for r in rows if r["scenario"] == scenario.name]
        by = {(r["seed"], r["way"], r["gap_s"]): r for r in mine}
        base = {r["seed"]: r["probe_occupancy"] for r in mine if r["way"] == "uninterrupted"}
        line: dict = {"scenario": scenario.name,
                      "uninterrupted_occupancy": statistics.median(base.values())}
        for way, gap in _ways():
            runs = [r for r in mine if (r["way"], r["gap_s"]) == (way, gap)]
            key = f"{way}_{gap:g}s"
            live = sum(r["probe_live_answers"] for r in runs)
            line[f"{key}_abandon_rate"] = sum(r["probe_abandons"] for r in runs) / max(live, 1)
            if way != "uninterrupted":
                line[f"{key}_occupancy"] = statistics.median(r["probe_occupancy"] for r in runs)
                line[f"{key}_loss_points"] = statistics.median(
                    100 * (base[seed] - by[seed, way, gap]["probe_occupancy"]) for seed in base)
        summary.append(line)
    return {"seeds": len(seeds), "stop_after_s": STOP_AFTER_S, "gaps_s": list(GAPS),
            "probe_s": PROBE_S, "rows": rows, "summary": summary}


def table(report: dict) -> str:
    head = ("Occupancy in the 15 minutes after the dialer stopped 2 h into the shift, "
            f"medians over {report['seeds']} seeds; in brackets the loss against the "
            "uninterrupted run: the median over seeds of the uninterrupted occupancy less "
            "the restarted one, in points. Abandon rates are pooled over the seeds' "
            "15-minute windows.")
    ways = [(way, gap) for gap in report["gaps_s"] for way in RESTARTS]
    lines = [head, "", "| scenario | uninterrupted | " + " | ".join(
        f"{way} after {gap:g} s" for way, gap in ways) + " | abandons: uninterrupted, "
        + ", ".join(f"{way} {gap:g} s" for way, gap in ways) + " |",
        "|---" * (len(ways) + 3) + "|"]
    for s in report["summary"]:
        cells = [f"{s[f'{w}_{g:g}s_occupancy']:.1%} ({s[f'{w}_{g:g}s_loss_points']:+.2f})"
                 for w, g in ways]
        abandons = [f"{s['uninterrupted_0s_abandon_rate']:.1%}"] + [
            f"{s[f'{w}_{g:g}s_abandon_rate']:.1%}" for w, g in ways]
        lines.append(f"| {s['scenario']} | {s['uninterrupted_occupancy']:.1%} | "
                     + " | ".join(cells) + " | " + ", ".join(abandons) + " |")
    return "\n".join(lines)


def bench_restart(matrix: Traversable = DEFAULT_MATRIX, out_dir: Path = Path("bench-results"),
                  workers: int = 2) -> int:
    """Run the restart benchmark over the matrix's scenarios; write
    restart.json and restart.md in out_dir, print the table."""
    scenarios = read_matrix(matrix)
    report = run_restarts(scenarios, workers=workers)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "restart.json").write_text(json.dumps(report, indent=1))
    text = table(report)
    (out_dir / "restart.md").write_text(text + "\n")
    print(text)
    return 0
