"""The engine: one stream of call events from AMI and ARI, the call state
machine applied to it, every transition stored, and the IVR flow of each
answered call driven over ARI. The imperative shell around dialer.calls."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Self

from dialer.calls import state as call_state
from dialer.calls.events import (
    CallArrived,
    CallEnteredApp,
    CallEvent,
    CallLost,
    CallOriginated,
    DtmfReceived,
    HangupRequested,
    OriginateFailed,
    PlaybackFailed,
    PlaybackFinished,
)
from dialer.calls.state import CallRecord
from dialer.errors import AmiError, AriError
from dialer.settings import Settings
from dialer.store.calls import CallStore, event_kind
from dialer.store.database import open_pool
from dialer.store.outage import CONNECTION_LOST
from dialer.telephony.ami import AmiClient
from dialer.telephony.ari import AriClient
from ivr import greeting
from ivr.prompts import language_or_default

log = logging.getLogger(__name__)

# An originate failure is final only if no hangup (with its cause) follows.
ORIGINATE_FAILURE_GRACE_S = 1.5
FORGET_AFTER_S = 10.0  # an ended call is dropped from memory after this
# How long a call waits for AMI and ARI to be connected before it fails.
ORIGINATE_WAIT_S = 30.0
# Past its ring timeout, how long a call Asterisk said nothing of is waited
# for before it counts as failed (a safety net: Asterisk reports failures).
SILENCE_S = 10.0


def utc_now() -> datetime:
    return datetime.now(UTC)


# A flow drives an answered call: it gets the call id and an inbox of the
# call's DTMF and playback events, None once the call ended.
FlowRunner = Callable[[str, "asyncio.Queue[CallEvent | None]"], Awaitable[None]]
GREETING_FLOW = "greeting"
INBOUND_FLOW = "inbound"  # a call from the trunk; its flow argument: the caller


class Engine:
    """Places calls and follows each one to its final outcome."""

    def __init__(self, settings: Settings, store: CallStore, ami: AmiClient, ari: AriClient,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.settings = settings
        self.store = store
        self.ami = ami
        self.ari = ari
        self.clock = clock
        self._events: asyncio.Queue[CallEvent] = asyncio.Queue()
        self._calls: dict[str, CallRecord] = {}
        self._finished: dict[str, asyncio.Future[CallRecord]] = {}
        self._sent: dict[str, int] = {}  # call id -> AMI session it was sent in
        self._languages: dict[str, str] = {}
        self._flow_kinds: dict[str, str] = {}
        self._runners: dict[str, FlowRunner] = {GREETING_FLOW: self._run_greeting}
        self._listeners: list[Callable[[CallEvent], None]] = []
        self._flows: dict[str, asyncio.Queue[CallEvent | None]] = {}
        self._deferred: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._pump: asyncio.Task[None] | None = None

    @classmethod
    async def connect(cls, settings: Settings) -> Engine:
        """Connect to PostgreSQL, AMI and ARI, in that order; the first
        that fails raises a RecobroError naming what to fix."""
        pool = await open_pool(settings.database_url)
        engine: Engine
        ami = AmiClient(settings.ami, lambda e: engine.submit(e),
                        on_reconnect=lambda: engine.reconcile())
        ari = AriClient(settings.ari, lambda e: engine.submit(e),
                        on_reconnect=lambda: engine.reconcile())
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
        """Queue an event for the pump (called by the adapters)."""
        self._events.put_nowait(event)

    def register_flow(self, name: str, runner: FlowRunner) -> None:
        """Calls placed with flow=name are driven by runner once answered."""
        self._runners[name] = runner

    def add_listener(self, listener: Callable[[CallEvent], None]) -> None:
        """listener hears every event, also of channels that are not calls
        of this engine (an agent's leg, say)."""
        self._listeners.append(listener)

    def _spawn(self, coroutine, name: str) -> None:
        task = asyncio.create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def place_call(self, number: str, language: str | None = None, *,
                         channel: str | None = None, call_id: str | None = None,
                         caller_id: str | None = None, ring_timeout_s: float | None = None,
                         flow: str = GREETING_FLOW, amd: bool = False) -> CallRecord:
        """Originate a call to number (through the trunk, or the dial string
        channel when given) and return its record once it ended. The flow
        named drives it once answered (with amd, once Asterisk's
        answering-machine detection gave its verdict)."""
        call_id = call_id or str(uuid.uuid4())
        originated = CallOriginated(call_id=call_id, at=self.clock(), number=number)
        record = call_state.originate(originated)
        language = language_or_default(language or self.settings.language)
        finished = self._track(record, flow, language)
        await self.store.record(originated, record)
        try:
            # Without the event WebSocket the Stasis app does not exist, and
            # an answered call would be dropped: wait for it, as for AMI.
            await self.ari.wait_connected(ORIGINATE_WAIT_S)
            await self.ami.originate(
                call_id=call_id, channel=channel or f"PJSIP/{number}@{self.settings.trunk}",
                app=self.settings.ari.app, flow=flow, language=language,
                caller_id=caller_id or self.settings.caller_id,
                timeout_s=ring_timeout_s or self.settings.ring_timeout_s, amd=amd,
                wait_s=ORIGINATE_WAIT_S)
            self._sent[call_id] = self.ami.session
            asyncio.get_running_loop().call_later(
                (ring_timeout_s or self.settings.ring_timeout_s) + SILENCE_S,
                self._unheard_of, call_id)
        except (AmiError, AriError) as error:
            log.warning("call %s not originated: %s", call_id, error)
            self.submit(OriginateFailed(call_id=call_id, at=self.clock(), reason=0))
        try:
            return await finished
        finally:
            self._finished.pop(call_id, None)

    def _unheard_of(self, call_id: str) -> None:
        """A call Asterisk has said nothing of since it was originated ends."""
        call = self._calls.get(call_id)
        if call is not None and call.state is call_state.CallState.ORIGINATING:
            log.warning("call %s: no word from Asterisk since it was originated; counted as "
                        "failed", call_id)
            self.submit(OriginateFailed(call_id=call_id, at=self.clock(), reason=0))

    def _track(self, record: CallRecord, flow: str, language: str) -> asyncio.Future[CallRecord]:
        self._calls[record.call_id] = record
        self._languages[record.call_id] = language
        self._flow_kinds[record.call_id] = flow
        finished: asyncio.Future[CallRecord] = asyncio.get_running_loop().create_future()
        self._finished[record.call_id] = finished
        return finished

    async def adopt(self, record: CallRecord, flow: str, language: str) -> CallRecord:
        """Follow a call another (dead) dialer placed, from its stored record,
        to its end. It counts as sent in an earlier AMI session: if its
        channel is already gone, the next reconcile ends it as lost."""
        finished = self._track(record, flow, language)
        self._sent[record.call_id] = -1
        try:
            return await finished
        finally:
            self._finished.pop(record.call_id, None)

    async def _run_pump(self) -> None:
        while True:
            event = await self._events.get()
            try:
                await self._handle(event)
            except CONNECTION_LOST as error:
                log.warning("call %s: %s not recorded, PostgreSQL unreachable (%s)",
                            event.call_id, event_kind(event), error)
            except Exception:
                log.exception("failed to handle %s", type(event).__name__)

    async def _handle(self, event: CallEvent) -> None:
        for listener in self._listeners:
            listener(event)
        call = self._calls.get(event.call_id)
        if call is None and self._arriving(event):
            call = await self._accept(event)
        if call is None:
            return  # not a call of this engine
        if isinstance(event, PlaybackFailed):
            log.log(logging.INFO if event.hung_up else logging.WARNING, "call %s: %s",
                    event.call_id, event.reason)
        if (isinstance(event, OriginateFailed) and not call.ended
                and event.call_id not in self._deferred):
            self._deferred.add(event.call_id)
            asyncio.get_running_loop().call_later(ORIGINATE_FAILURE_GRACE_S, self.submit, event)
            return
        after = call_state.apply(call, event)
        self._calls[event.call_id] = after
        await self.store.record(event, after)
        self._route_to_flow(event, after)
        if after.ended and not call.ended:
            self._deferred.discard(event.call_id)
            future = self._finished.get(event.call_id)
            if future is not None and not future.done():
                future.set_result(after)
            # Late events (a hangup cause after an originate failure) may
            # still refine the record for a moment; then the call is let go.
            asyncio.get_running_loop().call_later(FORGET_AFTER_S, self._forget, event.call_id)

    def _arriving(self, event: CallEvent) -> bool:
        return (isinstance(event, CallEnteredApp) and event.args[:1] == (INBOUND_FLOW,)
                and INBOUND_FLOW in self._runners)

    async def _accept(self, event: CallEvent) -> CallRecord:
        """Follow a call that came in (an engine with an inbound flow)."""
        assert isinstance(event, CallEnteredApp)
        arrived = CallArrived(call_id=event.call_id, at=event.at,
                              caller=event.flow_args[0] if event.flow_args else "")
        record = call_state.arrive(arrived)
        self._track(record, INBOUND_FLOW, self.settings.language)
        await self.store.record(arrived, record)
        return record

    def _forget(self, call_id: str) -> None:
        for table in (self._calls, self._sent, self._languages, self._flow_kinds,
                      self._finished):
            table.pop(call_id, None)

    def _route_to_flow(self, event: CallEvent, call: CallRecord) -> None:
        if isinstance(event, CallEnteredApp) and event.call_id not in self._flows:
            inbox: asyncio.Queue[CallEvent | None] = asyncio.Queue()
            self._flows[event.call_id] = inbox
            runner = self._runners[self._flow_kinds.get(event.call_id, GREETING_FLOW)]
            self._spawn(self._run_flow(runner, event.call_id, inbox), f"flow-{event.call_id}")
            return
        inbox_or_none = self._flows.get(event.call_id)
        if inbox_or_none is None:
            return
        if call.ended:
            inbox_or_none.put_nowait(None)
        elif isinstance(event, DtmfReceived | PlaybackFinished | PlaybackFailed):
            inbox_or_none.put_nowait(event)

    async def _run_flow(self, runner: FlowRunner, call_id: str,
                        inbox: asyncio.Queue[CallEvent | None]) -> None:
        try:
            await runner(call_id, inbox)
        except Exception:
            log.exception("the flow of call %s failed", call_id)
        finally:
            self._flows.pop(call_id, None)

    def record(self, call_id: str) -> CallRecord | None:
        """The call as it is now (None: not a call of this engine)."""
        return self._calls.get(call_id)

    def language_of(self, call_id: str) -> str:
        """The language a call is spoken to in."""
        return self._languages.get(call_id, self.settings.language)

    def speak(self, call_id: str, language: str) -> None:
        """Speak to the call in language from now on (a caller identified as
        an account with a language of its own)."""
        if call_id in self._calls:
            self._languages[call_id] = language_or_default(language)

    async def hang_up(self, call_id: str, reason: str) -> None:
        """End a call from Recobro's side (it then counts as ended by us)."""
        self.submit(HangupRequested(call_id=call_id, at=self.clock(), reason=reason))
        await self.ari.hangup(call_id)

    async def _run_greeting(self, call_id: str, inbox: asyncio.Queue[CallEvent | None]) -> None:
        language = self.language_of(call_id)
        flow, actions = greeting.start()
        listen_until: float | None = None
        loop = asyncio.get_running_loop()
        try:
            while True:
                for action in actions:
                    if isinstance(action, greeting.Play):
                        await self.ari.play(call_id, action.prompt.value, language)
                    elif isinstance(action, greeting.Listen):
                        listen_until = loop.time() + action.seconds
                    elif isinstance(action, greeting.Hangup):
                        await self.hang_up(call_id, "flow finished")
                        return
                timeout = None
                if flow.state is greeting.GreetingState.LISTENING and listen_until is not None:
                    timeout = max(0.0, listen_until - loop.time())
                try:
                    event = await asyncio.wait_for(inbox.get(), timeout)
                except TimeoutError:
                    flow, actions = greeting.on_silence(flow)
                    continue
                if event is None:
                    return  # the call ended
                flow, actions = greeting.on_event(flow, event)
        except AriError as error:
            log.info("flow of call %s stopped: %s", call_id, error)

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
            sent_in = self._sent.get(call_id)
            if (not call.ended and sent_in is not None and sent_in < self.ami.session
                    and call_id not in alive):
                self.submit(CallLost(call_id=call_id, at=self.clock()))

    async def close(self) -> None:
        """Stop the pump and flows and disconnect."""
        for task in list(self._tasks):
            task.cancel()
        if self._pump is not None:
            self._pump.cancel()
        await self.ari.close()
        await self.ami.close()
        await self.store.pool.close()
