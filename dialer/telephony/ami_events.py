"""AMI events to call events. Pure: takes the event's headers, lower-cased."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from dialer.calls.events import CallAnswered, CallEvent, CallHungUp, CallRinging


def ami_time(headers: Mapping[str, str], fallback: datetime) -> datetime:
    """The event's Timestamp header (manager.conf timestampevents=yes)."""
    raw = headers.get("timestamp")
    if raw:
        try:
            return datetime.fromtimestamp(float(raw), tz=UTC)
        except ValueError:
            pass
    return fallback


def to_call_event(headers: Mapping[str, str], received_at: datetime) -> CallEvent | None:
    """The call event an AMI event means, or None when it means nothing to us."""
    name = headers.get("event", "")
    call_id = headers.get("uniqueid", "")
    if not call_id:
        return None
    at = ami_time(headers, received_at)
    if name == "Newstate":
        state = headers.get("channelstatedesc", "")
        if state == "Ringing":
            return CallRinging(call_id=call_id, at=at)
        if state == "Up":
            return CallAnswered(call_id=call_id, at=at)
    elif name == "Hangup":
        try:
            cause = int(headers.get("cause", "0"))
        except ValueError:
            cause = 0
        return CallHungUp(call_id=call_id, at=at, cause=cause,
                          cause_text=headers.get("cause-txt", ""))
    return None
