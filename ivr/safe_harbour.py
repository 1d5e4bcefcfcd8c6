"""The safe-harbour message: what an answered debtor hears when no agent
could be connected within 2 seconds (FCC 47 CFR 64.1200(a)(7)(i)(B)):
who called, a number to call back, and how to stop the calls (a key to
press, 47 CFR 64.1200(b)(3)). When the recording cannot be played, the
callback number is said digit by digit with Asterisk's own sounds."""

from __future__ import annotations

from ivr.actions import LONGEST_PROMPT_S
from ivr.recorded_message import RecordedMessage
from ivr.recordings import Recording, sound

OPT_OUT_KEY = "9"

MESSAGE = Recording(sound("safe-harbour"), {
    "en": ("Hello, this is {company}. We are calling about a personal business matter. "
           "Please call us back at {number}. To stop our calls, press " + OPT_OUT_KEY
           + " now, or call that number. Goodbye."),
    "es": ("Hola, le llama {company}. Le llamamos por un asunto personal. "
           "Por favor, devuélvanos la llamada al {number}. Para no recibir más llamadas "
           "nuestras, pulse " + OPT_OUT_KEY + " ahora, o llame a ese número. Adiós."),
})
SOUND = MESSAGE.sound
RECORDINGS = (MESSAGE,)


def flow(callback_number: str) -> RecordedMessage:
    """The safe-harbour message, then the call ends; 9 opts the debtor out."""
    return RecordedMessage(SOUND, LONGEST_PROMPT_S, callback_number,
                           "no agent within 2 s: safe-harbour message", OPT_OUT_KEY)
