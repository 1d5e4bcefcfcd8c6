"""`recobro bench load`: how many calls a dialer process drives (or two).

Each step is a self-service campaign of its own (no agents: its `--lines`
are the calls it keeps up) over accounts of its own, whose lab numbers
answer, hear the self-service menu and hang up after half to one and a half
times the talk time (the share that does not answer rings until the ring
timeout, set to the talk time, so every call holds a line about as long). The dialers are `recobro
campaign run` processes; the bench reads what an operator would: each
dialer's /metrics (calls in flight, CPU seconds, event-loop lag, events read
from Asterisk, StasisStart to flow) and PostgreSQL (calls originated,
results, the database's commits and rows written). A step's first RAMP_S
are left out of its figures. The ramp stops after the first step that does
not hold (calls in flight under HELD of its lines, an error, event-loop
lag p99 over LAG_LIMIT_S, or StasisStart to flow p99 over FLOW_LIMIT_S). Writes load.json, load.md and load.png."""

from __future__ import annotations

import json
import os
import platform
import pstats
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path

import psycopg
from prometheus_client.parser import text_string_to_metric_families

from dialer.calls.outcome import AttemptResult
from dialer.errors import ConfigError
from dialer.limits import LINES
from dialer.settings import Settings
from lab.bench_db import RECOBRO, BenchDatabase, bench_connection, recobro_env
from lab.config import LabConfig
from lab.number_plan import Behaviour, lab_number

STEPS = (100, 200, 300, 400, 500, 600, 700)  # calls at once; the lab's RTP range holds 750
TALK_S = 8
ANSWER_SHARE = 1.0
RAMP_S = 20.0
MEASURE_S = 60.0
SAMPLE_S = 1.0
PROGRESS_S = 5.0
HELD = 0.9  # of a step's lines kept in flight on average
LAG_LIMIT_S = 0.25
# A debtor who answered hears nothing until the call's flow starts.
FLOW_LIMIT_S = 0.5
# A lead is dialed once: enough for the step's calls, this much over.
LEADS_MARGIN = 1.5
SETUP_S = 1.0  # a call's originate, ring and answer, beside its talk
# North American area codes: each holds 8,000 numbers of the plan
# (exchanges 200-999, a serial digit), all open all day in the campaign's
# window; twenty, so the soak's hour at 200 lines (120,200 leads) fits.
AREAS = ("212", "312", "415", "305", "713", "617", "206", "303", "404", "602",
         "213", "214", "512", "702", "503", "919", "718", "202", "612", "615")
ERRORS = (AttemptResult.FAILED, AttemptResult.LOST, AttemptResult.NOT_PLACED)
DRAIN_S = 150.0  # a dialer's own drain (120 s at most) and its exit


@dataclass(frozen=True)
class Scrape:
    """One dialer's /metrics at a moment (or several dialers' summed)."""

    at: float  # time.monotonic()
    in_flight: float = 0.0
    cpu_s: float = 0.0
    ami_events: float = 0.0
    ari_events: float = 0.0
    lag: tuple[tuple[float, float], ...] = ()  # (le, cumulative count)
    to_flow: tuple[tuple[float, float], ...] = ()
    resident_bytes: float = 0.0
    open_fds: float = 0.0

    def __add__(self, other: Scrape) -> Scrape:
        return Scrape(min(self.at, other.at), self.in_flight + other.in_flight,
                      self.cpu_s + other.cpu_s, self.ami_events + other.ami_events,
                      self.ari_events + other.ari_events, _add(self.lag, other.lag),
                      _add(self.to_flow, other.to_flow),
                      self.resident_bytes + other.resident_bytes,
                      self.open_fds + other.open_fds)


def _add(a: tuple[tuple[float, float], ...],
         b: tuple[tuple[float, float], ...]) -> tuple[tuple[float, float], ...]:
    if not a or not b:
        return a or b
    return tuple((le, x + y) for (le, x), (_, y) in zip(a, b, strict=True))


_PROCESS = {"process_cpu_seconds_total": "cpu_s",
            "process_resident_memory_bytes": "resident_bytes", "process_open_fds": "open_fds"}


