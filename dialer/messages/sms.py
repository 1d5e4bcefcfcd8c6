"""An SMS's encoding and segment count (3GPP TS 23.038 and 23.040).

A text every character of which is in the GSM 03.38 default alphabet or
its extension table goes as GSM-7: 160 septets in one message, else 153
per segment of a concatenated one (the user data header takes 7); an
extension character (€ [ ] { } ^ ~ | \\ and form feed) takes two septets,
an escape and itself, which are never split across segments. Anything
else sends the whole text as UCS-2: 70 UTF-16 code units alone, else 67 per
segment, a surrogate pair never split. So ñ, é, ü, ¿ and ¡ (in the basic
set) keep GSM-7, while á, í, ó and ú (not in it) force UCS-2.

The alphabet is the `gsm0338` codec's (PyPI), which encodes one byte per
septet and the extension characters as escape + byte."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from typing import cast

import gsm0338  # noqa: F401  (registers the "gsm03.38" codec)

GSM7_SINGLE = 160
GSM7_PART = 153
UCS2_SINGLE = 70
UCS2_PART = 67


class Encoding(Enum):
    GSM7 = "GSM-7"
    UCS2 = "UCS-2"


@dataclass(frozen=True)
class SmsSize:
    encoding: Encoding
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int
    forcing: str  # UCS-2: the first character not in GSM-7 ('' for GSM-7)

    def __str__(self) -> str:
        why = f", forced by {self.forcing!r}" if self.forcing else ""
        unit = "septets" if self.encoding is Encoding.GSM7 else "UTF-16 units"
        plural = "s" if self.segments != 1 else ""
        return f"{self.encoding.value}{why}: {self.units} {unit}, {self.segments} segment{plural}"


def _split(units: list[int], single: int, part: int) -> int:
    """Segments for these unit widths (1, or 2 for what must stay whole)."""
    total = sum(units)
    if total <= single:
        return 1
    segments, used = 1, 0
    for width in units:
        if used + width > part:
            segments, used = segments + 1, 0
        used += width
    return segments


@lru_cache(maxsize=4096)
def _septets(char: str) -> int | None:
    """The septets char takes in GSM-7 (2: an escape and itself), None when
    GSM-7 has no such character, as the codec encodes it. Kept per
    character: the codec is pure Python, and a sender measures every text."""
    try:
        return len(char.encode("gsm03.38"))
    except UnicodeEncodeError:
        return None


def measure(text: str) -> SmsSize:
    """The encoding an SMS of text goes in, its length and its segments."""
    septets = [_septets(c) for c in text]
    if None not in septets:
        widths = cast(list[int], septets)
        return SmsSize(Encoding.GSM7, sum(widths), _split(widths, GSM7_SINGLE, GSM7_PART), "")
    forcing = text[septets.index(None)]
    widths = [2 if ord(c) > 0xFFFF else 1 for c in text]
    return SmsSize(Encoding.UCS2, sum(widths), _split(widths, UCS2_SINGLE, UCS2_PART), forcing)
