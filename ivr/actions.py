"""The one vocabulary of interactive voice: what a flow asks the runner to
do (actions) and what the runner tells the flow happened (inputs). A flow
is pure: it gets an input and returns its next state and actions; the
runner (ivr.runner) performs them over the call-control seam. Flow-specific
side effects (record a promise, opt the debtor out) are the flow's own
dataclasses, performed by the service that runs the flow."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol, TypeVar


class KeyMode(Enum):
    """What a key pressed while a prompt plays does."""

    INTERRUPT = "interrupt"  # stops the prompt; it is the next input (barge-in)
    TELL = "tell"  # told to the flow at once; the prompt goes on (an opt-out key)
    BUFFER = "buffer"  # kept for the next Listen or Collect (type-ahead)


# Actions.

@dataclass(frozen=True)
class Answer:
    """Answer a call that came in."""


# No prompt of ours is longer: a playback whose end never comes (a lost
# event) stops the flow's wait by then.
LONGEST_PROMPT_S = 30.0


@dataclass(frozen=True)
class Play:
    """Play media (`sound:NAME`, `number:N`, `digits:N`) to its end, or
    longest_s; keys as mode says."""

    media: str
    keys: KeyMode = KeyMode.INTERRUPT
    longest_s: float = LONGEST_PROMPT_S


@dataclass(frozen=True)
class Listen:
    """Wait up to seconds for one key."""

    seconds: float


@dataclass(frozen=True)
class Collect:
    """Gather up to max_digits keys: until end_key (not kept), restart_key
    (the caller starts the step again), max_digits, or timeout_s without a
    key (the first key may take first_key_s)."""

    max_digits: int
    timeout_s: float
    end_key: str | None = "#"
    first_key_s: float | None = None
    restart_key: str | None = None


@dataclass(frozen=True)
class FellBack:
    """Record that fallback media played for a sound Asterisk could not."""

    sound: str
    media: str


@dataclass(frozen=True)
class Hangup:
    """End the call; the flow is over."""

    reason: str


@dataclass(frozen=True)
class Finish:
    """The flow is over, the call goes on; the runner returns result."""

    result: Any = None


# Inputs.

@dataclass(frozen=True)
class Key:
    """A key pressed (while listening, or interrupting or told during a prompt)."""

    digit: str


@dataclass(frozen=True)
class Digits:
    """What Collect gathered, and what ended it: the end key, max_digits,
    or time."""

    value: str
    ended_by: str  # "end_key", "restart_key", "max_digits", "timeout"


@dataclass(frozen=True)
class Silence:
    """Listen or Collect passed with no key."""


@dataclass(frozen=True)
class Played:
    """Every action asked ran, and none waited for a key."""


@dataclass(frozen=True)
class Unplayable:
    """Asterisk could not play media: the caller heard nothing of it."""

    media: str


Input = Key | Digits | Silence | Played | Unplayable
S = TypeVar("S")


class Flow(Protocol[S]):
    """An interactive flow: pure; state in, state and actions out."""

    def start(self) -> tuple[S, Sequence[object]]:
        """The state and actions as the flow begins."""

    def on(self, state: S, heard: Input) -> tuple[S, Sequence[object]]:
        """The next state and actions after an input."""


def sound(name: str) -> str:
    """The media of an Asterisk sound."""
    return f"sound:{name}"
