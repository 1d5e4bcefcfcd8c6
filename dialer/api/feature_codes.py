"""Feature codes an agent dials from the softphone (*81 log in, *82 log
out, *83 ready, *84 pause for a break, *84N pause for reason N), handled in
the API's own Stasis application: the dialplan
(asterisk_conf/extensions_recobro.conf) sends the call here with the action,
the agent's endpoint and the digits after the code; the agent's state
moves, a recording says what it is now (or why not), the call ends."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from dialer.agents.state import (
    PAUSE_REASONS,
    AgentAction,
    AgentState,
    AgentTransitionError,
)
from dialer.calls.events import (
    CallEnteredApp,
    CallEvent,
    PlaybackFailed,
    PlaybackFinished,
)
from dialer.errors import AriError
from dialer.store.agents import AgentStore, Moved, UnknownAgent
from dialer.telephony.ari import AriClient
from ivr import agent_prompts
from ivr.recordings import Recording

log = logging.getLogger(__name__)

PROMPT_LONGEST_S = 8.0
FEATURE_FLOW = "feature"


def pause_reason(digits: str) -> str:
    """*84 is a break; *84N the Nth of PAUSE_REASONS (1 break, 2 lunch...);
    '' for a number that names none (the pause is then refused)."""
    if not digits:
        return PAUSE_REASONS[0]
    if digits.isdigit() and 1 <= int(digits) <= len(PAUSE_REASONS):
        return PAUSE_REASONS[int(digits) - 1]
    return ""


def answer(action: AgentAction, moved: Moved) -> Recording:
    """What the agent hears once the action is done."""
    if action is AgentAction.LOG_IN:
        return (agent_prompts.LOGGED_IN if moved.before is AgentState.LOGGED_OUT
                else agent_prompts.ALREADY_LOGGED_IN)
    return {AgentAction.LOG_OUT: agent_prompts.LOGGED_OUT,
            AgentAction.PAUSE: agent_prompts.PAUSED}.get(action, agent_prompts.READY)


class FeatureCodes:
    """Hears the API's Stasis application and acts on feature codes."""

    def __init__(self, store: AgentStore, language: str) -> None:
        self.store = store
        self.language = language
        self.ari: AriClient | None = None
        self._playbacks: dict[str, asyncio.Future[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def hear(self, event: CallEvent) -> None:
        """The ARI client's event callback."""
        if isinstance(event, CallEnteredApp) and event.args[:1] == (FEATURE_FLOW,):
            task = asyncio.get_running_loop().create_task(self._handle(event))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif isinstance(event, PlaybackFinished | PlaybackFailed):
            if isinstance(event, PlaybackFailed) and not event.hung_up:
                log.warning("feature code call %s: %s", event.call_id, event.reason)
            done = self._playbacks.pop(event.playback_id, None)
            if done is not None and not done.done():
                done.set_result(None)

    async def _handle(self, event: CallEnteredApp) -> None:
        assert self.ari is not None
        channel = event.call_id
        try:
            action, endpoint = AgentAction(event.flow_args[0]), event.flow_args[1]
        except (IndexError, ValueError):
            log.warning("feature code with arguments %s ignored", event.args)
            await self.ari.hangup(channel)
            return
        digits = event.flow_args[2] if len(event.flow_args) > 2 else ""
        reason = pause_reason(digits) if action is AgentAction.PAUSE else ""
        try:
            prompt = answer(action,
                            await self.store.act(endpoint, action, datetime.now(UTC), reason))
        except UnknownAgent as error:
            log.info("feature code %s from %s refused: %s", action.value, endpoint, error)
            prompt = agent_prompts.UNKNOWN_PHONE
        except AgentTransitionError as error:
            log.info("feature code %s from %s refused: %s", action.value, endpoint, error)
            prompt = agent_prompts.REFUSED
        try:
            await self.ari.answer(channel)
            playback = await self.ari.play(channel, prompt.sound, self.language)
            done = asyncio.get_running_loop().create_future()
            self._playbacks[playback] = done
            await asyncio.wait([done], timeout=PROMPT_LONGEST_S)
            self._playbacks.pop(playback, None)
            await self.ari.hangup(channel)
        except AriError as error:
            log.info("feature code call %s: %s", channel, error)
