"""The outbound campaign's flow in Stasis: an answered call goes to a free
agent skill routing picks (the agent connector rings and bridges it) within
the 2-second rule; else it is abandoned: the debtor hears the safe-harbour
message (and may opt out with a key), then the call ends. In a
self-service campaign it goes to the self-service route first
(dialer.outbound.self_service); a debtor there who asks for an agent gets
the same 2-second search, and a polite end instead of an abandon. With AMD, a
machine gets the campaign's message or none. What became of each call (a
Connection) goes back to the dialer; pacing hears the answer, the
connection or the abandon as each happens (the PacingFeed). The flow named
"campaign"."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial

import asyncpg

from dialer.agents import routing
from dialer.agents.connector import AgentConnector, BridgeFailed, Handover
from dialer.agents.transfers import Service
from dialer.calls.caller_id import Debtor
from dialer.calls.control import CallControl, CallEvents
from dialer.calls.outcome import Connection
from dialer.errors import CallControlError
from dialer.metrics.definitions import AMD_VERDICTS, ANSWER_TO_AGENT
from dialer.outbound import attempts
from dialer.outbound.results import AGENT_DEADLINE, PacingFeed
from dialer.outbound.self_service import SelfServiceRoute
from dialer.payments.assisted import AssistedPayments
from dialer.payments.stasis import Payments
from dialer.portfolio.model import MachineAction
from dialer.store.outage import CONNECTION_LOST
from ivr import machine_message, safe_harbour
from ivr.recorded_message import OptOut
from ivr.runner import run_flow

log = logging.getLogger(__name__)

CAMPAIGN_FLOW = "campaign"
AMD_MACHINE = "MACHINE"  # AMDSTATUS of an answering machine
# How often an answered debtor looks for a free agent while agents coming
# free are not heard (dialer.agents.freed): the 2-second rule leaves no
# time to wait longer (a waiting inbound caller polls less often).
AGENT_POLL_S = 0.02


class AnsweredCalls:
    """The campaign flow: each answered call to an agent, or abandoned."""

    def __init__(self, control: CallControl, pool: asyncpg.Pool, connector: AgentConnector,
                 feed: PacingFeed, callback_number: str,
                 machine_action: MachineAction = MachineAction.HANG_UP,
                 self_service: SelfServiceRoute | None = None,
                 payments: Payments | None = None, campaign: str = "",
                 inbound_app: str = "") -> None:
        self.control = control
        self.campaign = campaign  # its name, for the metrics
        # `recobro inbound`'s Stasis application: where an agent's cold
        # transfer to the inbound queue sends the debtor.
        self.inbound_app = inbound_app
        self.pool = pool
        self.connector = connector
        self.callback_number = callback_number
        self.machine_action = machine_action
        self.feed = feed
        self.self_service = self_service  # None: answered calls go to agents
        # Where an agent sends a debtor by a cold transfer: the campaign's
        # own self-service route, or one like it.
        self.menu = self_service or SelfServiceRoute(control, pool, campaign, callback_number,
                                                     payments)
        self._connections: dict[str, Connection] = {}
        self._needs: dict[str, routing.CallNeeds] = {}
        self._debtors: dict[str, Debtor] = {}
        # Payments an agent hands the debtor to (none without a card gateway).
        self.assisted = AssistedPayments(control, pool, payments)
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

    def mark_abandoned(self, call_id: str, answered_at: datetime | None = None) -> None:
        """Recobro ends this answered call for want of an agent (in a
        self-service campaign, which promised none: ended unverified);
        answered_at: of an adopted call, whose answer this dialer missed."""
        if self.self_service:
            self._connections[call_id] = Connection(self_service=True)
            return
        self._connections[call_id] = Connection(abandoned=True)
        self.feed.abandoned(call_id, answered_at)

    def mark_connected(self, call_id: str, connection: Connection) -> None:
        """A call a dead dialer had bridged to an agent, adopted."""
        self._connections[call_id] = connection

    async def _run(self, call_id: str, events: CallEvents) -> None:
        try:
            await self._answer(call_id, events)
        except CONNECTION_LOST as error:
            # The dialer says the outage in one line and stops dialing; this
            # debtor, answered and without an agent, still hears the
            # safe-harbour message rather than silence.
            log.warning("call %s: PostgreSQL lost while it was answered (%s)", call_id,
                        str(error) or type(error).__name__)
            if call_id not in self._connections and not events.ended.done():
                self.mark_abandoned(call_id)
                await run_flow(safe_harbour.flow(self.callback_number), self.control, call_id,
                               events, self._opt_out_handler(uuid.UUID(call_id)))

    async def _answer(self, call_id: str, events: CallEvents) -> None:
        record = self.control.record(call_id)
        now = self.control.clock()
        answered_at = (record.answered_at if record else None) or now
        verdict_at = record.entered_app_at if record and record.amd_status else None
        amd_status = record.amd_status if record else ""
        attempt_id = uuid.UUID(call_id)
        self.feed.answered(call_id, record.originated_at if record else now, answered_at,
                           verdict_at, amd_status == AMD_MACHINE)
        write_answer = partial(attempts.mark_answered, self.pool, attempt_id, answered_at,
                               verdict_at, amd_status)
        if amd_status:
            AMD_VERDICTS.labels(self.campaign, amd_status.lower()).inc()
        if amd_status == AMD_MACHINE:
            await write_answer()
            await self._answering_machine(call_id, events)
            return
        answer = _AnswerWrite(call_id, None)
        if self.self_service is not None:
            await write_answer()
            served = await self.self_service.serve(call_id, events, self._debtors.get(call_id))
            self._connections[call_id] = served.connection
            if not served.wants_agent:
                return
            answered_at, verdict_at = self.control.clock(), None  # the search starts now
        else:
            # Writing the answer does not hold up the search for an agent
            # (the 2-second rule): it starts once the first look for a free
            # agent is over, beside the agent's connection (Asterisk's work,
            # not PostgreSQL's); the answer is in before the agent's
            # connection or the safe-harbour message is written.
            answer = _AnswerWrite(call_id, write_answer)
        try:
            await self._to_an_agent(call_id, events, answered_at, verdict_at, answer)
        finally:
            await answer.written()

    async def _to_an_agent(self, call_id: str, events: CallEvents, answered_at: datetime,
                           verdict_at: datetime | None,
                           answer: _AnswerWrite) -> None:
        """An answered debtor to a free agent within the 2-second rule (or,
        none free in time, to self-service's own end or the safe-harbour
        message); answer: the answer's write, not started or still going."""
        loop = asyncio.get_running_loop()
        attempt_id = uuid.UUID(call_id)
        # The 2-second rule counts from the answer, or from AMD's verdict
        # (the end of the greeting), by Asterisk's clock.
        elapsed = max(0.0, (self.control.clock() - (verdict_at or answered_at)).total_seconds())
        deadline = loop.time() + AGENT_DEADLINE.total_seconds() - elapsed
        while loop.time() < deadline and not events.ended.done():
            mark = self.connector.freed.mark()
            reserved = await self.connector.agents.reserve(
                attempt_id, self.control.clock(), self._needs_of(call_id),
                seen=self.connector.free_seen)
            answer.start()
            if reserved is None:
                await self.connector.freed.wait(mark, [events.ended], AGENT_POLL_S,
                                                deadline - loop.time())
                continue
            try:
                connected_at = await self.connector.connect(
                    call_id, reserved, deadline, events.ended,
                    self.connector.shown_to_agent(self._debtors.get(call_id)))
            except BridgeFailed as error:
                log.warning("%s", error)
                break
            if connected_at is not None:
                agent = reserved.agent
                self._connections[call_id] = Connection(agent=agent, connected_at=connected_at)
                self.feed.connected(call_id, agent, connected_at)
                ANSWER_TO_AGENT.labels(self.campaign).observe(
                    max(0.0, (connected_at - (verdict_at or answered_at)).total_seconds()))
                debtor = self._debtors.get(call_id)
                await answer.written()
                cold = await self.connector.converse(
                    call_id, agent, events,
                    partial(attempts.mark_connected, self.pool, attempt_id, agent,
                            self.connector.leg_of(call_id), connected_at),
                    partial(self.assisted.while_connected, call_id, call_id,
                            debtor.reference if debtor else "", events),
                    Handover(self.connector.shown_to_agent(debtor),
                             partial(attempts.hand_over, self.pool, attempt_id)))
                if cold is None or events.ended.done():
                    return
                if cold.to_service != Service.INBOUND_QUEUE.value \
                        or not await self._to_queue(call_id):
                    await self.menu.after_agent(call_id, events, debtor)
                return
        if self.self_service is not None:
            await self.self_service.no_agent(call_id, events)
            return
        await answer.written()
        if not events.ended.done():
            self.mark_abandoned(call_id)
            # No agent in time: the safe-harbour message, 9 to opt out.
            await run_flow(safe_harbour.flow(self.callback_number), self.control, call_id,
                           events, self._opt_out_handler(attempt_id))

    async def _to_queue(self, call_id: str) -> bool:
        """The debtor an agent sent to the inbound queue leaves this
        dialer's application for `recobro inbound`'s waiting line; False
        when Asterisk would not send it (the debtor, still here, goes to
        the self-service menu instead). The attempt stays this dialer's:
        it ends when the debtor hangs up (AMI says so), with the first
        agent's result; the MixMonitor started here records to the end."""
        record = self.control.record(call_id)
        try:
            await self.control.to_inbound_queue(call_id, record.number if record else "",
                                                self.inbound_app)
        except CallControlError as error:
            log.warning("call %s: not sent to the inbound queue: %s", call_id, error)
            return False
        log.info("call %s: the debtor went to the inbound queue", call_id)
        return True

    def _opt_out_handler(self, attempt_id: uuid.UUID):
        async def perform(effect: object) -> None:
            if not isinstance(effect, OptOut):
                raise TypeError(f"unexpected effect {effect!r}")
            try:
                await attempts.opt_out(self.pool, attempt_id)
            except CONNECTION_LOST:
                # Never lost in silence: an opt-out is the law's, not ours.
                log.error("call %s: the debtor opted out but PostgreSQL is lost; put the "
                          "account on the list by hand (`recobro dnc add --account ...`)",
                          attempt_id)
        return perform

    async def _answering_machine(self, call_id: str, events: CallEvents) -> None:
        """AMD heard a machine: leave the campaign's message or not, then
        end the call."""
        self._connections[call_id] = Connection(machine=True)
        if self.machine_action is MachineAction.LEAVE_MESSAGE:
            await run_flow(machine_message.flow(self.callback_number), self.control, call_id,
                           events)
        elif not events.ended.done():
            await self.connector.hang_up(call_id, "answering machine")

    def _needs_of(self, call_id: str) -> routing.CallNeeds:
        # A call adopted from a dead dialer: its language, at least.
        return self._needs.get(call_id) or routing.language_only(
            self.control.language_of(call_id))


class _AnswerWrite:
    """The answer's write of a call searching for an agent, started once
    the first look for a free agent is over (None: written already). Its
    failure is not raised (_log_unwritten says it): the debtor may be with
    an agent already, and the call goes on as one whose later writes fail
    does; one left without an agent still hears the safe-harbour message."""

    def __init__(self, call_id: str, write: Callable[[], Awaitable[None]] | None) -> None:
        self.call_id = call_id
        self._write = write
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the write (once)."""
        if self._write is not None and self._task is None:
            self._task = asyncio.create_task(self._write(), name=f"answer-{self.call_id}")
            self._task.add_done_callback(partial(_log_unwritten, self.call_id))

    async def written(self) -> None:
        """Once the write is over (started now if it was not)."""
        self.start()
        if self._task is not None:
            await asyncio.wait([self._task])


def _log_unwritten(call_id: str, answer_written: asyncio.Task[None]) -> None:
    """Once the answer's write is over: its failure, if any, in the log."""
    if not answer_written.cancelled() and answer_written.exception() is not None:
        error = answer_written.exception()
        log.warning("call %s: its answer not written (%s)", call_id,
                    str(error) or type(error).__name__)
