"""Numbers said with Asterisk's own sounds (`number:` media), but for one
gap: Asterisk says a hundred on its own in Spanish (100, 1100, 2100...)
with digits/100, "cien", which Debian's Spanish sounds lack, so the whole
prompt would fail. A hundred on its own is Recobro's own recording, in
both languages alike. Pure."""

from __future__ import annotations

from ivr.actions import sound as media_of
from ivr.recordings import Recording, sound

HUNDRED = Recording(sound("hundred"), {"en": "one hundred", "es": "cien"})
RECORDINGS = (HUNDRED,)


def number_media(number: int) -> list[str]:
    """The ARI media saying a whole number (not negative)."""
    if number % 1000 == 100:
        # "mil" + "cien": what comes before the hundred, then the hundred.
        return ([f"number:{number - 100}"] if number > 100 else []) + [
            media_of(HUNDRED.sound)]
    return [f"number:{number}"]
