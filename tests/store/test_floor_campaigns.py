"""The floor's campaign figures the API exports at every scrape (abandon
rates over the regulators' windows, leads by state): right for each
campaign, read in a few queries however many campaigns the database has
had (before, four a campaign: each walked the whole attempts table)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from dialer.api.floor_metrics import FloorFigures
from dialer.metrics.definitions import ABANDON_RATE, ABANDONED, LEADS, LIVE_ANSWERS
from dialer.outbound import reports
from tests.store.test_history import import_text

pytestmark = pytest.mark.lab

NOW = datetime.now(UTC).replace(microsecond=0)
ACCOUNTS = ("reference,debtor_name,balance,days_past_due,risk_score,language,time_zone,phone1\n"
            + "".join(f"F-{i},Debtor {i},100.00,10,0.5,en,America/New_York,+1212555020{i}\n"
                      for i in range(5)))


@pytest.fixture
async def pool(fresh_database):
    pool = await asyncpg.create_pool(fresh_database, min_size=1, max_size=3)
    yield pool
    await pool.close()


async def _campaign(pool: asyncpg.Pool, name: str) -> int:
    return await pool.fetchval(
        "INSERT INTO campaigns (name, dial_mode, caller_id, window_profile) "
        "VALUES ($1, 'progressive', '+15550100000', '00:00-24:00') RETURNING id", name)


async def _attempt(pool: asyncpg.Pool, campaign_id: int, ended_ago: timedelta | None,
                   result: str | None) -> None:
    dialer_id = uuid.uuid4()
    await pool.execute("INSERT INTO dialers (id, campaign_id, pid) VALUES ($1, $2, 1)",
                       dialer_id, campaign_id)
    ended_at = NOW - ended_ago if ended_ago is not None else None
    await pool.execute(
        "INSERT INTO attempts (id, campaign_id, account_id, phone_id, number, dialer_id, "
        "segment, started_at, ended_at, result) SELECT gen_random_uuid(), $1, a.id, p.id, "
        "p.number, $2, 'early', coalesce($3, $5::timestamptz) - interval '1 minute', $3, $4 "
        "FROM accounts a JOIN phones p ON p.account_id = a.id WHERE a.reference = 'F-0'",
        campaign_id, dialer_id, ended_at, result, NOW)


async def _lead(pool: asyncpg.Pool, campaign_id: int, reference: str, state: str,
                next_callable_at: datetime, done_reason: str = "") -> None:
    await pool.execute(
        "INSERT INTO leads (campaign_id, account_id, segment, state, next_callable_at, "
        "priority, value, time_zone, done_reason) SELECT $1, id, 'early', $3, $4, 0, 1.0, "
        "'America/New_York', $5 FROM accounts WHERE reference = $2",
        campaign_id, reference, state, next_callable_at, done_reason)


async def _the_floor(pool: asyncpg.Pool) -> tuple[int, int, int]:
    """Three campaigns: "busy" with calls in and out of the windows and
    leads in every state, "last-week" with one call 5 days ago, "new" with
    nothing yet."""
    busy, last_week, new = [await _campaign(pool, name) for name in ("busy", "last-week", "new")]
    hour, day = timedelta(hours=1), timedelta(days=1)
    for ended_ago, result in ((hour, "conversation"), (2 * hour, "abandoned"),
                              (3 * hour, "no_answer"), (3 * hour, "hung_up"),
                              (10 * day, "abandoned"), (40 * day, "conversation"),
                              (None, None)):  # the last still in flight
        await _attempt(pool, busy, ended_ago, result)
    await _attempt(pool, last_week, 5 * day, "conversation")
    await _lead(pool, busy, "F-0", "ready", NOW - hour)
    await _lead(pool, busy, "F-1", "ready", NOW + hour)
    await _lead(pool, busy, "F-2", "dialing", NOW - hour)
    await _lead(pool, busy, "F-3", "done", NOW - hour, "paid")
    await _lead(pool, busy, "F-4", "done", NOW - hour, "paid")
    await _lead(pool, last_week, "F-0", "done", NOW - hour)
    await _lead(pool, last_week, "F-1", "done", NOW - hour, "paid")
    await _lead(pool, last_week, "F-2", "done", NOW - hour, "paid")
    return busy, last_week, new


async def test_each_campaigns_windows_and_leads(pool, tmp_path):
    await import_text(pool, tmp_path, ACCOUNTS)
    busy, last_week, new = await _the_floor(pool)
    tallies = await reports.abandon_tallies_of(pool, [busy, last_week, new], NOW)
    assert [(t.window, t.live, t.abandoned) for t in tallies[busy]] == [
        ("24 h", 3, 1), ("30 days", 4, 2)]  # no_answer is no live answer; 40 days ago is out
    assert [(t.window, t.live, t.abandoned) for t in tallies[last_week]] == [
        ("24 h", 0, 0), ("30 days", 1, 0)]
    assert [(t.window, t.live, t.abandoned) for t in tallies[new]] == [
        ("24 h", 0, 0), ("30 days", 0, 0)]
    leads = await reports.lead_counts_of(pool, [busy, last_week, new], NOW)
    assert (leads[busy].callable_now, leads[busy].waiting, leads[busy].dialing,
            leads[busy].done) == (1, 1, 1, {"paid": 2})
    assert leads[busy].next_callable_at == NOW + timedelta(hours=1)
    assert leads[last_week].done == {"paid": 2, "done": 1}
    assert (leads[new].callable_now, leads[new].done) == (0, {})
    # The single campaign's count, as `campaign status` prints it: the most
    # frequent reason first.
    assert list((await reports.lead_counts(pool, last_week, NOW)).done.items()) == [
        ("paid", 2), ("done", 1)]


async def test_the_api_exports_them(pool, tmp_path):
    await import_text(pool, tmp_path, ACCOUNTS)
    await _the_floor(pool)
    floor = FloorFigures(pool, clock=lambda: NOW)
    try:
        await floor.refresh()
    finally:
        await floor.close()
    assert ABANDON_RATE.labels("busy", "24h")._value.get() == pytest.approx(1 / 3)
    assert ABANDON_RATE.labels("busy", "30d")._value.get() == pytest.approx(2 / 4)
    assert ABANDONED.labels("last-week", "30d")._value.get() == 0
    assert LIVE_ANSWERS.labels("last-week", "30d")._value.get() == 1
    # A campaign with no live answer has no rate, not a rate of 0.
    assert ("new", "24h") not in ABANDON_RATE._metrics
    assert LIVE_ANSWERS.labels("new", "24h")._value.get() == 0
    assert LEADS.labels("busy", "done")._value.get() == 2
    assert LEADS.labels("busy", "callable_now")._value.get() == 1


class _CountingPool:
    """The pool, counting the statements sent through it."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self.statements = 0

    def __getattr__(self, name: str):
        attribute = getattr(self._pool, name)
        if name in ("fetch", "fetchrow", "fetchval", "execute"):
            async def counted(*args, **kwargs):
                self.statements += 1
                return await attribute(*args, **kwargs)
            return counted
        return attribute


async def test_a_scrape_reads_the_same_few_times_however_many_campaigns(pool, tmp_path):
    await import_text(pool, tmp_path, ACCOUNTS)
    await _the_floor(pool)

    async def statements() -> int:
        counting = _CountingPool(pool)
        floor = FloorFigures(counting, clock=lambda: NOW)
        try:
            await floor.refresh()
            counting.statements = 0
            await floor.refresh()  # the lock held: a scrape as every later one
            return counting.statements
        finally:
            await floor.close()

    few = await statements()
    for i in range(30):
        await _attempt(pool, await _campaign(pool, f"old-{i}"), timedelta(days=i), "abandoned")
    assert await statements() == few
    assert ABANDONED.labels("old-29", "30d")._value.get() == 1
