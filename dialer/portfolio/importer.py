"""`recobro accounts import`: read a CSV or JSON-lines file, parse it through
the column mapping (dialer.portfolio.importing) and store the result in
one transaction; rejected rows are reported and quarantined.

The file is read as bytes, one physical line at a time, so that a line that
is not UTF-8, a runaway field or a line that is not even a row costs that
row (quarantined with its line, and its byte offset when the bytes are at
fault), never the whole import."""

from __future__ import annotations

import codecs
import csv
import json
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from dialer.errors import ConfigError
from dialer.portfolio.importing import (
    ImportDefaults,
    MappingError,
    RowError,
    check_mapping,
    parse_rows,
    storable,
)
from dialer.portfolio.store import AccountStore, ImportReport

# Bytes in one physical line. A longer line is skipped unread (quarantined
# with its line): memory stays bounded whatever the file holds. Every field
# has a far smaller limit of its own (importing.FIELD_LIMITS).
LINE_LIMIT = 16 * 1024 * 1024
# csv's own limit on a field (131,072 characters by default) would end the
# whole file at the first long field; the line limit bounds fields instead.
CSV_FIELD_LIMIT = LINE_LIMIT
# A CSV line may end in \r\n, \n or a lone \r (as the csv module reads it);
# JSON lines end in \n.
_LONE_CR = re.compile(rb"(?<=\r)(?!\n)")


@dataclass(frozen=True)
class Line:
    """One physical line of the file, decoded."""

    number: int  # from 1
    offset: int  # of its first byte in the file, from 0
    text: str  # bytes that are not UTF-8 are U+FFFD here
    problem: str  # why the line cannot be imported ("" when it can)


def _skip_rest_of_line(handle: BinaryIO) -> int:
    """Read past the end of the current line; how many bytes were skipped."""
    skipped = 0
    while True:
        piece = handle.readline(1 << 20)
        skipped += len(piece)
        if not piece or piece.endswith(b"\n"):
            return skipped


def _decode(number: int, offset: int, data: bytes) -> Line:
    try:
        return Line(number, offset, data.decode("utf-8"), "")
    except UnicodeDecodeError as error:
        # The offset in the file, not in whatever chunk a decoder held.
        return Line(number, offset, data.decode("utf-8", "replace"),
                    f"not UTF-8: byte 0x{data[error.start]:02x} at offset "
                    f"{offset + error.start} of the file")


def read_lines(handle: BinaryIO, *, lone_cr_ends_line: bool,
               limit: int = LINE_LIMIT) -> Iterator[Line]:
    """The file's physical lines with their numbers and byte offsets (a
    UTF-8 byte order mark at the start is skipped). A line longer than
    limit bytes comes back empty, with its problem."""
    number = 0
    offset = 0
    at_start = True
    while True:
        data = handle.readline(limit + 1)
        if not data:
            return
        if at_start:
            at_start = False
            if data.startswith(codecs.BOM_UTF8):
                data = data[len(codecs.BOM_UTF8):]
                offset = len(codecs.BOM_UTF8)
        if len(data) > limit and not data.endswith(b"\n"):
            length = len(data) + _skip_rest_of_line(handle)
            number += 1
            yield Line(number, offset, "\n", f"the line is {length:,} bytes long, more than "
                                             f"the {limit:,} read")
            offset += length
            continue
        pieces = _LONE_CR.split(data) if lone_cr_ends_line and b"\r" in data else [data]
        for piece in pieces:
            if piece:
                number += 1
                yield _decode(number, offset, piece)
                offset += len(piece)


@dataclass(frozen=True)
class ParsedFile:
    rows: list[tuple[int, Mapping[str, object]]]
    columns: list[str]
    unreadable: list[RowError]  # lines that are not even rows (bad bytes, bad JSON)
    raw: dict[int, str]  # line -> what was read there, for the unreadable ones


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


