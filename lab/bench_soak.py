"""`recobro bench soak`: one dialer at a steady load for an hour (or as
long as asked), sampled every minute: its resident memory and open files
(its /metrics), PostgreSQL's connections to the bench database, Asterisk's
channels. The campaign is bench load's (a self-service campaign of its own
lines, debtors talking 4-12 s). After the first SETTLE_MINUTES (pools
filled, caches warm) nothing may grow past its bound; the report says
which did. Writes soak.json and soak.md."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from dialer.calls.outcome import AttemptResult
from dialer.errors import ConfigError
from dialer.settings import Settings
from lab.asterisk import channel_count
from lab.bench_db import BenchDatabase, bench_connection
from lab.bench_load import TALK_S, prepare_campaign, recobro, start_dialers
from lab.config import LabConfig

SAMPLE_S = 60.0
SETTLE_MINUTES = 5
# Growth allowed from the end of the settling to the end of the run.
MEMORY_GROWTH_BYTES = 50 * 1024 * 1024
FD_GROWTH = 20
# PostgreSQL: the engine's pool (10) and the dialer's lock connection.
CONNECTIONS_MOST = 12
CHANNEL_MARGIN = 10  # channels past the lines: hang-ups on their way
ERRORS = (AttemptResult.FAILED, AttemptResult.LOST, AttemptResult.NOT_PLACED)


@dataclass(frozen=True)
class Sample:
    """One minute's figures."""

    minute: float
    resident_mb: float
    open_fds: int
    in_flight: int
    db_connections: int
    asterisk_channels: int


def _count(db: psycopg.Connection, query: str, *args: object) -> int:
    row = db.execute(query, args).fetchone()
    assert row is not None  # a count's one row
    return int(row[0])


# Clients only: autovacuum's workers show in pg_stat_activity with the
# database they clean (two at once were counted at a soak's minute 40).
_CONNECTIONS = ("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND backend_type = 'client backend' AND pid <> pg_backend_pid()")


def bounds_broken(samples: Sequence[Sample], lines: int) -> list[str]:
    """What grew past its bound after the settling, in words (empty: none)."""
    settled = [s for s in samples if s.minute >= SETTLE_MINUTES]
    if len(settled) < 2:
        return [(f"too short to judge: {len(samples)} sample(s), the first "
                f"{SETTLE_MINUTES} minutes are the settling")]
    first, last = settled[0], settled[-1]
    broken = []
    grown_mb = last.resident_mb - first.resident_mb
    if grown_mb * 1024 * 1024 > MEMORY_GROWTH_BYTES:
        broken.append(f"resident memory grew {grown_mb:.0f} MB (bound "
                      f"{MEMORY_GROWTH_BYTES // 1024 // 1024} MB)")
    if last.open_fds - first.open_fds > FD_GROWTH:
        broken.append(f"open files grew {last.open_fds - first.open_fds} (bound {FD_GROWTH})")
    most = max(s.db_connections for s in samples)
    if most > CONNECTIONS_MOST:
        broken.append(f"{most} PostgreSQL connections (bound {CONNECTIONS_MOST})")
    channels = max(s.asterisk_channels for s in samples)
    if channels > lines + CHANNEL_MARGIN:
        broken.append(f"{channels} Asterisk channels for {lines} lines (bound "
                      f"{lines + CHANNEL_MARGIN})")
    return broken


def table(samples: Sequence[Sample]) -> str:
    """The samples as a Markdown table."""
    lines = [("| minute | resident MB | open files | calls in flight | PostgreSQL connections "
             "| Asterisk channels |"), "| ---: | ---: | ---: | ---: | ---: | ---: |"]
    lines += [f"| {s.minute:.0f} | {s.resident_mb:.1f} | {s.open_fds} | {s.in_flight} | "
              f"{s.db_connections} | {s.asterisk_channels} |" for s in samples]
    return "\n".join(lines)


def bench_soak(settings: Settings, cfg: LabConfig, out_dir: Path, minutes: float,
               lines: int) -> int:
    """One dialer dialing a campaign of lines for minutes; soak.json and
    soak.md; exit 1 when a bound was broken."""
    if minutes < SETTLE_MINUTES + 2:
        raise ConfigError(f"--minutes {minutes:g}: at least {SETTLE_MINUTES + 2} (the first "
                          f"{SETTLE_MINUTES} settle)")
    out_dir.mkdir(parents=True, exist_ok=True)
    seconds = 60 * minutes
    samples: list[Sample] = []
    with BenchDatabase(settings.database_url) as url, bench_connection(url) as db, \
            tempfile.TemporaryDirectory(prefix="recobro-bench-soak-") as tmp:
        name = f"soak{lines}-{datetime.now(UTC):%H%M%S}"
        prepare_campaign(cfg, url, Path(tmp), name, lines, TALK_S, 1.0, 0, seconds)
        [dialer] = start_dialers(cfg, url, Path(tmp), out_dir, name, 1, seconds)
        try:
            began = time.monotonic()
            while time.monotonic() - began < seconds and dialer.process.poll() is None:
                scrape = dialer.scrape()
                if scrape is not None:
                    sample = Sample(round((time.monotonic() - began) / 60, 1),
                                    round(scrape.resident_bytes / 1024 / 1024, 1),
                                    int(scrape.open_fds), int(scrape.in_flight),
                                    _count(db, _CONNECTIONS), channel_count(cfg))
                    samples.append(sample)
                    print(f"  minute {sample.minute:.0f}: {sample.resident_mb:.1f} MB, "
                          f"{sample.open_fds} files, {sample.in_flight} in flight, "
                          f"{sample.db_connections} PostgreSQL connections, "
                          f"{sample.asterisk_channels} channels", flush=True)
                time.sleep(SAMPLE_S if samples else 1.0)
        finally:
            recobro(cfg, url, "campaign", "stop", name)
            dialer.process.wait(timeout=180)
        errors = _count(db, "SELECT count(*) FROM attempts WHERE result = ANY(%s)",
                        [r.value for r in ERRORS])
        dialed = _count(db, "SELECT count(*) FROM attempts")
    broken = bounds_broken(samples, lines)
    if errors:
        broken.append(f"{errors} failed or lost call(s)")
    report = {"minutes": minutes, "lines": lines, "dialed": dialed, "errors": errors,
              "samples": [asdict(s) for s in samples], "broken": broken,
              "when": datetime.now(UTC).isoformat(timespec="seconds")}
    (out_dir / "soak.json").write_text(json.dumps(report, indent=2))
    text = table(samples) + "\n\n" + (
        f"{dialed} calls; every bound kept." if not broken else
        f"{dialed} calls; bounds broken: " + "; ".join(broken) + ".")
    (out_dir / "soak.md").write_text(text + "\n")
    print(text)
    print(f"wrote {out_dir / 'soak.json'} and soak.md")
    return 1 if broken else 0
