"""The messages benchmark's table: a row per run, a median per number of
senders (the runs themselves need the lab: `recobro bench messages`)."""

from __future__ import annotations

from lab.bench_messages import table


def run(senders: int, per_s: int) -> dict:
    return {"messages": 1000, "senders": senders, "handed_to_kannel": 1000, "seconds": 2.5,
            "per_s": per_s, "received_by_fakesmsc": 1000}


def test_the_table_has_a_row_per_run_and_a_median_per_sender_count():
    report = {"runs": [run(1, 300), run(2, 520), run(1, 310), run(2, 540)],
              "median_per_s": {"1": 305, "2": 530}}
    text = table(report)
    assert "| 2 | 2 | 1000 | 1000 | 2.5 | 520 | 1000 |" in text
    assert "1 sender(s): median 305 messages/s over 2 run(s) (goal: 500/s)." in text
    assert "2 sender(s): median 530 messages/s over 2 run(s) (goal: 500/s)." in text