class _Lines:
    """Feeds csv.reader the lines' text and keeps the Lines of the record
    being read, so that each record is known by its lines."""

    def __init__(self, lines: Iterator[Line]) -> None:
        self._lines = lines
        self._pending: list[Line] = []

    def __iter__(self) -> Iterator[str]:
        for line in self._lines:
            self._pending.append(line)
            yield line.text

    def take(self) -> list[Line]:
        """The lines read since the last take: the record just read."""
        taken, self._pending = self._pending, []
        return taken


def _column_name(columns: list[str], index: int) -> str:
    """A column as a reason names it: as the header has it, quoted when it
    holds what a terminal should not print."""
    if index >= len(columns):
        return f"field {index + 1}"
    name = columns[index]
    return name if name.isprintable() else repr(name)


def _line_problem(lines: list[Line], fields: list[str], columns: list[str]) -> str:
    """Why a record cannot be imported because of its bytes ("" if it can),
    naming the column that holds bytes that are not UTF-8."""
    for line in lines:
        if not line.problem:
            continue
        where = ""
        if "\ufffd" in line.text:
            where = next((f"{_column_name(columns, i)}: "
                          for i, field in enumerate(fields) if "\ufffd" in field), "")
        later = f" (line {line.number}, within the row)" if line.number != lines[0].number else ""
        return f"{where}{line.problem}{later}"
    return ""


def _csv_rows(handle: BinaryIO) -> ParsedFile:
    lines = _Lines(read_lines(handle, lone_cr_ends_line=True))
    reader = csv.reader(lines)
    try:
        columns = next(reader, [])
    except csv.Error as error:
        raise ConfigError(f"line 1 (the header) is not readable CSV ({error})") from None
    problem = _line_problem(lines.take(), columns, columns)
    if problem:
        raise ConfigError(f"the header (line 1): {problem}")
    rows: list[tuple[int, Mapping[str, object]]] = []
    bad: list[RowError] = []
    raw: dict[int, str] = {}
    while True:
        first = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            # csv drops the rest of the line and reads on from the next one.
            raw[first] = "".join(line.text for line in lines.take())
            bad.append(RowError(first, f"not a readable CSV row ({error})"))
            continue
        record = lines.take()
        problem = _line_problem(record, fields, columns)
        if problem:
            raw[first] = "".join(line.text for line in record)
            bad.append(RowError(first, problem))
        elif len(fields) > len(columns):
            # A comma in an unquoted value shifts every field after it.
            raw[first] = "".join(line.text for line in record)
            bad.append(RowError(first, f"{len(fields)} fields where the header has "
                                       f"{len(columns)} (a ',' in an unquoted value?)"))
        elif fields:  # a blank line is no row
            rows.append((first, dict(zip(columns, fields, strict=False))))
    return ParsedFile(rows, columns, bad, raw)


def _jsonl_rows(handle: BinaryIO) -> ParsedFile:
    rows: list[tuple[int, Mapping[str, object]]] = []
    raw: dict[int, str] = {}
    bad: list[RowError] = []
    columns: set[str] = set()
    for line in read_lines(handle, lone_cr_ends_line=False):
        if line.problem:
            raw[line.number] = line.text
            bad.append(RowError(line.number, line.problem))
            continue
        if not line.text.strip():
            continue
        try:
            row = json.loads(line.text)
        except ValueError as error:
            raw[line.number] = line.text
            bad.append(RowError(line.number, f"not JSON: {error}"))
            continue
        except RecursionError:
            raw[line.number] = line.text
            bad.append(RowError(line.number, "not JSON Recobro reads: nested too deeply"))
            continue
        if not isinstance(row, dict):
            raw[line.number] = line.text
            bad.append(RowError(line.number, "not a JSON object"))
            continue
        columns.update(row)
        rows.append((line.number, row))
    return ParsedFile(rows, sorted(columns), bad, raw)


def _file_format(source: str, file_format: str) -> str:
    """csv or jsonl: file_format, or for "auto" the source's suffix."""
    if file_format != "auto":
        return file_format
    return "jsonl" if Path(source).suffix in (".jsonl", ".ndjson", ".json") else "csv"


