"""ARI WebSocket events to call events. Pure: takes the decoded JSON."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from dialer.calls.events import (
    CallEnteredApp,
    CallEvent,
    CallHungUp,
    DtmfReceived,
    PaymentRequested,
    PlaybackFailed,
    PlaybackFinished,
    TransferCompleteRequested,
    TransferRequested,
)

# The user event (ARI `POST /events/user/{name}`, scoped to the debtor's
# channel) by which the API asks the process that has a call to hand its
# debtor to the payment capture; it arrives as ChannelUserevent.
PAYMENT_REQUEST = "RecobroPaymentRequest"
# The user events by which the API asks it to bring a transfer's target
# into the call, and to let the agent who asked leave it.
TRANSFER_REQUEST = "RecobroTransferRequest"
TRANSFER_COMPLETE = "RecobroTransferComplete"


def ari_time(event: Mapping[str, Any], fallback: datetime) -> datetime:
    """ARI's timestamp, e.g. 2026-11-23T19:44:47.065+0000."""
    raw = event.get("timestamp")
    if isinstance(raw, str):
        try:
            # fromisoformat reads it (3.11+) in a tenth of strptime's time:
            # every ARI event has one.
            return datetime.fromisoformat(raw)
        except ValueError:
            pass
    return fallback


def to_call_event(event: Mapping[str, Any], received_at: datetime,
                  hanging_up: Collection[str] = ()) -> CallEvent | None:
    """The call event an ARI event means, or None when it means nothing to us.
    hanging_up: the channels whose hang-up ARI has reported (a playback cut
    short by a hang-up is reported as failed too)."""
    kind = event.get("type")
    at = ari_time(event, received_at)
    channel_id = (event.get("channel") or {}).get("id", "")
    if kind == "StasisStart" and channel_id:
        params = stasis_params(event.get("args") or [])
        return CallEnteredApp(call_id=channel_id, at=at, flow=params.get("flow", ""),
                              language=params.get("language", ""),
                              amd_status=params.get("amd", ""), params=params)
    if kind == "ChannelDestroyed" and channel_id:
        # AMI says so too: heard on both links, a hang-up outlives either
        # one's outage (the engine records the first it hears).
        return CallHungUp(call_id=channel_id, at=at, cause=_cause(event.get("cause")),
                          cause_text=str(event.get("cause_txt", "")))
    if kind == "ChannelDtmfReceived" and channel_id:
        return DtmfReceived(call_id=channel_id, at=at, digit=str(event.get("digit", "")))
    if kind == "ChannelUserevent" and channel_id:
        return _request(str(event.get("eventname", "")), channel_id, at,
                        event.get("userevent") or {})
    if kind == "PlaybackFinished":
        playback = event.get("playback") or {}
        target = str(playback.get("target_uri", ""))
        if target.startswith("channel:"):
            call_id, playback_id = target.removeprefix("channel:"), str(playback.get("id", ""))
            # A playback that could not start also "finishes": its state says.
            if playback.get("state") == "failed":
                return PlaybackFailed(call_id=call_id, at=at, playback_id=playback_id,
                                      media=str(playback.get("media_uri", "")),
                                      language=str(playback.get("language", "")),
                                      hung_up=call_id in hanging_up)
            return PlaybackFinished(call_id=call_id, at=at, playback_id=playback_id)
    return None


def _request(name: str, channel_id: str, at: datetime,
             variables: Mapping[str, Any]) -> CallEvent | None:
    """What the API asked of the call's flow by the user event name."""
    agent = str(variables.get("agent", ""))
    if name == PAYMENT_REQUEST:
        return PaymentRequested(call_id=channel_id, at=at, agent=agent)
    if name == TRANSFER_REQUEST:
        return TransferRequested(call_id=channel_id, at=at, agent=agent,
                                 to_agent=str(variables.get("to_agent", "")),
                                 call=str(variables.get("call", "")),
                                 to_service=str(variables.get("to_service", "")))
    if name == TRANSFER_COMPLETE:
        return TransferCompleteRequested(call_id=channel_id, at=at, agent=agent)
    return None


def _cause(value: object) -> int:
    """A Q.850 cause as ARI gives it (a number); 0 (unknown) otherwise."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def stasis_params(args: Sequence[object]) -> dict[str, str]:
    """Stasis() arguments by name: `flow=campaign`, `language=es`...; an
    argument without a name, or with nothing after `=`, says nothing."""
    params = {}
    for arg in args:
        name, sep, value = str(arg).partition("=")
        if sep and name and value:
            params[name.strip()] = value.strip()
    return params


def stasis_args(**params: str) -> str:
    """The argument string of a Stasis() call, from named values (the
    other side of stasis_params)."""
    return ",".join(f"{name}={value}" for name, value in params.items())


def stasis_params_of(channel: Mapping[str, Any]) -> dict[str, str]:
    """The named Stasis() arguments a channel (ARI's JSON of it) runs the
    application with (`Stasis(recobro-api,flow=supervise,...)`); none when
    it is in no application."""
    if stasis_app_of(channel) is None:
        return {}
    return stasis_params(str(channel["dialplan"].get("app_data", "")).split(",")[1:])


def stasis_app_of(channel: Mapping[str, Any]) -> str | None:
    """The Stasis application a channel (ARI's JSON of it) is in, from the
    application it runs (`Stasis(recobro-inbound,flow=...)`); None when it
    is in none."""
    dialplan = channel.get("dialplan") or {}
    if str(dialplan.get("app_name", "")).lower() != "stasis":
        return None
    app = str(dialplan.get("app_data", "")).split(",", 1)[0].strip()
    return app or None


def hung_up_channel(event: Mapping[str, Any]) -> str | None:
    """The channel an ARI event says is hanging up or gone, if any."""
    if event.get("type") in ("ChannelHangupRequest", "ChannelDestroyed", "StasisEnd"):
        return (event.get("channel") or {}).get("id") or None
    return None
