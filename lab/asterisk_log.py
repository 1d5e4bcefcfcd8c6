"""What the lab's Asterisk logged about prompts it could not play (the
caller heard silence), and its errors and warnings: read from
messages.log between two points, for the tests' end-of-run check and the
demo's, and for a test that shows a call left Asterisk nothing to
complain of.

Asterisk logs "Playback failed" both for a sound it could not play and for
a prompt cut short because the caller hung up as it played. The log line
alone does not tell which: a failure counts as a hang-up's only when the
same thread did not just log the file missing and the channel's HANGUP
channel event (cel-custom/Master.csv) says the far end hung up at that
moment."""

from __future__ import annotations

import csv
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from pathlib import Path

from lab.config import LabConfig

# messages.log's line: "[date time] LEVEL[thread][C-call]? module: message"
LINE = re.compile(r"\[(?P<at>[^]]+)\] [A-Z]+\[(?P<thread>\d+)\]\S* "
                  r"(?P<module>[\w./]+): (?P<message>.*)")
PROBLEM = re.compile(r"\[[^]]*\] (ERROR|WARNING)\[")
# file.c: a sound in no language or format (from ARI's play and from the
# dialplan's Playback alike).
MISSING = re.compile(r"File (?P<sound>\S+) does not exist in any format")
# res_stasis_playback.c: "<channel's uniqueid>: Playback failed for <media URI>"
FAILED = re.compile(r"(?P<channel>\S+): Playback failed for (?P<media>\S+)")
SOUND_SCHEME = "sound:"
# A missing file and the Playback failed it causes are one failure when the
# same thread logs them this close together.
SAME_FAILURE = timedelta(seconds=1)
# The channel's HANGUP event is written once it left Stasis, just after the
# playback failed (1 to 10 ms later in the lab); a hang-up further away did not cut the
# prompt. Seconds, not less: older labs stamp channel events to the second.
HANG_UP_MOMENT = timedelta(seconds=2)
# cel_custom.conf's columns (the sample mapping's order)
CEL_EVENT, CEL_TIME, CEL_CHANNEL_NAME, CEL_UNIQUEID, CEL_EXTRA = 0, 1, 9, 14, 19
CEL_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S")  # cel.conf's dateformat
LOG_TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"  # logger.conf's dateformat


class Cause(Enum):
    """Why Asterisk could not play a prompt to its end."""

    MISSING = "the file does not exist in any format or language"
    FAILED = "the playback failed on a channel that did not hang up then"
    CUT_BY_US = "the playback failed as Asterisk or Recobro hung the channel up"
    CALLER_HUNG_UP = "the caller hung up as it played"


@dataclass(frozen=True)
class HangUp:
    """A channel's HANGUP channel event."""

    at: datetime
    by_far_end: bool  # the hang-up's source is the channel itself: its far end hung up


@dataclass(frozen=True)
class PlaybackFailure:
    """One prompt Asterisk did not play to its end, with the line that says so."""

    sound: str
    cause: Cause
    channel: str  # the channel's uniqueid ("" when the line names none)
    line: str

    @property
    def unplayable(self) -> bool:
        """Whether the caller was there to hear silence (a real defect)."""
        return self.cause is not Cause.CALLER_HUNG_UP


@dataclass(frozen=True)
class _LogLine:
    at: datetime
    thread: str
    module: str
    message: str
    text: str


def _log_line(text: str) -> _LogLine | None:
    match = LINE.match(text)
    if match is None:
        return None
    try:
        at = datetime.strptime(match["at"], LOG_TIME_FORMAT)
    except ValueError:
        return None
    return _LogLine(at, match["thread"], match["module"], match["message"], text.rstrip("\n"))


def read_hang_ups(rows: Iterable[list[str]]) -> dict[str, list[HangUp]]:
    """Each channel's (by uniqueid) HANGUP events, from cel_custom's CSV rows."""
    hang_ups: dict[str, list[HangUp]] = {}
    for row in rows:
        if len(row) <= CEL_EXTRA or row[CEL_EVENT] != "HANGUP":
            continue
        at = _cel_time(row[CEL_TIME])
        if at is None:
            continue
        source = re.search(r'"hangupsource":"([^"]*)"', row[CEL_EXTRA])
        by_far_end = source is not None and source.group(1) == row[CEL_CHANNEL_NAME]
        hang_ups.setdefault(row[CEL_UNIQUEID], []).append(HangUp(at, by_far_end))
    return hang_ups


def _cel_time(text: str) -> datetime | None:
    for time_format in CEL_TIME_FORMATS:
        try:
            return datetime.strptime(text, time_format)
        except ValueError:
            continue
    return None


