"""A campaign's pacing history in PostgreSQL: what its policy heard (in
the order and at the moment it heard it), and the closed loop's last state,
kept as the dialer runs and read back when a dialer starts or restarts
(migration 0013). Events are pacing's (pacing.model), their times seconds
since the dialer's epoch; rows hold moments, so any dialer reads them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

import asyncpg

from dialer.outbound.results import Heard
from pacing.model import (
    CallAbandoned,
    CallConnected,
    CallResolved,
    DialResult,
    PacingEvent,
    TalkEnded,
    WrapUpEnded,
)

Row = tuple[str, datetime, datetime, str | None]  # kind, at, since, result


def row_of(event: PacingEvent, epoch: datetime) -> Row:
    """An event as a row: its kind, when it happened and when what ended began."""
    def moment(seconds: float) -> datetime:
        return epoch + timedelta(seconds=seconds)

    match event:
        case CallResolved(at=at, dialed_at=dialed_at, result=result):
            return "resolved", moment(at), moment(dialed_at), result.value
        case CallConnected(at=at, answered_at=answered_at):
            return "connected", moment(at), moment(answered_at), None
        case CallAbandoned(at=at, answered_at=answered_at):
            return "abandoned", moment(at), moment(answered_at), None
        case TalkEnded(at=at, seconds=seconds):
            return "talk_ended", moment(at), moment(at - seconds), None
        case WrapUpEnded(at=at, seconds=seconds):
            return "wrap_up_ended", moment(at), moment(at - seconds), None
    raise TypeError(f"not a pacing event: {event!r}")


def event_of(row: Row, epoch: datetime) -> PacingEvent:
    """The event a row holds, in seconds since epoch."""
    kind, at_moment, since_moment, result = row
    at = (at_moment - epoch).total_seconds()
    since = (since_moment - epoch).total_seconds()
    match kind:
        case "resolved":
            return CallResolved(at=at, dialed_at=since, result=DialResult(result))
        case "connected":
            return CallConnected(at=at, answered_at=since)
        case "abandoned":
            return CallAbandoned(at=at, answered_at=since)
        case "talk_ended":
            return TalkEnded(at=at, seconds=at - since)
        case "wrap_up_ended":
            return WrapUpEnded(at=at, seconds=at - since)
    raise ValueError(f"pacing_heard: unknown kind {kind!r}")


async def keep_heard(connection: asyncpg.Connection, campaign_id: int, dialer_id: uuid.UUID,
                     epoch: datetime, heard: Sequence[Heard]) -> None:
    """Append what the policy heard to the campaign's history, in order."""
    if not heard:
        return
    await connection.executemany(
        "INSERT INTO pacing_heard (campaign_id, dialer_id, heard_at, kind, at, since, result) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7)",
        [(campaign_id, dialer_id, h.heard_at, *row_of(h.event, epoch)) for h in heard])


async def heard_since(connection: asyncpg.Connection, campaign_id: int, since: datetime,
                      epoch: datetime) -> list[PacingEvent]:
    """What the campaign's pacing heard from since on, in the order heard."""
    rows = await connection.fetch(
        "SELECT kind, at, since, result FROM pacing_heard WHERE campaign_id = $1 AND at >= $2 "
        "ORDER BY id", campaign_id, since)
    return [event_of((r["kind"], r["at"], r["since"], r["result"]), epoch) for r in rows]


async def forget_before(connection: asyncpg.Connection, campaign_id: int,
                        before: datetime) -> None:
    """Drop what the campaign's pacing heard before `before` (no regulator's
    window reaches it any more)."""
    await connection.execute("DELETE FROM pacing_heard WHERE campaign_id = $1 AND at < $2",
                             campaign_id, before)


async def save_state(connection: asyncpg.Connection, campaign_id: int, log_lambda: float,
                     now: datetime) -> None:
    """The closed loop's state now (the last one saved is the one read back)."""
    await connection.execute(
        "INSERT INTO pacing_state (campaign_id, saved_at, log_lambda) VALUES ($1, $2, $3) "
        "ON CONFLICT (campaign_id) DO UPDATE SET saved_at = $2, log_lambda = $3",
        campaign_id, now, log_lambda)


async def last_state(connection: asyncpg.Connection, campaign_id: int) -> float | None:
    """The closed loop's last saved state, or None if none was saved."""
    value = await connection.fetchval(
        "SELECT log_lambda FROM pacing_state WHERE campaign_id = $1", campaign_id)
    return None if value is None else float(value)
