"""AMI connection: panoramisk's Manager (framing, actions and their
responses, events by name) kept up by dialer.reconnect's Supervisor, with a
keepalive Ping whose answer is awaited, and errors in words (a refused
login names the settings to fix).

panoramisk 1.4's Manager does two things its own way that Recobro cannot
use: it reconnects on a fixed timer forever, both after a loss and after a
failed connection, and its pinger sends a Ping every ping_interval without
ever looking at the answer, so a frozen Asterisk or a half-open TCP session
goes unnoticed. _AsteriskManager leaves both to the Supervisor. Everything
else goes through the Manager's public API (send_action, register_event,
close, the on_disconnect hook), so panoramisk.testing.Manager replays a
recorded AMI stream through this same adapter (tests/unit/test_ami_replay.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from panoramisk import Manager
from panoramisk.message import Message

from dialer.calls.events import CallEvent
from dialer.errors import AmiError, AmiUnanswered
from dialer.metrics.definitions import ASTERISK_EVENTS
from dialer.reconnect import Supervisor
from dialer.settings import AmiSettings
from dialer.telephony import ami_events
from dialer.telephony.ari_events import stasis_args

_EVENTS_READ = ASTERISK_EVENTS.labels("ami")

log = logging.getLogger(__name__)

AMD_CONTEXT = "recobro-amd"  # asterisk_conf/extensions_recobro.conf

LOGIN_TIMEOUT_S = 5.0
REPLY_S = 5.0  # Asterisk answers an action at once; queued, for an Originate
PING_ANSWER_S = 5.0  # a Ping unanswered this long: the link is dead


class _AsteriskManager(Manager):
    """panoramisk's Manager without its own reconnecting and pinging: the
    Supervisor reconnects with backoff (panoramisk's fixed timer would log a
    second session in beside it), and AmiClient's keepalive waits for each
    Ping's answer."""

    def connection_lost(self, exc: object) -> None:
        """The link is gone: tell the owner (on_disconnect), reconnect nothing."""
        self.close()  # stops panoramisk's pinger
        self.loop.call_soon(self.on_disconnect, self, exc)

    def ping(self) -> None:
        """Nothing: panoramisk's unchecked Ping, replaced by AmiClient's."""


class OpenManager(Protocol):
    """Opens the TCP link to AMI: a panoramisk Manager, connected, built
    with config (panoramisk's options: loop, log, on_disconnect...). Not yet
    logged in. The test double returns a panoramisk.testing.Manager."""

    def __call__(self, settings: AmiSettings, **config: Any) -> Awaitable[Manager]: ...


async def open_manager(settings: AmiSettings, **config: Any) -> Manager:
    """Connect to Asterisk's AMI at settings.host:settings.port."""
    loop = asyncio.get_running_loop()
    manager = _AsteriskManager(host=settings.host, port=settings.port, **config)
    # Connected here rather than by Manager.connect(), which would retry a
    # refused connection on its own timer; connection_made with a done future
    # is how Manager.connect() (and panoramisk.testing) hand it the link.
    link = loop.create_future()
    link.set_result(await loop.create_connection(manager.config["protocol_factory"],
                                                 settings.host, settings.port))
    manager.connection_made(link)
    return manager


def _why_lost(exc: object) -> str:
    if isinstance(exc, Message):
        return "Asterisk is shutting down"
    if isinstance(exc, BaseException):
        return str(exc) or type(exc).__name__
    return "Asterisk closed the connection"


