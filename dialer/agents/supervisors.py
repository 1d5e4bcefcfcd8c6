"""Supervisors listening, whispering or barging in on a live agent call
(issue 18), in the API's Stasis application: the supervisor's phone is
called; once it answers it is bridged to a snoop channel on the agent's
channel (listen, whisper) or put in the call's own bridge (barge)
(dialer.agents.supervision says what each mode asks of Asterisk). The
supervision lasts until the supervisor hangs up, a supervisor or admin
stops it (also while its phone still rings), or the call ends; its start
and end, with the supervisor, the mode and who asked (or stopped it), are
written to the call's events. The leg and the snoop carry the supervision
in their Stasis() arguments (dialer.agents.supervision.LegTag): a
restarted API finds them in Asterisk and carries on (resume)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Collection, Iterator
from dataclasses import dataclass

import asyncpg

from dialer.agents.store import AgentStore, UnknownCall
from dialer.agents.supervision import SNOOPS, LegTag, SupervisionMode, agent_channel_of
from dialer.calls.control import AppChannel, CallControl, CallEvents
from dialer.calls.events import SupervisionEnded, SupervisionStarted
from dialer.errors import CallControlError, ConfigError
from dialer.settings import DEFAULT_ASTERISK_NAME
from dialer.store.calls import append_event, open_supervisions, supervision_started

log = logging.getLogger(__name__)

SUPERVISE_FLOW = "supervise"
SNOOP_FLOW = "snoop"
# Supervisors' legs are named so: in a barged call's bridge they are not
# taken for the agent. A leg's snoop is named after it.
LEG_PREFIX = "supervise-"
SNOOP_SUFFIX = "-snoop"
# The parameter that marks a leg adopted after an API restart.
RESUMED = "resumed"
SUPERVISOR_RING_S = 30
SUPERVISOR_CALLER_ID = '"Recobro supervise" <recobro>'
# A snoop channel enters the application as ARI creates it; more than this
# means Asterisk did not make it.
SNOOP_ENTER_S = 2.0
# How often a supervision looks whether its call ended (the call is
# another process's: the dialer's or the inbound service's).
CALL_CHECK_S = 0.5
SUPERVISOR_HUNG_UP = "supervisor_hung_up"
# The leg (and any snoop) went while no API ran: the supervisor hung up, or
# the call ended and took them; nobody saw which, nor when.
GONE_WHILE_NO_API = "gone_while_no_api"
CALL_ENDED = "call_ended"
STOPPED = "stopped"
# A stop answers once the supervisor's leg is gone: hanging up a snoop, a
# bridge and a leg takes Asterisk well under this.
STOP_WAIT_S = 5.0


class SupervisionRefused(ConfigError):
    """The call cannot be supervised now (it has no agent, or ended)."""


class UnknownSupervisor(ConfigError):
    """Asterisk has no such endpoint for the supervisor's phone."""


class NoSupervision(ConfigError):
    """The supervisor's phone is on no supervision of the call now."""


@dataclass(frozen=True)
class Supervision:
    """A supervisor's phone on a call: the call's id (an attempt or an
    inbound call), its debtor's and agent's channels, the supervisor's
    endpoint and leg, the mode and who asked (empty for one adopted after
    an API restart: its supervision_started names who asked)."""

    call: uuid.UUID
    debtor: str
    agent_channel: str
    supervisor: str
    leg: str
    mode: SupervisionMode
    by: str


@dataclass(frozen=True)
class _Live:
    """A supervision under way: stop is set to who stops it; over is done
    once its snoop, bridge and leg are gone."""

    supervision: Supervision
    stop: asyncio.Future[str]
    over: asyncio.Future[None]


