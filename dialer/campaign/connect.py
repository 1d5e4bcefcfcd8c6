"""Answered campaign calls to agents: reserve the free agent skill routing
picks (its desktop gets the screen pop), call the agent's softphone into
the Stasis app (showing the debtor) and bridge it to the debtor, all within
the 2-second rule. An agent whose phone does not take the call is paused
with the reason, and the next free agent is tried while time remains; else
the call is abandoned: the debtor hears the safe-harbour message (and may
opt out with a key), then the call ends. The flow named "campaign" in the
engine."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import datetime

import asyncpg

from dialer.agents import routing
from dialer.agents.caller_id import Debtor, agent_caller_id
from dialer.agents.state import MISSED_CALL, UNREACHABLE
from dialer.calls.events import (
    CallEnteredApp,
    CallEvent,
    CallHungUp,
    DtmfReceived,
    FallbackPlayed,
    PlaybackFailed,
    PlaybackFinished,
)
from dialer.campaign.results import AGENT_DEADLINE, Connection
from dialer.collections.model import MachineAction
from dialer.engine import Engine
from dialer.errors import AmiError, AriError
from dialer.store import hopper
from dialer.store.agents import AgentStore
from ivr import machine_message, safe_harbour
from ivr.recordings import digits_media

log = logging.getLogger(__name__)

CAMPAIGN_FLOW = "campaign"
AMD_MACHINE = "MACHINE"  # AMDSTATUS of an answering machine
RESERVE_POLL_S = 0.02  # how often a waiting call looks for a free agent
AGENT_RING_TIMEOUT_S = 10


class BridgeFailed(AriError):
    """Asterisk would not bridge a call to its agent: no more tries."""


class AgentConnector:
    """Connects answered calls to agents and tears the pair down."""

    def __init__(self, engine: Engine, pool: asyncpg.Pool, wrap_up_s: float,
                 caller_id: str, machine_action: MachineAction = MachineAction.HANG_UP) -> None:
        self.engine = engine
        self.pool = pool
        self.agents = AgentStore(pool)
        self.wrap_up_s = wrap_up_s
        self.caller_id = caller_id
        self.machine_action = machine_action
        self._legs: dict[str, str] = {}  # agent leg channel id -> call id
        # An agent leg's fate: None once answered, else why it failed.
        self._leg_answered: dict[str, asyncio.Future[str | None]] = {}
        self._connections: dict[str, Connection] = {}
        self._agent_legs: dict[str, str] = {}  # call id -> connected agent leg
        self._needs: dict[str, routing.CallNeeds] = {}
        self._debtors: dict[str, Debtor] = {}
        engine.add_listener(self._hear)
        engine.register_flow(CAMPAIGN_FLOW, self._run)

    def expect(self, call_id: str, needs: routing.CallNeeds, debtor: Debtor) -> None:
        """What the agent of this call, once answered, must be able to do,
        and who the agent's phone shows is calling."""
        self._needs[call_id] = needs
        self._debtors[call_id] = debtor

    def connection(self, call_id: str) -> Connection:
        """What became of the call's connection (forgotten once asked)."""
        self._needs.pop(call_id, None)
        self._debtors.pop(call_id, None)
        return self._connections.pop(call_id, Connection())

    def shown_to_agent(self, debtor: Debtor | None) -> str:
        """The caller ID an agent's phone gets for a call with debtor."""
        return agent_caller_id(self.engine.settings.agent_caller_id, debtor, self.caller_id)

    def mark_abandoned(self, call_id: str) -> None:
        """Recobro ends this answered call for want of an agent."""
        self._connections[call_id] = Connection(abandoned=True)

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
            elif self._agent_legs.get(call_id) == event.call_id:
                # The agent hung up (or the softphone vanished): end the
                # debtor's call too; its record is kept like any other.
                asyncio.get_running_loop().create_task(
                    self.engine.hang_up(call_id, "agent hung up"))

    async def _run(self, call_id: str, inbox: asyncio.Queue[CallEvent | None]) -> None:
        loop = asyncio.get_running_loop()
        record = self.engine.record(call_id)
        now = self.engine.clock()
        answered_at = (record.answered_at if record else None) or now
        verdict_at = record.entered_app_at if record and record.amd_status else None
        amd_status = record.amd_status if record else ""
        attempt_id = uuid.UUID(call_id)
        await hopper.mark_answered(self.pool, attempt_id, answered_at, verdict_at, amd_status)
        events: asyncio.Queue[CallEvent] = asyncio.Queue()  # keys pressed, playbacks
        ended = asyncio.ensure_future(until_ended(inbox, events))
        if amd_status == AMD_MACHINE:
            try:
                await self._answering_machine(call_id, events, ended)
            finally:
                ended.cancel()
            return
        # The 2-second rule counts from the answer, or from AMD's verdict
        # (the end of the greeting), by Asterisk's clock.
        elapsed = max(0.0, (self.engine.clock() - (verdict_at or answered_at)).total_seconds())
        deadline = loop.time() + AGENT_DEADLINE.total_seconds() - elapsed
        try:
            while loop.time() < deadline and not ended.done():
                agent = await self.agents.reserve(attempt_id, self.engine.clock(),
                                                  self._needs_of(call_id))
                if agent is None:
                    await asyncio.wait([ended], timeout=RESERVE_POLL_S)
                    continue
                try:
                    connected_at = await self.connect(
                        call_id, agent, deadline, ended,
                        self.shown_to_agent(self._debtors.get(call_id)))
                except BridgeFailed as error:
                    log.warning("%s", error)
                    break
                if connected_at is not None:
                    self._connections[call_id] = Connection(agent=agent,
                                                            connected_at=connected_at)
                    await hopper.mark_connected(self.pool, attempt_id, agent,
                                                self._agent_legs[call_id], connected_at)
                    await self._record(call_id)
                    await ended
                    await self.tear_down(call_id, agent)
                    return
            if not ended.done():
                self.mark_abandoned(call_id)
                await self._safe_harbour(call_id, events, ended)
        finally:
            ended.cancel()

    async def _answering_machine(self, call_id: str, events: asyncio.Queue[CallEvent],
                                 ended: asyncio.Future[None]) -> None:
        """AMD heard a machine: leave the campaign's message or not, then
        end the call."""
        self._connections[call_id] = Connection(machine=True)
        if self.machine_action is MachineAction.LEAVE_MESSAGE:
            await self._play_through(call_id, machine_message.SOUND, machine_message.LONGEST_S,
                                     events, ended)
        if not ended.done():
            await self.engine.hang_up(call_id, "answering machine")

    async def _safe_harbour(self, call_id: str, events: asyncio.Queue[CallEvent],
                            ended: asyncio.Future[None]) -> None:
        """No agent in time: play the safe-harbour message, take the
        opt-out key if pressed, then end the call."""
        await self._play_through(call_id, safe_harbour.SOUND, safe_harbour.LONGEST_S, events,
                                 ended, opt_out_key=safe_harbour.OPT_OUT_KEY)
        if not ended.done():
            await self.engine.hang_up(call_id, "no agent within 2 s: safe-harbour message")

    async def _play_through(self, call_id: str, sound: str, longest_s: float,
                            events: asyncio.Queue[CallEvent], ended: asyncio.Future[None],
                            opt_out_key: str | None = None) -> None:
        """Play a recording to its end (or the call's, or longest_s). When
        Asterisk cannot play it, say the callback number digit by digit
        with its own sounds instead, and record that (FallbackPlayed).
        With opt_out_key, a debtor who presses it is opted out."""
        language = self.engine.language_of(call_id)
        try:
            playback = await self.engine.ari.play(call_id, sound, language)
        except AriError as error:
            log.warning("%s not played on %s: %s", sound, call_id, error)
            return
        deadline = asyncio.get_running_loop().time() + longest_s
        opted_out = fell_back = False
        while (event := await next_event(events, ended, deadline)) is not None:
            if (isinstance(event, DtmfReceived) and event.digit == opt_out_key
                    and not opted_out):
                opted_out = True
                await hopper.opt_out(self.pool, uuid.UUID(call_id))
            elif (isinstance(event, PlaybackFailed) and event.playback_id == playback
                  and not event.hung_up and not fell_back):
                fell_back = True
                fallback = digits_media(self.engine.settings.callback_number)
                self.engine.submit(FallbackPlayed(call_id=call_id, at=self.engine.clock(),
                                                  sound=sound, media=fallback))
                try:
                    playback = await self.engine.ari.play_media(call_id, fallback, language)
                except AriError as error:
                    log.warning("fallback for %s not played on %s: %s", sound, call_id, error)
                    return
            elif (isinstance(event, PlaybackFinished | PlaybackFailed)
                  and event.playback_id == playback):
                break

    def _needs_of(self, call_id: str) -> routing.CallNeeds:
        # A call adopted from a dead dialer: its language, at least.
        return self._needs.get(call_id) or routing.language_only(
            self.engine.language_of(call_id))

    async def connect(self, call_id: str, agent: str, deadline: float,
                      ended: asyncio.Future[None], shown_as: str) -> datetime | None:
        """Call the reserved agent's softphone (its display: shown_as) and
        bridge it to call_id, unless the call ends or the deadline (loop
        time) passes first; the time of the bridge, or None. An agent whose
        phone fails or does not answer in time is paused with the reason;
        one left because the debtor hung up is ready again. BridgeFailed
        when Asterisk would not bridge them (the agent is ready again)."""
        loop = asyncio.get_running_loop()
        leg = f"{call_id}-{agent}"
        answered: asyncio.Future[str | None] = loop.create_future()
        self._legs[leg] = call_id
        self._leg_answered[leg] = answered
        rang_from = loop.time()
        try:
            try:
                await self.engine.ari.originate(
                    endpoint=f"PJSIP/{agent}", channel_id=leg, app_args="agent",
                    caller_id=shown_as, timeout_s=AGENT_RING_TIMEOUT_S)
            except AriError as error:
                await self.agents.miss(agent, self.engine.clock(), UNREACHABLE, call_id,
                                       f"cannot call the phone: {error}")
                return None
            await asyncio.wait([answered, ended], timeout=max(0.0, deadline - loop.time()),
                               return_when=asyncio.FIRST_COMPLETED)
            if not answered.done() or answered.result() is not None or ended.done():
                await self.engine.ari.hangup(leg)
                if ended.done():
                    await self.agents.release(agent, self.engine.clock())
                elif answered.done():
                    await self.agents.miss(agent, self.engine.clock(), UNREACHABLE, call_id,
                                           str(answered.result()))
                else:
                    await self.agents.miss(
                        agent, self.engine.clock(), MISSED_CALL, call_id,
                        f"the phone rang {loop.time() - rang_from:.1f} s, not answered in time")
                return None
            await self.engine.ari.bridge(call_id, [call_id, leg])
        except AriError as error:
            log.warning("call %s not bridged to %s: %s", call_id, agent, error)
            await self.engine.ari.hangup(leg)
            # A half-made bridge (the debtor hung up as it was made) would
            # refuse every later try: gone, and no more tries for this call.
            await self.engine.ari.destroy_bridge(call_id)
            await self.agents.release(agent, self.engine.clock())
            raise BridgeFailed(f"call {call_id} could not be bridged: {error}") from None
        finally:
            self._leg_answered.pop(leg, None)
        connected_at = self.engine.clock()
        self._agent_legs[call_id] = leg
        await self.agents.on_call(agent, connected_at)
        return connected_at

    async def _record(self, call_id: str) -> None:
        """Record the conversation (MixMonitor on the debtor's channel); a
        recording that cannot start is logged, the call goes on."""
        file = f"recobro-{call_id}.wav"
        try:
            await self.engine.ami.record(await self.engine.ari.channel_name(call_id), file)
        except (AmiError, AriError) as error:
            log.warning("call %s not recorded: %s", call_id, error)
            return
        await hopper.mark_recording(self.pool, uuid.UUID(call_id), file)

    async def tear_down(self, call_id: str, agent: str) -> None:
        """The call ended: hang up the agent's leg, drop the bridge, start
        the agent's wrap-up."""
        leg = self._agent_legs.pop(call_id, None)
        if leg is not None:
            self._legs.pop(leg, None)
            await self.engine.ari.hangup(leg)
        await self.engine.ari.destroy_bridge(call_id)
        await self.agents.wrap_up(agent, self.engine.clock(), self.wrap_up_s)

    async def follow_adopted(self, call_id: str, agent: str, leg: str,
                             connected_at: datetime, ended: asyncio.Future[object]) -> None:
        """A call a dead dialer had bridged to an agent: keep the pair, and
        tear it down when the call ends, as if it were ours."""
        self._legs[leg] = call_id
        self._agent_legs[call_id] = leg
        self._connections[call_id] = Connection(agent=agent, connected_at=connected_at)
        await asyncio.wait([ended])
        await self.tear_down(call_id, agent)


async def until_ended(inbox: asyncio.Queue[CallEvent | None],
                       events: asyncio.Queue[CallEvent]) -> None:
    """Read the call's inbox until the call ends, keeping its events."""
    while (event := await inbox.get()) is not None:
        events.put_nowait(event)


async def next_event(events: asyncio.Queue[CallEvent], ended: asyncio.Future[None],
                     deadline: float) -> CallEvent | None:
    """The call's next event, or None once the call ended or the deadline
    (event-loop time) passed."""
    loop = asyncio.get_running_loop()
    if ended.done() or loop.time() >= deadline:
        return None
    event = asyncio.ensure_future(events.get())
    await asyncio.wait([event, ended], timeout=deadline - loop.time(),
                       return_when=asyncio.FIRST_COMPLETED)
    if not event.done():
        event.cancel()
        return None
    return event.result()
