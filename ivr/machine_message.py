"""The message left on an answering machine when a campaign says so: a
Reg F limited-content message (12 CFR 1006.2(j)): the business's name
(which does not say it collects debts), a request to call back, and the
number; nothing about a debt, since anyone may hear it. Pure: the words;
the lab turns them into sound files, a production site records its own."""

from __future__ import annotations

from ivr.safe_harbour import spoken_number

SOUND = "recobro/machine-message"
LONGEST_S = 30.0

_TEXT = {
    "en": "Hello, this is {company}. Please call us back at {number}. Thank you.",
    "es": "Hola, le llama {company}. Por favor, devuélvanos la llamada al {number}. Gracias.",
}


def message(language: str, company: str, callback_number: str) -> str:
    """The message's words in es or en."""
    return _TEXT[language].format(company=company, number=spoken_number(callback_number))
