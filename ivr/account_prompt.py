"""What a debtor calling in hears when the caller ID names no account: a
request to key the account number. Pure: the words; the lab turns them into
sound files, a production site records its own."""

from __future__ import annotations

SOUND = "recobro/enter-account"
END_KEY = "#"

_TEXT = {
    "en": "Welcome to {company}. Please enter your account number, then press the pound key.",
    "es": "Bienvenido a {company}. Marque su número de cuenta y después la tecla de número.",
}


def message(language: str, company: str, callback_number: str) -> str:
    """The prompt's words in es or en (the callback number is not said)."""
    return _TEXT[language].format(company=company)
