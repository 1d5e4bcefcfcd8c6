"""Which Asterisk sound plays for each moment of a flow. Spanish and English
use the same sound names; ARI picks the language's recording."""

from __future__ import annotations

from enum import Enum

from dialer.portfolio.model import Language

LANGUAGES = tuple(language.value for language in Language)  # what the flows speak


class Prompt(Enum):
    GREETING = "hello-world"
    GOODBYE = "vm-goodbye"


def language_or_default(language: str, default: str = "es") -> str:
    """A language the flows speak (LANGUAGES), else default."""
    return language if language in LANGUAGES else default
