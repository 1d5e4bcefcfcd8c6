"""AMI connection: panoramisk's protocol (framing, actions, responses) with
our own connection supervision, so that a lost link is retried with backoff
and a refused login names the settings to fix."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message

from dialer.backoff import backoff_delays
from dialer.calls.events import CallEvent
from dialer.errors import AmiError
from dialer.settings import AmiSettings
from dialer.telephony import ami_events
from dialer.telephony.ari_events import stasis_args

log = logging.getLogger(__name__)

AMD_CONTEXT = "recobro-amd"  # asterisk_conf/extensions_recobro.conf

LOGIN_TIMEOUT_S = 5.0
REPLY_S = 5.0  # Asterisk answers an action at once; queued, for an Originate


class _Link:
    """What panoramisk's AMIProtocol expects of its factory."""

    forgetable_actions = ("ping", "login")
    save_stream = None

    def __init__(self, client: AmiClient) -> None:
        self.client = client
        self.awaiting_actions: deque = deque()  # we never resend after a loss

    def dispatch(self, message: Message) -> None:
        self.client._dispatch(message)

    def connection_lost(self, exc: object) -> None:
        self.client._connection_lost()


class AmiClient:
    """One supervised AMI session delivering call events to on_event."""

    def __init__(self, settings: AmiSettings, on_event: Callable[[CallEvent], None],
                 on_reconnect: Callable[[], Awaitable[None]] | None = None) -> None:
        self.settings = settings
        self.on_event = on_event
        self.on_reconnect = on_reconnect
        self._protocol: AMIProtocol | None = None
        self._connected = asyncio.Event()
        self._lost = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None
        self._closing = False
        self.session = 0  # counts logins: calls sent in an older session may be gone

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def _where(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    async def _connect_once(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            transport, protocol = await asyncio.wait_for(
                loop.create_connection(AMIProtocol, self.settings.host, self.settings.port),
                LOGIN_TIMEOUT_S)
        except (TimeoutError, OSError) as error:
            raise AmiError(f"cannot reach Asterisk AMI at {self._where()} "
                           f"(RECOBRO_AMI_HOST/RECOBRO_AMI_PORT): {error or 'timed out'}; "
                           "is Asterisk running? (`recobro lab up`)") from None
        protocol.factory = _Link(self)
        protocol.encoding = "utf8"
        protocol.log = log
        login = protocol.send({"Action": "Login", "Username": self.settings.user,
                               "Secret": self.settings.secret, "Events": "call"})
        try:
            response = await asyncio.wait_for(login, LOGIN_TIMEOUT_S)
        except TimeoutError:
            transport.close()
            raise AmiError(f"Asterisk AMI at {self._where()} did not answer the login") from None
        if not response.success:
            transport.close()
            raise AmiError(f"Asterisk AMI at {self._where()} refused user "
                           f"{self.settings.user!r}: check RECOBRO_AMI_USER and "
                           f"RECOBRO_AMI_SECRET ({response.message or 'authentication failed'})")
        self._protocol = protocol
        self.session += 1
        self._lost.clear()
        self._connected.set()

    async def connect(self) -> None:
        """Connect and log in once (errors raise AmiError), then keep the
        session up in the background."""
        await self._connect_once()
        self._supervisor = asyncio.create_task(self._supervise(), name="ami-supervisor")

    async def _supervise(self) -> None:
        while not self._closing:
            await self._lost.wait()
            if self._closing:
                return
            for delay in backoff_delays():
                await asyncio.sleep(delay)
                try:
                    await self._connect_once()
                except AmiError as error:
                    log.warning("AMI reconnect failed: %s", error)
                    continue
                log.info("AMI reconnected to %s", self._where())
                if self.on_reconnect is not None:
                    await self.on_reconnect()
                break

    def _connection_lost(self) -> None:
        self._connected.clear()
        self._protocol = None
        if not self._closing:
            log.warning("AMI connection to %s lost; reconnecting", self._where())
            self._lost.set()

    def _dispatch(self, message: Message) -> None:
        headers = {key.lower(): value for key, value in message.items()}
        if headers.get("event") == "Shutdown":
            return  # the protocol closes the link; _connection_lost follows
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
            await asyncio.wait_for(self._connected.wait(), wait_s)
        except TimeoutError:
            raise AmiError(f"not connected to Asterisk AMI at {self._where()}") from None
        assert self._protocol is not None
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
        try:
            queued = await asyncio.wait_for(self._protocol.send(action), REPLY_S)
        except TimeoutError:
            raise AmiError(f"AMI Originate: no answer from {self._where()} in {REPLY_S:g} s") \
                from None
        if isinstance(queued, list):
            queued = queued[0]
        if queued.get("Response") != "Success":
            raise AmiError(f"AMI Originate refused: {queued.get('Message', 'failed')}")

    async def _action(self, fields: dict[str, object], wait_s: float = 5.0) -> Message:
        """Send an action and return its response; AmiError when Asterisk
        is not connected or answers Error."""
        if not self.connected or self._protocol is None:
            raise AmiError(f"not connected to Asterisk AMI at {self._where()}")
        try:
            response = await asyncio.wait_for(self._protocol.send(fields), wait_s)
        except TimeoutError:
            raise AmiError(f"AMI {fields['Action']}: no response in {wait_s:g} s") from None
        if isinstance(response, list):
            response = response[0]
        if response.get("Response") != "Success":
            raise AmiError(f"AMI {fields['Action']}: {response.get('Message', 'failed')}")
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
        """Log off and stop reconnecting."""
        self._closing = True
        self._lost.set()
        if self._supervisor is not None:
            self._supervisor.cancel()
        if self._protocol is not None:
            self._protocol.close()
        self._connected.clear()