def read_stream(handle: BinaryIO, file_format: str) -> ParsedFile:
    """The rows of a CSV or JSON-lines stream (csv or jsonl), each with its
    line number, and the lines that are no rows."""
    previous = csv.field_size_limit(CSV_FIELD_LIMIT)
    try:
        return _jsonl_rows(handle) if file_format == "jsonl" else _csv_rows(handle)
    finally:
        csv.field_size_limit(previous)


def read_rows(path: Path, file_format: str) -> ParsedFile:
    """The rows of a CSV or JSON-lines file, each with its line number, and
    the lines that are no rows."""
    try:
        with path.open("rb") as handle:
            return read_stream(handle, _file_format(str(path), file_format))
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror}") from None
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None


@dataclass(frozen=True)
class ImportOutcome:
    report: ImportReport | None  # None: nothing was stored (strict mode)
    errors: list[RowError]


async def import_file(store: AccountStore, path: Path, mapping: Mapping[str, str],
                      defaults: ImportDefaults, *, file_format: str = "auto",
                      strict: bool = False) -> ImportOutcome:
    """Import a file: all good rows and the quarantine in one transaction;
    with strict, any bad row stops the import and nothing changes."""
    return await _import_parsed(store, str(path), read_rows(path, file_format), mapping,
                                defaults, strict)


async def import_upload(store: AccountStore, source: str, handle: BinaryIO,
                        mapping: Mapping[str, str], defaults: ImportDefaults, *,
                        file_format: str = "auto", strict: bool = False) -> ImportOutcome:
    """Import a file's bytes sent by a client (POST /imports) as
    import_file imports a file; source: the name its batch is known by."""
    try:
        parsed = read_stream(handle, _file_format(source, file_format))
    except ConfigError as error:
        raise ConfigError(f"{source}: {error}") from None
    return await _import_parsed(store, source, parsed, mapping, defaults, strict)


async def _import_parsed(store: AccountStore, source: str, parsed: ParsedFile,
                         mapping: Mapping[str, str], defaults: ImportDefaults,
                         strict: bool) -> ImportOutcome:
    try:
        full_mapping = check_mapping(mapping, parsed.columns)
    except MappingError as error:
        raise ConfigError(f"{source}: {error}") from None
    accounts, errors = parse_rows(parsed.rows, full_mapping, defaults)
    errors = sorted(parsed.unreadable + errors, key=lambda e: e.line)
    if strict and errors:
        return ImportOutcome(None, errors)
    # The quarantine keeps a copy of each bad row only (not of every row).
    bad_lines = {e.line for e in errors}
    raw = {line: json.dumps(row, ensure_ascii=False) for line, row in parsed.rows if line in bad_lines}
    raw.update(parsed.raw)
    raw = {line: storable(text) for line, text in raw.items()}
    report = await store.import_accounts(storable(source), accounts, errors, raw)
    return ImportOutcome(report, errors)


def iter_report(outcome: ImportOutcome, limit: int = 20) -> Iterator[str]:
    """Lines telling what an import did, and its first bad rows (every one
    under --strict: they are kept nowhere else)."""
    if outcome.report is None:
        yield f"nothing imported: {len(outcome.errors)} bad row(s) and --strict"
        shown = outcome.errors
    else:
        r = outcome.report
        phones = f"; {r.retired} phone(s) retired, {r.restored} back" \
            if r.retired or r.restored else ""
        yield (f"imported {r.inserted + r.updated} account(s) ({r.inserted} new, {r.updated} "
               f"updated){phones}; {r.quarantined} row(s) quarantined in batch {r.batch_id}")
        shown = outcome.errors[:limit]
    for error in shown:
        yield f"  line {error.line}: {error.reason}"
    if len(outcome.errors) > len(shown):
        yield f"  ... and {len(outcome.errors) - len(shown)} more (`recobro accounts quarantine`)"