def playback_failures(lines: Iterable[tuple[int, str]],
                      hang_ups: Mapping[str, list[HangUp]]) -> list[tuple[int, PlaybackFailure]]:
    """Each prompt the log lines (with their offsets) say was not played to
    its end, with its cause and the offset of the line that tells it."""
    found: list[tuple[int, PlaybackFailure]] = []
    # A thread's last missing sound: the Playback failed after it is the same failure.
    missing_last: dict[str, tuple[str, datetime]] = {}
    for position, text in lines:
        line = _log_line(text)
        if line is None:
            continue
        missing = MISSING.search(line.message) if line.module == "file.c" else None
        if missing is not None:
            missing_last[line.thread] = (missing["sound"], line.at)
            found.append((position, PlaybackFailure(missing["sound"], Cause.MISSING, "",
                                                    line.text)))
            continue
        failed = FAILED.search(line.message) if line.module == "res_stasis_playback.c" else None
        if failed is None:
            continue
        sound = failed["media"].removeprefix(SOUND_SCHEME)
        earlier = missing_last.pop(line.thread, None)
        if earlier and earlier[0] == sound and line.at - earlier[1] <= SAME_FAILURE:
            continue  # counted at its file.c line
        cause = _why_failed(line.at, hang_ups.get(failed["channel"], []))
        found.append((position, PlaybackFailure(sound, cause, failed["channel"], line.text)))
    return found


def _why_failed(at: datetime, hang_ups: list[HangUp]) -> Cause:
    """A playback that failed with its file opened: cut by the channel's
    hang-up at that moment, else failed while the caller listened."""
    near = [h for h in hang_ups if abs(h.at - at) <= HANG_UP_MOMENT]
    if not near:
        return Cause.FAILED
    return Cause.CALLER_HUNG_UP if any(h.by_far_end for h in near) else Cause.CUT_BY_US


class AsteriskLog:
    """The lab's Asterisk log from the moment this was made, minus the
    stretches excused (a test that removed a recording on purpose)."""

    def __init__(self, cfg: LabConfig) -> None:
        self.path: Path = cfg.asterisk_run_dir / "log" / "messages.log"
        self.channel_events: Path = cfg.asterisk_run_dir / "log" / "cel-custom" / "Master.csv"
        self.start = self.offset()
        self.excused: list[tuple[int, int]] = []

    def offset(self) -> int:
        """Where the log ends now."""
        return self.path.stat().st_size if self.path.is_file() else 0

    def excuse(self, start: int, end: int) -> None:
        """Leave the log between two offsets out of unplayable()."""
        self.excused.append((start, end))

    def _lines(self, start: int | None, end: int | None) -> list[tuple[int, str]]:
        """The lines between two offsets (default: since this was made),
        each with its offset."""
        position = self.start if start is None else start
        if not self.path.is_file():
            return []
        with self.path.open("rb") as log:
            log.seek(position)
            text = log.read(max(0, (self.offset() if end is None else end) - position))
        lines = []
        for line in text.splitlines(keepends=True):
            lines.append((position, line.decode(errors="replace")))
            position += len(line)
        return lines

    def _hang_ups(self) -> dict[str, list[HangUp]]:
        if not self.channel_events.is_file():
            return {}
        with self.channel_events.open(newline="", errors="replace") as events:
            return read_hang_ups(csv.reader(events))

    def failures(self, start: int | None = None, end: int | None = None) -> list[PlaybackFailure]:
        """Every prompt not played to its end between two offsets (default:
        since this was made), outside the excused stretches, with its cause."""
        return [failure for position, failure in
                playback_failures(self._lines(start, end), self._hang_ups())
                if not any(a <= position < b for a, b in self.excused)]

    def unplayable(self, start: int | None = None,
                   end: int | None = None) -> list[PlaybackFailure]:
        """The failures between two offsets (default: since this was made)
        that a caller who was there heard as silence."""
        return [failure for failure in self.failures(start, end) if failure.unplayable]

    def problems(self, start: int | None = None, end: int | None = None) -> list[str]:
        """What Asterisk logged as an ERROR or a WARNING between two offsets
        (default: since this was made), excused stretches included."""
        return [line.rstrip("\n") for _, line in self._lines(start, end)
                if PROBLEM.match(line)]


def describe(failures: Iterable[PlaybackFailure]) -> str:
    """`recobro/safe-harbour x3 (the file does not exist ...), ...`"""
    counts = Counter((f.sound, f.cause) for f in failures)
    return ", ".join(f"{sound} x{count} ({cause.value})"
                     for (sound, cause), count in counts.most_common())
