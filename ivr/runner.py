"""One runner for every interactive flow: it performs a flow's actions over
the call-control seam, in order, and tells the flow what happened (a key,
the digits gathered, silence, the prompts played or one that could not
be), until the flow finishes, hangs up, or the call ends.

Keys pressed while a prompt plays follow the prompt's KeyMode: a key that
interrupts skips to the next Listen or Collect of the same actions, which
starts with it (type-ahead); keys kept for later wait for the next Listen or
Collect. Effects (the flow's own dataclasses) go to the service's handler;
an answer it returns (a payment gateway's) is the flow's next input."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from dialer.calls.control import CallControl, CallEvents
from dialer.calls.events import (
    DtmfReceived,
    FallbackPlayed,
    PlaybackFailed,
    PlaybackFinished,
)
from dialer.errors import CallControlError, ChannelGone
from ivr.actions import (
    Answer,
    Collect,
    Digits,
    FellBack,
    Finish,
    Flow,
    Hangup,
    Input,
    Key,
    KeyMode,
    Listen,
    Play,
    Played,
    Silence,
    Unplayable,
)

log = logging.getLogger(__name__)

# An effect's handler; what it returns, if anything, is the flow's next input.
Effects = Callable[[Any], Awaitable[Any]]
WAITING = (Listen, Collect)


class _Ended(Exception):
    """The call ended, or the flow hung up."""


class _Finished(Exception):
    def __init__(self, result: Any) -> None:
        self.result = result


async def _no_effects(effect: Any) -> None:
    raise TypeError(f"no handler for the flow's effect {effect!r}")


async def run_flow(flow: Flow[Any], control: CallControl, call_id: str, events: CallEvents,
                   effects: Effects = _no_effects) -> Any:
    """Run flow on the call to its end; what it finished with (None when it
    hung up or the call ended)."""
    return await _Runner(flow, control, call_id, events, effects).run()


class _Runner:
    def __init__(self, flow: Flow[Any], control: CallControl, call_id: str, events: CallEvents,
                 effects: Effects) -> None:
        self.flow = flow
        self.control = control
        self.call_id = call_id
        self.events = events
        self.effects = effects
        self.state: Any = None
        self.typed_ahead = ""

    async def run(self) -> Any:
        self.state, actions = self.flow.start()
        try:
            while True:
                heard = await self._perform(actions)
                self.state, actions = self.flow.on(self.state, heard)
        except _Finished as finished:
            return finished.result
        except _Ended:
            return None

    async def _perform(self, actions: Sequence[object]) -> Input:
        """Do the actions in order; the first input one of them gives."""
        index = 0
        while index < len(actions):
            action = actions[index]
            index += 1
            if isinstance(action, Play):
                heard = await self._play(action)
                if isinstance(heard, Key):
                    # Barge-in: on to the next Listen or Collect, if any.
                    waiting = [i for i in range(index, len(actions))
                               if isinstance(actions[i], WAITING)]
                    if not waiting:
                        return heard
                    self.typed_ahead += heard.digit
                    index = waiting[0]
                elif heard is not None:
                    return heard
            elif isinstance(action, Listen):
                return await self._listen(action)
            elif isinstance(action, Collect):
                return await self._collect(action)
            else:
                answer = await self._instant(action)
                if answer is not None:
                    return answer
        return Played()

    async def _instant(self, action: object) -> Any:
        """An action that waits for nothing from the caller; an effect's
        answer, if it gives one."""
        if isinstance(action, Answer):
            await self._guard(self.control.answer(self.call_id))
        elif isinstance(action, Hangup):
            if not self.events.ended.done():
                await self._guard(self.control.hang_up(self.call_id, action.reason))
            raise _Ended
        elif isinstance(action, Finish):
            raise _Finished(action.result)
        elif isinstance(action, FellBack):
            self.control.note(FallbackPlayed(call_id=self.call_id, at=self.control.clock(),
                                             sound=action.sound, media=action.media))
        else:
            return await self.effects(action)
        return None

    async def _guard(self, step: Awaitable[None]) -> None:
        try:
            await step
        except ChannelGone:
            raise _Ended from None

    async def _play(self, play: Play) -> Input | None:
        """Play to the end: None; or the key that interrupted it, or
        Unplayable when Asterisk could not play it."""
        if self.events.ended.done():
            raise _Ended
        try:
            playback = await self.control.play(self.call_id, play.media,
                                               self.control.language_of(self.call_id))
        except ChannelGone:
            raise _Ended from None
        except CallControlError:
            return Unplayable(play.media)
        try:
            return await self._until_played(play, playback)
        except asyncio.CancelledError:
            # The flow was cancelled mid-prompt (a waiting caller's agent
            # came free): the prompt stops with it, not over what follows.
            with contextlib.suppress(_Ended):
                await self._stop(playback)
            raise

    async def _until_played(self, play: Play, playback: str) -> Input | None:
        """Wait for playback (of play) to end: None; or the key that
        interrupted it, or Unplayable when Asterisk could not play it."""
        deadline = asyncio.get_running_loop().time() + play.longest_s
        while True:
            event = await self.events.next(deadline)
            if event is None:
                if self.events.ended.done():
                    raise _Ended
                await self._stop(playback)  # too long: on with the flow
                return None
            if isinstance(event, DtmfReceived):
                if play.keys is KeyMode.INTERRUPT:
                    await self._stop(playback)
                    return Key(event.digit)
                if play.keys is KeyMode.TELL:
                    await self._tell(Key(event.digit))
                else:
                    self.typed_ahead += event.digit
            elif isinstance(event, PlaybackFailed) and event.playback_id == playback:
                if event.hung_up:
                    raise _Ended
                return Unplayable(play.media)
            elif isinstance(event, PlaybackFinished) and event.playback_id == playback:
                return None

    async def _stop(self, playback: str) -> None:
        """Stop a playback. One Asterisk will not stop plays on to its end
        while the flow goes on (the next prompt waits behind it): Asterisk
        can stop only `sound:`, `recording:` and `tone:` media, and answers
        500 "Could not stop playback" for `number:` and `digits:` (amounts,
        a card's last four; res_stasis_playback.c's "controllable"), in a
        bridge or not, and a key must never end the flow (the lab shows it:
        tests/e2e/test_agent_assisted_payment.py)."""
        try:
            await self.control.stop_playback(playback)
        except ChannelGone:
            raise _Ended from None
        except CallControlError as error:
            log.info("call %s: playback %s not stopped: %s", self.call_id, playback, error)

    async def _tell(self, key: Key) -> None:
        """A key told to the flow during a prompt: only instant actions may
        follow (the prompt goes on)."""
        self.state, actions = self.flow.on(self.state, key)
        for action in actions:
            if isinstance(action, (Play, *WAITING)):
                raise TypeError(f"{action!r} while a prompt plays: only effects may follow "
                                "a key told during it")
            await self._instant(action)

    async def _key(self, seconds: float) -> str | None:
        """The next key (typed ahead first), or None after seconds."""
        if self.typed_ahead:
            key, self.typed_ahead = self.typed_ahead[0], self.typed_ahead[1:]
            return key
        deadline = asyncio.get_running_loop().time() + seconds
        while (event := await self.events.next(deadline)) is not None:
            if isinstance(event, DtmfReceived):
                return event.digit
        if self.events.ended.done():
            raise _Ended
        return None

    async def _listen(self, listen: Listen) -> Input:
        key = await self._key(listen.seconds)
        return Silence() if key is None else Key(key)

    async def _collect(self, collect: Collect) -> Input:
        digits = ""
        while True:
            first = not digits and collect.first_key_s is not None
            key = await self._key(collect.first_key_s if first else collect.timeout_s)
            if key is None:
                return Digits(digits, "timeout") if digits else Silence()
            if key == collect.end_key:
                return Digits(digits, "end_key")
            if key == collect.restart_key:
                return Digits(digits, "restart_key")
            digits += key
            if len(digits) >= collect.max_digits:
                return Digits(digits, "max_digits")
