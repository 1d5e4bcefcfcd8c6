"""What a debtor calling in hears when the caller ID names no account: a
request to key the account number."""

from __future__ import annotations

from ivr.recordings import Recording, sound

END_KEY = "#"

PROMPT = Recording(sound("enter-account"), {
    "en": "Welcome to {company}. Please enter your account number, then press the pound key.",
    "es": "Bienvenido a {company}. Marque su número de cuenta y después la tecla de número.",
})
SOUND = PROMPT.sound
RECORDINGS = (PROMPT,)