class Supervisors:
    """The supervisions, in the API's Stasis application."""

    def __init__(self, control: CallControl, store: AgentStore, pool: asyncpg.Pool) -> None:
        self.control = control
        self.store = store
        self.pool = pool
        self._ringing: dict[str, Supervision] = {}  # leg -> the supervision it is for
        self._snoops: dict[str, asyncio.Future[None]] = {}  # snoop id -> entered
        self._live: dict[str, _Live] = {}  # leg -> the supervision it is on
        # The legs and snoops are channels, not debtors' calls: not recorded.
        control.register_flow(SUPERVISE_FLOW, self._run, follow=False)
        control.register_flow(SNOOP_FLOW, self._snooping, follow=False)

    async def start(self, call: uuid.UUID, mode: SupervisionMode, supervisor: str,
                    by: str) -> Supervision:
        """Call the supervisor's phone (PJSIP endpoint supervisor) to
        supervise call in mode; the supervision starts once it answers.
        UnknownCall, UnknownSupervisor, SupervisionRefused (the call has
        no agent, or ended), CallControlError (the phone cannot be
        called)."""
        found = await self.store.call_of(call)
        if found is None:
            raise UnknownCall(f"no attempt or inbound call {call}")
        if not await self.control.endpoint_exists(f"PJSIP/{supervisor}"):
            raise UnknownSupervisor(f"supervisor: Asterisk has no endpoint PJSIP/{supervisor}")
        if found.ended or not found.connected or found.channel is None:
            raise SupervisionRefused(f"the call {call} is not live with an agent "
                                     f"({'it ended' if found.ended else 'no agent took it'})")
        holding = await self.control.bridge_holding(found.channel)
        agent_channel = None if holding is None else agent_channel_of(
            found.channel, *holding, LEG_PREFIX)
        if agent_channel is None:
            raise SupervisionRefused(f"the call {call} is not live with an agent (its debtor "
                                     "is in no bridge with an agent now)")
        leg = f"{LEG_PREFIX}{supervisor}-{uuid.uuid4().hex[:8]}"
        supervision = Supervision(call, found.channel, agent_channel, supervisor, leg, mode, by)
        self._ringing[leg] = supervision
        try:
            await self.control.call_endpoint(f"PJSIP/{supervisor}", leg, SUPERVISOR_CALLER_ID,
                                             SUPERVISOR_RING_S, flow=SUPERVISE_FLOW,
                                             params=_tag_of(supervision).params())
        except CallControlError:
            del self._ringing[leg]
            raise
        # A phone that never answers leaves nothing behind.
        asyncio.get_running_loop().call_later(SUPERVISOR_RING_S + 1, self._ringing.pop, leg,
                                              None)
        log.info("call %s: calling supervisor %s to %s (%s)", call, supervisor, mode.value, leg)
        return supervision

    async def stop(self, call: uuid.UUID, supervisor: str, by: str) -> Supervision:
        """Stop supervisor's supervision of call (each, should the phone be
        on two): its snoop, bridge and leg go, the call itself is left as it
        is, and `supervision_ended` says it was stopped, by whom. A phone
        still ringing for it is hung up (it never joined the call). Answers
        once the leg is gone (STOP_WAIT_S at most). UnknownCall;
        NoSupervision when the supervisor's phone is on none of the call's
        and rings for none."""
        stopping = [live for live in self._live.values()
                    if live.supervision.call == call and live.supervision.supervisor == supervisor]
        # Out of the ringing at once: a phone answering meanwhile enters
        # the application for no supervision, and is hung up there.
        ringing = [self._ringing.pop(leg) for leg, supervision in list(self._ringing.items())
                   if supervision.call == call and supervision.supervisor == supervisor]
        if not stopping and not ringing:
            if await self.store.call_of(call) is None:
                raise UnknownCall(f"no attempt or inbound call {call}")
            raise NoSupervision(f'"supervisor": {supervisor} is supervising the call {call} '
                                "from no phone now")
        for supervision in ringing:
            await self._cancel(supervision, by)
        for live in stopping:
            if not live.stop.done():
                live.stop.set_result(by)
        if stopping:
            await asyncio.wait([live.over for live in stopping], timeout=STOP_WAIT_S)
        log.info("call %s: supervisor %s stopped by %s", call, supervisor, by)
        return stopping[0].supervision if stopping else ringing[0]

    async def _cancel(self, supervision: Supervision, by: str) -> None:
        """Hang up a supervisor's phone still ringing; its supervision ends
        stopped, by by."""
        await self._hang_up(supervision.leg, "the supervision was stopped while the phone rang")
        await self._ended(supervision, STOPPED, by)
        log.info("call %s: supervisor %s's phone hung up while ringing", supervision.call,
                 supervision.supervisor)

    async def resume(self) -> int:
        """The supervisions the API before this one left in Asterisk (its
        Stasis application is this one's): each supervisor's leg still up
        is adopted (it can be stopped, and it ends as any other; one whose
        start that API never wrote is hung up); a leg
        still ringing is hung up (whoever asked was answered by the API
        that is gone); a snoop whose leg went meanwhile ends its
        supervision, the supervisor having hung up. A supervision whose
        leg is gone from Asterisk altogether gets the end nobody wrote, and
        a supervisor's bridge left empty is destroyed. How many were
        adopted."""
        channels = await self.control.app_channels()
        legs = {channel.id: channel for channel in channels
                if channel.params.get("flow") == SUPERVISE_FLOW}
        adopted = 0
        for leg in legs.values():
            if leg.state != "Up":
                await self._hang_up(leg.id, "its supervision was asked of an API since restarted")
            elif self._adopt(leg):
                adopted += 1
        for snoop in channels:
            if snoop.params.get("flow") == SNOOP_FLOW and \
                    snoop.id.removesuffix(SNOOP_SUFFIX) not in legs:
                await self._orphaned(snoop)
        await self._end_the_unseen(followed=legs.keys())
        if adopted:
            log.info("%d supervision(s) left by the last API adopted", adopted)
        return adopted

    async def _end_the_unseen(self, followed: Collection[str]) -> None:
        """The supervisions whose leg went while no API ran and left nothing
        to adopt (a barge's leg, or a leg and its snoop both gone): the
        supervisors' bridges left empty go, and their ends are written. Only
        legs gone from every application count (a leg up anywhere is
        somebody's live supervision), and none of the legs followed here
        (an adopted leg's flow writes its end)."""
        channels = await self.control.channel_states()
        for bridge, inside in (await self.control.bridges()).items():
            if bridge.startswith(LEG_PREFIX) and not inside and bridge not in channels:
                await self._destroy_bridge(bridge)
        # Another server's legs are not in this one's channels: its API's.
        for left in await open_supervisions(self.pool, self.store.asterisk):
            if left.leg not in channels and left.leg not in followed:
                await append_event(self.pool, str(left.call_id), SupervisionEnded(
                    call_id=str(left.call_id), at=self.control.clock(),
                    supervisor=left.supervisor, mode=left.mode, reason=GONE_WHILE_NO_API,
                    leg=left.leg))
                log.info("supervisor %s's %s (%s) ended while no API ran", left.supervisor,
                         left.mode, left.leg)

    def _adopt(self, leg: AppChannel) -> bool:
        """Let the supervise flow follow a leg left up; False (and the leg
        left alone) when its arguments say no supervision."""
        try:
            LegTag.of(leg.params)
        except ValueError as error:
            log.warning("supervisor leg %s not adopted: %s", leg.id, error)
            return False
        self.control.resume(leg.id, SUPERVISE_FLOW, {**leg.params, RESUMED: "yes"})
        return True

    async def _orphaned(self, snoop: AppChannel) -> None:
        """A snoop whose supervisor's leg went while no API ran: its
        supervision ended when the supervisor hung up. The snoop and the
        leg's bridge go (the end is written when the snoop says whose it
        was)."""
        leg = snoop.id.removesuffix(SNOOP_SUFFIX)
        try:
            supervision = await self._supervision_of(leg, LegTag.of(snoop.params))
        except ValueError as error:
            log.warning("snoop %s: its supervision's end not written: %s", snoop.id, error)
            supervision = None
        if supervision is not None:
            await self._ended(supervision, SUPERVISOR_HUNG_UP, "")
        await self._hang_up(snoop.id, "its supervisor's leg is gone")
        await self._destroy_bridge(leg)

    async def _supervision_of(self, leg: str, tag: LegTag) -> Supervision | None:
        """The supervision on leg its tag tells of; None when the call is
        unknown (a database other than the one it was asked in)."""
        found = await self.store.call_of(tag.call)
        if found is None or found.channel is None:
            log.warning("supervisor leg %s: no call %s with a debtor's channel", leg, tag.call)
            return None
        return Supervision(tag.call, found.channel, tag.agent_channel, tag.supervisor, leg,
                           tag.mode, "")

    async def _snooping(self, snoop: str, events: CallEvents) -> None:
        entered = self._snoops.get(snoop)
        if entered is not None and not entered.done():
            entered.set_result(None)

    async def _run(self, leg: str, events: CallEvents) -> None:
        if events.entered.params.get(RESUMED) == "yes":
            await self._run_adopted(leg, events)
            return
        supervision = self._ringing.pop(leg, None)
        if supervision is None:
            await self._hang_up(leg, "no supervision asked for this leg")
            return
        # Stoppable from the answer on: a stop while the leg joins ends it
        # as soon as it has joined.
        with self._stoppable(supervision) as live:
            snoop = leg + SNOOP_SUFFIX
            try:
                await self._join(supervision, snoop)
            except (CallControlError, TimeoutError) as error:
                log.warning("call %s: supervisor %s not joined: %s", supervision.call,
                            supervision.supervisor, error)
                await self._clear(supervision)
                return
            finally:
                self._snoops.pop(snoop, None)
            await append_event(self.pool, supervision.debtor, SupervisionStarted(
                call_id=supervision.debtor, at=self.control.clock(),
                supervisor=supervision.supervisor, mode=supervision.mode.value,
                by=supervision.by, leg=supervision.leg,
                asterisk=self.store.asterisk or DEFAULT_ASTERISK_NAME))
            log.info("call %s: supervisor %s %s", supervision.call, supervision.supervisor,
                     supervision.mode.value)
            await self._follow(live, events, leg_gone=False)

    async def _run_adopted(self, leg: str, events: CallEvents) -> None:
        """A leg an API before this one joined: followed to its end as if
        joined here when its supervision_started is written; hung up when
        it is not (that API went between the leg's answer and writing the
        start: nothing says who listened since when, and the leg may be
        half joined), the supervisor asking again."""
        supervision = await self._supervision_of(leg, LegTag.of(events.entered.params))
        if supervision is None:
            return
        if not await supervision_started(self.pool, leg, supervision.debtor,
                                         supervision.supervisor, supervision.mode.value):
            log.warning("call %s: supervisor %s's %s (%s) left by the last API with no start "
                        "written; hung up", supervision.call, supervision.supervisor,
                        supervision.mode.value, leg)
            await self._clear(supervision)
            return
        with self._stoppable(supervision) as live:
            # Its hang-up reaches this flow from now on; one that came
            # before this flow was there shows as a leg gone.
            gone = leg not in await self.control.channel_states()
            log.info("call %s: supervisor %s's %s adopted (%s)", supervision.call,
                     supervision.supervisor, supervision.mode.value, leg)
            await self._follow(live, events, leg_gone=gone)

    @contextlib.contextmanager
    def _stoppable(self, supervision: Supervision) -> Iterator[_Live]:
        """The supervision is one stop() finds while in this block."""
        loop = asyncio.get_running_loop()
        live = _Live(supervision, loop.create_future(), loop.create_future())
        self._live[supervision.leg] = live
        try:
            yield live
        finally:
            del self._live[supervision.leg]
            live.over.set_result(None)

    async def _follow(self, live: _Live, events: CallEvents, leg_gone: bool) -> None:
        """A supervision joined: until it ends, then written and cleared."""
        reason = SUPERVISOR_HUNG_UP if leg_gone else await self._until_over(
            live.supervision, events, live.stop)
        await self._ended(live.supervision, reason,
                          live.stop.result() if reason == STOPPED else "")
        await self._clear(live.supervision)

    async def _ended(self, supervision: Supervision, reason: str, by: str) -> None:
        await append_event(self.pool, supervision.debtor, SupervisionEnded(
            call_id=supervision.debtor, at=self.control.clock(),
            supervisor=supervision.supervisor, mode=supervision.mode.value, reason=reason,
            leg=supervision.leg, by=by))

    async def _join(self, supervision: Supervision, snoop: str) -> None:
        """Put the answered supervisor's leg where its mode says."""
        if supervision.mode is SupervisionMode.BARGE:
            holding = await self.control.bridge_holding(supervision.debtor)
            if holding is None:
                raise CallControlError(f"the debtor's channel {supervision.debtor} is in no "
                                       "bridge now")
            await self.control.join_bridge(holding[0], supervision.leg, absorb_dtmf=False)
            return
        directions = SNOOPS[supervision.mode]
        entered = asyncio.get_running_loop().create_future()
        self._snoops[snoop] = entered
        await self.control.snoop(supervision.agent_channel, snoop, directions.spy,
                                 directions.whisper, flow=SNOOP_FLOW,
                                 params=_tag_of(supervision).params())
        await asyncio.wait_for(entered, SNOOP_ENTER_S)
        await self.control.bridge(supervision.leg, [supervision.leg, snoop])

    async def _until_over(self, supervision: Supervision, events: CallEvents,
                          stop: asyncio.Future[str]) -> str:
        """Wait until the supervisor hangs up, the supervision is stopped or
        the call ends; which it was."""
        while True:
            await asyncio.wait([events.ended, stop], timeout=CALL_CHECK_S,
                               return_when=asyncio.FIRST_COMPLETED)
            if events.ended.done():
                return SUPERVISOR_HUNG_UP
            if stop.done():
                return STOPPED
            call = await self.store.call_of(supervision.call)
            if call is None or call.ended:
                return CALL_ENDED

    async def _clear(self, supervision: Supervision) -> None:
        """The snoop, the supervisor's bridge and leg go (each one that is
        gone already is fine)."""
        if supervision.mode is not SupervisionMode.BARGE:
            await self._hang_up(supervision.leg + SNOOP_SUFFIX, "the supervision ended")
            await self._destroy_bridge(supervision.leg)
        await self._hang_up(supervision.leg, "the supervision ended")

    async def _destroy_bridge(self, bridge: str) -> None:
        try:
            await self.control.destroy_bridge(bridge)
        except CallControlError as error:
            log.info("supervisor bridge %s not destroyed: %s", bridge, error)

    async def _hang_up(self, channel: str, reason: str) -> None:
        try:
            await self.control.hang_up(channel, reason)
        except CallControlError as error:
            log.info("channel %s not hung up: %s", channel, error)


def _tag_of(supervision: Supervision) -> LegTag:
    return LegTag(supervision.call, supervision.mode, supervision.supervisor,
                  supervision.agent_channel)
