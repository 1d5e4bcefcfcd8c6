"""What a debtor waiting for an agent hears besides music: the offer of a
call back, and its confirmation. Position announcements use Asterisk's own
queue sounds (QUEUE_SOUNDS)."""

from __future__ import annotations

from ivr.actions import Finish, Input, Key, Play
from ivr.actions import sound as media_of
from ivr.numbers import number_media
from ivr.recordings import Recording, sound
from ivr.say import SayAndHangUp

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
        return [media_of(YOU_ARE_NEXT)]
    return [media_of(THERE_ARE), *number_media(position), media_of(CALLS_WAITING)]


class Announcement:
    """Between the music: the caller's place in line and the offer of a
    call back. Finishes with whether the caller pressed CALLBACK_KEY (any
    key cuts the announcement short; a prompt that cannot be played is
    skipped)."""

    def __init__(self, position: int) -> None:
        self.media = [*place_in_line(position), media_of(OFFER)]

    def start(self) -> tuple[int, list[object]]:
        return 0, self._from(0)

    def on(self, played: int, heard: Input) -> tuple[int, list[object]]:
        if isinstance(heard, Key):
            return played, [Finish(heard.digit == CALLBACK_KEY)]
        # A prompt Asterisk could not play: on with the rest.
        played = next((i + 1 for i, m in enumerate(self.media)
                       if getattr(heard, "media", None) == m), len(self.media))
        return played, self._from(played)

    def _from(self, index: int) -> list[object]:
        return [*(Play(m) for m in self.media[index:]), Finish(False)]


def call_back_booked() -> SayAndHangUp:
    """The confirmation of a call back, then the call ends."""
    return SayAndHangUp(media_of(BOOKED), "the caller chose a call back")
