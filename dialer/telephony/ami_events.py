"""AMI events to call events. Pure: takes the event's headers, lower-cased."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from dialer.calls.events import (
    CallAnswered,
    CallEvent,
    CallHungUp,
    CallRinging,
    OriginateFailed,
)


def ami_time(headers: Mapping[str, str], fallback: datetime) -> datetime:
    """The event's Timestamp header (manager.conf timestampevents=yes)."""
    raw = headers.get("timestamp")
    if raw:
        try:
            return datetime.fromtimestamp(float(raw), tz=UTC)
        except ValueError:
            pass
    return fallback


# The AMI events that may mean something to a call (to_call_event): the
# others, most of what Asterisk sends, are dropped unread.
CALL_EVENTS = frozenset({"Newstate", "Hangup", "OriginateResponse"})


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
        return CallHungUp(call_id=call_id, at=at, cause=_number(headers.get("cause")),
                          cause_text=headers.get("cause-txt", ""))
    elif name == "OriginateResponse" and headers.get("response") == "Failure":
        # Also when no channel was ever made (a dial string Asterisk cannot
        # use, an unknown trunk): then nothing else will be said of the call.
        return OriginateFailed(call_id=call_id, at=at, reason=_number(headers.get("reason")))
    return None


def _number(raw: str | None) -> int:
    try:
        return int(raw or "0")
    except ValueError:
        return 0
