"""A campaign's pacing history in PostgreSQL: what its policy heard (in
the order and at the moment it heard it), and the closed loop's last state,
kept as the dialer runs and read back when a dialer starts or restarts
(migration 0013). Events are pacing's (pacing.model), their times seconds
since the dialer's epoch; rows hold moments, so any dialer reads them.

Several dialers may run one campaign: each also hears, at every tick, the
rows the others kept since it last read (heard_after from where its warm
start or its last reading ended), so each policy hears the campaign's
outcomes. A reading goes on from the last row id it read: the rows of one
campaign are appended under a lock of their own (keep_heard), so they are
committed in the order of their ids and a reading never passes over a row
committed later with a smaller id."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
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


# Appending to one campaign's history is serialised (the key space of two
# int keys is apart from the campaign lock's one bigint key).
_APPEND_LOCK = "SELECT pg_advisory_xact_lock(hashtext('recobro.pacing-heard'), $1)"


async def keep_heard(connection: asyncpg.Connection, campaign_id: int, dialer_id: uuid.UUID,
                     epoch: datetime, heard: Sequence[Heard]) -> None:
    """Append what the policy heard to the campaign's history, in order. The
    lock, held until the caller's transaction commits, keeps each
    campaign's row ids committed in increasing order (heard_after)."""
    if not heard:
        return
    async with connection.transaction():
        await connection.execute(_APPEND_LOCK, campaign_id)
        await connection.executemany(
            "INSERT INTO pacing_heard (campaign_id, dialer_id, heard_at, kind, at, since, result) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7)",
            [(campaign_id, dialer_id, h.heard_at, *row_of(h.event, epoch)) for h in heard])


@dataclass(frozen=True, slots=True)
class Reading:
    """What a reading of the campaign's history found, and where it ended:
    the next reading goes on after last_id."""

    events: list[PacingEvent]
    last_id: int


async def heard_after(connection: asyncpg.Connection, campaign_id: int, after_id: int,
                      epoch: datetime, other_than: uuid.UUID,
                      since: datetime | None = None) -> Reading:
    """What the campaign's pacing heard after row after_id (0: from the
    start), in the order heard, but for what dialer other_than kept itself
    (and, with since, what happened before since). The reading ends at the
    campaign's last row committed when it began, whoever kept it: rows up
    to there are all committed (keep_heard), so none is passed over."""
    last_id = await connection.fetchval(
        "SELECT max(id) FROM pacing_heard WHERE campaign_id = $1 AND id > $2",
        campaign_id, after_id)
    if last_id is None:
        return Reading([], after_id)
    rows = await connection.fetch(
        "SELECT kind, at, since, result FROM pacing_heard WHERE campaign_id = $1 "
        "AND id > $2 AND id <= $3 AND dialer_id <> $4 AND ($5::timestamptz IS NULL OR at >= $5) "
        "ORDER BY id", campaign_id, after_id, last_id, other_than, since)
    return Reading([event_of((r["kind"], r["at"], r["since"], r["result"]), epoch)
                    for r in rows], last_id)


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
