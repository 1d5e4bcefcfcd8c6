"""`recobro bench payments`: against the lab's real Asterisk, sipp and card
gateway (localstripe over HTTP), N debtors at once called into the lab's
pay-by-phone dialplan each key an approved test card over RFC 4733; per
step of N, how many captures ended paid (in the ledger) and the time from
each debtor's last key to the result beginning to reach them (RTP on
loopback, lab.payment_latency). Writes payments.json, payments.md and
payments.png; prints the table.

The card comes from the [bench] table of tests/fixtures/demo_cards.toml
(test card numbers live in tests/ only); the keys' pcap and the capture,
which carry its digits as RFC 4733 events, are written in a temporary
directory removed at the end."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import subprocess
import tempfile
import threading
import time
import tomllib
import wave
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import psycopg

from dialer.errors import ConfigError, LabError
from dialer.settings import Settings, configured_payment_gateway
from lab import sipp
from lab.bench_db import RECOBRO, BenchDatabase, recobro_env
from lab.config import TRUNK, LabConfig
from lab.key_scripts import SCRIPTS_FILE
from lab.payment_latency import key_to_result, summary_ms
from lab.pcap import keys_pcap, leading_pause, read_udp
from lab.prompts import recording_path
from lab.pstn_scenario import render_keying_debtor
from payment_ivr.prompts import WAIT

STEPS = (1, 4, 8, 16, 32)
CONTEXT = "lab-pay-by-phone"  # asterisk_conf/extensions.conf: account = the extension
LANGUAGE = "es"  # what the lab's pay-by-phone context asks for
PAUSES_S = (9, 7, 6, 6, 17)  # seconds before: 1 (pay), card, expiry, CVV, confirm
STAY_S = 100
BALANCE = "99.50"


@dataclass(frozen=True)
class BenchCard:
    """The approved test card the debtors key (from a file under tests/)."""

    number: str
    expiry: str  # MMYY
    cvv: str

    def __repr__(self) -> str:
        return "BenchCard(...)"  # never the digits


def load_card(path: Path = SCRIPTS_FILE) -> BenchCard:
    """The card of a TOML file's [bench] table (number, expiry MMYY, cvv;
    by default tests/fixtures/demo_cards.toml's); ConfigError naming the
    file, the table or the field when it is missing or wrong."""
    try:
        data = tomllib.loads(path.read_text()).get("bench")
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such file. The payments bench keys an approved test card read from "
            "its [bench] table (test cards live under tests/ only): run from a Recobro "
            "checkout, or pass --card FILE with a [bench] table of number, expiry (MMYY) "
            "and cvv") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not TOML: {error}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: no [bench] table (number, expiry MMYY, cvv): the "
                          "approved test card the payments bench keys")
    fields = {"number": (12, 19), "expiry": (4, 4), "cvv": (3, 4)}
    for name, (shortest, longest) in fields.items():
        value = data.get(name)
        if not isinstance(value, str) or not value.isdigit() \
                or not shortest <= len(value) <= longest:
            raise ConfigError(f"{path}, [bench]: {name} must be a string of {shortest}"
                              f"{'' if shortest == longest else f'-{longest}'} digits")
    return BenchCard(data["number"], data["expiry"], data["cvv"])


def debtor_keys(card: BenchCard) -> str:
    """What each debtor keys, as lab.sipp scripts it (',' a second): 1 to
    pay the balance, the card and #, the expiry, the CVV, 1 to confirm,
    each after its prompt (timed on the Spanish prompts, as the e2e test)."""
    to_pay, to_card, to_expiry, to_cvv, to_confirm = (
        "," * s for s in PAUSES_S)
    return (f"{to_pay}1{to_card}{card.number}#{to_expiry}{card.expiry}{to_cvv}{card.cvv}"
            f"{to_confirm}1")


def _import_accounts(cfg: LabConfig, url: str, references: list[str], work: Path) -> None:
    path = work / "accounts.csv"
    path.write_text("reference,debtor_name,balance,days_past_due,language,phone1\n" + "".join(
        f"{ref},Debtor {i},{BALANCE},40,{LANGUAGE},+1312555{i:04d}\n"
        for i, ref in enumerate(references)))
    result = subprocess.run([*RECOBRO, "accounts", "import", str(path)], env=recobro_env(cfg, url),
                            capture_output=True, text=True, check=False,
                            stdin=subprocess.DEVNULL, timeout=120)
    if result.returncode != 0:
        raise ConfigError(f"the bench's accounts did not import: {result.stderr.strip()}")


class _Desk:
    """`recobro inbound` taking calls with the lab's card gateway."""

    def __init__(self, cfg: LabConfig, url: str, log: Path) -> None:
        self._log = log.open("w")
        self.process = subprocess.Popen([*RECOBRO, "inbound"], env=recobro_env(cfg, url),
                                        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=self._log, text=True)
        assert self.process.stdout is not None
        started = self.process.stdout.readline()
        if "taking calls" not in started or "no card gateway" in started:
            self.stop()
            raise LabError(f"`recobro inbound` did not start with the card gateway: "
                           f"{started.strip() or 'no output'}; see {log}. Is the lab up "
                           "(`recobro lab up`, which starts the Stripe mock)?")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        finally:
            self._log.close()


