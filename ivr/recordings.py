"""Recobro's own recordings: the prompts Asterisk does not ship, each an
Asterisk sound name with its words in every language. Pure: the words; the
lab speaks them into sound files, a production site records its own under
the same names (see docs/sounds.md)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

# Asterisk looks for a sound `recobro/NAME` in language `es` at
# <astdatadir>/sounds/es/recobro/NAME.<format>.
DIRECTORY = "recobro"


@dataclass(frozen=True)
class Recording:
    """One of Recobro's recordings: its sound name and its words by
    language, where {company} and {number} (the callback number) are the
    site's own."""

    sound: str
    words: Mapping[str, str]

    def text(self, language: str, company: str, callback_number: str) -> str:
        """The words to record in language, for this site."""
        return self.words[language].format(company=company,
                                           number=spoken_number(callback_number))


def sound(name: str) -> str:
    """The Asterisk sound name of one of Recobro's recordings."""
    return f"{DIRECTORY}/{name}"


def spoken_number(number: str) -> str:
    """A phone number as a voice should read it: digit by digit."""
    return " ".join(ch for ch in number if ch.isdigit())


def digits_media(number: str) -> str:
    """ARI media saying a number digit by digit with Asterisk's own digit
    sounds: what a flow falls back to when a recording cannot be played."""
    return "digits:" + "".join(ch for ch in number if ch.isdigit())
