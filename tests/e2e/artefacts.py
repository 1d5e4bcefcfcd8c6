"""The PCI proof of issue 14: every artefact a payment run leaves, searched
for the card data its debtors keyed. Searched: a pg_dump of the run's
database (every row, the call events and the ledger included), the logs of
the Recobro processes the test ran, Asterisk's log directory (messages.log,
CDRs in cdr-csv, channel events in cel-custom), the recordings' names and
file headers, the lab card gateway's own log (localstripe logs requests,
not their forms), and every API response and WebSocket message the test
kept, and every series the lab's Prometheus holds (labels and latest
values: docs/metrics.md). Each card is looked for as its number (bare, or grouped by fours),
its expiry (MMYY, MM/YY, MM/YYYY, YYYY-MM), and its CVV in context (after a
word such as CVV, or keyed after the expiry); no place may show a card
form's expiry field, nor Asterisk's logs a DTMF line."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from lab import prometheus, stripe_mock
from lab.config import LabConfig
from lab.provision import postgres_bin_dir

# A WAV file's header and its metadata chunks (LIST/INFO) sit before the
# audio; a recording's name and this much of it is its metadata.
RECORDING_HEADER_BYTES = 4096
# Asterisk's DTMF log line ("DTMF end '5' received on ..."): logger.conf
# gives the dtmf level to no channel, so none may appear.
DTMF_LOG_LINE = re.compile(r"DTMF (?:begin|end) '")
# A key in Asterisk's channel events: CEL's DTMF event (Asterisk 22) names
# each digit (cel.conf lists every event type but it).
CEL_DTMF_EVENT = re.compile(r'^"DTMF",|"digit"', re.MULTILINE)
# A card form's expiry fields (Stripe's), with a value: a request logged.
EXPIRY_FIELD = re.compile(r"(?i)\bexp_(?:month|year)\b\W{0,5}\d")


PROMETHEUS_VALUES = "Prometheus's values"
# The thread id in an Asterisk log line's prefix ("[time] WARNING[1230]"):
# a number the system hands out, which a long-lived lab's log once held as
# 1230, an expiry's digits. Left out of the search.
ASTERISK_THREAD = re.compile(r"^(\[[^\]\n]+\] [A-Z]+)\[\d+\]", re.MULTILINE)


@dataclass(frozen=True)
class KeyedCard:
    """What a debtor keyed for one card: number, expiry (MMYY) and CVV."""

    number: str
    expiry: str
    cvv: str

    def patterns(self) -> Mapping[str, re.Pattern[str]]:
        """Each way this card's data could show in text, named without
        the data itself (a failing test names the place, not the card)."""
        name = f"card ending {self.number[-4:]}"
        month, year = self.expiry[:2], self.expiry[2:]
        grouped = r"[ -]?".join(re.escape(self.number[i:i + 4])
                                for i in range(0, len(self.number), 4))
        # Not inside a longer run of letters, digits or a UUID's groups.
        alone = r"(?<![0-9A-Za-z-]){}(?![0-9A-Za-z-])"
        expiry = alone.format(rf"(?:{month}(?:/(?:20)?)?{year}|20{year}-{month})")
        return {
            f"{name}'s number": re.compile(grouped),
            f"{name}'s expiry": re.compile(expiry),
            f"{name}'s CVV": re.compile(
                rf"(?i)(?:cvv|cvc|cv2|csc|security.?code|card.?code)\W{{0,16}}{self.cvv}(?!\d)"
                rf"|{month}/?(?:20)?{year}\W{{0,3}}{self.cvv}(?!\d)"),
        }


def without_thread_ids(asterisk_log: str) -> str:
    """An Asterisk log with its lines' thread ids left out, the rest kept."""
    return ASTERISK_THREAD.sub(r"\1[thread]", asterisk_log)


def pg_dump(database_url: str) -> str:
    """The whole database as pg_dump writes it (schema and every row)."""
    result = subprocess.run([str(postgres_bin_dir() / "pg_dump"), "--dbname", database_url],
                            check=True, capture_output=True, text=True,
                            stdin=subprocess.DEVNULL, timeout=120)
    return result.stdout


def _text(path: Path, limit: int | None = None) -> str:
    with path.open("rb") as file:
        data = file.read() if limit is None else file.read(limit)
    return data.decode("utf-8", "replace")


def artefacts(lab_config: LabConfig, database_url: str, logs: Iterable[Path] = (),
              messages: Iterable[str] = ()) -> dict[str, str]:
    """Every artefact of a run, by where it came from: the database's dump,
    the given logs of Recobro's processes, Asterisk's logs, CDRs and CEL,
    the recordings' names and headers, the card gateway's log, the API
    and WebSocket messages given, and every series of the lab's Prometheus."""
    places = {"pg_dump": pg_dump(database_url)}
    for log in logs:
        places[log.name] = _text(log)
    for path in sorted((lab_config.asterisk_run_dir / "log").rglob("*")):
        if path.is_file():
            places[str(path.relative_to(lab_config.asterisk_run_dir))] = \
                without_thread_ids(_text(path))
    monitor = lab_config.asterisk_run_dir / "spool" / "monitor"
    if monitor.is_dir():
        for path in sorted(monitor.iterdir()):
            places[f"recording {path.name}"] = path.name + "\n" + _text(
                path, RECORDING_HEADER_BYTES)
    gateway_log = stripe_mock.log_file(lab_config)
    if gateway_log.is_file():
        places["the card gateway's log"] = _text(gateway_log)
    places["API and WebSocket messages"] = "\n".join(messages)
    if prometheus.running_pid(lab_config) is not None:
        # Every series the lab's Prometheus keeps, labels and latest values.
        places["Prometheus's series"] = json.dumps(prometheus.series(lab_config, '{job=~".+"}'))
        places[PROMETHEUS_VALUES] = json.dumps(prometheus.query(lab_config, '{job=~".+"}'))
    return places


def leaks(places: Mapping[str, str], cards: Iterable[KeyedCard]) -> list[str]:
    """What was found where: "<what> in <place>" for each card datum in
    each place, and each DTMF line in Asterisk's logs; empty when clean.
    Prometheus's sample values are numbers, where a count or a fraction
    may read 1230 as an expiry does (a run's did): only a card number is
    looked for there (the series' labels are searched for everything)."""
    found = []
    for card in cards:
        for what, pattern in card.patterns().items():
            found += [f"{what} in {place}" for place, text in places.items()
                      if (place != PROMETHEUS_VALUES or what.endswith("'s number"))
                      and pattern.search(text)]
    found += [f"a card form's expiry field in {place}" for place, text in places.items()
              if EXPIRY_FIELD.search(text)]
    found += [f"a DTMF line in {place}" for place, text in places.items()
              if place.startswith("log/") and (DTMF_LOG_LINE.search(text)
                                               or CEL_DTMF_EVENT.search(text))]
    return found


def assert_no_card_data(lab_config: LabConfig, database_url: str, cards: Iterable[KeyedCard],
                        logs: Iterable[Path] = (), messages: Iterable[str] = ()) -> None:
    """No card's number, expiry or CVV in any artefact of the run."""
    logs = list(logs)
    places = artefacts(lab_config, database_url, logs, messages)
    for log in logs:  # a log searched is the whole log, DEBUG included
        assert "DEBUG" in places[log.name], f"{log.name} was not written at DEBUG"
    found = leaks(places, cards)
    assert not found, "; ".join(found)
