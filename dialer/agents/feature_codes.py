"""Feature codes an agent dials from the softphone (*81 log in, *82 log
out, *83 ready, *84 pause for a break, *84N pause for reason N), handled in
the API's own Stasis application: the dialplan
(asterisk_conf/extensions_recobro.conf) sends the call here with the action,
the agent's endpoint and the digits after the code; the agent's state
moves, a recording says what it is now (or why not), the call ends."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from dialer.agents.state import (
    PAUSE_REASONS,
    AgentAction,
    AgentState,
    AgentTransitionError,
)
from dialer.agents.store import AgentStore, Moved, UnknownAgent
from dialer.calls.control import CallControl, CallEvents
from dialer.errors import CallControlError
from ivr import agent_prompts
from ivr.actions import sound as media_of
from ivr.recordings import Recording
from ivr.runner import run_flow
from ivr.say import SayAndHangUp

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
    """The flow of the API's Stasis application for feature codes."""

    def __init__(self, control: CallControl, store: AgentStore) -> None:
        self.control = control
        self.store = store
        # A feature code's channel is an agent's, not a debtor's call: driven,
        # not recorded as a call.
        control.register_flow(FEATURE_FLOW, self._run, follow=False)

    async def _run(self, channel: str, events: CallEvents) -> None:
        params = events.entered.params
        try:
            action, endpoint = AgentAction(params.get("action", "")), params["endpoint"]
        except (KeyError, ValueError):
            log.warning("feature code with arguments %s ignored", dict(params))
            await self.control.hang_up(channel, "not a feature code")
            return
        reason = pause_reason(params.get("reason", "")) if action is AgentAction.PAUSE else ""
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
            await run_flow(SayAndHangUp(media_of(prompt.sound), "feature code answered",
                                        answer=True, longest_s=PROMPT_LONGEST_S),
                           self.control, channel, events)
        except CallControlError as error:
            log.info("feature code call %s: %s", channel, error)
