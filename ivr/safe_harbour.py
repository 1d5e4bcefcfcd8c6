"""The safe-harbour message: what an answered debtor hears when no agent
could be connected within 2 seconds (FCC 47 CFR 64.1200(a)(7)(i)(B)):
who called, a number to call back, and how to stop the calls (a key to
press, 47 CFR 64.1200(b)(3)). Pure: the words; the lab turns them into
sound files, a production site records its own under the same name."""

from __future__ import annotations

SOUND = "recobro/safe-harbour"  # Asterisk sound name, in sounds/<language>/
OPT_OUT_KEY = "9"
LONGEST_S = 30.0  # no message is longer; the call ends after it regardless

_TEXT = {
    "en": ("Hello, this is {company}. We are calling about a personal business matter. "
           "Please call us back at {number}. To stop our calls, press {key} now, "
           "or call that number. Goodbye."),
    "es": ("Hola, le llama {company}. Le llamamos por un asunto personal. "
           "Por favor, devuélvanos la llamada al {number}. Para no recibir más llamadas "
           "nuestras, pulse {key} ahora, o llame a ese número. Adiós."),
}


def spoken_number(number: str) -> str:
    """A phone number as a voice should read it: digit by digit."""
    return " ".join(ch for ch in number if ch.isdigit())


def message(language: str, company: str, callback_number: str) -> str:
    """The message's words in es or en."""
    return _TEXT[language].format(company=company, number=spoken_number(callback_number),
                                  key=OPT_OUT_KEY)