class _Tcpdump:
    """tcpdump on lo of the UDP to and from one port, stopped through its own
    process handle (never by name)."""

    def __init__(self, port: int, path: Path) -> None:
        self.process = subprocess.Popen(
            ["tcpdump", "-i", "lo", "-n", "-U", "--immediate-mode", "-s", "0", "-w", str(path),
             f"udp and port {port}"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True)
        ready = threading.Event()

        def watch() -> None:
            assert self.process.stderr is not None
            for line in self.process.stderr:
                if "listening on" in line:
                    ready.set()

        threading.Thread(target=watch, daemon=True).start()
        if not ready.wait(10):
            self.stop()
            raise LabError("tcpdump did not start capturing on lo within 10 s (the payments "
                           "bench measures RTP with it: is it installed, may this user "
                           "capture?)")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


async def _originate(settings: Settings, cfg: LabConfig, references: list[str]) -> None:
    """All the calls at once over ARI: each dials the bench's sipp UAS
    through the trunk and, answered, runs the account's extension of the
    pay-by-phone context."""
    ari = settings.ari
    auth = aiohttp.BasicAuth(ari.user, ari.password)
    async with aiohttp.ClientSession(auth=auth) as session:
        async def one(i: int, reference: str) -> None:
            endpoint = (f"PJSIP/{TRUNK}/sip:+1555011{i:04d}@{cfg.host}:"
                        f"{cfg.keying_debtor_port}")
            async with session.post(f"{ari.url}/ari/channels", params={
                    "endpoint": endpoint, "context": CONTEXT, "extension": reference,
                    "priority": "1", "timeout": "30"}) as response:
                if response.status >= 400:
                    raise LabError(f"ARI did not originate {endpoint}: {response.status} "
                                   f"{(await response.text()).strip()}")

        await asyncio.gather(*(one(i, r) for i, r in enumerate(references)))


def _paid(url: str, references: list[str]) -> dict[str, int]:
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "SELECT c.outcome, count(*) FROM payment_captures c JOIN accounts a "
            "ON a.id = c.account_id WHERE a.reference = ANY(%s) GROUP BY c.outcome",
            (references,)).fetchall()
    return {str(outcome): int(n) for outcome, n in rows}


