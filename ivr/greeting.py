"""The greeting flow of `recobro call`: greet the debtor, listen briefly
for a key, say goodbye and hang up. Keys pressed during the greeting wait
for the listening moment (type-ahead). Pure: a flow for ivr.runner."""

from __future__ import annotations

from enum import Enum

from ivr.actions import Hangup, Input, KeyMode, Listen, Play, Unplayable, sound
from ivr.prompts import Prompt

LISTEN_SECONDS = 2.0
FLOW = "greeting"  # the flow's name in Stasis arguments


class GreetingState(Enum):
    GREETING = "greeting"  # the greeting plays, then a moment to press a key
    SAYING_GOODBYE = "saying_goodbye"


class Greeting:
    """Greeting, a key or silence, goodbye, hang up."""

    def start(self) -> tuple[GreetingState, list[object]]:
        return GreetingState.GREETING, [
            Play(sound(Prompt.GREETING.value), keys=KeyMode.BUFFER), Listen(LISTEN_SECONDS)]

    def on(self, state: GreetingState, heard: Input) -> tuple[GreetingState, list[object]]:
        if isinstance(heard, Unplayable) or state is GreetingState.SAYING_GOODBYE:
            # Nothing more to say that could be heard.
            return GreetingState.SAYING_GOODBYE, [Hangup("flow finished")]
        return GreetingState.SAYING_GOODBYE, [
            Play(sound(Prompt.GOODBYE.value), keys=KeyMode.BUFFER), Hangup("flow finished")]
