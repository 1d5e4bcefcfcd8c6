"""Recordings of calls in PostgreSQL: which file a call is recorded into,
whether the recording is paused, and each pause and resume in the call's
events."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

# How Asterisk writes a call's recording (MixMonitor: the format is the
# file's extension), and what the API serves it as.
FORMAT = "wav"
CONTENT_TYPE = "audio/wav"


def file_name(call_id: str) -> str:
    """The recording's file, in Asterisk's monitor directory."""
    return f"recobro-{call_id}.{FORMAT}"


async def mark_recording(pool: asyncpg.Pool, attempt_id: uuid.UUID, file: str) -> None:
    await pool.execute("UPDATE attempts SET recording = $2 WHERE id = $1", attempt_id, file)


@dataclass(frozen=True)
class RecordingState:
    file: str | None
    paused: bool
    ended: bool


async def recording_of(pool: asyncpg.Pool, attempt_id: uuid.UUID) -> RecordingState | None:
    """The attempt's recording (None: no such attempt)."""
    row = await pool.fetchrow("SELECT recording, recording_paused, ended_at IS NOT NULL AS ended "
                              "FROM attempts WHERE id = $1", attempt_id)
    return None if row is None else RecordingState(row["recording"], row["recording_paused"],
                                                   row["ended"])


async def set_recording_paused(pool: asyncpg.Pool, attempt_id: uuid.UUID, paused: bool,
                               at: datetime) -> None:
    """Note the pause or resume, and keep it in the call's event log."""
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute("UPDATE attempts SET recording_paused = $2 WHERE id = $1",
                                 attempt_id, paused)
        await connection.execute(
            "INSERT INTO call_events (call_id, at, kind) VALUES ($1, $2, $3)", attempt_id, at,
            "recording_paused" if paused else "recording_resumed")
