"""Writing calls: events appended to call_events, and each call's row
(the projection) brought up to date, a batch of them in one transaction;
and the supervisions whose end was never written, read back."""

from __future__ import annotations

import dataclasses
import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from dialer.calls.events import CallEvent
from dialer.calls.state import CallRecord
from dialer.settings import DEFAULT_ASTERISK_NAME

# Fields of an event that never reach the database: the DTMF digit (it may
# be part of a card number in a later flow) and what the row already has.
_NOT_STORED = {"call_id", "at", "digit"}


def event_kind(event: CallEvent) -> str:
    """CallHungUp -> call_hung_up."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(event).__name__).lower()


def event_detail(event: CallEvent) -> str:
    """The event's own fields as JSON, without anything in _NOT_STORED."""
    detail = {f.name: getattr(event, f.name) for f in dataclasses.fields(event)
              if f.name not in _NOT_STORED}
    return json.dumps(detail, default=str)


_UPSERT = """
INSERT INTO calls (id, number, state, outcome, originated_at, ringing_at, answered_at,
                   ended_at, hangup_cause, hangup_cause_text, originate_reason,
                   hung_up_by_app, dtmf_count, direction)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
ON CONFLICT (id) DO UPDATE SET
    state = EXCLUDED.state, outcome = EXCLUDED.outcome, ringing_at = EXCLUDED.ringing_at,
    answered_at = EXCLUDED.answered_at, ended_at = EXCLUDED.ended_at,
    hangup_cause = EXCLUDED.hangup_cause, hangup_cause_text = EXCLUDED.hangup_cause_text,
    originate_reason = EXCLUDED.originate_reason, hung_up_by_app = EXCLUDED.hung_up_by_app,
    dtmf_count = EXCLUDED.dtmf_count
"""

_APPEND = "INSERT INTO call_events (call_id, at, kind, detail) VALUES ($1, $2, $3, $4::jsonb)"


# Calls Recobro places carry a UUID as their channel id; a call that comes
# in has Asterisk's own (1795504249.123), stored under a UUID made from it.
_INBOUND_IDS = uuid.UUID("5d2f0b1e-7c4a-4c1b-9a53-2f7d3f6e8a10")


def storage_id(call_id: str) -> uuid.UUID:
    """The id a call is stored under in calls and call_events."""
    try:
        return uuid.UUID(call_id)
    except ValueError:
        return uuid.uuid5(_INBOUND_IDS, call_id)


class CallStore:
    """The calls and call_events tables."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def record_all(self, batch: Sequence[tuple[CallEvent, CallRecord]]) -> None:
        """Append the events, in order, and save each call as it is after
        its last one of them, in one transaction."""
        latest = {storage_id(call.call_id): call for _, call in batch}
        async with self.pool.acquire() as connection, connection.transaction():
            await connection.executemany(_UPSERT, [
                (stored, call.number, call.state.value,
                 call.outcome.value if call.outcome else None, call.originated_at,
                 call.ringing_at, call.answered_at, call.ended_at, call.hangup_cause,
                 call.hangup_cause_text, call.originate_reason, call.hung_up_by_app,
                 call.dtmf_count, "inbound" if call.inbound else "outbound")
                for stored, call in latest.items()])
            await connection.executemany(_APPEND, [
                (storage_id(call.call_id), event.at, event_kind(event), event_detail(event))
                for event, call in batch])


async def append_event(pool: asyncpg.Pool, call_id: str, event: CallEvent) -> None:
    """Append an event a process that does not follow the call made happen
    (a supervisor listening) to the call's others; call_id is its channel
    id (an attempt's id, or an inbound call's Asterisk id)."""
    await pool.execute(_APPEND, storage_id(call_id), event.at, event_kind(event),
                       event_detail(event))


@dataclass(frozen=True)
class OpenSupervision:
    """A supervision started and never ended in the call's events: the
    call's stored id, the supervisor's leg (channel), endpoint and mode."""

    call_id: uuid.UUID
    leg: str
    supervisor: str
    mode: str


# Supervisions written before their events named the leg are not matched.
_OPEN_SUPERVISIONS = """
SELECT s.call_id, s.detail ->> 'leg' AS leg, s.detail ->> 'supervisor' AS supervisor,
       s.detail ->> 'mode' AS mode
FROM call_events s
WHERE s.kind = 'supervision_started' AND (s.detail ->> 'leg') IS NOT NULL
  AND ($1::text IS NULL OR coalesce(nullif(s.detail ->> 'asterisk', ''), $2) = $1)
  AND NOT EXISTS (SELECT 1 FROM call_events e WHERE e.kind = 'supervision_ended'
                  AND (e.detail ->> 'leg') = (s.detail ->> 'leg'))
ORDER BY s.id
"""


# A start names its leg; one written before starts named it is matched by
# its call, supervisor and mode.
_SUPERVISION_STARTED = """
SELECT EXISTS (SELECT 1 FROM call_events WHERE kind = 'supervision_started'
               AND ((detail ->> 'leg') = $1
                    OR ((detail ->> 'leg') IS NULL AND call_id = $2
                        AND (detail ->> 'supervisor') = $3 AND (detail ->> 'mode') = $4)))
"""


async def supervision_started(pool: asyncpg.Pool, leg: str, call_id: str, supervisor: str,
                              mode: str) -> bool:
    """Whether the start of the supervision on leg (the supervisor's
    channel) is written among the events of call_id (the debtor's channel
    id)."""
    return bool(await pool.fetchval(_SUPERVISION_STARTED, leg, storage_id(call_id),
                                    supervisor, mode))


async def open_supervisions(pool: asyncpg.Pool,
                            asterisk: str | None = None) -> list[OpenSupervision]:
    """The supervisions whose start is written and whose end is not (those
    whose leg is on the Asterisk server named asterisk, when given; a start
    written before servers had names is the default server's)."""
    return [OpenSupervision(r["call_id"], r["leg"], r["supervisor"], r["mode"])
            for r in await pool.fetch(_OPEN_SUPERVISIONS, asterisk, DEFAULT_ASTERISK_NAME)]
