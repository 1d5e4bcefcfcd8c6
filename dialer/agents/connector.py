"""The agent connector, the one both outbound and inbound calls use: ring
the reserved agent's phone (showing the debtor), bridge it to the debtor,
record the conversation, and tear the pair down when the call ends. An
agent with a session open (dialer.agents.sessions: the line held open for
the shift) is not rung: the debtor joins the agent's bridge after a short
beep to the agent, and leaves it when the call ends, the agent staying on
the line for the wrap-up. An agent whose phone or line does not take the
call is paused with the reason (its desktop and the log are told); one
left because the debtor hung up is ready again; a bridge Asterisk refuses
is not tried again."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from dialer.agents.free_seen import FreeAgentsSeen
from dialer.agents.freed import FreedAgents
from dialer.agents.state import MISSED_CALL, SESSION_HUNG_UP, UNREACHABLE
from dialer.agents.store import AgentStore, Reservation
from dialer.calls.caller_id import AgentCallerId, Debtor, agent_caller_id
from dialer.calls.control import CallControl, CallEvents
from dialer.calls.events import (
    CallEnteredApp,
    CallEvent,
    CallHungUp,
    PaymentRequested,
    SentToService,
    TransferCompleted,
    TransferCompleteRequested,
    TransferFailed,
    TransferRequested,
    TransferStarted,
)
from dialer.errors import CallControlError, ChannelGone
from dialer.store import recordings
from dialer.store.calls import storage_id
from dialer.store.outage import CONNECTION_LOST, through_outage

log = logging.getLogger(__name__)

AGENT_RING_TIMEOUT_S = 10
# Played to an agent on a session line as a debtor joins it (the screen
# pop lands at the same moment): a tenth of a second, over before a
# debtor's "hello" (the lab's debtors speak 0.3 s after answering; a tone
# plays until stopped). Asterisk's beep sound lasts 0.44 s: it would hide
# the start of the greeting. One continuous tone, stopped after
# SESSION_BEEP_S (ARI reads a comma in media as a list of sounds).
SESSION_BEEP = "tone:1400"
SESSION_BEEP_S = 0.1


# How often a warm transfer looks among the call's events for its agent's
# "complete" (the hang-ups of the agents' phones come at once).
TRANSFER_POLL_S = 0.1
TRANSFER_EVENT = "transfer"  # the "type" of the events on the agents' desktops
# How a warm transfer settles.
ASKED = "asked"  # the agent who asked completed it (the API)
HUNG_UP = "hung_up"  # that agent's phone hung up: it left the call to the target
TARGET_LEFT = "the target left the call"
NOT_JOINED = "the target could not join the call"
CALL_ENDED = "the call ended"


def beep_of(call_id: str, agent: str) -> str:
    """The playback id of the beep played to agent's session line as
    call_id joins it: known to whoever follows the call, so a dialer that
    adopts it stops a beep its dead dialer left playing (a tone plays
    until stopped, and the agent hears nothing else meanwhile)."""
    return f"beep-{call_id}-{agent}"


class BridgeFailed(CallControlError):
    """Asterisk would not bridge a call to its agent: no more tries."""


# What a flow runs while its debtor talks to an agent (given the agent,
# its channel and the bridge they are in): until the call ends (None), or
# until the agent asks for a transfer (the request, the connector's to
# carry out; the flow is run again afterwards, for the agent who has the
# call then).
WhileConnected = Callable[[str, str, str], Awaitable[TransferRequested | None]]


@dataclass(frozen=True)
class Handover:
    """What the connector needs of a call's flow to hand the call to
    another agent: what that agent's phone shows (its caller ID), and how
    the call's record names its agent and the agent's channel from then on."""

    shown_as: str
    note_agent: Callable[[str, str], Awaitable[None]]


# A transfer's step as the agents' desktops name it.
_STATUS: dict[type[CallEvent], str] = {TransferStarted: "started",
                                       TransferCompleted: "completed",
                                       TransferFailed: "failed"}


@dataclass(frozen=True)
class _Warm:
    """A warm transfer going on: the asking agent's channel, the target's,
    and how the phones settled it (a hang-up of either)."""

    first: str
    target: str
    left: asyncio.Future[str]


class AgentConnector:
    """Connects answered calls to agents and tears the pair down."""

    def __init__(self, control: CallControl, pool: asyncpg.Pool, wrap_up_s: float,
                 caller_id: str, ride_out_s: float,
                 agent_caller_id: AgentCallerId = AgentCallerId.DEBTOR,
                 asterisk: str | None = None) -> None:
        self.control = control
        self.ride_out_s = ride_out_s
        self.pool = pool
        # asterisk: the server control talks to; only its agents are reached.
        self.agents = AgentStore(pool, asterisk)
        # Calls waiting for an agent wake when one comes free (the process
        # that runs the connector starts and stops its LISTEN).
        self.freed = FreedAgents(pool, control.clock)
        # The free agents as last read, good until one comes free (the
        # process that answers calls starts its reading ahead).
        self.free_seen = FreeAgentsSeen(self.freed,
                                        lambda: self.agents.free_now(control.clock()))
        self.wrap_up_s = wrap_up_s
        self.caller_id = caller_id
        self.agent_caller_id = agent_caller_id
        self._tasks: set[asyncio.Task[None]] = set()
        self._legs: dict[str, str] = {}  # agent leg channel id -> call id
        # An agent leg's fate: None once answered, else why it failed.
        self._leg_answered: dict[str, asyncio.Future[str | None]] = {}
        self._agent_legs: dict[str, str] = {}  # call id -> connected agent leg
        self._bridges: dict[str, str] = {}  # call id -> its bridge (a session line's)
        # call id -> the session line a transfer brought into the call's own
        # bridge (back home in its own bridge when the call ends).
        self._away: dict[str, str] = {}
        self._warm: dict[str, _Warm] = {}  # call id -> its warm transfer going on
        control.add_listener(self._hear)

    def shown_to_agent(self, debtor: Debtor | None) -> str:
        """The caller ID an agent's phone gets for a call with debtor."""
        return agent_caller_id(self.agent_caller_id, debtor, self.caller_id)

    def _hear(self, event: CallEvent) -> None:
        call_id = self._legs.get(event.call_id)
        if call_id is None:
            return
        answered = self._leg_answered.get(event.call_id)
        if isinstance(event, CallEnteredApp) and answered is not None and not answered.done():
            answered.set_result(None)
        elif isinstance(event, CallHungUp):
            self._legs.pop(event.call_id, None)
            if answered is not None and not answered.done():
                answered.set_result(f"the phone did not answer: cause {event.cause} "
                                    f"({event.cause_text})")
            elif (warm := self._warm.get(call_id)) is not None \
                    and event.call_id in (warm.first, warm.target):
                # During a warm transfer a phone hanging up settles it:
                # the debtor stays with whoever is left.
                if not warm.left.done():
                    warm.left.set_result(HUNG_UP if event.call_id == warm.first
                                         else TARGET_LEFT)
            elif self._agent_legs.get(call_id) == event.call_id:
                # The agent hung up (or the softphone vanished): end the
                # debtor's call too; its record is kept like any other.
                self._spawn(self.hang_up(call_id, "agent hung up"))

    async def hang_up(self, call_id: str, reason: str) -> None:
        """Hang a channel up; one that will not go is logged, not raised."""
        try:
            await self.control.hang_up(call_id, reason)
        except CallControlError as error:
            log.info("call %s not hung up: %s", call_id, error)

    async def connect(self, call_id: str, reserved: Reservation, deadline: float,
                      ended: asyncio.Future[None], shown_as: str) -> datetime | None:
        """Call the reserved agent's softphone (its display: shown_as) and
        bridge it to call_id, unless the call ends or the deadline (loop
        time) passes first; the time of the bridge, or None. An agent whose
        phone fails or does not answer in time is paused with the reason;
        one left because the debtor hung up is ready again. BridgeFailed
        when Asterisk would not bridge them (the agent is ready again). An
        agent with a session open when reserved is not called: call_id
        joins its line."""
        agent, line = reserved.agent, reserved.line
        if line is not None:
            return await self._join_line(call_id, agent, line)
        leg = f"{call_id}-{agent}"
        if not await self._ring(call_id, agent, leg, deadline, ended, shown_as):
            return None
        try:
            await self.control.bridge(call_id, [call_id, leg])
        except CallControlError as error:
            log.warning("call %s not bridged to %s: %s", call_id, agent, error)
            await self.hang_up(leg, "not bridged")
            # A half-made bridge (the debtor hung up as it was made) would
            # refuse every later try: gone, and no more tries for this call.
            await self.control.destroy_bridge(call_id)
            await self.agents.release(agent, self.control.clock())
            raise BridgeFailed(f"call {call_id} could not be bridged: {error}") from None
        connected_at = self.control.clock()
        self._agent_legs[call_id] = leg
        await self._on_call(agent, connected_at)
        return connected_at

    async def _ring(self, call_id: str, agent: str, leg: str, deadline: float,
                    ended: asyncio.Future[None], shown_as: str) -> bool:
        """Ring the reserved agent's phone for call_id (its channel: leg)
        until it answers, the call ends or the deadline (loop time) passes;
        whether it answered. An agent whose phone fails or does not answer
        in time is paused with the reason; one left because the debtor hung
        up is ready again."""
        loop = asyncio.get_running_loop()
        answered: asyncio.Future[str | None] = loop.create_future()
        self._legs[leg] = call_id
        self._leg_answered[leg] = answered
        rang_from = loop.time()
        try:
            try:
                await self.control.call_endpoint(f"PJSIP/{agent}", leg, shown_as,
                                                 AGENT_RING_TIMEOUT_S)
            except CallControlError as error:
                await self.agents.miss(agent, self.control.clock(), UNREACHABLE, call_id,
                                       f"cannot call the phone: {error}")
                return False
            await asyncio.wait([answered, ended], timeout=max(0.0, deadline - loop.time()),
                               return_when=asyncio.FIRST_COMPLETED)
            if answered.done() and answered.result() is None and not ended.done():
                return True
            # What was so at the deadline: hanging the leg up below lets its
            # hangup (cause 487) arrive, which is no failure of the phone's.
            debtor_left = ended.done()
            failed = answered.result() if answered.done() else None
            await self.hang_up(leg, "not connected")
            if debtor_left:
                await self.agents.release(agent, self.control.clock())
            elif failed is not None:
                await self.agents.miss(agent, self.control.clock(), UNREACHABLE, call_id,
                                       failed)
            else:
                await self.agents.miss(
                    agent, self.control.clock(), MISSED_CALL, call_id,
                    f"the phone rang {loop.time() - rang_from:.1f} s, not answered in time")
            return False
        finally:
            self._leg_answered.pop(leg, None)

    async def _join_line(self, call_id: str, agent: str, line: str) -> datetime | None:
        """Put call_id in the bridge of the agent's session line, after a
        beep to the agent; the time it joined, or None when the line is
        closed (the agent is paused unreachable, or logged out with the
        session: the call goes back to routing). BridgeFailed when the line
        is up but the debtor could not join it (the agent is ready again)."""
        if not await self._beep(call_id, agent, line):
            return None
        try:
            await self.control.join_bridge(line, call_id, absorb_dtmf=False)
        except CallControlError as error:
            if not await self._line_up(line):
                await self._line_closed(call_id, agent, line, error)
                return None
            # The line is fine: the debtor could not join (most often it
            # hung up as it was joining), no fault of the agent's.
            await self.agents.release(agent, self.control.clock())
            raise BridgeFailed(f"call {call_id} could not join {agent}'s line {line}: "
                               f"{error}") from None
        connected_at = self.control.clock()
        if await self.agents.session_line(agent) != line:
            # The session closed as the debtor joined: its bridge goes (the
            # closing session clears it too), and the debtor with it.
            await self.control.destroy_bridge(line)
            await self.agents.release(agent, self.control.clock())
            return None
        self._agent_legs[call_id] = line
        self._bridges[call_id] = line
        await self._on_call(agent, connected_at)
        return connected_at

    async def _beep(self, call_id: str, agent: str, line: str) -> bool:
        """The beep to the agent's session line as call_id joins it (the
        screen pop lands meanwhile); False when the line is closed (the
        agent is paused unreachable, or logged out with the session)."""
        try:
            # The beep is the look at the line too: one round trip fewer
            # before the debtor joins.
            beep = await self.control.play(line, SESSION_BEEP, "en", beep_of(call_id, agent))
        except ChannelGone:
            # The line went with nobody to see it (no `recobro api`
            # listened as the agent hung up): the session ends now.
            await self.agents.close_session(line, self.control.clock(), SESSION_HUNG_UP)
            log.warning("agent %s: session line %s was gone; session closed, agent "
                        "logged out", agent, line)
            return False
        except CallControlError as error:
            await self._line_closed(call_id, agent, line, error)
            return False
        self._spawn(self._stop_after(beep, SESSION_BEEP_S))
        return True

    async def _on_call(self, agent: str, connected_at: datetime) -> None:
        """The agent's state: on the call. Unwritten while PostgreSQL is
        lost, it stays reserved, which the wrap-up ends all the same: the
        debtor, already with the agent, is not failed for it."""
        try:
            await self.agents.on_call(agent, connected_at)
        except CONNECTION_LOST as error:
            log.warning("agent %s: on the call, not written (PostgreSQL lost: %s)", agent,
                        str(error) or type(error).__name__)

    async def _line_up(self, line: str) -> bool:
        """Whether the session line is still in its bridge."""
        try:
            return line in await self.control.bridge_channels(line)
        except CallControlError as error:
            log.info("session line %s not looked at: %s", line, error)
            return False

    async def _line_closed(self, call_id: str, agent: str, line: str,
                           error: CallControlError) -> None:
        await self.agents.miss(agent, self.control.clock(), UNREACHABLE, call_id,
                               f"the agent's line {line} is closed: {error}")

    async def _stop_after(self, playback: str, seconds: float) -> None:
        await asyncio.sleep(seconds)
        try:
            await self.control.stop_playback(playback)
        except CallControlError as error:
            log.info("playback %s not stopped: %s", playback, error)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def leg_of(self, call_id: str) -> str:
        """The agent's leg bridged to call_id."""
        return self._agent_legs[call_id]

    def bridge_of(self, call_id: str) -> str:
        """The bridge call_id and its agent are in: the call's own, or the
        agent's session line's."""
        return self._bridges.get(call_id, call_id)

    async def converse(self, call_id: str, agent: str, events: CallEvents,
                       note_connected: Callable[[], Awaitable[None]],
                       while_connected: WhileConnected,
                       handover: Handover, recorded: bool = False) -> TransferRequested | None:
        """call_id is bridged to agent: note it (note_connected, tried
        again through an outage), record the conversation (unless it is
        recorded already: a debtor back from a cold transfer), run
        while_connected until the call ends, then tear the pair down. A
        transfer the agent asks for meanwhile is carried out (handover),
        and while_connected runs again for whoever has the call then; a
        cold one (to a service) tears the agent down at once and is
        returned: the debtor, out of any agent's bridge, is the flow's to
        take there. PostgreSQL lost past the ride-out leaves the
        conversation be: the agent is torn down and wrapped up when the
        debtor or the agent hangs up, never left on a call that has ended."""
        cold = None
        try:
            await through_outage(note_connected, self.ride_out_s)
            if not recorded:
                await self.record(call_id)
            while (asked := await while_connected(agent, self.leg_of(call_id),
                                                  self.bridge_of(call_id))) is not None:
                if not asked.to_service:
                    agent = await self._transfer(call_id, agent, asked, events, handover)
                elif (cold := await self._let_go(call_id, agent, asked)) is not None:
                    break
        except CONNECTION_LOST as error:
            log.warning("call %s: PostgreSQL lost while it talks to %s (%s); the call goes "
                        "on", call_id, agent, str(error) or type(error).__name__)
            await asyncio.wait([events.ended])
        await self.tear_down(call_id, agent)
        if cold is not None:
            # A debtor moved off a session line is alone in a bridge of the
            # call's own: out of it too, for the service's prompts.
            try:
                await self.control.destroy_bridge(call_id)
            except CallControlError as error:
                log.warning("call %s: its bridge is left in Asterisk: %s", call_id, error)
        return cold

    async def _let_go(self, call_id: str, agent: str,
                      asked: TransferRequested) -> TransferRequested | None:
        """A cold transfer agent asked for: the debtor leaves a session
        line's bridge (the line stays), the transfer is written and told;
        the request, or None when it is not agent's to ask."""
        if asked.agent != agent:
            log.warning("call %s: a transfer asked by %s, whose call it is not (it is %s's): "
                        "not made", call_id, asked.agent, agent)
            return None
        if self.bridge_of(call_id) != call_id:
            await self.control.bridge(call_id, [call_id])
        self.control.note(SentToService(call_id=call_id, at=self.control.clock(), agent=agent,
                                        to_service=asked.to_service))
        log.info("call %s: %s sent the debtor to %s", call_id, agent, asked.to_service)
        try:
            await self.agents.tell(agent, {"type": TRANSFER_EVENT, "call": call_id,
                                           "attempt": asked.call, "status": "completed",
                                           "from_agent": agent,
                                           "to_service": asked.to_service})
        except CONNECTION_LOST as error:
            log.warning("agent %s not told of a transfer: %s", agent, error)
        return asked

    async def _transfer(self, call_id: str, agent: str, asked: TransferRequested,
                        events: CallEvents, handover: Handover) -> str:
        """Bring the target the API reserved (asked.to_agent: its screen pop
        sent) into the call, warm: rung for it, or its session line, joins
        the bridge of the debtor and agent, and the three talk until agent
        completes the transfer (the API) or hangs up; then the call is the
        target's and agent wraps up. The agent who has the call afterwards:
        agent still when the target's phone did not take it or the target
        left first (agent's desktop is told). The debtor is never dropped
        for a transfer."""
        target = asked.to_agent
        if asked.agent != agent or not target:
            log.warning("call %s: a transfer asked by %s, whose call it is not (it is %s's): "
                        "not made", call_id, asked.agent, agent)
            if target:
                await self.agents.release(target, self.control.clock())
            return agent
        first, before = self._agent_legs[call_id], self.bridge_of(call_id)
        line = await self.agents.session_line(target)
        channel = line or f"{call_id}-{target}"
        if line is None:
            loop = asyncio.get_running_loop()
            joined = await self._ring(call_id, target, channel,
                                      loop.time() + AGENT_RING_TIMEOUT_S, events.ended,
                                      handover.shown_as)
        else:
            joined = await self._beep(call_id, target, line)
        if not joined:
            why = CALL_ENDED if events.ended.done() else "the target's phone did not take it"
            await self._transfer_told(call_id, asked, TransferFailed(
                call_id=call_id, at=self.control.clock(), agent=agent, to_agent=target,
                reason=why))
            return agent
        warm = _Warm(first, channel, asyncio.get_running_loop().create_future())
        self._legs[channel] = call_id
        self._warm[call_id] = warm
        try:
            how = await self._warm_phase(call_id, asked, warm, before, events)
        finally:
            del self._warm[call_id]
        if how in (ASKED, HUNG_UP):
            await self._complete(call_id, agent, target, asked, warm, before, line is not None,
                                 how, handover)
            return target
        # The target's phone left first, or the debtor did: the call stays agent's.
        if how != TARGET_LEFT:
            await self._target_out(channel, line is not None)
        await self._transfer_told(call_id, asked, TransferFailed(
            call_id=call_id, at=self.control.clock(), agent=agent, to_agent=target, reason=how))
        ended_at = self.control.clock()
        await through_outage(lambda: self.agents.wrap_up(target, ended_at, self.wrap_up_s),
                             self.ride_out_s)
        return agent

    async def _warm_phase(self, call_id: str, asked: TransferRequested, warm: _Warm,
                          before: str, events: CallEvents) -> str:
        """The target's channel joins the call's bridge (before), and the
        three talk until the transfer settles; how it did."""
        try:
            await self.control.join_bridge(before, warm.target, absorb_dtmf=False)
        except CallControlError as error:
            log.warning("call %s: the transfer's target %s not brought in: %s", call_id,
                        asked.to_agent, error)
            return CALL_ENDED if events.ended.done() else NOT_JOINED
        await self._on_call(asked.to_agent, self.control.clock())
        await self._transfer_told(call_id, asked, TransferStarted(
            call_id=call_id, at=self.control.clock(), agent=asked.agent,
            to_agent=asked.to_agent))
        loop = asyncio.get_running_loop()
        while not warm.left.done():
            event = await events.next(loop.time() + TRANSFER_POLL_S)
            if events.ended.done():
                return CALL_ENDED
            if isinstance(event, TransferCompleteRequested):
                return ASKED
            if isinstance(event, PaymentRequested):
                log.info("call %s: no payment during a transfer; the agent asks again once it "
                         "is over", call_id)
        return warm.left.result()

    async def _complete(self, call_id: str, agent: str, target: str, asked: TransferRequested,
                        warm: _Warm, before: str, on_session: bool, how: str,
                        handover: Handover) -> None:
        """agent leaves the call to target: its leg is hung up (its BYE),
        or its session line goes back to its own bridge (the debtor and the
        target into the call's own); agent wraps up, and the call's record
        names target from now on."""
        first = warm.first
        if first == before:
            # agent's session line is the bridge: the debtor and the target
            # go to a bridge of the call's own, the line stays home.
            await self.control.bridge(call_id, [call_id, warm.target])
        elif self._away.pop(call_id, None) == first:
            await self._send_home(first)
        elif how == ASKED:
            self._legs.pop(first, None)
            await self.hang_up(first, "the agent left the call to a transfer's target")
        self._bridges.pop(call_id, None)
        self._agent_legs[call_id] = warm.target
        if on_session:
            self._away[call_id] = warm.target
        await self._transfer_told(call_id, asked, TransferCompleted(
            call_id=call_id, at=self.control.clock(), agent=agent, to_agent=target, how=how))
        ended_at = self.control.clock()
        await through_outage(lambda: self.agents.wrap_up(agent, ended_at, self.wrap_up_s),
                             self.ride_out_s)
        await through_outage(lambda: handover.note_agent(target, warm.target), self.ride_out_s)

    async def _target_out(self, channel: str, on_session: bool) -> None:
        """A transfer's target leaves the call: its leg is hung up, or its
        session line goes back to its own bridge."""
        if on_session:
            self._legs.pop(channel, None)
            await self._send_home(channel)
        else:
            await self.hang_up(channel, "the transfer did not happen")

    async def _send_home(self, line: str) -> None:
        """A session line back in its own bridge, for the wrap-up and the
        next call."""
        try:
            await self.control.join_bridge(line, line, absorb_dtmf=False)
        except CallControlError as error:
            log.warning("session line %s not back in its bridge: %s", line, error)

    async def _transfer_told(self, call_id: str, asked: TransferRequested,
                             event: TransferStarted | TransferCompleted | TransferFailed
                             ) -> None:
        """The transfer's step in the call's events, and on both agents'
        desktops."""
        self.control.note(event)
        step: dict[str, object] = {
            "type": TRANSFER_EVENT, "call": call_id, "attempt": asked.call,
            "status": _STATUS[type(event)], "from_agent": asked.agent,
            "to_agent": asked.to_agent}
        if isinstance(event, TransferFailed):
            step["reason"] = event.reason
        log.info("call %s: transfer from %s to %s %s", call_id, asked.agent, asked.to_agent,
                 step["status"])
        for told in (asked.agent, asked.to_agent):
            try:
                await self.agents.tell(told, step)
            except CONNECTION_LOST as error:
                log.warning("agent %s not told of a transfer: %s", told, error)

    async def record(self, call_id: str) -> None:
        """Record the conversation (MixMonitor on the debtor's channel); a
        recording that cannot start is logged, the call goes on."""
        file = recordings.file_name(call_id)
        try:
            await self.control.record_audio(call_id, file)
        except CallControlError as error:
            log.warning("call %s not recorded: %s", call_id, error)
            return
        # An outbound call's attempt shares its id; an inbound call has none.
        # The file is recording already: its name waits out an outage.
        await through_outage(
            lambda: recordings.mark_recording(self.pool, storage_id(call_id), file),
            self.ride_out_s)

    async def tear_down(self, call_id: str, agent: str) -> None:
        """The call ended: hang up the agent's leg, drop the bridge, start
        the agent's wrap-up. An agent's session line stays up, in its
        bridge, for the wrap-up and the next call."""
        joined = self._bridges.pop(call_id, None)
        leg = self._agent_legs.pop(call_id, None)
        away = self._away.pop(call_id, None)
        if away is not None:
            # A transfer brought the agent's session line into the call's
            # own bridge: the line goes home, the call's bridge goes.
            self._legs.pop(away, None)
            await self._send_home(away)
        # A call adopted from a dead dialer may be on a session line too;
        # with PostgreSQL gone, what this connector joined is all it knows.
        try:
            line = await self.agents.session_line(agent)
        except CONNECTION_LOST:
            line = joined
        if away is not None or leg is None or leg != line:
            if leg is not None and away is None:
                self._legs.pop(leg, None)
                await self.hang_up(leg, "the call ended")
            try:
                await self.control.destroy_bridge(call_id)
            except CallControlError as error:
                # ARI unreachable a moment: the agent's wrap-up matters more
                # than an empty bridge left in Asterisk.
                log.warning("call %s: its bridge is left in Asterisk: %s", call_id, error)
        ended_at = self.control.clock()
        # An agent whose call ended while PostgreSQL restarts is not left on it.
        await through_outage(lambda: self.agents.wrap_up(agent, ended_at, self.wrap_up_s),
                             self.ride_out_s)

    async def follow_adopted(self, call_id: str, agent: str, leg: str,
                             connected_at: datetime, ended: asyncio.Future[object]) -> None:
        """A call a dead dialer had bridged to an agent: keep the pair, and
        tear it down when the call ends, as if it were ours. A beep the dead
        dialer had started on the agent's session line is stopped."""
        self._legs[leg] = call_id
        self._agent_legs[call_id] = leg
        if leg == await self.agents.session_line(agent):
            self._bridges[call_id] = leg
            await self._stop_after(beep_of(call_id, agent), 0.0)
        await asyncio.wait([ended])
        await self.tear_down(call_id, agent)
