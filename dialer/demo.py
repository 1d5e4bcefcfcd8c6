"""`recobro demo`: a few dozen calls across the lab's number plan, with a
live progress line and a table of outcomes at the end."""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace

from dialer.calls.outcome import CallOutcome
from dialer.calls.state import CallRecord
from dialer.engine import Engine
from dialer.lab.number_plan import Behaviour, lab_number
from dialer.settings import load_settings

# (behaviour, parameter, share of the demo's calls)
DEMO_MIX: tuple[tuple[Behaviour, str, int], ...] = (
    (Behaviour.ANSWER_AND_STAY, "20", 8),
    (Behaviour.ANSWER_AND_STAY, "01", 3),
    (Behaviour.ANSWER_AND_SEND_DTMF, "12", 4),
    (Behaviour.ANSWER_AND_HANG_UP, "00", 4),
    (Behaviour.BUSY, "00", 5),
    (Behaviour.NO_ANSWER, "00", 4),
    (Behaviour.CONGESTION, "00", 4),
    (Behaviour.UNALLOCATED, "00", 4),
)
DEMO_RING_TIMEOUT_S = 8.0


def demo_numbers(count: int, seed: int = 7) -> list[str]:
    """count lab numbers in the proportions of DEMO_MIX, shuffled."""
    pool = [(b, p) for b, p, share in DEMO_MIX for _ in range(share)]
    rng = random.Random(seed)
    picks = [pool[i % len(pool)] for i in range(count)]
    rng.shuffle(picks)
    return [lab_number(b, p, serial=i % 10) for i, (b, p) in enumerate(picks)]


def progress_line(done: int, total: int, in_flight: int, outcomes: Counter[str]) -> str:
    """[ 12/36] in flight  8 | answered 4 busy 2 ..."""
    counts = " ".join(f"{o.value} {outcomes[o.value]}" for o in CallOutcome if outcomes[o.value])
    return f"[{done:>3}/{total}] in flight {in_flight:>2} | {counts}"


def outcome_table(calls: Sequence[CallRecord]) -> str:
    """The final table: one row per outcome, then the hangup causes seen."""
    header = (f"{'outcome':<16}{'calls':>6}{'share':>8}{'ring s (median)':>17}"
              f"{'talk s (median)':>17}")
    lines = [header, "-" * 64]
    for outcome in CallOutcome:
        group = [c for c in calls if c.outcome is outcome]
        if not group:
            continue
        rings = [c.ring_seconds for c in group if c.ring_seconds is not None]
        talks = [c.talk_seconds for c in group if c.talk_seconds is not None]
        ring = f"{statistics.median(rings):.1f}" if rings else "-"
        talk = f"{statistics.median(talks):.1f}" if talks else "-"
        lines.append(f"{outcome.value:<16}{len(group):>6}{len(group) / len(calls):>8.0%}"
                     f"{ring:>17}{talk:>17}")
    lines += ["-" * 64, f"{'total':<16}{len(calls):>6}", "", "hangup causes:"]
    causes = Counter((c.hangup_cause, c.hangup_cause_text) for c in calls)
    for (cause, text), n in sorted(causes.items(), key=lambda kv: (kv[0][0] is None, kv[0][0] or 0)):
        lines.append(f"  {'-' if cause is None else cause:>3} {text or '(none)':<36}{n:>4}")
    return "\n".join(lines)


async def demo_command(count: int, concurrency: int) -> int:
    """Place count calls, concurrency at a time, and report their outcomes."""
    settings = replace(load_settings(), ring_timeout_s=DEMO_RING_TIMEOUT_S)
    numbers = demo_numbers(count)
    finished: list[CallRecord] = []
    outcomes: Counter[str] = Counter()
    gate = asyncio.Semaphore(concurrency)
    in_flight = 0

    live = sys.stdout.isatty()

    def show() -> None:
        line = progress_line(len(finished), count, in_flight, outcomes)
        if live:  # one line, rewritten in place
            sys.stdout.write("\r" + line.ljust(100))
            sys.stdout.flush()
        elif len(finished) % 6 == 0 or len(finished) == count:
            print(line, flush=True)

    async def one(engine: Engine, number: str) -> None:
        nonlocal in_flight
        async with gate:
            in_flight += 1
            call = await engine.place_call(number)
            in_flight -= 1
            finished.append(call)
            outcomes[call.outcome.value if call.outcome else "unknown"] += 1
            show()

    print(f"demo: {count} calls through the lab, {concurrency} at a time "
          f"(ring timeout {DEMO_RING_TIMEOUT_S:.0f} s)")
    async with await Engine.connect(settings) as engine:
        await asyncio.gather(*(one(engine, n) for n in numbers))
    if live:
        print()
    print(outcome_table(finished))
    return 0
