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
from dialer.agents.caller_id import AgentCallerId, Debtor, agent_caller_id
from dialer.agents.state import MISSED_CALL, UNREACHABLE
from dialer.calls.control import CallControl, CallEvents
from dialer.calls.events import CallEnteredApp, CallEvent, CallHungUp
from dialer.campaign.results import AGENT_DEADLINE, Connection
from dialer.collections.model import MachineAction
from dialer.errors import CallControlError
from dialer.store import hopper
from dialer.store.agents import AgentStore
from ivr import machine_message, safe_harbour
from ivr.recorded_message import OptOut
from ivr.runner import run_flow

log = logging.getLogger(__name__)

CAMPAIGN_FLOW = "campaign"
AMD_MACHINE = "MACHINE"  # AMDSTATUS of an answering machine
RESERVE_POLL_S = 0.02  # how often a waiting call looks for a free agent
AGENT_RING_TIMEOUT_S = 10


class BridgeFailed(CallControlError):
    """Asterisk would not bridge a call to its agent: no more tries."""


class AgentConnector:
    """Connects answered calls to agents and tears the pair down."""

    def __init__(self, control: CallControl, pool: asyncpg.Pool, wrap_up_s: float,
                 caller_id: str, callback_number: str,
                 agent_caller_id: AgentCallerId = AgentCallerId.DEBTOR,
                 machine_action: MachineAction = MachineAction.HANG_UP) -> None:
        self.control = control
        self.pool = pool
        self.agents = AgentStore(pool)
        self.wrap_up_s = wrap_up_s
        self.caller_id = caller_id
        self.callback_number = callback_number
        self.agent_caller_id = agent_caller_id
        self.machine_action = machine_action
        self._tasks: set[asyncio.Task[None]] = set()
        self._legs: dict[str, str] = {}  # agent leg channel id -> call id
        # An agent leg's fate: None once answered, else why it failed.
        self._leg_answered: dict[str, asyncio.Future[str | None]] = {}
        self._connections: dict[str, Connection] = {}
        self._agent_legs: dict[str, str] = {}  # call id -> connected agent leg
        self._needs: dict[str, routing.CallNeeds] = {}
        self._debtors: dict[str, Debtor] = {}
        control.add_listener(self._hear)
        control.register_flow(CAMPAIGN_FLOW, self._run)

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
        return agent_caller_id(self.agent_caller_id, debtor, self.caller_id)

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
                task = asyncio.get_running_loop().create_task(
                    self._hang_up(call_id, "agent hung up"))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _hang_up(self, call_id: str, reason: str) -> None:
        try:
            await self.control.hang_up(call_id, reason)
        except CallControlError as error:
            log.info("call %s not hung up: %s", call_id, error)

    async def _run(self, call_id: str, events: CallEvents) -> None:
        loop = asyncio.get_running_loop()
        record = self.control.record(call_id)
        now = self.control.clock()
        answered_at = (record.answered_at if record else None) or now
        verdict_at = record.entered_app_at if record and record.amd_status else None
        amd_status = record.amd_status if record else ""
        attempt_id = uuid.UUID(call_id)
        await hopper.mark_answered(self.pool, attempt_id, answered_at, verdict_at, amd_status)
        if amd_status == AMD_MACHINE:
            await self._answering_machine(call_id, events)
            return
        # The 2-second rule counts from the answer, or from AMD's verdict
        # (the end of the greeting), by Asterisk's clock.
        elapsed = max(0.0, (self.control.clock() - (verdict_at or answered_at)).total_seconds())
        deadline = loop.time() + AGENT_DEADLINE.total_seconds() - elapsed
        while loop.time() < deadline and not events.ended.done():
            agent = await self.agents.reserve(attempt_id, self.control.clock(),
                                              self._needs_of(call_id))
            if agent is None:
                await asyncio.wait([events.ended], timeout=RESERVE_POLL_S)
                continue
            try:
                connected_at = await self.connect(
                    call_id, agent, deadline, events.ended,
                    self.shown_to_agent(self._debtors.get(call_id)))
            except BridgeFailed as error:
                log.warning("%s", error)
                break
            if connected_at is not None:
                self._connections[call_id] = Connection(agent=agent, connected_at=connected_at)
                await hopper.mark_connected(self.pool, attempt_id, agent,
                                            self._agent_legs[call_id], connected_at)
                await self._record(call_id)
                await events.ended
                await self.tear_down(call_id, agent)
                return
        if not events.ended.done():
            self.mark_abandoned(call_id)
            # No agent in time: the safe-harbour message, 9 to opt out.
            await run_flow(safe_harbour.flow(self.callback_number), self.control, call_id,
                           events, self._opt_out_handler(attempt_id))

    def _opt_out_handler(self, attempt_id: uuid.UUID):
        async def perform(effect: object) -> None:
            if not isinstance(effect, OptOut):
                raise TypeError(f"unexpected effect {effect!r}")
            await hopper.opt_out(self.pool, attempt_id)
        return perform

    async def _answering_machine(self, call_id: str, events: CallEvents) -> None:
        """AMD heard a machine: leave the campaign's message or not, then
        end the call."""
        self._connections[call_id] = Connection(machine=True)
        if self.machine_action is MachineAction.LEAVE_MESSAGE:
            await run_flow(machine_message.flow(self.callback_number), self.control, call_id,
                           events)
        elif not events.ended.done():
            await self._hang_up(call_id, "answering machine")

    def _needs_of(self, call_id: str) -> routing.CallNeeds:
        # A call adopted from a dead dialer: its language, at least.
        return self._needs.get(call_id) or routing.language_only(
            self.control.language_of(call_id))

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
                await self.control.call_endpoint(f"PJSIP/{agent}", leg, shown_as,
                                                 AGENT_RING_TIMEOUT_S)
            except CallControlError as error:
                await self.agents.miss(agent, self.control.clock(), UNREACHABLE, call_id,
                                       f"cannot call the phone: {error}")
                return None
            await asyncio.wait([answered, ended], timeout=max(0.0, deadline - loop.time()),
                               return_when=asyncio.FIRST_COMPLETED)
            if not answered.done() or answered.result() is not None or ended.done():
                await self._hang_up(leg, "not connected")
                if ended.done():
                    await self.agents.release(agent, self.control.clock())
                elif answered.done():
                    await self.agents.miss(agent, self.control.clock(), UNREACHABLE, call_id,
                                           str(answered.result()))
                else:
                    await self.agents.miss(
                        agent, self.control.clock(), MISSED_CALL, call_id,
                        f"the phone rang {loop.time() - rang_from:.1f} s, not answered in time")
                return None
            await self.control.bridge(call_id, [call_id, leg])
        except CallControlError as error:
            log.warning("call %s not bridged to %s: %s", call_id, agent, error)
            await self._hang_up(leg, "not bridged")
            # A half-made bridge (the debtor hung up as it was made) would
            # refuse every later try: gone, and no more tries for this call.
            await self.control.destroy_bridge(call_id)
            await self.agents.release(agent, self.control.clock())
            raise BridgeFailed(f"call {call_id} could not be bridged: {error}") from None
        finally:
            self._leg_answered.pop(leg, None)
        connected_at = self.control.clock()
        self._agent_legs[call_id] = leg
        await self.agents.on_call(agent, connected_at)
        return connected_at

    async def _record(self, call_id: str) -> None:
        """Record the conversation (MixMonitor on the debtor's channel); a
        recording that cannot start is logged, the call goes on."""
        file = f"recobro-{call_id}.wav"
        try:
            await self.control.record_audio(call_id, file)
        except CallControlError as error:
            log.warning("call %s not recorded: %s", call_id, error)
            return
        await hopper.mark_recording(self.pool, uuid.UUID(call_id), file)

    async def tear_down(self, call_id: str, agent: str) -> None:
        """The call ended: hang up the agent's leg, drop the bridge, start
        the agent's wrap-up."""
        leg = self._agent_legs.pop(call_id, None)
        if leg is not None:
            self._legs.pop(leg, None)
            await self._hang_up(leg, "the call ended")
        await self.control.destroy_bridge(call_id)
        await self.agents.wrap_up(agent, self.control.clock(), self.wrap_up_s)

    async def follow_adopted(self, call_id: str, agent: str, leg: str,
                             connected_at: datetime, ended: asyncio.Future[object]) -> None:
        """A call a dead dialer had bridged to an agent: keep the pair, and
        tear it down when the call ends, as if it were ours."""
        self._legs[leg] = call_id
        self._agent_legs[call_id] = leg
        self._connections[call_id] = Connection(agent=agent, connected_at=connected_at)
        await asyncio.wait([ended])
        await self.tear_down(call_id, agent)
