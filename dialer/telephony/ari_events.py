"""ARI WebSocket events to call events. Pure: takes the decoded JSON."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from dialer.calls.events import (
    CallEnteredApp,
    CallEvent,
    DtmfReceived,
    PlaybackFinished,
)


def ari_time(event: Mapping[str, Any], fallback: datetime) -> datetime:
    """ARI's timestamp, e.g. 2026-11-23T19:44:47.065+0000."""
    raw = event.get("timestamp")
    if isinstance(raw, str):
        try:
            return datetime.strptime(raw, "%Y-%m-%dT%H:%M:%S.%f%z")
        except ValueError:
            pass
    return fallback


def to_call_event(event: Mapping[str, Any], received_at: datetime) -> CallEvent | None:
    """The call event an ARI event means, or None when it means nothing to us."""
    kind = event.get("type")
    at = ari_time(event, received_at)
    channel_id = (event.get("channel") or {}).get("id", "")
    if kind == "StasisStart" and channel_id:
        args = event.get("args") or []
        language = args[1] if len(args) > 1 else ""
        amd_status = args[2] if len(args) > 2 else ""
        return CallEnteredApp(call_id=channel_id, at=at, language=language,
                              amd_status=amd_status, args=tuple(str(a) for a in args))
    if kind == "ChannelDtmfReceived" and channel_id:
        return DtmfReceived(call_id=channel_id, at=at, digit=str(event.get("digit", "")))
    if kind == "PlaybackFinished":
        playback = event.get("playback") or {}
        target = str(playback.get("target_uri", ""))
        if target.startswith("channel:"):
            return PlaybackFinished(call_id=target.removeprefix("channel:"), at=at,
                                    playback_id=str(playback.get("id", "")))
    return None
