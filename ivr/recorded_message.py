"""A recorded message played to its end, then the call ends: the
safe-harbour message and the message left on an answering machine. When
Asterisk cannot play the recording, the callback number is said in
Asterisk's own digits instead (and recorded as a fallback). With an
opt-out key, pressing it opts the debtor out; the message goes on. Pure:
a flow for ivr.runner."""

from __future__ import annotations

from dataclasses import dataclass, replace

from ivr.actions import FellBack, Hangup, Input, Key, KeyMode, Play, Unplayable, sound
from ivr.recordings import digits_media


@dataclass(frozen=True)
class OptOut:
    """Effect: the debtor pressed the opt-out key; no more calls."""


@dataclass(frozen=True)
class MessageState:
    opted_out: bool = False
    fell_back: bool = False


@dataclass(frozen=True)
class RecordedMessage:
    """Play sound (up to longest_s), then hang up for reason."""

    sound: str
    longest_s: float
    callback_number: str
    reason: str
    opt_out_key: str | None = None

    def start(self) -> tuple[MessageState, list[object]]:
        return MessageState(), self._say(sound(self.sound))

    def on(self, state: MessageState, heard: Input) -> tuple[MessageState, list[object]]:
        if isinstance(heard, Key):
            if heard.digit == self.opt_out_key and not state.opted_out:
                return replace(state, opted_out=True), [OptOut()]
            return state, []
        if isinstance(heard, Unplayable) and not state.fell_back:
            media = digits_media(self.callback_number)
            return replace(state, fell_back=True), [FellBack(self.sound, media),
                                                    *self._say(media)]
        return state, [Hangup(self.reason)]

    def _say(self, media: str) -> list[object]:
        return [Play(media, keys=KeyMode.TELL, longest_s=self.longest_s), Hangup(self.reason)]
