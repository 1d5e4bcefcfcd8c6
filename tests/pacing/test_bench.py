import json
from dataclasses import replace

import pytest

from dialer.errors import ConfigError
from lab.bench import bench_pacing, build, variants
from lab.bench_languages import WAYS, bench_languages
from pacing.scenario import parse_scenarios

TINY = """
[[scenarios]]
name = "tiny"
agents = 3
live_start = 0.3
talk = { shape = "lognormal", mean = 90, sigma = 0.8 }
shift_hours = 1
days = 2
"""


def test_bench_writes_json_table_and_plot(tmp_path, capsys):
    matrix = tmp_path / "tiny.toml"
    matrix.write_text(TINY)
    assert bench_pacing(matrix, tmp_path / "out") == 0
    report = json.loads((tmp_path / "out" / "pacing.json").read_text())
    names = [s["name"] for s in report["scenarios"]]
    assert names == ["tiny", "tiny (markovian)"]
    markov = report["scenarios"][1]
    assert 0 < markov["lp_optimum"]["occupancy"] < 1
    families = {r["family"] for r in markov["rows"]}
    assert families == {"preview", "progressive", "ratio", "vicidial", "pi", "predictive", "lp"}
    assert "lp" not in {r["family"] for r in report["scenarios"][0]["rows"]}
    assert all("share_of_lp" in r for r in markov["rows"])
    for row in report["scenarios"][0]["rows"]:
        assert 0 <= row["occupancy"] <= 1 and row["decision_median_us"] >= 0
    summary = markov["summary"]
    assert summary["seeds"] == 3
    predictive = summary["policies"]["recobro predictive"]
    assert len(predictive["occupancies"]) == 3
    assert min(predictive["occupancies"]) <= predictive["occupancy_median"] \
        <= max(predictive["occupancies"])
    assert set(summary["predictive_margin_points"]) == {"ratio", "vicidial", "pi"}
    assert "ratio_margin_at_equal_abandon_points" in summary
    # Seeded, so the same every run: with three agents only the lowest ratio
    # stays within the cap, and no VICIdial or PI variant does.
    assert summary["best_within_cap"] == {"ratio": "ratio 1.25", "vicidial": None, "pi": None}
    assert summary["predictive_within_cap_every_seed"] is True
    ratio = summary["policies"]["ratio 1.25"]["occupancy_median"]
    # Rounded to 0.01 points in the summary.
    assert summary["lp_room_above_best_ratio_points"] == pytest.approx(
        100 * (markov["lp_optimum"]["occupancy"] - ratio), abs=0.005)
    assert summary["lp_room_above_best_ratio_points"] == pytest.approx(7.32, abs=0.01)
    # The LP's own policy at each share of the cap, over the three seeds.
    lp = summary["lp_policy"]
    caps = [run["cap"] for run in lp["runs"].values()]
    assert caps == pytest.approx([0.03, 0.024, 0.018, 0.015, 0.012])
    occupancies = [run["occupancy_median"] for run in lp["runs"].values()]
    assert occupancies[0] == pytest.approx(markov["lp_optimum"]["occupancy"], abs=0.03)
    lawful = lp["lawful_every_window"]
    assert all(run["worst_24h_abandon_max"] > 0.03 for label, run in lp["runs"].items()
               if run["cap"] > lp["runs"][lawful]["cap"])
    assert lp["runs"][lawful]["worst_24h_abandon_max"] <= 0.03
    assert lp["predictive_share_of_lawful"] == pytest.approx(
        predictive["occupancy_median"] / lp["runs"][lawful]["occupancy_median"])
    assert (tmp_path / "out" / "pacing.png").stat().st_size > 10_000
    out = capsys.readouterr().out.replace("**", "")
    assert "| recobro predictive" in out and "The LP's own policy in the simulator" in out


def test_the_lp_policy_is_solved_once_for_every_seed_of_a_scenario():
    markov = parse_scenarios(TINY, "toml")[0].markovian_version()
    lp = next(v for v in variants() if v.family == "lp")
    first, again = build(lp, markov), build(lp, replace(markov, seed=markov.seed + 1000))
    assert again.table is first.table
    other_cap = next(v for v in variants() if v.family == "lp" and v.params != lp.params)
    assert build(other_cap, markov).table is not first.table


def test_bad_scenario_files_name_the_file_and_field(tmp_path):
    with pytest.raises(ConfigError, match="nope.toml"):
        bench_pacing(tmp_path / "nope.toml", tmp_path / "out")
    bad = tmp_path / "bad.json"
    bad.write_text('{"name": "x", "agents": 2, "live_start": 0.3, "talk": {"mean": -1}}')
    with pytest.raises(ConfigError, match=r"bad.json\[0\].talk"):
        bench_pacing(bad, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing written for a bad file


MIXED = """
[[scenarios]]
name = "mixed"
agents = 4
live_start = 0.3
talk = { shape = "lognormal", mean = 90, sigma = 0.8 }
shift_hours = 1
debtor_languages = { es = 0.7, en = 0.3 }
agent_languages = { es = 3, en = 1 }
"""


def test_languages_bench_runs_each_way(tmp_path, capsys):
    scenarios = tmp_path / "mixed.toml"
    scenarios.write_text(MIXED)
    assert bench_languages(scenarios, tmp_path / "out", runs=1) == 0
    report = json.loads((tmp_path / "out" / "languages.json").read_text())
    assert [r["way"] for r in report["rows"]] == list(WAYS)
    (summary,) = report["summary"]
    assert set(summary["by pool"]["abandon_by_language"]) == {"es", "en"}
    assert summary["no languages"]["abandon_by_language"] == {}
    for way in WAYS:
        assert 0 < summary[way]["occupancy"] < 1
    # Agents of one language each: the LP bound, one pool above the pools.
    optimum = summary["lp_optimum"]
    assert 0 < optimum["by_pool"] < optimum["one_pool"] < 1
    out = capsys.readouterr().out
    assert "| mixed | by pool |" in out and "| mixed | " + f"{optimum['one_pool']:.1%}" in out
