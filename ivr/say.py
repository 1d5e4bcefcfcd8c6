"""The smallest flows: say one thing, then hang up (a call back's
confirmation, the answer to an agent's feature code) or give the call back
(to the dialplan that sent it). Pure: flows for ivr.runner."""

from __future__ import annotations

from dataclasses import dataclass

from ivr.actions import LONGEST_PROMPT_S, Answer, Finish, Hangup, Input, KeyMode, Play


@dataclass(frozen=True)
class SayAndHangUp:
    """Play media to its end (keys change nothing), then hang up for reason;
    with answer, answer the call first."""

    media: str
    reason: str
    answer: bool = False
    longest_s: float = LONGEST_PROMPT_S

    def start(self) -> tuple[None, list[object]]:
        return None, [*([Answer()] if self.answer else []),
                      Play(self.media, keys=KeyMode.BUFFER, longest_s=self.longest_s),
                      Hangup(self.reason)]

    def on(self, state: None, heard: Input) -> tuple[None, list[object]]:
        return None, [Hangup(self.reason)]


@dataclass(frozen=True)
class Say:
    """Play media to its end (keys change nothing), then finish with
    result: the call goes on."""

    media: str
    result: object = None

    def start(self) -> tuple[None, list[object]]:
        return None, [Play(self.media, keys=KeyMode.BUFFER), Finish(self.result)]

    def on(self, state: None, heard: Input) -> tuple[None, list[object]]:
        return None, [Finish(self.result)]
