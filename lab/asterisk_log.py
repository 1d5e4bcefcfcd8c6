"""What the lab's Asterisk logged about prompts it could not play (the
caller heard silence), and its errors and warnings: read from
messages.log between two points, for the tests' end-of-run check and the
demo's, and for a test that shows a call left Asterisk nothing to
complain of."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from lab.config import LabConfig

# A sound Asterisk has in no language or format. ("Playback failed" alone
# also comes when the caller hangs up as a prompt starts: nobody heard it.)
UNPLAYABLE = re.compile(r"File (\S+) does not exist in any format")
# messages.log's line: "[date time] LEVEL[thread]..."
PROBLEM = re.compile(r"\[[^]]*\] (ERROR|WARNING)\[")


class AsteriskLog:
    """The lab's Asterisk log from the moment this was made, minus the
    stretches excused (a test that removed a recording on purpose)."""

    def __init__(self, cfg: LabConfig) -> None:
        self.path: Path = cfg.asterisk_run_dir / "log" / "messages.log"
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

    def unplayable(self, start: int | None = None, end: int | None = None) -> Counter[str]:
        """Sounds Asterisk could not play between two offsets (default: since
        this was made), with how often."""
        found: Counter[str] = Counter()
        for position, line in self._lines(start, end):
            match = UNPLAYABLE.search(line)
            if match and not any(a <= position < b for a, b in self.excused):
                found[match.group(1)] += 1
        return found

    def problems(self, start: int | None = None, end: int | None = None) -> list[str]:
        """What Asterisk logged as an ERROR or a WARNING between two offsets
        (default: since this was made), excused stretches included."""
        return [line.rstrip("\n") for _, line in self._lines(start, end)
                if PROBLEM.match(line)]


def describe(unplayable: Counter[str]) -> str:
    """`recobro/safe-harbour x3, ...`"""
    return ", ".join(f"{sound} x{count}" for sound, count in unplayable.most_common())
