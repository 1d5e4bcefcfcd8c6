"""What a debtor waiting for an agent hears besides music: the offer of a
call back, and its confirmation. Pure: the words (the lab turns them into
sound files; a production site records its own). Position announcements
use Asterisk's own queue sounds."""

from __future__ import annotations

OFFER = "recobro/offer-callback"
BOOKED = "recobro/callback-booked"
CALLBACK_KEY = "1"
SOUNDS = (OFFER, BOOKED)

_TEXT = {
    OFFER: {"en": "To be called back instead of waiting, press 1.",
            "es": "Para que le devolvamos la llamada en lugar de esperar, pulse 1."},
    BOOKED: {"en": "Thank you. {company} will call you back. Goodbye.",
             "es": "Gracias. {company} le devolverá la llamada. Adiós."},
}


def message(sound: str, language: str, company: str) -> str:
    """The words of one of SOUNDS in es or en."""
    return _TEXT[sound][language].format(company=company)
