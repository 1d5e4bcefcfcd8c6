"""The smallest flow: say one thing, then hang up (a call back's
confirmation, the answer to an agent's feature code). Pure: a flow for
ivr.runner."""

from __future__ import annotations

from dataclasses import dataclass

from ivr.actions import LONGEST_PROMPT_S, Answer, Hangup, Input, KeyMode, Play


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