def run_step(settings: Settings, cfg: LabConfig, url: str, keys: str, calls: int,
             work: Path, prefix: str, wait_s: float) -> dict:
    """One step: `calls` debtors at once; returns its figures."""
    references = [f"{prefix}{i:03d}" for i in range(calls)]
    _import_accounts(cfg, url, references, work)
    keys_after_s, script = leading_pause(keys)
    keys_file = work / "debtor-keys.pcap"
    keys_file.write_bytes(keys_pcap(script))
    scenario = work / "keying-debtors.xml"
    scenario.write_text(render_keying_debtor(keys_file, STAY_S, keys_after_s))
    media_port = cfg.keying_debtor_media_port
    capture_path = work / "step.pcap"
    capture = _Tcpdump(media_port, capture_path)
    try:
        debtors = subprocess.Popen(
            ["sipp", "-sf", str(scenario), "-m", str(calls), "-l", str(calls),
             "-p", str(cfg.keying_debtor_port), "-mp", str(media_port),
             "-timeout", f"{STAY_S + 120}s", *sipp.common_options(cfg,
                                                                  cfg.keying_debtor_control_port)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(0.5)  # the debtors' phone is listening
            started = time.monotonic()
            asyncio.run(_originate(settings, cfg, references))
            debtors.wait(timeout=STAY_S + 150)
            wall = time.monotonic() - started
        finally:
            if debtors.poll() is None:
                debtors.terminate()
                debtors.wait(timeout=10)
        time.sleep(1.0)  # the desk records each outcome once it hears the hang-up
    finally:
        capture.stop()
    timings = key_to_result(read_udp(capture_path.read_bytes()), media_port, wait_s)
    capture_path.unlink()
    keys_file.unlink()
    outcomes = _paid(url, references)
    latencies = [t.latency_s for t in timings if t.latency_s is not None]
    first_audio = [t.first_audio_at - t.last_key_at for t in timings
                   if t.first_audio_at is not None and t.last_key_at is not None]
    beyond_wait = [t.result_at - t.wait_end_at for t in timings
                   if t.result_at is not None and t.wait_end_at is not None]
    return {"concurrent": calls, "paid": outcomes.get("paid", 0),
            "errors": calls - outcomes.get("paid", 0), "outcomes": outcomes,
            "measured_calls": len(latencies), "sipp_exit": debtors.returncode,
            "key_to_result_ms": summary_ms(latencies),
            "key_to_first_audio_ms": summary_ms(first_audio),
            "wait_prompt_end_to_result_ms": summary_ms(beyond_wait),
            "latencies_ms": sorted(round(1000 * x, 1) for x in latencies),
            "wall_s": round(wall, 1)}


def _combine(steps: list[dict]) -> dict:
    """Each concurrency's runs, and the medians over them of each run's
    median and p99."""
    by_n: dict[int, list[dict]] = {}
    for step in steps:
        by_n.setdefault(step["concurrent"], []).append(step)
    rows = []
    for n, runs in sorted(by_n.items()):
        def over_runs(measure: str, figure: str, runs: list[dict] = runs) -> float | None:
            return _median([r[measure][figure] for r in runs if r[measure]])

        rows.append({"concurrent": n, "runs": len(runs),
                     "captures": n * len(runs), "paid": sum(r["paid"] for r in runs),
                     "errors": sum(r["errors"] for r in runs),
                     "measured": sum(r["measured_calls"] for r in runs),
                     "median_ms": over_runs("key_to_result_ms", "median"),
                     "p99_ms": over_runs("key_to_result_ms", "p99"),
                     "beyond_wait_median_ms": over_runs("wait_prompt_end_to_result_ms",
                                                        "median"),
                     "first_audio_median_ms": over_runs("key_to_first_audio_ms", "median"),
                     "all_runs": runs})
    return {"steps": rows}


def _median(values: list[float]) -> float | None:
    ordered = sorted(values)
    if not ordered:
        return None
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else round(
        (ordered[middle - 1] + ordered[middle]) / 2, 1)


def sustained_concurrency(report: dict) -> int | None:
    """The most simultaneous captures of a step, and of every smaller step,
    that all ended paid; None when the first did not."""
    sustained = None
    for row in report["steps"]:  # by concurrency, smallest first
        if row["errors"]:
            break
        sustained = row["concurrent"]
    return sustained


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


def table(report: dict) -> str:
    """The report as a Markdown table, one row per concurrency."""
    lines = [("| simultaneous captures | runs | paid / captures | errors | measured "
             "| last key to result, median | p99 | result after the wait prompt, median "
             "| last key to first audio, median |"),
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in report["steps"]:
        lines.append(f"| {row['concurrent']} | {row['runs']} | {row['paid']} / "
                     f"{row['captures']} | {row['errors']} | {row['measured']} | "
                     f"{_ms(row['median_ms'])} | {_ms(row['p99_ms'])} | "
                     f"{_ms(row['beyond_wait_median_ms'])} | "
                     f"{_ms(row['first_audio_median_ms'])} |")
    lines.append("")
    sustained = sustained_concurrency(report)
    lines.append(f"Every capture ended paid up to {sustained} at once." if sustained else
                 "No step ended with every capture paid.")
    lines.append(f"The wait prompt (\"un momento, por favor\") lasts "
                 f"{report['wait_prompt_s']:.2f} s: the result cannot start earlier.")
    return "\n".join(lines)


def plot(report: dict, path: Path) -> None:
    """Median and p99 of last key to result against concurrency."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in report["steps"] if r["median_ms"] is not None]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([r["concurrent"] for r in rows], [r["median_ms"] for r in rows], "o-",
            label="median")
    ax.plot([r["concurrent"] for r in rows], [r["p99_ms"] for r in rows], "s--", label="p99")
    ax.axhline(1000 * report["wait_prompt_s"], color="grey", linestyle=":",
               label="the wait prompt's length")
    ax.set_xscale("log", base=2)
    ax.set_xticks([r["concurrent"] for r in rows], [str(r["concurrent"]) for r in rows])
    ax.set_xlabel("simultaneous card captures")
    ax.set_ylabel("last key to result (ms)")
    ax.set_ylim(bottom=0)
    ax.legend()
    ax.set_title("recobro bench payments")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def _wait_prompt_s(cfg: LabConfig) -> float:
    """The length of the Spanish "one moment, please" the debtors hear
    after confirming. LabError when its file is a whole number of 20 ms
    frames: its end would then send no short packet, and
    lab.payment_latency could not tell where the result begins."""
    path = recording_path(cfg, WAIT.sound, LANGUAGE)
    try:
        with wave.open(str(path)) as sound:
            frames, rate = sound.getnframes(), sound.getframerate()
    except (OSError, wave.Error) as error:
        raise LabError(f"{path}: {error}; run `recobro lab up`, which writes the lab's "
                       "sounds") from None
    if frames % (rate // 50) == 0:
        raise LabError(f"{path} is a whole number of 20 ms frames: the payments bench "
                       "finds the end of the wait prompt by its last, short frame")
    return round(frames / rate, 3)


def bench_payments(settings: Settings, cfg: LabConfig, out_dir: Path,
                   card_file: Path | None = None, steps: tuple[int, ...] | None = None,
                   runs: int = 1) -> int:
    """Run every step (default STEPS) `runs` times on a bench database;
    write payments.json, payments.md and payments.png."""
    card = load_card(card_file or SCRIPTS_FILE)
    steps = steps or STEPS
    if configured_payment_gateway() is None:
        raise ConfigError("RECOBRO_PAYMENT_GATEWAY_URL is not set: the payments bench needs "
                          "the lab's card gateway (`recobro lab up`)")
    sipp.require_free(cfg, cfg.keying_debtor_port, "the payments bench's debtors")
    wait_s = _wait_prompt_s(cfg)
    out_dir.mkdir(parents=True, exist_ok=True)
    keys = debtor_keys(card)
    stamp = datetime.now(UTC).strftime("%H%M%S")
    results = []
    with BenchDatabase(settings.database_url) as url, \
            tempfile.TemporaryDirectory(prefix="recobro-bench-payments-") as tmp:
        work = Path(tmp)
        desk = _Desk(cfg, url, out_dir / "payments-desk.log")
        try:
            for run in range(runs):
                for n in steps:
                    prefix = f"9{stamp}{run:02d}{n:02d}"
                    step = run_step(settings, cfg, url, keys, n, work, prefix, wait_s)
                    step["run"] = run + 1
                    print(f"run {run + 1}, {n} at once: {step['paid']}/{n} paid, "
                          f"key to result {step['key_to_result_ms']}", flush=True)
                    results.append(step)
        finally:
            desk.stop()
    report = {**_combine(results), "wait_prompt_s": wait_s,
              "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                          "processor": platform.processor() or platform.machine()},
              "when": datetime.now(UTC).isoformat(timespec="seconds")}
    report["sustained_concurrency"] = sustained_concurrency(report)
    (out_dir / "payments.json").write_text(json.dumps(report, indent=2))
    text = table(report)
    (out_dir / "payments.md").write_text(text + "\n")
    plot(report, out_dir / "payments.png")
    print(text)
    print(f"wrote {out_dir / 'payments.json'}, payments.md and payments.png")
    return 0
