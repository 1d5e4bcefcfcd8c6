"""The bridge benchmark's figures: medians over the runs per mode (per-call
ringing, sessions) and the table with both side by side and a row per run
(the runs themselves need the lab: `recobro bench bridge`)."""

from __future__ import annotations

from lab.bench_bridge import RINGING, SESSIONS, medians, table


def run(mode: str, median: float, p99: float, on_lines: int) -> dict:
    return {"mode": mode, "calls": 200, "bridged": 200, "joined_session_lines": on_lines,
            "answer_to_bridge_ms": {"median": median, "p90": median + 5, "p99": p99,
                                    "max": p99 + 10, "min": 1.0},
            "load_1min": {"before": 1.5, "after": 1.75}}


def test_each_figure_is_the_median_of_its_mode_over_the_runs():
    runs = [run(RINGING, 17.0, 30.0, 0), run(SESSIONS, 9.0, 15.0, 200),
            run(RINGING, 19.0, 40.0, 0), run(SESSIONS, 8.0, 14.0, 200),
            run(RINGING, 18.0, 35.0, 0), run(SESSIONS, 12.0, 25.0, 200)]
    figures = medians(runs)
    assert figures[RINGING]["median"] == 18.0 and figures[RINGING]["p99"] == 35.0
    assert figures[SESSIONS]["median"] == 9.0 and figures[SESSIONS]["p99"] == 15.0


def test_the_table_puts_the_modes_side_by_side_and_a_row_per_run():
    runs = [run(RINGING, 17.0, 30.0, 0), run(SESSIONS, 9.0, 15.0, 200)]
    text = table({"runs": runs, "medians": medians(runs)})
    assert "| answered calls bridged to an agent | 200 of 200 | 200 of 200 |" in text
    assert "| p99 | 30.0 ms | 15.0 ms |" in text
    assert ("| 1 | sessions | 200 of 200 | 200 | 9.0 ms | 14.0 ms | 15.0 ms | 25.0 ms "
            "| 1.5 / 1.75 |") in text
