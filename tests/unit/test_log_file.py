"""The log file (RECOBRO_LOG_FILE, dialer.logs.LogFile) on a disk that
fills: the process goes on, stderr says so once per outage, and once the
file takes lines again the first says how many were lost."""

from __future__ import annotations

import errno
import logging
import os
import re
from pathlib import Path

import pytest

from dialer import logs
from dialer.cli import main
from dialer.logs import FORMAT, LogFile


class FillingDisk:
    """A file that takes `room` bytes (a short write at the edge, as a
    kernel gives), then refuses with ENOSPC until `room` grows again."""

    def __init__(self, room: int) -> None:
        self.room = room
        self.data = bytearray()

    def write(self, data) -> int:
        if self.room <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        taken = bytes(data[:self.room])
        self.data += taken
        self.room -= len(taken)
        return len(taken)

    def close(self) -> None:
        pass


def _logger(handler: logging.Handler) -> logging.Logger:
    handler.setFormatter(logging.Formatter(FORMAT))
    logger = logging.getLogger("test_log_file")
    logger.handlers[:] = [handler]
    logger.propagate = False
    return logger


def test_a_full_disk_loses_lines_says_so_once_and_writes_again_when_there_is_room(
        tmp_path, capsys):
    handler = LogFile(tmp_path / "dialer.log")
    disk = FillingDisk(room=150)
    handler._file = disk
    log = _logger(handler)
    for n in range(10):
        log.warning("line %d", n)
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "cannot write the log file" in err[0] and \
        "No space left on device" in err[0] and "calls go on" in err[0], err
    written = disk.data.decode()
    assert "line 0\n" in written and "line 9" not in written
    whole = written.count("\n")  # the lines that fit; the next was cut short
    disk.room = 10_000  # space is back
    log.warning("line 10")
    lines = disk.data.decode().splitlines()
    # The cut line is ended; then how many were lost, since when and why.
    assert re.search(
        rf"WARNING dialer.logs: {10 - whole} log line\(s\) lost from \d{{4}}-\d\d-\d\d "
        rf"\d\d:\d\d:\d\d: {re.escape(str(tmp_path / 'dialer.log'))} could not be written "
        r"\(No space left on device\)$", lines[whole + 1]), lines
    assert lines[-1].endswith("line 10") and len(lines) == whole + 3
    assert capsys.readouterr().err == ""  # the outage was said once
    disk.room = 0  # a second outage is said again
    log.warning("line 11")
    assert "cannot write the log file" in capsys.readouterr().err


def test_the_log_goes_to_the_file_and_a_file_that_cannot_be_opened_is_a_setting_to_fix(
        tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RECOBRO_LOG_FILE", str(tmp_path / "no-such-dir" / "dialer.log"))
    assert main(["lab", "status"]) == 2  # stopped before the command runs
    err = capsys.readouterr().err
    assert err.startswith("recobro: error: RECOBRO_LOG_FILE=") and "No such file" in err, err


@pytest.fixture
def root_logging():
    """Puts back the root logger's handlers a test's configure replaced."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:], root.level = handlers, level


def test_lines_logged_are_in_the_file_with_cards_masked(tmp_path, root_logging):
    path = tmp_path / "dialer.log"
    logging.getLogger().handlers[:] = []
    logs.configure("INFO", Path(path))
    logging.getLogger("test").warning("card 4111 1111 1111 1111 refused")
    assert path.read_text().rstrip().endswith("WARNING test: card ************1111 refused")