def parse_scrape(text: str, at: float) -> Scrape:
    """The figures the bench reads from a dialer's /metrics text."""
    values: dict[str, float] = {}
    buckets: dict[str, list[tuple[float, float]]] = {"lag": [], "to_flow": []}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "recobro_calls_in_flight":
                values["in_flight"] = values.get("in_flight", 0.0) + sample.value
            elif sample.name in _PROCESS:
                values[_PROCESS[sample.name]] = sample.value
            elif sample.name == "recobro_asterisk_events_total":
                values[f"{sample.labels['link']}_events"] = sample.value
            elif sample.name == "recobro_event_loop_lag_seconds_bucket":
                buckets["lag"].append((float(sample.labels["le"]), sample.value))
            elif sample.name == "recobro_call_to_flow_seconds_bucket":
                buckets["to_flow"].append((float(sample.labels["le"]), sample.value))
    return Scrape(at, values.get("in_flight", 0.0), values.get("cpu_s", 0.0),
                  values.get("ami_events", 0.0), values.get("ari_events", 0.0),
                  tuple(sorted(buckets["lag"])), tuple(sorted(buckets["to_flow"])),
                  values.get("resident_bytes", 0.0), values.get("open_fds", 0.0))


def histogram_quantile(first: Sequence[tuple[float, float]],
                       last: Sequence[tuple[float, float]], q: float) -> float | None:
    """The q-quantile of what a Prometheus histogram observed between two
    scrapes (cumulative buckets), interpolated within its bucket as
    Prometheus's histogram_quantile does; None when nothing was observed."""
    before = dict(first)
    counts = [(le, count - before.get(le, 0.0)) for le, count in last]
    if not counts or counts[-1][1] <= 0:
        return None
    rank = q * counts[-1][1]
    lower_le, lower_count = 0.0, 0.0
    for le, count in counts:
        if count >= rank:
            if le == float("inf"):
                return lower_le  # beyond the largest finite bucket: its bound
            share = (rank - lower_count) / (count - lower_count) if count > lower_count else 1
            return lower_le + (le - lower_le) * share
        lower_le, lower_count = le, count
    return lower_le


@dataclass
class Dialer:
    """One `recobro campaign run` process and where it says its /metrics are."""

    process: subprocess.Popen[bytes]
    targets: Path
    log: Path
    url: str = ""

    def metrics_url(self) -> str | None:
        if not self.url:
            for target in self.targets.glob("*.json"):
                [entry] = json.loads(target.read_text())
                self.url = f"http://{entry['targets'][0]}/metrics"
        return self.url or None

    def scrape(self) -> Scrape | None:
        url = self.metrics_url()
        if url is None:
            return None
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return parse_scrape(response.read().decode(), time.monotonic())
        except OSError:
            return None


@dataclass
class StepFigures:
    """What one step measured (rates per second over its measured window)."""

    lines: int
    dialers: int
    measured_s: float
    originates_per_s: float
    answers_per_s: float
    in_flight_mean: float
    in_flight_min: float
    line_s_per_call: float  # Little's law: talk and setup, and how late the line is freed
    dial_to_answer_p50_ms: float | None  # Originate sent to Asterisk's answer
    dial_to_answer_p99_ms: float | None
    cpu_share: list[float]  # each dialer's, of one core
    loop_lag_p99_ms: float | None
    call_to_flow_p50_ms: float | None
    call_to_flow_p99_ms: float | None
    ami_events_per_s: float
    ari_events_per_s: float
    db_commits_per_s: float
    db_rows_written_per_s: float
    results: dict[str, int]
    errors: int
    error_lines: int
    held: bool
    why_not: str = ""
    profile: list[str] = field(default_factory=list)


