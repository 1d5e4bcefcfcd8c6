"""Agent sessions: an agent's line held open for the shift (issue 18).
Opening one calls the agent's phone once, into the API's Stasis
application (or the agent dials *80, and that call is the line); once
answered, the leg waits in a mixing bridge of the agent's own (the bridge
has the leg's id) and the agent is logged in. The dialers'
connector (dialer.agents.connector) adds each debtor routed to the agent to
that bridge. The session ends when the agent hangs up (or the phone
vanishes) or a person logs the agent out: the agent is logged out with it,
a debtor still in the bridge is hung up, the bridge goes."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import datetime

from dialer.agents.state import SESSION_HUNG_UP, SESSION_LOGGED_OUT, AgentState
from dialer.agents.store import AgentStore, SessionRefused, UnknownAgent
from dialer.calls.control import CallControl, CallEvents
from dialer.errors import CallControlError
from ivr import agent_prompts
from ivr.actions import sound as media_of
from ivr.recordings import Recording

log = logging.getLogger(__name__)

SESSION_FLOW = "session"
# How long the agent's phone rings for the session call: a person, not an
# auto-answer, picks it up.
SESSION_RING_S = 30
SESSION_CALLER_ID = '"Recobro session" <recobro>'
# How often an open session looks whether a person logged its agent out
# (the CLI, the API or *82 from another phone write only the database).
LOGOUT_CHECK_S = 1.0
# The parameter that marks a session line held again after an API restart.
RESUMED = "resumed"


class AgentSessions:
    """The agents' sessions, in the API's Stasis application."""

    def __init__(self, control: CallControl, store: AgentStore) -> None:
        self.control = control
        self.store = store
        # The leg is the agent's, not a debtor's call: driven, not recorded.
        control.register_flow(SESSION_FLOW, self._run, follow=False)

    async def open(self, endpoint: str, now: datetime) -> str:
        """Call the agent's phone for a session; the leg's channel id. The
        agent is logged in once the phone answers. UnknownAgent,
        SessionRefused (one is open already), CallControlError (the phone
        cannot be called). SessionRefused too when the agent's phone is on
        another Asterisk server than this API's."""
        agent = await self.store.agent(endpoint, now)
        if agent is None:
            raise UnknownAgent(f"no agent {endpoint!r}")
        if not self.store.reaches(agent.asterisk):
            raise SessionRefused(f"agent {endpoint}'s phone is on Asterisk server "
                                 f"{agent.asterisk!r}: the API of that server opens its "
                                 f"session (this one's is {self.store.asterisk!r})")
        line = await self.store.session_line(endpoint)
        if line is not None:
            raise SessionRefused(f"agent {endpoint} has a session open already (line {line})")
        channel = f"session-{endpoint}-{uuid.uuid4().hex[:8]}"
        await self.control.call_endpoint(f"PJSIP/{endpoint}", channel, SESSION_CALLER_ID,
                                         SESSION_RING_S, flow=SESSION_FLOW,
                                         params={"endpoint": endpoint})
        log.info("agent %s: calling the phone for a session (%s)", endpoint, channel)
        return channel

    async def resume(self) -> int:
        """The sessions the API before this one left open: each line still
        up in Asterisk is held again (its hang-up or a logout closes it, as
        before); each that went meanwhile is closed as hung up. How many
        were held again."""
        alive = await self.control.channel_states()
        held = 0
        for session in await self.store.open_sessions():
            if session.channel in alive:
                self.control.resume(session.channel, SESSION_FLOW,
                                    {"endpoint": session.agent, RESUMED: "yes"})
                held += 1
            else:
                await self._close(session.agent, session.channel, SESSION_HUNG_UP)
        if held:
            log.info("%d agent session(s) left open by the last API held again", held)
        return held

    async def _run(self, channel: str, events: CallEvents) -> None:
        endpoint = events.entered.params.get("endpoint", "")
        if events.entered.params.get(RESUMED) == "yes":
            # Its hang-up reaches this flow from now on; one that came
            # before this flow was there shows as a line gone.
            gone = channel not in await self.control.channel_states()
            await self._close(endpoint, channel, SESSION_HUNG_UP if gone
                              else await self._until_closed(endpoint, events))
            return
        dialed_in = events.entered.params.get("dialed_in") == "yes"
        try:
            if dialed_in:
                await self.control.answer(channel)
            await self.control.bridge(channel, [channel])
            await self.store.open_session(endpoint, channel, self.control.clock())
        except (CallControlError, SessionRefused, UnknownAgent) as error:
            log.warning("agent %s: session on %s not opened: %s", endpoint, channel, error)
            await self.control.destroy_bridge(channel)
            await self._hang_up(channel, "session not opened")
            return
        log.info("agent %s: session open on %s", endpoint, channel)
        if dialed_in:
            # The agent who dialed hears it worked (one Recobro called
            # knows: the phone rang for it).
            await self._say(channel, agent_prompts.LOGGED_IN)
        await self._close(endpoint, channel, await self._until_closed(endpoint, events))

    async def _close(self, endpoint: str, channel: str, reason: str) -> None:
        """Close the session on channel for reason; clear its bridge."""
        # Logged out first, in the session's closing transaction: no new
        # debtor is routed here from now on.
        await self.store.close_session(channel, self.control.clock(), reason)
        try:
            # A debtor the connector put in the bridge has no agent now.
            for other in await self.control.bridge_channels(channel):
                if other != channel:
                    await self._hang_up(other, "the agent's session ended")
            await self.control.destroy_bridge(channel)
        except CallControlError as error:
            log.warning("agent %s: session bridge %s not cleared: %s", endpoint, channel, error)
        if reason == SESSION_LOGGED_OUT:
            await self._hang_up(channel, "the agent was logged out")

    async def _until_closed(self, endpoint: str, events: CallEvents) -> str:
        """Wait until the agent hangs up or is logged out; which it was."""
        while True:
            await asyncio.wait([events.ended], timeout=LOGOUT_CHECK_S)
            if events.ended.done():
                return SESSION_HUNG_UP
            agent = await self.store.agent(endpoint, self.control.clock())
            if agent is None or agent.state is AgentState.LOGGED_OUT:
                return SESSION_LOGGED_OUT

    async def _say(self, channel: str, prompt: Recording) -> None:
        try:
            await self.control.play(channel, media_of(prompt.sound),
                                    self.control.language_of(channel))
        except CallControlError as error:
            log.info("agent line %s: %s not played: %s", channel, prompt.sound, error)

    async def _hang_up(self, channel: str, reason: str) -> None:
        try:
            await self.control.hang_up(channel, reason)
        except CallControlError as error:
            log.info("channel %s not hung up: %s", channel, error)
