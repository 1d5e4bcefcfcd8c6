"""What a supervisor reads about a campaign: its leads by what is really
happening to them, and its abandon rate over the regulators' windows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from dialer.calls.outcome import AttemptResult
from dialer.compliance.abandon import LIVE_ANSWERS, WINDOWS, AbandonTally


@dataclass(frozen=True)
class LeadCounts:
    """The campaign's leads: callable now, waiting (for a retry delay, or a
    calling window or cap the gate gave a time for), being dialed, done
    for good (by reason)."""

    callable_now: int
    waiting: int
    next_callable_at: datetime | None
    dialing: int
    done: dict[str, int]

    def __str__(self) -> str:
        done = sum(self.done.values())
        reasons = ", ".join(f"{reason} {count}" for reason, count in self.done.items())
        waiting = f"waiting {self.waiting}" + (
            f" (next at {self.next_callable_at:%Y-%m-%d %H:%M} UTC)"
            if self.next_callable_at else "")
        return (f"callable now {self.callable_now}, {waiting}, dialing {self.dialing}, "
                f"done {done}" + (f" ({reasons})" if reasons else ""))


async def lead_counts(pool: asyncpg.Pool, campaign_id: int, now: datetime) -> LeadCounts:
    """The campaign's leads by their state as of now."""
    row = await pool.fetchrow(
        "SELECT count(*) FILTER (WHERE state = 'ready' AND next_callable_at <= $2) AS now, "
        "count(*) FILTER (WHERE state = 'ready' AND next_callable_at > $2) AS waiting, "
        "min(next_callable_at) FILTER (WHERE state = 'ready' AND next_callable_at > $2) "
        "AS next, count(*) FILTER (WHERE state = 'dialing') AS dialing "
        "FROM leads WHERE campaign_id = $1", campaign_id, now)
    done = await pool.fetch(
        "SELECT coalesce(nullif(done_reason, ''), 'done') AS reason, count(*) FROM leads "
        "WHERE campaign_id = $1 AND state = 'done' GROUP BY 1 ORDER BY 2 DESC, 1", campaign_id)
    next_at = row["next"].astimezone(now.tzinfo) if row["next"] else None
    return LeadCounts(row["now"], row["waiting"], next_at, row["dialing"],
                      {r["reason"]: r["count"] for r in done})


async def abandon_tallies(pool: asyncpg.Pool, campaign_id: int,
                          now: datetime) -> list[AbandonTally]:
    """Live answers and abandons of the campaign over each regulator's window."""
    live = [result.value for result in LIVE_ANSWERS]
    tallies = []
    for name, length in WINDOWS:
        row = await pool.fetchrow(
            "SELECT count(*) FILTER (WHERE result = ANY ($3::text[])) AS live, "
            "count(*) FILTER (WHERE result = $4) AS abandoned FROM attempts "
            "WHERE campaign_id = $1 AND ended_at > $2", campaign_id, now - length, live,
            AttemptResult.ABANDONED.value)
        tallies.append(AbandonTally(name, row["live"], row["abandoned"]))
    return tallies
