"""What a debtor calling in hears when the caller ID names no account: a
request to key the account number."""

from __future__ import annotations

from ivr.actions import Collect, Digits, Finish, Input, Play, Unplayable
from ivr.actions import sound as media_of
from ivr.recordings import Recording, sound

END_KEY = "#"

PROMPT = Recording(sound("enter-account"), {
    "en": "Welcome to {company}. Please enter your account number, then press the pound key.",
    "es": "Bienvenido a {company}. Marque su número de cuenta y después la tecla de número.",
})
SOUND = PROMPT.sound
RECORDINGS = (PROMPT,)

ACCOUNT_DIGITS = 20  # the longest account number a caller may key
KEY_TIMEOUT_S = 8.0  # for each key (the first after the prompt)


class KeyedAccount:
    """Ask for the account number and gather it, the prompt cut short by the
    first key. Finishes with the digits ("" for none), or None when the
    prompt could not be played (the caller goes to an agent unidentified)."""

    def start(self) -> tuple[None, list[object]]:
        return None, [Play(media_of(SOUND)),
                      Collect(ACCOUNT_DIGITS, KEY_TIMEOUT_S, end_key=END_KEY)]

    def on(self, state: None, heard: Input) -> tuple[None, list[object]]:
        if isinstance(heard, Unplayable):
            return None, [Finish(None)]
        return None, [Finish(heard.value if isinstance(heard, Digits) else "")]
