"""`recobro accounts import`: read a CSV or JSON-lines file, parse it through
the column mapping (dialer.collections.importing) and store the result in
one transaction; rejected rows are reported and quarantined."""

from __future__ import annotations

import csv
import json
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from dialer.collections.importing import (
    ImportDefaults,
    MappingError,
    RowError,
    check_mapping,
    parse_rows,
)
from dialer.errors import ConfigError
from dialer.store.accounts import AccountStore, ImportReport


@dataclass(frozen=True)
class ParsedFile:
    rows: list[tuple[int, Mapping[str, object]]]
    raw: dict[int, str]  # line -> the row as read, for the quarantine
    columns: list[str]
    unreadable: list[RowError]  # rows that are not even rows (bad JSON)


def load_mapping(path: Path | None) -> dict[str, str]:
    """A field -> column mapping from a JSON or TOML file."""
    if path is None:
        return {}
    try:
        text = path.read_text(encoding="utf-8")
        mapping = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (OSError, ValueError) as error:
        raise ConfigError(f"mapping file {path}: {error}") from None
    if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
        raise ConfigError(f"mapping file {path}: expected field = \"column\" pairs")
    return mapping


def _csv_rows(path: Path) -> ParsedFile:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        columns = list(reader.fieldnames or [])
        rows: list[tuple[int, Mapping[str, object]]] = []
        raw: dict[int, str] = {}
        for row in reader:
            rows.append((reader.line_num, row))
            raw[reader.line_num] = json.dumps(row, ensure_ascii=False)
    return ParsedFile(rows, raw, columns, [])


def _jsonl_rows(path: Path) -> ParsedFile:
    rows: list[tuple[int, Mapping[str, object]]] = []
    raw: dict[int, str] = {}
    bad: list[RowError] = []
    columns: set[str] = set()
    with path.open(encoding="utf-8-sig") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            raw[line_number] = line.rstrip("\n")
            try:
                row = json.loads(line)
            except ValueError as error:
                bad.append(RowError(line_number, f"not JSON: {error}"))
                continue
            if not isinstance(row, dict):
                bad.append(RowError(line_number, "not a JSON object"))
                continue
            columns.update(row)
            rows.append((line_number, row))
    return ParsedFile(rows, raw, sorted(columns), bad)


def read_rows(path: Path, file_format: str) -> ParsedFile:
    """The rows of a CSV or JSON-lines file, each with its line number."""
    if file_format == "auto":
        file_format = "jsonl" if path.suffix in (".jsonl", ".ndjson", ".json") else "csv"
    try:
        return _jsonl_rows(path) if file_format == "jsonl" else _csv_rows(path)
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror}") from None
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path} is not UTF-8 text ({error.reason} at byte {error.start})") from None
    except csv.Error as error:
        raise ConfigError(f"{path}: not a readable CSV file ({error})") from None


@dataclass(frozen=True)
class ImportOutcome:
    report: ImportReport | None  # None: nothing was stored (strict mode)
    errors: list[RowError]


async def import_file(store: AccountStore, path: Path, mapping: Mapping[str, str],
                      defaults: ImportDefaults, *, file_format: str = "auto",
                      strict: bool = False) -> ImportOutcome:
    """Import a file: all good rows and the quarantine in one transaction;
    with strict, any bad row stops the import and nothing changes."""
    parsed = read_rows(path, file_format)
    try:
        full_mapping = check_mapping(mapping, parsed.columns)
    except MappingError as error:
        raise ConfigError(f"{path}: {error}") from None
    accounts, errors = parse_rows(parsed.rows, full_mapping, defaults)
    errors = sorted(parsed.unreadable + errors, key=lambda e: e.line)
    if strict and errors:
        return ImportOutcome(None, errors)
    report = await store.import_accounts(str(path), accounts, errors, parsed.raw)
    return ImportOutcome(report, errors)


def iter_report(outcome: ImportOutcome, limit: int = 20) -> Iterator[str]:
    """Lines telling what an import did, and its first bad rows."""
    if outcome.report is None:
        yield f"nothing imported: {len(outcome.errors)} bad row(s) and --strict"
    else:
        r = outcome.report
        yield (f"imported {r.inserted + r.updated} account(s) ({r.inserted} new, {r.updated} "
               f"updated); {r.quarantined} row(s) quarantined in batch {r.batch_id}")
    for error in outcome.errors[:limit]:
        yield f"  line {error.line}: {error.reason}"
    if len(outcome.errors) > limit:
        yield f"  ... and {len(outcome.errors) - limit} more (`recobro accounts quarantine`)"