def stay_s(talk_s: int, index: int) -> int:
    """How long the index-th answering debtor stays: spread evenly from half
    to one and a half times talk_s (mean talk_s). Equal stays would end a
    step's calls together and redial them together, in waves no floor sees."""
    return max(1, talk_s // 2 + (index * 37) % (talk_s + 1))


def numbers(count: int, answer_share: float, talk_s: int, first: int) -> list[str]:
    """Lab numbers first..first+count of the bench's plan: answer_share of
    them answer and stay about talk_s (stay_s), the others ring until they
    are given up."""
    if first + count > 8000 * len(AREAS):
        raise ConfigError(f"{first + count} leads: the bench's numbers hold "
                          f"{8000 * len(AREAS)}; fewer or smaller steps")
    out = []
    answered = 0.0
    for i in range(first, first + count):
        area, within = AREAS[i // 8000], i % 8000
        answered += answer_share
        if answered >= 1.0:
            answered -= 1.0
            behaviour, parameter = Behaviour.ANSWER_AND_STAY, f"{stay_s(talk_s, i):02d}"
        else:
            behaviour, parameter = Behaviour.NO_ANSWER, "00"
        out.append(lab_number(behaviour, parameter, serial=within % 10,
                              prefix=f"+1{area}{200 + within // 10:03d}"))
    return out


def leads_for(lines: int, talk_s: int, seconds: float) -> int:
    """Leads a campaign of lines may dial in seconds: its lines turned over
    all along, LEADS_MARGIN over."""
    return int(LEADS_MARGIN * lines * seconds / (talk_s + SETUP_S)) + lines


def recobro(cfg: LabConfig, url: str, *args: str) -> str:
    """Run a Recobro command on the lab and url's database; its output."""
    done = subprocess.run([*RECOBRO, *args], env=recobro_env(cfg, url), capture_output=True,
                          text=True, check=False, stdin=subprocess.DEVNULL, timeout=600)
    if done.returncode != 0:
        raise ConfigError(f"`recobro {' '.join(args)}` failed: {done.stderr.strip()[-500:]}")
    return done.stdout


def prepare_campaign(cfg: LabConfig, url: str, work: Path, name: str, lines: int,
                     talk_s: int, answer_share: float, first: int, seconds: float) -> int:
    """A self-service campaign of lines for seconds, its accounts imported
    (numbers from first on), created and started; how many numbers it used."""
    count = leads_for(lines, talk_s, seconds)
    accounts = work / f"{name}.csv"
    rows = ["reference,debtor_name,balance,days_past_due,language,phone1,client_segment"]
    rows += [f"{name}-{i},Debtor {i},250.00,20,es,{number},{name}"
             for i, number in enumerate(numbers(count, answer_share, talk_s, first))]
    accounts.write_text("\n".join(rows) + "\n")
    recobro(cfg, url, "accounts", "import", str(accounts))
    recobro(cfg, url, "campaign", "create", name, "--answered-to", "self_service", "--lines",
         str(lines), "--window", "00:00-24:00", "--ring-timeout", str(max(5, talk_s)),
         "--portfolio", name)
    recobro(cfg, url, "campaign", "start", name)
    return count


def start_dialers(cfg: LabConfig, url: str, work: Path, out_dir: Path, name: str,
                  count: int, seconds: float, profile: bool = False) -> list[Dialer]:
    """count `recobro campaign run` processes dialing name for seconds, each
    announcing its /metrics in a directory of its own under work."""
    dialers = []
    for i in range(count):
        targets = work / f"{name}-targets-{i}"
        targets.mkdir()
        log = out_dir / f"load-{name}-dialer{i + 1}.log"
        command = [*RECOBRO]
        if profile and i == 0:
            command = [sys.executable, "-m", "cProfile", "-o", str(profile_path(out_dir, name)),
                       "-m", "dialer.cli"]
        env = {**recobro_env(cfg, url), "RECOBRO_METRICS_PORT": "0",
               "RECOBRO_METRICS_TARGETS": str(targets), "RECOBRO_LOG_LEVEL": "INFO"}
        with log.open("wb") as out:
            process = subprocess.Popen(
                [*command, "campaign", "run", name, "--for", str(seconds)],
                env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        dialers.append(Dialer(process, targets, log))
    return dialers


def _each(dialers: Sequence[Dialer]) -> tuple[Scrape, ...] | None:
    """Every dialer's scrape of one round; None when one did not answer."""
    round_: list[Scrape] = []
    for dialer in dialers:
        scrape = dialer.scrape()
        if scrape is None:
            return None
        round_.append(scrape)
    return tuple(round_)


def _summed(round_: tuple[Scrape, ...]) -> Scrape:
    total = round_[0]
    for scrape in round_[1:]:
        total += scrape
    return total


# answered_at is Asterisk's moment (AMI's timestamp), originated_at the
# dialer's as it sent the Originate: between them Asterisk's own work, the
# trunk's and the debtor's ring (lab.pstn_scenario.RING_MS).
_WINDOW_COUNTS = """
SELECT count(*) FILTER (WHERE originated_at >= %(since)s AND originated_at < %(until)s),
       count(*) FILTER (WHERE answered_at >= %(since)s AND answered_at < %(until)s),
       percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP (
           ORDER BY extract(epoch FROM answered_at - originated_at))
           FILTER (WHERE originated_at >= %(since)s AND originated_at < %(until)s)
FROM calls
"""
_DB_WRITES = """
SELECT xact_commit, tup_inserted + tup_updated + tup_deleted
FROM pg_stat_database WHERE datname = current_database()
"""


def _db_snapshot(db: psycopg.Connection) -> tuple[float, float]:
    row = db.execute(_DB_WRITES).fetchone()
    assert row is not None  # the view has a row for every database
    return float(row[0]), float(row[1])


def _window_counts(db: psycopg.Connection, since: datetime, until: datetime, name: str
                   ) -> tuple[int, int, list[float] | None, dict[str, int]]:
    row = db.execute(_WINDOW_COUNTS, {"since": since, "until": until}).fetchone()
    assert row is not None  # an aggregate's one row
    originated, answered, to_answer = row
    results = db.execute(
        "SELECT coalesce(a.result, 'in flight'), count(*) FROM attempts a JOIN campaigns c "
        "ON c.id = a.campaign_id WHERE c.name = %s GROUP BY 1", (name,)).fetchall()
    return originated, answered, to_answer, {str(r[0]): int(r[1]) for r in results}


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(1000 * seconds, 1)


def _error_lines(log: Path) -> int:
    text = log.read_text(errors="replace")
    return sum(1 for line in text.splitlines() if " ERROR " in line or line.startswith(
        "Traceback"))


def profile_path(out_dir: Path, name: str) -> Path:
    """Where the profiled dialer of step name writes its cProfile stats."""
    return out_dir / f"load-{name}.prof"


def _profile_top(path: Path, count: int = 25) -> list[str]:
    if not path.exists():
        return []
    out = StringIO()
    pstats.Stats(str(path), stream=out).sort_stats("tottime").print_stats(count)
    return [line for line in out.getvalue().splitlines() if line.strip()][-count - 1:]


def run_step(cfg: LabConfig, url: str, db: psycopg.Connection, work: Path, out_dir: Path,
             lines: int, dialers: int, talk_s: int, answer_share: float, first: int,
             profile: bool) -> tuple[StepFigures, int]:
    """One step: its campaign dialed by `dialers` processes; its figures and
    the numbers it used (db: the bench's connection to url's database)."""
    name = f"load{lines}x{dialers}-{datetime.now(UTC):%H%M%S}"
    used = prepare_campaign(cfg, url, work, name, lines, talk_s, answer_share, first,
                            RAMP_S + MEASURE_S)
    processes = start_dialers(cfg, url, work, out_dir, name, dialers, RAMP_S + MEASURE_S + 2,
                              profile)
    rounds: list[tuple[Scrape, ...]] = []
    try:
        started = time.monotonic()
        while any(d.metrics_url() is None for d in processes):
            if time.monotonic() - started > 60 or any(d.process.poll() is not None
                                                      for d in processes):
                raise ConfigError(f"a dialer of step {lines} did not start: see "
                                  f"{processes[0].log}")
            time.sleep(0.2)
        began = time.monotonic()
        ends = began + RAMP_S + MEASURE_S
        window: list[tuple[float, datetime]] = []
        db_writes: list[tuple[float, float]] = []
        next_progress = began
        while time.monotonic() < ends:
            now = time.monotonic()
            if not window and now >= began + RAMP_S:
                window.append((now, datetime.now(UTC)))
                db_writes.append(_db_snapshot(db))
            round_ = _each(processes)
            if round_ is not None:
                rounds.append(round_)
            if now >= next_progress and len(rounds) > 1:
                a, b = _summed(rounds[-min(len(rounds), 6)]), _summed(rounds[-1])
                cpu = 100 * (b.cpu_s - a.cpu_s) / max(b.at - a.at, 1e-9)
                lag = histogram_quantile(a.lag, b.lag, 0.99)
                print(f"  lines {lines} x{dialers}: {now - began:4.0f} s, in flight "
                      f"{b.in_flight:.0f}, dialer CPU {cpu:.0f}%, loop lag p99 "
                      f"{_ms(lag) or 0:.0f} ms", flush=True)
                next_progress = now + PROGRESS_S
            time.sleep(max(0.0, SAMPLE_S - (time.monotonic() - now)))
        window.append((time.monotonic(), datetime.now(UTC)))
        db_writes.append(_db_snapshot(db))
    finally:
        recobro(cfg, url, "campaign", "stop", name)
        for d in processes:
            try:
                d.process.wait(timeout=DRAIN_S)
            except subprocess.TimeoutExpired:
                d.process.terminate()
                d.process.wait(timeout=30)
    (t0, since), (t1, until) = window
    kept = [r for r in rounds if t0 <= r[0].at <= t1]
    measured = [_summed(r) for r in kept]
    first_s, last_s = measured[0], measured[-1]
    span = max(last_s.at - first_s.at, 1e-9)
    originated, answered, to_answer, results = _window_counts(db, since, until, name)
    seconds = (until - since).total_seconds()
    errors = sum(results.get(r.value, 0) for r in ERRORS)
    cpu = [round((b.cpu_s - a.cpu_s) / span, 3) for a, b in zip(kept[0], kept[-1], strict=True)]
    figures = StepFigures(
        lines=lines, dialers=dialers, measured_s=round(seconds, 1),
        originates_per_s=round(originated / seconds, 2),
        answers_per_s=round(answered / seconds, 2),
        in_flight_mean=round(sum(s.in_flight for s in measured) / len(measured), 1),
        in_flight_min=min(s.in_flight for s in measured),
        dial_to_answer_p50_ms=_ms(to_answer[0]) if to_answer else None,
        dial_to_answer_p99_ms=_ms(to_answer[1]) if to_answer else None,
        line_s_per_call=round(sum(s.in_flight for s in measured) / len(measured)
                              / max(originated / seconds, 1e-9), 2),
        cpu_share=cpu,
        loop_lag_p99_ms=_ms(histogram_quantile(first_s.lag, last_s.lag, 0.99)),
        call_to_flow_p50_ms=_ms(histogram_quantile(first_s.to_flow, last_s.to_flow, 0.5)),
        call_to_flow_p99_ms=_ms(histogram_quantile(first_s.to_flow, last_s.to_flow, 0.99)),
        ami_events_per_s=round((last_s.ami_events - first_s.ami_events) / span, 1),
        ari_events_per_s=round((last_s.ari_events - first_s.ari_events) / span, 1),
        db_commits_per_s=round((db_writes[1][0] - db_writes[0][0]) / seconds, 1),
        db_rows_written_per_s=round((db_writes[1][1] - db_writes[0][1]) / seconds, 1),
        results=results, errors=errors,
        error_lines=sum(_error_lines(d.log) for d in processes), held=True,
        profile=_profile_top(profile_path(out_dir, name)) if profile else [])
    figures.held, figures.why_not = holds(figures)
    return figures, used


def holds(step: StepFigures) -> tuple[bool, str]:
    """Whether the step kept its lines busy without errors and with the
    event loop on time; if not, why."""
    if step.in_flight_mean < HELD * step.lines:
        return False, (f"{step.in_flight_mean:.0f} calls in flight on average, under "
                       f"{HELD:.0%} of its {step.lines} lines")
    if step.errors or step.error_lines:
        return False, f"{step.errors} failed or lost call(s), {step.error_lines} error line(s)"
    if step.loop_lag_p99_ms is not None and step.loop_lag_p99_ms > 1000 * LAG_LIMIT_S:
        return False, f"event-loop lag p99 {step.loop_lag_p99_ms:.0f} ms"
    if step.call_to_flow_p99_ms is not None and step.call_to_flow_p99_ms > 1000 * FLOW_LIMIT_S:
        return False, (f"an answered debtor waited {step.call_to_flow_p99_ms:.0f} ms (p99) "
                       "for the call's flow")
    return True, ""


def table(steps: Sequence[StepFigures]) -> str:
    """The ramp as a Markdown table, one row per step."""
    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.0f}"

    lines = [("| lines | dialers | originates/s | answers/s | in flight, mean (min) "
              "| s a call holds a line | dial to answer p50 / p99 ms | dialer CPU "
              "| loop lag p99 ms "
              "| StasisStart to flow p50 / p99 ms | AMI + ARI events/s | PG commits/s "
              "| PG rows written/s | errors | held |"),
             "| ---: " * 14 + "| --- |"]
    for s in steps:
        cpu = " + ".join(f"{100 * c:.0f}%" for c in s.cpu_share)
        lines.append(
            f"| {s.lines} | {s.dialers} | {s.originates_per_s:.1f} | {s.answers_per_s:.1f} | "
            f"{s.in_flight_mean:.0f} ({s.in_flight_min:.0f}) | {s.line_s_per_call:.1f} | "
            f"{ms(s.dial_to_answer_p50_ms)} / {ms(s.dial_to_answer_p99_ms)} | "
            f"{cpu} | {ms(s.loop_lag_p99_ms)} | "
            f"{ms(s.call_to_flow_p50_ms)} / {ms(s.call_to_flow_p99_ms)} | "
            f"{s.ami_events_per_s:.0f} + {s.ari_events_per_s:.0f} | {s.db_commits_per_s:.0f} | "
            f"{s.db_rows_written_per_s:.0f} | {s.errors} + {s.error_lines} lines | "
            f"{'yes' if s.held else 'no: ' + s.why_not} |")
    return "\n".join(lines)


def plot(steps: Sequence[StepFigures], path: Path) -> None:
    """Originates per second and calls in flight, and the dialer's CPU and
    loop lag, against the step's lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (calls, cost) = plt.subplots(1, 2, figsize=(10, 4))
    for dialers in sorted({s.dialers for s in steps}):
        run = [s for s in steps if s.dialers == dialers]
        x = [s.lines for s in run]
        label = f"{dialers} dialer{'s' if dialers > 1 else ''}"
        calls.plot(x, [s.in_flight_mean for s in run], "o-", label=f"in flight, {label}")
        calls.plot(x, [10 * s.originates_per_s for s in run], "s--",
                   label=f"originates/s x10, {label}")
        cost.plot(x, [100 * sum(s.cpu_share) for s in run], "o-", label=f"CPU %, {label}")
        cost.plot(x, [s.loop_lag_p99_ms or 0 for s in run], "s--",
                  label=f"loop lag p99 ms, {label}")
    calls.set_xlabel("campaign lines (calls at once)")
    calls.set_ylim(bottom=0)
    calls.legend(fontsize=8)
    cost.set_xlabel("campaign lines (calls at once)")
    cost.set_ylim(bottom=0)
    cost.legend(fontsize=8)
    fig.suptitle("recobro bench load")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def bench_load(settings: Settings, cfg: LabConfig, out_dir: Path,
               steps: Sequence[int] | None = None, dialer_counts: Sequence[int] = (1,),
               talk_s: int = TALK_S, answer_share: float = ANSWER_SHARE,
               profile: bool = False) -> int:
    """Ramp each dialer count through the steps (default STEPS) on a bench
    database, stopping at the first step that does not hold; write
    load.json, load.md and load.png."""
    steps = tuple(steps or STEPS)
    rtp_start, rtp_end = cfg.rtp_range
    calls = (rtp_end - rtp_start + 1) // 2  # one even port a call
    if max(steps) > min(calls, LINES.high):
        raise ConfigError(f"--steps {max(steps)}: a self-service campaign keeps "
                          f"{LINES.high:g} lines at most, and the lab's RTP range "
                          f"({rtp_start}-{rtp_end}) holds {calls} calls")
    out_dir.mkdir(parents=True, exist_ok=True)
    done: list[StepFigures] = []
    first = 0
    with BenchDatabase(settings.database_url) as url, bench_connection(url) as db, \
            tempfile.TemporaryDirectory(prefix="recobro-bench-load-") as tmp:
        for dialers in dialer_counts:
            for lines in steps:
                step, used = run_step(cfg, url, db, Path(tmp), out_dir, lines, dialers,
                                      talk_s, answer_share, first, profile)
                first += used
                done.append(step)
                print(f"lines {lines}, {dialers} dialer(s): {step.originates_per_s:.1f} "
                      f"originates/s, {step.in_flight_mean:.0f} in flight, CPU "
                      f"{' + '.join(f'{100 * c:.0f}%' for c in step.cpu_share)}, "
                      f"{'held' if step.held else 'not held: ' + step.why_not}", flush=True)
                if not step.held:
                    break
    report = {"steps": [asdict(s) for s in done], "talk_s": talk_s,
              "answer_share": answer_share, "ramp_s": RAMP_S, "measured_s": MEASURE_S,
              "profiled": profile,
              "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                          "processor": platform.processor() or platform.machine()},
              "when": datetime.now(UTC).isoformat(timespec="seconds")}
    (out_dir / "load.json").write_text(json.dumps(report, indent=2))
    text = table(done)
    if profile:
        text += "".join(f"\n\nProfile of dialer 1 at {s.lines} lines (cProfile, by own time):"
                        f"\n\n```\n" + "\n".join(s.profile) + "\n```" for s in done)
    (out_dir / "load.md").write_text(text + "\n")
    plot(done, out_dir / "load.png")
    print(text)
    print(f"wrote {out_dir / 'load.json'}, load.md and load.png")
    return 0
