"""The message left on an answering machine when a campaign says so: a
Reg F limited-content message (12 CFR 1006.2(j)): the business's name
(which does not say it collects debts), a request to call back, and the
number; nothing about a debt, since anyone may hear it."""

from __future__ import annotations

from ivr.recorded_message import RecordedMessage
from ivr.recordings import Recording, sound

LONGEST_S = 30.0

MESSAGE = Recording(sound("machine-message"), {
    "en": "Hello, this is {company}. Please call us back at {number}. Thank you.",
    "es": "Hola, le llama {company}. Por favor, devuélvanos la llamada al {number}. Gracias.",
})
SOUND = MESSAGE.sound
RECORDINGS = (MESSAGE,)


def flow(callback_number: str) -> RecordedMessage:
    """The message left on a machine, then the call ends."""
    return RecordedMessage(SOUND, LONGEST_S, callback_number, "answering machine")
