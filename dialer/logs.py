"""How every Recobro process logs: one setup (the CLI's, which every
command and the lab's daemons go through) and a redaction filter on every
handler, so that no log record, whatever logger made it, carries a card
number: any run of 13 to 19 digits (spaces or dashes between them too) is
masked, all but its last four. Other long digit runs (a 13-digit epoch in
milliseconds, say) are masked too: a price worth paying.

Log lines go to stderr, or to the file RECOBRO_LOG_FILE names. A log file
that cannot be written (its disk full) stops nothing: the lines are lost,
stderr says so once, and the file is written again as soon as it can be,
starting with how many lines were lost (LogFile)."""

from __future__ import annotations

import logging
import re
import sys
import time
from pathlib import Path

# 13-19 digits, optionally grouped by single spaces or dashes, not inside
# a longer run of digits.
CARD_LIKE = re.compile(r"(?<![0-9])[0-9](?:[ -]?[0-9]){12,18}(?![0-9])")
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def redact(text: str) -> str:
    """text with every card-like digit run masked to its last four."""
    def mask(match: re.Match[str]) -> str:
        digits = re.sub(r"[^0-9]", "", match.group())
        return "*" * (len(digits) - 4) + digits[-4:]
    return CARD_LIKE.sub(mask, text)


class RedactCardNumbers(logging.Filter):
    """Masks card-like digit runs in a record's message, arguments and
    exception text, before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg, record.args = redact(message), None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def install_redaction(logger: logging.Logger | None = None) -> None:
    """Put the filter on every handler of logger (the root by default):
    handler filters see every record a handler emits, propagated ones too."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, RedactCardNumbers) for f in handler.filters):
            handler.addFilter(RedactCardNumbers())


class LogFile(logging.Handler):
    """Appends each line to a file, unbuffered (a line is in the file, or
    known lost, when the call that logged it goes on). A line the file
    system refuses (ENOSPC, EIO...) is dropped and counted; the first of an
    outage is said on stderr, once; the next line written is preceded by a
    line saying how many were lost since when, and why."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        # Opened at once: a path that cannot be opened is a setting to fix.
        self._file = open(path, "ab", buffering=0)  # noqa: SIM115 (open while the process runs)
        self.lost = 0  # lines lost in the current outage
        self._lost_since = ""
        self._why = ""
        self._torn = False  # a line was cut short by the outage

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + "\n"
        except (TypeError, ValueError):  # a message whose arguments do not fit it
            self.handleError(record)
            return
        if self.lost:
            # A line the outage cut short is ended first.
            line = ("\n" if self._torn else "") + (
                f"{_now()} WARNING {__name__}: {self.lost} log line(s) lost from "
                f"{self._lost_since}: {self.path} could not be written ({self._why})\n{line}")
        try:
            self._write(line.encode("utf-8", "replace"))
        except OSError as error:
            self._lost(error)
            return
        self.lost = 0

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = self._file.write(view)
            if not written:
                raise OSError(f"{self.path}: nothing written")
            view = view[written:]
            self._torn = bool(view)  # part of a line is in the file

    def _lost(self, error: OSError) -> None:
        if not self.lost:
            self._lost_since, self._why = _now(), error.strerror or str(error)
            _say(f"recobro: warning: cannot write the log file {self.path} ({self._why}): "
                 "log lines are lost until it can be written again; calls go on")
        self.lost += 1

    def close(self) -> None:
        """Close the file (the process ends)."""
        self._file.close()
        super().close()


def _now() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S")


def _say(line: str) -> None:
    """One line on stderr, if stderr itself can take it."""
    try:
        print(line, file=sys.stderr, flush=True)
    except OSError:
        pass


def configure(level: str, log_file: Path | None = None) -> None:
    """The process's logging: level, Recobro's format, redaction; lines to
    log_file when given (OSError when it cannot be opened), else stderr."""
    if log_file is None:
        logging.basicConfig(level=level, format=FORMAT)
    else:
        handler = LogFile(log_file)
        handler.setFormatter(logging.Formatter(FORMAT))
        logging.basicConfig(level=level, handlers=[handler])
    install_redaction()
