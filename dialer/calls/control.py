"""The call-control seam: what a flow or a service may do to calls, and how
it hears one call's events. dialer.engine does it over AMI and ARI; flows
and services import this module, never the adapters (dialer.telephony).
Pure: protocols and an event inbox, no I/O."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from dialer.calls.events import CallEnteredApp, CallEvent, DtmfReceived
from dialer.calls.state import CallRecord


class CallEvents:
    """The events of one call as its flow hears them (keys, prompts played
    or not) after the one that brought it into the application (entered:
    the flow's named Stasis arguments are there), and whether the call has
    ended."""

    def __init__(self, entered: CallEnteredApp) -> None:
        self.entered = entered
        self._queue: asyncio.Queue[CallEvent] = asyncio.Queue()
        self.ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def put(self, event: CallEvent) -> None:
        """One of the call's events (the engine's)."""
        if not self.ended.done():
            self._queue.put_nowait(event)

    def end(self) -> None:
        """The call ended (the engine's)."""
        if not self.ended.done():
            self.ended.set_result(None)

    async def next(self, deadline: float | None = None) -> CallEvent | None:
        """The call's next event; None once the call ended or the deadline
        (event-loop time) passed."""
        loop = asyncio.get_running_loop()
        if not self._queue.empty():
            return self._queue.get_nowait()
        if self.ended.done() or (deadline is not None and loop.time() >= deadline):
            return None
        getter = asyncio.ensure_future(self._queue.get())
        timeout = None if deadline is None else deadline - loop.time()
        await asyncio.wait([getter, self.ended], timeout=timeout,
                           return_when=asyncio.FIRST_COMPLETED)
        if not getter.done():
            getter.cancel()
            return None
        return getter.result()

    def keys_pressed(self) -> str:
        """The keys pressed since last asked, other waiting events dropped
        (nothing is playing: a caller on hold)."""
        keys = ""
        while not self._queue.empty():
            event = self._queue.get_nowait()
            if isinstance(event, DtmfReceived):
                keys += event.digit
        return keys


@dataclass(frozen=True)
class AppChannel:
    """A channel in this process's Stasis application as Asterisk has it
    now: its id, its state (ARI's names: Ringing, Up...) and the named
    Stasis() arguments it entered with (its flow's)."""

    id: str
    state: str
    params: Mapping[str, str]


# A flow drives an answered call: it gets the call id and the call's events.
FlowRunner = Callable[[str, CallEvents], Awaitable[None]]


class CallControl(Protocol):
    """What may be done to calls. Errors raised are dialer.errors'
    CallControlError (ChannelGone when the channel is no more)."""

    def clock(self) -> datetime:
        """Asterisk-aligned now (UTC)."""

    def record(self, call_id: str) -> CallRecord | None:
        """The call as it is now (None: not a call being followed)."""

    def language_of(self, call_id: str) -> str:
        """The language the call is spoken to in."""

    def speak(self, call_id: str, language: str) -> None:
        """Speak to the call in language from now on."""

    def note(self, event: CallEvent) -> None:
        """Record an event a flow made happen (a fallback it played) with
        the call's others."""

    def register_flow(self, name: str, runner: FlowRunner) -> None:
        """Calls of this flow are driven by runner once they enter the
        application."""

    def resume(self, channel_id: str, flow: str, params: Mapping[str, str]) -> None:
        """A channel of a flow that records no call, already in the
        application (the process before this one drove it): flow drives it
        again from now, as if it had just entered with params."""

    def add_listener(self, listener: Callable[[CallEvent], None]) -> None:
        """listener hears every event, also of channels that are not calls
        being followed (an agent's leg)."""

    async def answer(self, call_id: str) -> None:
        """Answer a call that entered the application unanswered."""

    async def play(self, call_id: str, media: str, language: str,
                   playback_id: str | None = None) -> str:
        """Start playing media (`sound:NAME`, `number:N`, `digits:N`,
        `tone:...`); its playback id: playback_id (one another process can
        stop by name), else Asterisk's. Its end comes as an event."""

    async def stop_playback(self, playback_id: str) -> None:
        """Stop a playback (one already over is fine)."""

    async def hold(self, call_id: str, on: bool) -> None:
        """Music on hold, on or off."""

    async def hang_up(self, call_id: str, reason: str) -> None:
        """End a call from Recobro's side."""

    async def give_back(self, call_id: str, variables: Mapping[str, str]) -> None:
        """Send a call back to the dialplan that sent it to Stasis (it goes
        on after its Stasis()), with channel variables set for it."""

    async def call_endpoint(self, endpoint: str, channel_id: str, caller_id: str,
                            timeout_s: float, flow: str = "agent",
                            params: Mapping[str, str] | None = None) -> None:
        """Ring an endpoint (an agent's phone), asking it to answer by itself
        (the usual auto-answer SIP headers, for phones that honour them);
        its channel, channel_id, enters the application when answered, with
        flow and the named params as its arguments."""

    async def bridge(self, bridge_id: str, channel_ids: Sequence[str]) -> None:
        """Put the channels together in a new mixing bridge."""

    async def destroy_bridge(self, bridge_id: str) -> None:
        """Take a bridge down (one already gone is fine)."""

    async def bridge_channels(self, bridge_id: str) -> list[str]:
        """The channels in a bridge now ([] when the bridge is gone)."""

    async def join_bridge(self, bridge_id: str, channel_id: str, absorb_dtmf: bool) -> None:
        """Put a channel in a bridge (again, if it is in it already) with
        its keys absorbed (the flow still hears them; nobody in the bridge
        does) or passed on as before."""

    async def bridge_holding(self, channel_id: str) -> tuple[str, list[str]] | None:
        """The bridge a channel is in and the channels in it (None: in no
        bridge, or gone)."""

    async def bridges(self) -> dict[str, list[str]]:
        """Every bridge Asterisk has now, by id, with the ids of its
        channels (whoever made it)."""

    async def snoop(self, channel_id: str, snoop_id: str, spy: str, whisper: str,
                    flow: str, params: Mapping[str, str] | None = None) -> None:
        """Open a channel, snoop_id, that hears channel_id's audio (spy:
        `in` what its far end says, `out` what it is sent, `both`, `none`)
        and sends what it is given toward it (whisper: `out` to its far
        end, `in`, `both`, `none`); it enters the application with flow
        and the named params as its arguments. ChannelGone when
        channel_id is gone."""

    async def endpoint_exists(self, endpoint: str) -> bool:
        """Whether Asterisk has the endpoint (`PJSIP/agent1001`)."""

    async def request_payment(self, call_id: str, agent: str) -> None:
        """Ask the process whose flow has the call (another process, maybe)
        to hand its debtor to the payment capture: a PaymentRequested among
        the call's events there. ChannelGone when the call is over."""

    async def request_transfer(self, call_id: str, agent: str, to_agent: str,
                               known_as: str, to_service: str = "") -> None:
        """Ask the process whose flow has the call to bring to_agent (whom
        the asker reserved) into the call with its agent, or (to_service,
        to_agent "") to send the debtor to a service: a TransferRequested
        among the call's events there (known_as: the id the agents know
        the call by). ChannelGone when the call is over."""

    async def application_connected(self, app: str) -> bool:
        """Whether a process listens on Stasis application app now."""

    async def to_inbound_queue(self, call_id: str, caller: str, inbound_app: str) -> None:
        """Send the call out of this process's Stasis application into the
        waiting line of `recobro inbound` (on Stasis application
        inbound_app), as a call from caller (the number dialed).
        ChannelGone when the call is over."""

    async def complete_transfer(self, call_id: str, agent: str) -> None:
        """Ask the process whose flow has the call to let agent leave it to
        its transfer's target: a TransferCompleteRequested there.
        ChannelGone when the call is over."""

    async def record_audio(self, call_id: str, file: str) -> None:
        """Record the call's audio, both ways, into file."""

    async def mute_recording(self, call_id: str, muted: bool) -> None:
        """Pause (muted) or resume the recording of the call."""

    async def channel_states(self) -> dict[str, str]:
        """Every channel Asterisk has now, by id, with its state (ARI's
        names: Ringing, Up...)."""

    async def app_channels(self) -> list[AppChannel]:
        """The channels in this process's Stasis application now, also
        those an earlier process of the same application left there."""

    async def place_call(self, number: str, language: str | None = None, *, flow: str,
                         channel: str | None = None, call_id: str | None = None,
                         caller_id: str | None = None, ring_timeout_s: float | None = None,
                         amd: bool = False) -> CallRecord:
        """Originate a call to number and return its record once it ended;
        the flow named drives it once answered."""

    async def adopt(self, record: CallRecord, flow: str, language: str) -> CallRecord:
        """Follow a call another (dead) dialer placed to its end."""

    async def hear_app(self, app: str) -> None:
        """Hear the events of another Stasis application too (a dead
        dialer's, whose calls this one adopts)."""

    def submit(self, event: CallEvent) -> None:
        """Deliver an event as if Asterisk had sent it (a call found lost)."""
