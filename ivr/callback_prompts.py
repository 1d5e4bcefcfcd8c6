"""What a debtor waiting for an agent hears besides music: the offer of a
call back, and its confirmation. Position announcements use Asterisk's own
queue sounds (QUEUE_SOUNDS)."""

from __future__ import annotations

from ivr.recordings import Recording, sound

CALLBACK_KEY = "1"

OFFER_PROMPT = Recording(sound("offer-callback"), {
    "en": "To be called back instead of waiting, press 1.",
    "es": "Para que le devolvamos la llamada en lugar de esperar, pulse 1.",
})
BOOKED_PROMPT = Recording(sound("callback-booked"), {
    "en": "Thank you. {company} will call you back. Goodbye.",
    "es": "Gracias. {company} le devolverá la llamada. Adiós.",
})
OFFER, BOOKED = OFFER_PROMPT.sound, BOOKED_PROMPT.sound
RECORDINGS = (OFFER_PROMPT, BOOKED_PROMPT)

YOU_ARE_NEXT = "queue-youarenext"
THERE_ARE, CALLS_WAITING = "queue-thereare", "queue-callswaiting"
QUEUE_SOUNDS = (YOU_ARE_NEXT, THERE_ARE, CALLS_WAITING)


def place_in_line(position: int) -> list[str]:
    """The ARI media that tell a caller their place in line."""
    if position == 1:
        return [f"sound:{YOU_ARE_NEXT}"]
    return [f"sound:{THERE_ARE}", f"number:{position}", f"sound:{CALLS_WAITING}"]
