"""Feature codes an agent dials from the softphone (*81 log in, *82 log
out, *83 ready), handled in the API's own Stasis application: the dialplan
(asterisk_conf/extensions_recobro.conf) sends the call here with the action
and the agent's endpoint; the agent's state moves, a prompt says so, the
call ends."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from dialer.agents.state import AgentAction, AgentTransitionError
from dialer.calls.events import CallEnteredApp, CallEvent, PlaybackFinished
from dialer.errors import AriError
from dialer.store.agents import AgentStore, UnknownAgent
from dialer.telephony.ari import AriClient

log = logging.getLogger(__name__)

PROMPTS = {AgentAction.LOG_IN: "agent-loginok", AgentAction.LOG_OUT: "agent-loggedoff",
           AgentAction.READY: "agent-loginok"}
REFUSED_PROMPT = "an-error-has-occurred"
PROMPT_LONGEST_S = 5.0


class FeatureCodes:
    """Hears the API's Stasis application and acts on feature codes."""

    def __init__(self, store: AgentStore) -> None:
        self.store = store
        self.ari: AriClient | None = None
        self._playbacks: dict[str, asyncio.Future[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def hear(self, event: CallEvent) -> None:
        """The ARI client's event callback."""
        if isinstance(event, CallEnteredApp) and event.args[:1] == ("feature",):
            task = asyncio.get_running_loop().create_task(self._handle(event))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif isinstance(event, PlaybackFinished):
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
        prompt = PROMPTS.get(action, REFUSED_PROMPT)
        try:
            await self.store.act(endpoint, action, datetime.now(UTC))
        except (UnknownAgent, AgentTransitionError) as error:
            log.info("feature code %s from %s refused: %s", action.value, endpoint, error)
            prompt = REFUSED_PROMPT
        try:
            await self.ari.answer(channel)
            playback = await self.ari.play(channel, prompt, "en")
            done = asyncio.get_running_loop().create_future()
            self._playbacks[playback] = done
            await asyncio.wait([done], timeout=PROMPT_LONGEST_S)
            self._playbacks.pop(playback, None)
            await self.ari.hangup(channel)
        except AriError as error:
            log.info("feature code call %s: %s", channel, error)
