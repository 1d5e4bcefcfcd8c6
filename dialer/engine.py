"""The engine: one stream of call events from AMI and ARI, the call state
machine applied to it, every transition stored, and the flow of each call
that enters Recobro's Stasis application started with the call's events.
It is the call-control seam's implementation (dialer.calls.control) over
AMI and ARI: the imperative shell around dialer.calls."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Self

from dialer.calls import state as call_state
from dialer.calls.control import AppChannel, CallEvents, FlowRunner
from dialer.calls.events import (
    CallArrived,
    CallEnteredApp,
    CallEvent,
    CallHungUp,
    CallLost,
    CallOriginated,
    DtmfReceived,
    HangupRequested,
    OriginateFailed,
    PaymentRequested,
    PlaybackFailed,
    PlaybackFinished,
    TransferCompleteRequested,
    TransferRequested,
)
from dialer.calls.state import CallRecord
from dialer.errors import (
    AmiError,
    AmiUnanswered,
    AriError,
    CallControlError,
    ChannelGone,
)
from dialer.intake import EventIntake
from dialer.metrics.definitions import CALL_TO_FLOW
from dialer.settings import Settings
from dialer.store.calls import CallStore
from dialer.store.database import open_pool
from dialer.store.journal import CallJournal
from dialer.telephony.ami import AmiClient
from dialer.telephony.ari import AriClient
from dialer.telephony.ari_events import (
    PAYMENT_REQUEST,
    TRANSFER_COMPLETE,
    TRANSFER_REQUEST,
    stasis_app_of,
    stasis_args,
    stasis_params_of,
)
from ivr.prompts import language_or_default

log = logging.getLogger(__name__)

# An originate failure is final only if no hangup (with its cause) follows.
ORIGINATE_FAILURE_GRACE_S = 1.5
FORGET_AFTER_S = 10.0  # an ended call is dropped from memory after this
# Where a debtor sent to the inbound queue goes out of a dialer's Stasis
# application, and the variables that carry its number and `recobro
# inbound`'s application there (asterisk_conf/extensions_recobro.conf).
INBOUND_QUEUE_CONTEXT = "recobro-to-queue"
QUEUE_CALLER_VARIABLE = "RECOBRO_CALLER"
QUEUE_APP_VARIABLE = "RECOBRO_INBOUND_APP"
# How long a call waits for AMI and ARI to be connected before it fails.
ORIGINATE_WAIT_S = 30.0
# How long a call that ended waits for its flow to end before it is settled
# (a flow ends at once when the channel goes, but for a write or a
# gateway's answer still on its way).
FLOW_END_WAIT_S = 10.0
# Past its ring timeout, how long a call Asterisk said nothing of is waited
# for before it counts as failed (a safety net: Asterisk reports failures).
SILENCE_S = 10.0
# On close, how long flows may take to finish what their calls' end left
# them (a payment's outcome to record) before they are cancelled.
FLOWS_FINISH_S = 3.0
# On close, how long call events still waiting for PostgreSQL may take.
JOURNAL_CLOSE_S = 5.0
# Headers on the INVITE to an agent's phone asking it to answer by itself
# at once: Call-Info's answer-after (Yealink, Snom, Grandstream, Cisco...)
# and Alert-Info's alert-autoanswer (Polycom and others). A phone that does
# not know them just rings.
AUTO_ANSWER_HEADERS = {
    "Call-Info": "<sip:recobro>;answer-after=0",
    "Alert-Info": "<http://recobro>;info=alert-autoanswer;delay=0",
}
# What a flow hears.
FLOW_EVENTS = (DtmfReceived, PlaybackFinished, PlaybackFailed, PaymentRequested,
               TransferRequested, TransferCompleteRequested)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class LiveCall:
    """Everything the engine holds of one call it follows."""

    record: CallRecord
    flow: str
    language: str
    finished: asyncio.Future[CallRecord]
    sent_in: int | None = None  # the AMI session it was originated in
    events: CallEvents | None = None  # once its flow runs
    failure_deferred: bool = False  # an originate failure waits for a hangup cause
    # The journal's position of the call's first event: its flow starts once
    # that is written, as flows write rows that refer to the call's.
    first_written: int = 0
    flow_task: asyncio.Task[None] | None = None  # its flow, once it entered the app


@dataclass
class _Flow:
    runner: FlowRunner
    follow: bool  # a call to record (else a channel: an agent's feature code)
    channels: dict[str, CallEvents] = field(default_factory=dict)


class Engine:
    """Places calls, follows each to its final outcome, and does to calls
    what flows and services ask (dialer.calls.control.CallControl)."""

    def __init__(self, settings: Settings, store: CallStore, ami: AmiClient, ari: AriClient,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.settings = settings
        self.store = store
        self.journal = CallJournal(store, settings.event_buffer)
        self.ami = ami
        self.ari = ari
        self.clock = clock
        # Bounded: past its limit AMI and ARI stop reading (dialer.intake).
        self.intake = EventIntake()
        self.intake.add_reader(ami)
        self.intake.add_reader(ari)
        self._calls: dict[str, LiveCall] = {}
        self._flows: dict[str, _Flow] = {}
        self._listeners: list[Callable[[CallEvent], None]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._pump: asyncio.Task[None] | None = None
        self._other_apps: list[AriClient] = []

    @classmethod
    async def connect(cls, settings: Settings) -> Engine:
        """Connect to PostgreSQL, AMI and ARI, in that order; the first
        that fails raises a RecobroError naming what to fix."""
        # No session state is kept on the engine's connections: see open_pool.
        pool = await open_pool(settings.database_url,
                               query_timeout_s=settings.db_query_timeout_s, session_reset=False)
        engine: Engine
        # The process's own links are the ones its metrics follow.
        ami = AmiClient(settings.ami, lambda e: engine.submit(e),
                        on_reconnect=lambda: engine.reconcile(), link="ami")
        ari = AriClient(settings.ari, lambda e: engine.submit(e),
                        on_reconnect=lambda: engine.reconcile(), link="ari")
        engine = cls(settings, CallStore(pool), ami, ari)
        try:
            await ami.connect()
            await ari.connect()
        except BaseException:
            await ami.close()
            await pool.close()
            raise
        engine._pump = asyncio.create_task(engine._run_pump(), name="call-events")
        return engine

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def submit(self, event: CallEvent) -> None:
        """Queue an event for the pump (the adapters' callback)."""
        self.intake.put(event)

    def note(self, event: CallEvent) -> None:
        """A flow's own event (a fallback played), recorded like any."""
        self.submit(event)

    def register_flow(self, name: str, runner: FlowRunner, follow: bool = True) -> None:
        """Calls of flow `name` are driven by runner once they enter the
        application: calls placed with it, and calls that arrive with it.
        follow=False: channels, not calls (an agent dialing a feature
        code): driven, not recorded."""
        self._flows[name] = _Flow(runner, follow)

    def resume(self, channel_id: str, flow: str, params: Mapping[str, str]) -> None:
        """See CallControl.resume: Asterisk said its StasisStart to the
        process before; the channel enters this one's flow now."""
        if self._flows[flow].follow:
            raise ValueError(f"flow {flow!r} records calls: adopt them instead")
        self.submit(CallEnteredApp(call_id=channel_id, at=self.clock(), flow=flow, language="",
                                   params=dict(params)))

    def add_listener(self, listener: Callable[[CallEvent], None]) -> None:
        """listener hears every event, also of channels that are not calls
        of this engine (an agent's leg, say)."""
        self._listeners.append(listener)

    def _spawn(self, coroutine, name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # Following calls.

    async def place_call(self, number: str, language: str | None = None, *, flow: str,
                         channel: str | None = None, call_id: str | None = None,
                         caller_id: str | None = None, ring_timeout_s: float | None = None,
                         amd: bool = False) -> CallRecord:
        """Originate a call to number (through the trunk, or the dial string
        channel when given) and return its record once it ended. The flow
        named drives it once answered (with amd, once Asterisk's
        answering-machine detection gave its verdict)."""
        call_id = call_id or str(uuid.uuid4())
        originated = CallOriginated(call_id=call_id, at=self.clock(), number=number)
        record = call_state.originate(originated)
        language = language_or_default(language or self.settings.language)
        call = self._follow(record, flow, language)
        ring_timeout_s = ring_timeout_s or self.settings.ring_timeout_s
        try:
            # A call is placed only once it is on record: a dialer that dies
            # then leaves it to the next one to adopt.
            await asyncio.wait_for(self.journal.written_through(
                self.journal.record(originated, record)), ORIGINATE_WAIT_S)
            # Without the event WebSocket the Stasis app does not exist, and
            # an answered call would be dropped: wait for it, as for AMI.
            await self.ari.wait_connected(ORIGINATE_WAIT_S)
            # While AMI reads nothing the Originate's answer would go
            # unread, and a call Asterisk placed would count as failed.
            if self.intake.paused:
                await asyncio.wait_for(self.intake.flowing(), ORIGINATE_WAIT_S)
            await self.ami.originate(
                call_id=call_id, channel=channel or f"PJSIP/{number}@{self.settings.trunk}",
                app=self.settings.ari.app, flow=flow, language=language,
                caller_id=caller_id or self.settings.caller_id, timeout_s=ring_timeout_s,
                amd=amd, wait_s=ORIGINATE_WAIT_S)
            call.sent_in = self.ami.session
            asyncio.get_running_loop().call_later(ring_timeout_s + SILENCE_S,
                                                  self._unheard_of, call_id)
        except TimeoutError:
            why = ("call events still wait to be handled" if self.intake.paused
                   else "PostgreSQL did not record it")
            log.warning("call %s not originated: %s in %g s", call_id, why, ORIGINATE_WAIT_S)
            self.submit(OriginateFailed(call_id=call_id, at=self.clock(), reason=0))
        except AmiUnanswered as error:
            # Sent, so maybe placed (a link that stopped reading loses the
            # answer, not the action): failing it could dial the debtor
            # twice. Its events end it, or the reconcile once AMI is back
            # (its channel gone: lost), or the silence timer.
            log.warning("call %s: %s; followed in case Asterisk placed it", call_id, error)
            call.sent_in = error.session
            asyncio.get_running_loop().call_later(ring_timeout_s + SILENCE_S,
                                                  self._unheard_of, call_id)
        except (AmiError, AriError) as error:
            log.warning("call %s not originated: %s", call_id, error)
            self.submit(OriginateFailed(call_id=call_id, at=self.clock(), reason=0))
        return await self._ended(call)

    async def _ended(self, call: LiveCall) -> CallRecord:
        """The call's record once it ended and its flow, if one runs, ended
        too (FLOW_END_WAIT_S at most): what the flow made of the call (a
        debtor verified, a payment, a call put through) is in before the
        call is settled, which a debtor hanging up mid-flow would otherwise
        outrun."""
        record = await call.finished
        if call.flow_task is not None and not call.flow_task.done():
            done, _ = await asyncio.wait({call.flow_task}, timeout=FLOW_END_WAIT_S)
            if not done:
                log.warning("call %s: its flow still runs %g s after the call ended; "
                            "settled without it", record.call_id, FLOW_END_WAIT_S)
        return record

    def _unheard_of(self, call_id: str) -> None:
        """A call Asterisk has said nothing of since it was originated ends."""
        call = self._calls.get(call_id)
        if call is not None and call.record.state is call_state.CallState.ORIGINATING:
            log.warning("call %s: no word from Asterisk since it was originated; counted as "
                        "failed", call_id)
            self.submit(OriginateFailed(call_id=call_id, at=self.clock(), reason=0))

    def _follow(self, record: CallRecord, flow: str, language: str) -> LiveCall:
        call = LiveCall(record, flow, language,
                        asyncio.get_running_loop().create_future())
        self._calls[record.call_id] = call
        return call

    async def adopt(self, record: CallRecord, flow: str, language: str) -> CallRecord:
        """Follow a call another (dead) dialer placed, from its stored record,
        to its end. It counts as sent in an earlier AMI session: if its
        channel is already gone, the next reconcile ends it as lost."""
        call = self._follow(record, flow, language)
        call.sent_in = -1
        return await self._ended(call)

    async def _run_pump(self) -> None:
        while True:
            event = await self.intake.get()
            try:
                await self._handle(event)
            except Exception:
                log.exception("failed to handle %s", type(event).__name__)

    async def _handle(self, event: CallEvent) -> None:
        call = self._calls.get(event.call_id)
        if isinstance(event, CallHungUp) and call is not None and call.record.ended \
                and call.record.hangup_cause is not None:
            return  # heard already, from the other link (AMI and ARI both say)
        for listener in self._listeners:
            listener(event)
        if call is None and isinstance(event, CallEnteredApp):
            call = self._arrived(event)
        if call is None:
            self._to_channel(event)
            return
        if isinstance(event, PlaybackFailed):
            log.log(logging.INFO if event.hung_up else logging.WARNING, "call %s: %s",
                    event.call_id, event.reason)
        if isinstance(event, OriginateFailed) and not call.record.ended \
                and not call.failure_deferred:
            call.failure_deferred = True
            asyncio.get_running_loop().call_later(ORIGINATE_FAILURE_GRACE_S, self.submit, event)
            return
        before, call.record = call.record, call_state.apply(call.record, event)
        self.journal.record(event, call.record)
        self._to_flow(call, event)
        if call.record.ended and not before.ended:
            if not call.finished.done():
                call.finished.set_result(call.record)
            # Late events (a hangup cause after an originate failure) may
            # still refine the record for a moment; then the call is let go.
            asyncio.get_running_loop().call_later(FORGET_AFTER_S, self._calls.pop,
                                                  event.call_id, None)

    def _arrived(self, event: CallEnteredApp) -> LiveCall | None:
        """A channel that entered the application on its own: a call that
        came in is followed from now on; a channel of a flow that records
        no call (a feature code) gets its flow; anything else is not ours."""
        flow = self._flows.get(event.flow)
        if flow is None:
            return None
        if not flow.follow:
            events = CallEvents(event)
            flow.channels[event.call_id] = events
            self._spawn(self._run_flow(flow.runner, event.call_id, events,
                                       flow.channels), f"flow-{event.call_id}")
            return None
        arrived = CallArrived(call_id=event.call_id, at=event.at,
                              caller=event.params.get("caller", ""))
        call = self._follow(call_state.arrive(arrived), event.flow, self.settings.language)
        call.first_written = self.journal.record(arrived, call.record)
        return call

    def _to_channel(self, event: CallEvent) -> None:
        """An event of a channel a flow drives without recording it."""
        for flow in self._flows.values():
            events = flow.channels.get(event.call_id)
            if events is None:
                continue
            if isinstance(event, CallHungUp):
                events.end()
            elif isinstance(event, FLOW_EVENTS):
                events.put(event)

    def _to_flow(self, call: LiveCall, event: CallEvent) -> None:
        if isinstance(event, CallEnteredApp) and call.events is None:
            call.events = CallEvents(event)
            call.flow_task = self._spawn(self._start_flow(call, event), f"flow-{event.call_id}")
        elif call.events is not None:
            if call.record.ended:
                call.events.end()
            elif isinstance(event, FLOW_EVENTS):
                call.events.put(event)

    async def _start_flow(self, call: LiveCall, entered: CallEnteredApp) -> None:
        """Run a followed call's flow once its first event is written."""
        assert call.events is not None
        await self.journal.written_through(call.first_written)
        # entered.at is Asterisk's timestamp: the wait measured includes the pump's.
        CALL_TO_FLOW.observe(max(0.0, (datetime.now(UTC) - entered.at).total_seconds()))
        await self._run_flow(self._flows[call.flow].runner, call.record.call_id, call.events)

    async def _run_flow(self, runner: FlowRunner, call_id: str, events: CallEvents,
                        channels: dict[str, CallEvents] | None = None) -> None:
        try:
            await runner(call_id, events)
        except Exception:
            log.exception("the flow of call %s failed", call_id)
        finally:
            if channels is not None:
                channels.pop(call_id, None)

    def calls(self) -> list[CallRecord]:
        """Every call followed now, as it is."""
        return [call.record for call in self._calls.values()]

    def record(self, call_id: str) -> CallRecord | None:
        """The call as it is now (None: not a call of this engine)."""
        call = self._calls.get(call_id)
        return None if call is None else call.record

    def language_of(self, call_id: str) -> str:
        """The language a call is spoken to in."""
        call = self._calls.get(call_id)
        return self.settings.language if call is None else call.language

    def speak(self, call_id: str, language: str) -> None:
        """Speak to the call in language from now on (a caller identified as
        an account with a language of its own)."""
        call = self._calls.get(call_id)
        if call is not None:
            call.language = language_or_default(language)

    async def hear_app(self, app: str) -> None:
        """Hear the events of another Stasis application too (a dead
        dialer's, whose calls this one adopts)."""
        client = AriClient(replace(self.settings.ari, app=app), self.submit)
        await client.connect()
        self.intake.add_reader(client)
        self._other_apps.append(client)

    async def reconcile(self) -> None:
        """After a reconnect: calls sent in an earlier AMI session whose
        channel Asterisk no longer has ended while we were away; they get a
        final (lost) outcome. Calls sent since are left alone: their channel
        may not exist yet."""
        try:
            alive = await self.ari.channel_ids()
        except AriError as error:
            log.warning("reconcile skipped: %s", error)
            return
        for call_id, call in list(self._calls.items()):
            if (not call.record.ended and call.sent_in is not None
                    and call.sent_in < self.ami.session and call_id not in alive):
                self.submit(CallLost(call_id=call_id, at=self.clock()))

    # What flows and services do to calls (dialer.calls.control).

    async def answer(self, call_id: str) -> None:
        await self.ari.answer(call_id)

    async def play(self, call_id: str, media: str, language: str,
                   playback_id: str | None = None) -> str:
        return await self.ari.play_media(call_id, media, language, playback_id)

    async def stop_playback(self, playback_id: str) -> None:
        await self.ari.stop_playback(playback_id)

    async def hold(self, call_id: str, on: bool) -> None:
        await self.ari.hold(call_id, on)

    async def hang_up(self, call_id: str, reason: str) -> None:
        """End a call from Recobro's side (a call followed then counts as
        ended by us)."""
        if call_id in self._calls:
            self.submit(HangupRequested(call_id=call_id, at=self.clock(), reason=reason))
        await self.ari.hangup(call_id)

    async def give_back(self, call_id: str, variables: Mapping[str, str]) -> None:
        await self.ari.continue_in_dialplan(call_id, variables)

    async def call_endpoint(self, endpoint: str, channel_id: str, caller_id: str,
                            timeout_s: float, flow: str = "agent",
                            params: Mapping[str, str] | None = None) -> None:
        await self.ari.originate(
            endpoint=endpoint, channel_id=channel_id,
            app_args=stasis_args(flow=flow, **(params or {})), caller_id=caller_id,
            timeout_s=int(timeout_s),
            variables={f"PJSIP_HEADER(add,{name})": value
                       for name, value in AUTO_ANSWER_HEADERS.items()})

    async def bridge(self, bridge_id: str, channel_ids: Sequence[str]) -> None:
        await self.ari.bridge(bridge_id, list(channel_ids))

    async def destroy_bridge(self, bridge_id: str) -> None:
        await self.ari.destroy_bridge(bridge_id)

    async def bridge_channels(self, bridge_id: str) -> list[str]:
        return await self.ari.bridge_channels(bridge_id)

    async def join_bridge(self, bridge_id: str, channel_id: str, absorb_dtmf: bool) -> None:
        await self.ari.add_to_bridge(bridge_id, channel_id, absorb_dtmf)

    async def bridge_holding(self, channel_id: str) -> tuple[str, list[str]] | None:
        return await self.ari.bridge_holding(channel_id)

    async def bridges(self) -> dict[str, list[str]]:
        return await self.ari.bridges()

    async def snoop(self, channel_id: str, snoop_id: str, spy: str, whisper: str,
                    flow: str, params: Mapping[str, str] | None = None) -> None:
        await self.ari.snoop(channel_id, snoop_id, spy, whisper,
                             stasis_args(flow=flow, **(params or {})))

    async def endpoint_exists(self, endpoint: str) -> bool:
        technology, _, resource = endpoint.partition("/")
        return await self.ari.endpoint_exists(technology, resource)

    async def request_payment(self, call_id: str, agent: str) -> None:
        await self._ask_flow(call_id, PAYMENT_REQUEST, {"agent": agent})

    async def request_transfer(self, call_id: str, agent: str, to_agent: str,
                               known_as: str, to_service: str = "") -> None:
        await self._ask_flow(call_id, TRANSFER_REQUEST,
                             {"agent": agent, "to_agent": to_agent, "call": known_as,
                              "to_service": to_service})

    async def application_connected(self, app: str) -> bool:
        return await self.ari.application_exists(app)

    async def to_inbound_queue(self, call_id: str, caller: str, inbound_app: str) -> None:
        await self.ari.continue_at(call_id, INBOUND_QUEUE_CONTEXT, "s", {
            QUEUE_CALLER_VARIABLE: caller, QUEUE_APP_VARIABLE: inbound_app})

    async def complete_transfer(self, call_id: str, agent: str) -> None:
        await self._ask_flow(call_id, TRANSFER_COMPLETE, {"agent": agent})

    async def _ask_flow(self, call_id: str, request: str, variables: dict[str, str]) -> None:
        """Send the process whose flow has the call the user event request
        (with variables) on the call's channel."""
        app = stasis_app_of(await self.ari.channel(call_id))
        if app is None:
            raise CallControlError(f"call {call_id} is in no Stasis application: no Recobro "
                                   "process has it")
        try:
            await self.ari.user_event(app, request, call_id, variables)
        except ChannelGone:
            # The channel was there a moment ago: its application is gone
            # (the process that had the call died), or the call just ended.
            raise CallControlError(f"no process has call {call_id} now (Stasis application "
                                   f"{app} is not connected), or the call just ended") from None

    async def record_audio(self, call_id: str, file: str) -> None:
        await self.ami.record(await self.ari.channel_name(call_id), file)

    async def mute_recording(self, call_id: str, muted: bool) -> None:
        await self.ami.mute_recording(await self.ari.channel_name(call_id), muted)

    async def channel_states(self) -> dict[str, str]:
        return await self.ari.channel_states()

    async def app_channels(self) -> list[AppChannel]:
        return [AppChannel(str(channel["id"]), str(channel.get("state", "")),
                           stasis_params_of(channel))
                for channel in await self.ari.channels()
                if stasis_app_of(channel) == self.ari.settings.app]

    async def close(self) -> None:
        """Stop the pump and flows and disconnect. Flows get FLOWS_FINISH_S
        to finish first: a call that has just ended still has its outcome
        recorded (a capture's, say)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=FLOWS_FINISH_S)
        for task in list(self._tasks):
            task.cancel()
        if self._pump is not None:
            self._pump.cancel()
        for client in self._other_apps:
            await client.close()
        await self.ari.close()
        await self.ami.close()
        await self.journal.close(JOURNAL_CLOSE_S)
        await self.store.pool.close()
