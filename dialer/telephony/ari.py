"""ARI: REST calls and the event WebSocket, over aiohttp. A thin typed layer
(ari-py does not run on Python 3): the handful of resources Recobro uses."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import aiohttp

from dialer.calls.events import CallEvent
from dialer.errors import AriError, ChannelGone
from dialer.metrics.definitions import ASTERISK_EVENTS
from dialer.reconnect import Supervisor
from dialer.settings import AriSettings
from dialer.telephony import ari_events

log = logging.getLogger(__name__)

REQUEST_TIMEOUT_S = 5.0
# A ping on the event WebSocket this often, its pong awaited half as long
# (aiohttp's heartbeat): a frozen Asterisk or a half-open session is found.
HEARTBEAT_S = 10.0
CLOSE_TIMEOUT_S = 2.0  # for Asterisk's answer to our WebSocket close frame
HUNG_UP_REMEMBERED = 4096  # channels whose hang-up is kept in mind, newest

_EVENTS_READ = ASTERISK_EVENTS.labels("ari")


class AriNotFound(AriError, ChannelGone):
    """The resource (a channel, usually) no longer exists."""


class AriClient:
    """ARI REST client plus a supervised event WebSocket for one app."""

    def __init__(self, settings: AriSettings, on_event: Callable[[CallEvent], None],
                 on_reconnect: Callable[[], Awaitable[None]] | None = None,
                 link: str | None = None) -> None:
        self.settings = settings
        self.on_event = on_event
        self._session: aiohttp.ClientSession | None = None
        self._websocket: aiohttp.ClientWebSocketResponse | None = None
        self._link = Supervisor(
            f"ARI events of app {settings.app} at {settings.url}", connect=self._open_events,
            until_lost=self._until_closed, drop=self._drop, failures=(AriError,),
            on_reconnect=on_reconnect, link=link)
        # Channels ARI said were hanging up: their failed playbacks were cut
        # short, not unplayable (a dict keeps insertion order, oldest first).
        self._hanging_up: dict[str, None] = {}
        # Cleared while reading is paused (dialer.intake): aiohttp then
        # buffers up to 512 KiB and stops reading the socket itself.
        self._reading = asyncio.Event()
        self._reading.set()

    def pause_reading(self) -> None:
        """Take no more events from the WebSocket until resume_reading."""
        self._reading.clear()

    def resume_reading(self) -> None:
        """Take the WebSocket's events again."""
        self._reading.set()

    @property
    def connected(self) -> bool:
        """Whether the app's event WebSocket is open (the Stasis app exists)."""
        return self._link.up.is_set()

    async def wait_connected(self, timeout_s: float) -> None:
        """Wait for the event WebSocket; AriError when it stays closed."""
        try:
            await asyncio.wait_for(self._link.up.wait(), timeout_s)
        except TimeoutError:
            raise AriError(f"not connected to Asterisk ARI at {self.settings.url}") from None

    def _auth_error(self) -> AriError:
        return AriError(f"Asterisk ARI at {self.settings.url} refused user "
                        f"{self.settings.user!r}: check RECOBRO_ARI_USER and RECOBRO_ARI_PASSWORD")

    def _unreachable(self, error: BaseException) -> AriError:
        return AriError(f"cannot reach Asterisk ARI at {self.settings.url} (RECOBRO_ARI_URL): "
                        f"{error or 'timed out'}; is Asterisk running? (`recobro lab up`)")

    async def _request(self, method: str, path: str, body: Mapping[str, Any] | None = None,
                       **params: str) -> Any:
        assert self._session is not None
        try:
            async with self._session.request(method, f"{self.settings.url}/ari{path}",
                                             params=params, json=body) as response:
                if response.status == 401:
                    raise self._auth_error()
                if response.status == 404:
                    raise AriNotFound(f"ARI {method} {path}: not found")
                if response.status >= 400:
                    body = await response.text()
                    raise AriError(f"ARI {method} {path} failed: {response.status} {body.strip()}")
                if response.content_type == "application/json":
                    return await response.json()
                return None
        except (TimeoutError, aiohttp.ClientConnectionError) as error:
            raise self._unreachable(error) from None

    async def _open_events(self) -> None:
        """Open the app's event WebSocket (the Stasis application exists
        while it is open)."""
        assert self._session is not None
        url = self.settings.url.replace("http", "ws", 1) + "/ari/events"
        try:
            # Kept for close(), which says goodbye on it.
            self._websocket = await self._session.ws_connect(
                url, params={"app": self.settings.app, "subscribeAll": "false"},
                heartbeat=HEARTBEAT_S)
        except aiohttp.WSServerHandshakeError as error:
            if error.status == 401:
                raise self._auth_error() from None
            raise AriError(f"ARI WebSocket at {url} refused: {error.status} {error.message}") from None
        except (TimeoutError, aiohttp.ClientConnectionError) as error:
            raise self._unreachable(error) from None

    async def connect(self, events: bool = True) -> None:
        """Check credentials, open the event WebSocket (errors raise
        AriError), then keep it open in the background. Without events,
        REST only: no Stasis application is opened (or taken from the
        process that has it)."""
        self._session = aiohttp.ClientSession(
            headers={"Authorization": aiohttp.encode_basic_auth(self.settings.user,
                                                                self.settings.password)},
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S))
        try:
            await self._request("GET", "/asterisk/info")
            if events:
                await self._link.start()
        except AriError:
            await self._session.close()
            raise

    async def _until_closed(self) -> str:
        """Hand the app's events on until the WebSocket closes (Asterisk
        went away, or its heartbeat went unanswered); why it closed."""
        websocket = self._websocket
        assert websocket is not None
        await self._read(websocket)
        error = websocket.exception()
        if error is not None:
            return str(error) or type(error).__name__
        return f"closed with code {websocket.close_code}"

    def _drop(self) -> None:
        # aiohttp has closed a WebSocket whose reading ended.
        self._websocket = None

    async def _read(self, websocket: aiohttp.ClientWebSocketResponse) -> None:
        async for message in websocket:
            await self._reading.wait()
            if message.type is not aiohttp.WSMsgType.TEXT:
                continue
            _EVENTS_READ.inc()
            try:
                payload = json.loads(message.data)
            except ValueError:
                log.warning("ARI sent a frame that is not JSON")
                continue
            channel = ari_events.hung_up_channel(payload)
            if channel is not None:
                self._hanging_up[channel] = None
                if len(self._hanging_up) > HUNG_UP_REMEMBERED:
                    del self._hanging_up[next(iter(self._hanging_up))]
            event = ari_events.to_call_event(payload, datetime.now(UTC), self._hanging_up)
            if event is not None:
                self.on_event(event)

    async def answer(self, channel_id: str) -> None:
        """Answer a channel that entered the app unanswered (an agent's
        call to a feature code)."""
        await self._request("POST", f"/channels/{channel_id}/answer")

    async def stop_playback(self, playback_id: str) -> None:
        """Stop a playback (a key interrupted it); one already over is fine."""
        try:
            await self._request("DELETE", f"/playbacks/{playback_id}")
        except AriNotFound:
            pass

    async def hold(self, channel_id: str, on: bool) -> None:
        """Start or stop music on hold (class default) on a channel."""
        await self._request("POST" if on else "DELETE", f"/channels/{channel_id}/moh",
                            **({"mohClass": "default"} if on else {}))

    async def play(self, channel_id: str, sound: str, language: str) -> str:
        """Start playing an Asterisk sound on a channel; returns the playback id."""
        return await self.play_media(channel_id, f"sound:{sound}", language)

    async def play_media(self, channel_id: str, media: str, language: str,
                         playback_id: str | None = None) -> str:
        """Start playing any ARI media (sound:, number:, digits:...), with
        the playback id given or one Asterisk makes; returns it."""
        playback = await self._request("POST", f"/channels/{channel_id}/play",
                                       media=media, lang=language,
                                       **({"playbackId": playback_id} if playback_id else {}))
        return str(playback["id"])

    async def hangup(self, channel_id: str) -> None:
        """Hang up a channel (normal clearing). A channel already gone is fine."""
        try:
            await self._request("DELETE", f"/channels/{channel_id}", reason="normal")
        except AriNotFound:
            pass

    async def continue_in_dialplan(self, channel_id: str, variables: Mapping[str, str]) -> None:
        """Set channel variables, then send the channel back to the dialplan
        (the priority after its Stasis())."""
        for name, value in variables.items():
            await self._request("POST", f"/channels/{channel_id}/variable", variable=name,
                                value=value)
        await self._request("POST", f"/channels/{channel_id}/continue")

    async def continue_at(self, channel_id: str, context: str, extension: str,
                          variables: Mapping[str, str]) -> None:
        """Set channel variables, then send the channel out of Stasis to
        the dialplan's context and extension (its first priority)."""
        for name, value in variables.items():
            await self._request("POST", f"/channels/{channel_id}/variable", variable=name,
                                value=value)
        await self._request("POST", f"/channels/{channel_id}/continue", context=context,
                            extension=extension, priority="1")

    async def application_exists(self, name: str) -> bool:
        """Whether a Stasis application of that name is connected to
        Asterisk now (a process listens on its WebSocket)."""
        try:
            await self._request("GET", f"/applications/{name}")
        except AriNotFound:
            return False
        return True

    async def originate(self, *, endpoint: str, channel_id: str, app_args: str,
                        caller_id: str, timeout_s: int,
                        variables: Mapping[str, str] | None = None) -> None:
        """Call an endpoint (an agent's softphone) into this app, with
        channel variables set on the new channel before it is called
        (PJSIP_HEADER(add,...) adds a header to its INVITE); its channel
        enters the app (StasisStart) when it answers."""
        await self._request("POST", "/channels",
                            body={"variables": dict(variables)} if variables else None,
                            endpoint=endpoint, app=self.settings.app, appArgs=app_args,
                            channelId=channel_id, callerId=caller_id, timeout=str(timeout_s))

    async def bridge(self, bridge_id: str, channel_ids: list[str]) -> None:
        """Create a mixing bridge and put the channels in it."""
        await self._request("POST", f"/bridges/{bridge_id}", type="mixing")
        await self._request("POST", f"/bridges/{bridge_id}/addChannel",
                            channel=",".join(channel_ids))

    async def add_to_bridge(self, bridge_id: str, channel_id: str, absorb_dtmf: bool) -> None:
        """Put a channel in a bridge with its keys absorbed (heard by
        Recobro, passed to nobody in the bridge) or passed on. A channel
        already in the bridge is taken out and put back (Asterisk applies
        a channel's bridge features as it joins)."""
        await self._request("POST", f"/bridges/{bridge_id}/addChannel", channel=channel_id,
                            absorbDTMF="true" if absorb_dtmf else "false")

    async def channel(self, channel_id: str) -> dict[str, Any]:
        """ARI's JSON of a channel (AriNotFound when it is gone)."""
        return dict(await self._request("GET", f"/channels/{channel_id}"))

    async def user_event(self, app: str, name: str, channel_id: str,
                         variables: dict[str, str]) -> None:
        """Send app a user event about a channel (ChannelUserevent, with
        variables); AriNotFound when the app or the channel is gone."""
        assert self._session is not None
        try:
            async with self._session.post(
                    f"{self.settings.url}/ari/events/user/{name}",
                    params={"application": app, "source": f"channel:{channel_id}"},
                    json={"variables": variables}) as response:
                if response.status == 401:
                    raise self._auth_error()
                if response.status in (404, 422):
                    raise AriNotFound(f"ARI user event {name}: {await response.text()}")
                if response.status >= 400:
                    raise AriError(f"ARI user event {name} failed: {response.status} "
                                   f"{(await response.text()).strip()}")
        except (TimeoutError, aiohttp.ClientConnectionError) as error:
            raise self._unreachable(error) from None

    async def destroy_bridge(self, bridge_id: str) -> None:
        """Destroy a bridge; one already gone is fine."""
        try:
            await self._request("DELETE", f"/bridges/{bridge_id}")
        except AriNotFound:
            pass

    async def bridge_channels(self, bridge_id: str) -> list[str]:
        """The ids of the channels in a bridge ([] when it is gone)."""
        try:
            bridge = await self._request("GET", f"/bridges/{bridge_id}")
        except AriNotFound:
            return []
        return [str(channel) for channel in bridge.get("channels", ())]

    async def bridges(self) -> dict[str, list[str]]:
        """Every bridge Asterisk has now, by id, with the ids of its channels."""
        return {str(bridge["id"]): [str(channel) for channel in bridge.get("channels", ())]
                for bridge in await self._request("GET", "/bridges")}

    async def bridge_holding(self, channel_id: str) -> tuple[str, list[str]] | None:
        """The bridge a channel is in, with every channel in it; None when
        it is in none."""
        for bridge, channels in (await self.bridges()).items():
            if channel_id in channels:
                return bridge, channels
        return None

    async def snoop(self, channel_id: str, snoop_id: str, spy: str, whisper: str,
                    app_args: str) -> None:
        """Open a snoop channel on a channel into this app: it hears the
        channel's audio (spy: in, out, both or none) and what is put in it
        reaches the channel (whisper: toward out, in, both or none).
        AriNotFound when the channel is gone."""
        await self._request("POST", f"/channels/{channel_id}/snoop", spy=spy, whisper=whisper,
                            app=self.settings.app, appArgs=app_args, snoopId=snoop_id)

    async def endpoint_exists(self, technology: str, resource: str) -> bool:
        """Whether Asterisk has the endpoint (PJSIP, agent1001)."""
        try:
            await self._request("GET", f"/endpoints/{technology}/{resource}")
        except AriNotFound:
            return False
        return True

    async def channel_name(self, channel_id: str) -> str:
        """A channel's name (PJSIP/agent1001-00000012), which AMI actions want."""
        return str((await self.channel(channel_id))["name"])

    async def sounds(self) -> dict[str, set[str]]:
        """Every sound Asterisk has, with the languages it has it in."""
        return {str(sound["id"]): {str(f["language"]) for f in sound.get("formats", ())}
                for sound in await self._request("GET", "/sounds")}

    async def channel_ids(self) -> set[str]:
        """The ids of every channel Asterisk has now."""
        return set(await self.channel_states())

    async def channel_states(self) -> dict[str, str]:
        """Every channel Asterisk has now, by id, with its state as ARI
        names it (Down, Dialing, Ring, Ringing, Up, Busy...)."""
        return {str(channel["id"]): str(channel.get("state", ""))
                for channel in await self.channels()}

    async def channels(self) -> list[dict[str, Any]]:
        """ARI's JSON of every channel Asterisk has now."""
        return [dict(channel) for channel in await self._request("GET", "/channels")]

    async def close(self) -> None:
        """Close the event WebSocket with a close frame, then the HTTP
        session. Without the frame Asterisk sees the TCP connection drop and
        logs "Web socket closed abruptly" and "WebSocket read error"."""
        await self._link.close()
        websocket = self._websocket
        if websocket is not None and not websocket.closed:
            # Asterisk answers the frame at once; a dead link is not waited
            # on for long.
            with contextlib.suppress(TimeoutError, aiohttp.ClientError, OSError):
                await asyncio.wait_for(websocket.close(), CLOSE_TIMEOUT_S)
        self._websocket = None
        if self._session is not None:
            await self._session.close()
