import json

from dialer.bench import bench_pacing

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
    assert families == {"preview", "progressive", "ratio", "vicidial", "pi", "predictive"}
    assert all("share_of_lp" in r for r in markov["rows"])
    for row in report["scenarios"][0]["rows"]:
        assert 0 <= row["occupancy"] <= 1 and row["decision_median_us"] >= 0
    assert (tmp_path / "out" / "pacing.png").stat().st_size > 10_000
    assert "| recobro predictive" in capsys.readouterr().out.replace("**", "")
