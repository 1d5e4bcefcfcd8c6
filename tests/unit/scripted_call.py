"""A scripted call for payment flows on the real ivr.runner: prompts that
play for a while (or cannot be played), a debtor who keys on a timeline of
their own (or hangs up), and a recording that can be muted. The
call-control seam's stand-in; run it on tests.unit.virtual_time."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime

from dialer.calls.control import CallEvents
from dialer.calls.events import (
    CallEnteredApp,
    DtmfReceived,
    PlaybackFailed,
    PlaybackFinished,
)
from dialer.errors import AmiError, ChannelGone

NOW = datetime(2026, 12, 2, 17, tzinfo=UTC)
CALL = "c1"


class ScriptedCall:
    """One answered call. moves: (seconds after the previous move, key) in
    order, a key None hanging up; prompt_s: how long every prompt plays;
    recorded: whether Asterisk has a recording to mute."""

    def __init__(self, moves: list[tuple[float, str | None]], prompt_s: float = 1.5,
                 unplayable: frozenset[str] = frozenset(), recorded: bool = True,
                 params: dict[str, str] | None = None) -> None:
        self.moves = moves
        self.prompt_s = prompt_s
        self.unplayable = unplayable
        self.recorded = recorded
        self.events = CallEvents(CallEnteredApp(call_id=CALL, at=NOW, flow="payment",
                                                params=params or {}))
        self.played: list[str] = []
        self.noted: list[object] = []
        self.mutes: list[bool] = []
        self.hung_up: list[str] = []
        self.given_back: list[dict[str, str]] = []  # variables, each time
        self.answered = False
        self.language = "es"
        self._stopped: set[str] = set()

    def start(self) -> None:
        """The debtor starts keying, on their own timeline."""
        loop = asyncio.get_running_loop()
        at = loop.time()
        for gap, key in self.moves:
            at += gap
            loop.call_at(at, self._press if key is not None else self._hang_up_now, key)

    def _press(self, key: str) -> None:
        self.events.put(DtmfReceived(call_id=CALL, at=NOW, digit=key))

    def _hang_up_now(self, _: object = None) -> None:
        self.events.end()

    # The seam.

    def clock(self) -> datetime:
        return NOW

    def language_of(self, call_id: str) -> str:
        return self.language

    def speak(self, call_id: str, language: str) -> None:
        self.language = language

    def note(self, event: object) -> None:
        self.noted.append(event)

    def register_flow(self, name: str, runner: object) -> None:
        self.flow = (name, runner)

    async def answer(self, call_id: str) -> None:
        self.answered = True

    async def play(self, call_id: str, media: str, language: str) -> str:
        if self.events.ended.done():
            raise ChannelGone(f"channel {call_id} is gone")
        playback = f"p{len(self.played)}"
        self.played.append(media)
        loop = asyncio.get_running_loop()
        if media in self.unplayable:
            loop.call_soon(self.events.put, PlaybackFailed(
                call_id=CALL, at=NOW, playback_id=playback, media=media, language=language))
        else:
            loop.call_later(self.prompt_s, self._finished, playback)
        return playback

    def _finished(self, playback: str) -> None:
        if playback not in self._stopped:
            self.events.put(PlaybackFinished(call_id=CALL, at=NOW, playback_id=playback))

    async def stop_playback(self, playback_id: str) -> None:
        self._stopped.add(playback_id)

    async def hang_up(self, call_id: str, reason: str) -> None:
        self.hung_up.append(reason)
        self.events.end()

    async def give_back(self, call_id: str, variables: Mapping[str, str]) -> None:
        self.given_back.append(dict(variables))
        self.events.end()  # StasisEnd: the call leaves the application

    async def mute_recording(self, call_id: str, muted: bool) -> None:
        if self.events.ended.done():
            raise ChannelGone(f"channel {call_id} is gone")
        if not self.recorded:
            raise AmiError("Asterisk refused MixMonitorMute: Cannot set mute flag")
        self.mutes.append(muted)