class AmiClient:
    """One supervised AMI session delivering call events to on_event."""

    def __init__(self, settings: AmiSettings, on_event: Callable[[CallEvent], None],
                 on_reconnect: Callable[[], Awaitable[None]] | None = None, *,
                 open_link: OpenManager = open_manager, link: str | None = None) -> None:
        self.settings = settings
        self.on_event = on_event
        self._open_link = open_link
        self._manager: Manager | None = None
        self._lost: asyncio.Future[str] | None = None
        self._link = Supervisor(
            f"AMI at {self._where()}", connect=self._log_in, until_lost=self._until_lost,
            drop=self._drop, failures=(AmiError,), check=self._answers_ping,
            check_every_s=settings.ping_s, on_reconnect=on_reconnect, link=link)
        self.session = 0  # counts logins: calls sent in an older session may be gone
        self._paused = False  # reading stopped (dialer.intake): a new session starts paused

    def pause_reading(self) -> None:
        """Read nothing more from Asterisk until resume_reading: its events
        wait in the kernel's buffers, then in Asterisk (dialer.intake)."""
        self._paused = True
        self._set_reading(False)

    def resume_reading(self) -> None:
        """Read Asterisk's events again."""
        self._paused = False
        self._set_reading(True)

    def _set_reading(self, reading: bool) -> None:
        # panoramisk.testing's Manager replays a stream without a transport.
        transport = getattr(getattr(self._manager, "protocol", None), "transport", None)
        if transport is None or transport.is_closing():
            return
        if reading:
            transport.resume_reading()
        else:
            transport.pause_reading()

    @property
    def connected(self) -> bool:
        return self._link.up.is_set()

    def _where(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    async def connect(self) -> None:
        """Connect and log in once (errors raise AmiError), then keep the
        session up in the background: pinged, and reconnected when lost."""
        await self._link.start()

    async def _log_in(self) -> None:
        loop = asyncio.get_running_loop()
        lost: asyncio.Future[str] = loop.create_future()

        def disconnected(manager: Manager, exc: object) -> None:
            if not lost.done():
                lost.set_result(_why_lost(exc))

        try:
            manager = await asyncio.wait_for(
                self._open_link(self.settings, loop=loop, log=log, encoding="utf8",
                                on_disconnect=disconnected), LOGIN_TIMEOUT_S)
        except (TimeoutError, OSError) as error:
            raise AmiError(f"cannot reach Asterisk AMI at {self._where()} "
                           f"(RECOBRO_AMI_HOST/RECOBRO_AMI_PORT): {error or 'timed out'}; "
                           "is Asterisk running? (`recobro lab up`)") from None
        # Before the login: events may follow its answer in the same read.
        manager.register_event("*", self._dispatch)
        try:
            response = await asyncio.wait_for(manager.send_action(
                {"Action": "Login", "Username": self.settings.user,
                 "Secret": self.settings.secret, "Events": "call"}, as_list=False),
                LOGIN_TIMEOUT_S)
        except TimeoutError:
            manager.close()
            raise AmiError(f"Asterisk AMI at {self._where()} did not answer the login") from None
        except BaseException:  # cancelled (closing): no half-open session left behind
            manager.close()
            raise
        if not response.success:
            manager.close()
            raise AmiError(f"Asterisk AMI at {self._where()} refused user "
                           f"{self.settings.user!r}: check RECOBRO_AMI_USER and "
                           f"RECOBRO_AMI_SECRET ({response.message or 'authentication failed'})")
        self._manager, self._lost = manager, lost
        self.session += 1
        if self._paused:  # after the login, whose answer had to be read
            self._set_reading(False)

    async def _until_lost(self) -> str:
        assert self._lost is not None
        return await self._lost

    def _drop(self) -> None:
        if self._manager is not None:
            self._manager.close()
            self._manager = None

    async def _answers_ping(self) -> str | None:
        """The keepalive: None when Asterisk answers a Ping in time."""
        assert self._manager is not None
        try:
            await asyncio.wait_for(self._manager.send_action({"Action": "Ping"}, as_list=False),
                                   PING_ANSWER_S)
        except TimeoutError:
            return f"no answer to a Ping in {PING_ANSWER_S:g} s"
        return None

    def _dispatch(self, manager: Manager, message: Message) -> None:
        _EVENTS_READ.inc()
        # Shutdown too is dropped: panoramisk closes the link; on_disconnect follows.
        if message.get("Event") not in ami_events.CALL_EVENTS:
            return
        headers = {key.lower(): value for key, value in message.items()}
        event = ami_events.to_call_event(headers, datetime.now(UTC))
        if event is not None:
            self.on_event(event)

    async def originate(self, *, call_id: str, channel: str, app: str, flow: str,
                        language: str, caller_id: str, timeout_s: float,
                        amd: bool = False, wait_s: float = 30.0) -> None:
        """Originate a call into a Stasis application (with amd, through the
        dialplan's answering-machine detection first); the call's channel
        gets call_id as its unique id, so every later event names it.
        Returns once Asterisk queued it (AmiError if it would not); a
        failure to connect arrives later as an OriginateFailed event (its
        OriginateResponse) or the channel's hangup."""
        try:
            await asyncio.wait_for(self._link.up.wait(), wait_s)
        except TimeoutError:
            raise AmiError(f"not connected to Asterisk AMI at {self._where()}") from None
        action: dict[str, object] = {
            "Action": "Originate", "Channel": channel, "CallerID": caller_id, "Async": "true",
            "Timeout": str(int(timeout_s * 1000)), "ChannelId": call_id,
        }
        if amd:
            action.update({"Context": AMD_CONTEXT, "Exten": "s", "Priority": "1",
                           "Variable": [f"RECOBRO_APP={app}", f"RECOBRO_FLOW={flow}",
                                        f"RECOBRO_LANGUAGE={language}"]})
        else:
            action.update({"Application": "Stasis",
                           "Data": f"{app},{stasis_args(flow=flow, language=language)}"})
        await self._action(action, REPLY_S)

    async def _action(self, fields: dict[str, object], wait_s: float = 5.0) -> Message:
        """Send an action and return its first response; AmiError when
        Asterisk is not connected or answers Error, AmiUnanswered when it
        is silent. (as_list=False:
        an async Originate's answer is its "queued", not the call's
        OriginateResponse, which comes later as an event.)"""
        if not self.connected or self._manager is None:
            raise AmiError(f"not connected to Asterisk AMI at {self._where()}")
        session = self.session
        try:
            response = await asyncio.wait_for(
                self._manager.send_action(fields, as_list=False), wait_s)
        except TimeoutError:
            raise AmiUnanswered(f"AMI {fields['Action']}: no answer from {self._where()} in "
                                f"{wait_s:g} s", session) from None
        if response.get("Response") != "Success":
            raise AmiError(f"AMI {fields['Action']} refused: {response.get('Message', 'failed')}")
        return response

    async def record(self, channel: str, file: str) -> None:
        """MixMonitor: record both directions of a channel, mixed, into file
        (relative to Asterisk's monitor directory)."""
        await self._action({"Action": "MixMonitor", "Channel": channel, "File": file,
                            "Options": "b"})

    async def mute_recording(self, channel: str, muted: bool) -> None:
        """Pause (silence) or resume a channel's MixMonitor recording, both
        directions: nothing said meanwhile reaches the file."""
        await self._action({"Action": "MixMonitorMute", "Channel": channel,
                            "Direction": "both", "State": "1" if muted else "0"})

    async def close(self) -> None:
        """Stop keeping the session up, and close it."""
        await self._link.close()
        self._drop()
