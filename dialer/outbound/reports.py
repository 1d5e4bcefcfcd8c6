"""What a supervisor reads about a campaign: its leads by what is really
happening to them, and its abandon rate over the regulators' windows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

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
    return (await lead_counts_of(pool, [campaign_id], now))[campaign_id]


async def lead_counts_of(pool: asyncpg.Pool, campaign_ids: list[int],
                         now: datetime) -> dict[int, LeadCounts]:
    """Each campaign's leads by their state as of now, in two queries
    however many campaigns (the floor's exporter reads them all at every
    scrape)."""
    states = {r["campaign_id"]: r for r in await pool.fetch(
        "SELECT campaign_id, "
        "count(*) FILTER (WHERE state = 'ready' AND next_callable_at <= $2) AS now, "
        "count(*) FILTER (WHERE state = 'ready' AND next_callable_at > $2) AS waiting, "
        "min(next_callable_at) FILTER (WHERE state = 'ready' AND next_callable_at > $2) "
        "AS next, count(*) FILTER (WHERE state = 'dialing') AS dialing "
        "FROM leads WHERE campaign_id = ANY ($1::int[]) GROUP BY campaign_id",
        campaign_ids, now)}
    done: dict[int, dict[str, int]] = {campaign_id: {} for campaign_id in campaign_ids}
    for row in await pool.fetch(
            "SELECT campaign_id, coalesce(nullif(done_reason, ''), 'done') AS reason, count(*) "
            "FROM leads WHERE campaign_id = ANY ($1::int[]) AND state = 'done' "
            "GROUP BY 1, 2 ORDER BY 1, 3 DESC, 2", campaign_ids):
        done[row["campaign_id"]][row["reason"]] = row["count"]
    counts: dict[int, LeadCounts] = {}
    for campaign_id in campaign_ids:
        row = states.get(campaign_id)
        if row is None:
            counts[campaign_id] = LeadCounts(0, 0, None, 0, done[campaign_id])
            continue
        next_at = row["next"].astimezone(now.tzinfo) if row["next"] else None
        counts[campaign_id] = LeadCounts(row["now"], row["waiting"], next_at, row["dialing"],
                                         done[campaign_id])
    return counts


async def _abandon_counts(pool: asyncpg.Pool, campaign_ids: list[int],
                          since: datetime) -> dict[int, tuple[int, int]]:
    """Live answers and abandons of each campaign's calls that ended after
    since (a campaign with none is left out), in one query (the index
    attempts_ended reads only the window's calls)."""
    rows = await pool.fetch(
        "SELECT campaign_id, count(*) FILTER (WHERE result = ANY ($3::text[])) AS live, "
        "count(*) FILTER (WHERE result = $4) AS abandoned FROM attempts "
        "WHERE campaign_id = ANY ($1::int[]) AND ended_at > $2 GROUP BY campaign_id",
        campaign_ids, since, [result.value for result in LIVE_ANSWERS],
        AttemptResult.ABANDONED.value)
    return {r["campaign_id"]: (r["live"], r["abandoned"]) for r in rows}


async def _abandon_tally(pool: asyncpg.Pool, campaign_id: int, since: datetime,
                         window: str) -> AbandonTally:
    """Live answers and abandons of the campaign's calls that ended after since."""
    counts = await _abandon_counts(pool, [campaign_id], since)
    return AbandonTally(window, *counts.get(campaign_id, (0, 0)))


async def abandon_tallies(pool: asyncpg.Pool, campaign_id: int,
                          now: datetime) -> list[AbandonTally]:
    """Live answers and abandons of the campaign over each regulator's window."""
    return (await abandon_tallies_of(pool, [campaign_id], now))[campaign_id]


async def abandon_tallies_of(pool: asyncpg.Pool, campaign_ids: list[int],
                             now: datetime) -> dict[int, list[AbandonTally]]:
    """Each campaign's live answers and abandons over each regulator's
    window, in one query a window however many campaigns."""
    tallies: dict[int, list[AbandonTally]] = {campaign_id: [] for campaign_id in campaign_ids}
    for name, length in WINDOWS:
        counts = await _abandon_counts(pool, campaign_ids, now - length)
        for campaign_id in campaign_ids:
            tallies[campaign_id].append(AbandonTally(name, *counts.get(campaign_id, (0, 0))))
    return tallies


@dataclass(frozen=True)
class CampaignFigures:
    """What a supervisor watches of a running campaign: its calls in
    flight, today's answers and abandons (since 00:00 UTC), and its leads."""

    in_flight: int
    answered_today: int  # answered by a person or a machine
    today: AbandonTally
    leads: LeadCounts

    @property
    def leads_left(self) -> int:
        """Leads that may still be dialed: callable now, waiting, or being dialed."""
        return self.leads.callable_now + self.leads.waiting + self.leads.dialing


async def campaign_figures(pool: asyncpg.Pool, campaign_id: int,
                           now: datetime) -> CampaignFigures:
    """The campaign's live figures as of now."""
    midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    row = await pool.fetchrow(
        "SELECT count(*) FILTER (WHERE ended_at IS NULL) AS in_flight, "
        "count(*) FILTER (WHERE answered_at >= $2) AS answered FROM attempts "
        "WHERE campaign_id = $1 AND (ended_at IS NULL OR answered_at >= $2)",
        campaign_id, midnight)
    return CampaignFigures(row["in_flight"], row["answered"],
                           await _abandon_tally(pool, campaign_id, midnight, "today (UTC)"),
                           await lead_counts(pool, campaign_id, now))
