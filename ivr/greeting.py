"""The first outbound flow: greet the debtor, listen briefly for a key,
say goodbye and hang up.

The flow is a small explicit state machine (GreetingState); the shell feeds
it the call's events from ARI and performs the actions it returns."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from dialer.calls.events import (
    CallEvent,
    DtmfReceived,
    PlaybackFailed,
    PlaybackFinished,
)
from ivr.prompts import Prompt

LISTEN_SECONDS = 2.0


class GreetingState(Enum):
    GREETING = "greeting"  # the greeting plays; keys are collected
    LISTENING = "listening"  # greeting done, waiting a moment for a key
    SAYING_GOODBYE = "saying_goodbye"
    DONE = "done"  # hang up


@dataclass(frozen=True)
class Play:
    prompt: Prompt


@dataclass(frozen=True)
class Hangup:
    pass


@dataclass(frozen=True)
class Listen:
    seconds: float


Action = Play | Hangup | Listen


@dataclass(frozen=True)
class Greeting:
    state: GreetingState = GreetingState.GREETING
    keys_pressed: int = 0


def start() -> tuple[Greeting, list[Action]]:
    """The flow as the call enters the application."""
    return Greeting(), [Play(Prompt.GREETING)]


def on_event(flow: Greeting, event: CallEvent) -> tuple[Greeting, list[Action]]:
    """Advance the flow on one of the call's events."""
    if isinstance(event, DtmfReceived):
        flow = Greeting(flow.state, flow.keys_pressed + 1)
        if flow.state is GreetingState.LISTENING:
            return Greeting(GreetingState.SAYING_GOODBYE, flow.keys_pressed), [
                Play(Prompt.GOODBYE)]
        return flow, []
    if isinstance(event, PlaybackFailed):
        # Nothing else to say that could be heard: end the call.
        return Greeting(GreetingState.DONE, flow.keys_pressed), [Hangup()]
    if isinstance(event, PlaybackFinished):
        if flow.state is GreetingState.GREETING:
            if flow.keys_pressed:
                return Greeting(GreetingState.SAYING_GOODBYE, flow.keys_pressed), [
                    Play(Prompt.GOODBYE)]
            return Greeting(GreetingState.LISTENING, 0), [Listen(LISTEN_SECONDS)]
        if flow.state is GreetingState.SAYING_GOODBYE:
            return Greeting(GreetingState.DONE, flow.keys_pressed), [Hangup()]
    return flow, []


def on_silence(flow: Greeting) -> tuple[Greeting, list[Action]]:
    """The listening window passed without a key."""
    if flow.state is GreetingState.LISTENING:
        return Greeting(GreetingState.SAYING_GOODBYE, flow.keys_pressed), [Play(Prompt.GOODBYE)]
    return flow, []
