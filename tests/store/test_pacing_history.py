"""A campaign's pacing history in PostgreSQL (issue 16, migration 0013):
what its policy heard round-trips in the order heard, the closed loop's
last state is the one read back, and history outside every regulator's
window is dropped; a dialer reads what the campaign's other dialers kept,
each row once and in order, across its restarts, and never passes over a
row committed after a later one."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from dialer.outbound.history import (
    forget_before,
    heard_after,
    keep_heard,
    last_state,
    save_state,
)
from dialer.outbound.results import Heard
from dialer.outbound.store import CampaignStore
from pacing.model import (
    CallAbandoned,
    CallConnected,
    CallResolved,
    DialResult,
    TalkEnded,
    WrapUpEnded,
)
from tests.store.test_hopper import campaign

pytestmark = pytest.mark.lab

EPOCH = datetime(2026, 12, 1, tzinfo=UTC)
T = 10 * 3600.0



async def test_what_pacing_heard_round_trips_in_order_and_old_history_goes(pool):
    await CampaignStore(pool).create(campaign("paced"))
    campaign_id = await pool.fetchval("SELECT id FROM campaigns WHERE name = 'paced'")
    events = [CallResolved(T + 5.25, T, DialResult.LIVE), CallConnected(T + 5.5, T + 5.25),
              CallResolved(T + 5.4, T + 1, DialResult.NO_ANSWER),  # heard after, happened before
              CallResolved(T + 8, T + 2, DialResult.LIVE), CallAbandoned(T + 10, T + 8),
              TalkEnded(T + 65.5, 60.0), WrapUpEnded(T + 70.5, 5.0)]
    old = [CallResolved(T - 40 * 86400, T - 40 * 86400 - 20, DialResult.BUSY)]
    heard_at = EPOCH + timedelta(seconds=T + 100)
    async with pool.acquire() as connection:
        await keep_heard(connection, campaign_id, uuid.uuid4(), EPOCH,
                         [Heard(e, heard_at) for e in old + events])
        # Another dialer's epoch: the same moments, other seconds.
        other_epoch = EPOCH + timedelta(days=1)
        since = EPOCH + timedelta(seconds=T - 3600)
        shift = 86400.0
        read = (await heard_after(connection, campaign_id, 0, other_epoch, uuid.uuid4(),
                                  since)).events
        assert len(read) == len(events)
        for got, sent in zip(read, events, strict=True):
            assert type(got) is type(sent)
            assert got.at == pytest.approx(sent.at - shift, abs=1e-6)
        assert read[-1].seconds == pytest.approx(5.0, abs=1e-6)
        assert read[0].result is DialResult.LIVE
        assert await last_state(connection, campaign_id) is None
        await save_state(connection, campaign_id, -3.5, heard_at)
        await save_state(connection, campaign_id, -2.25, heard_at)
        assert await last_state(connection, campaign_id) == -2.25
        await forget_before(connection, campaign_id, EPOCH - timedelta(days=31))
        everything = (await heard_after(connection, campaign_id, 0, EPOCH, uuid.uuid4(),
                                        EPOCH - timedelta(days=60))).events
        assert len(everything) == len(events)


async def _campaign_id(pool, name: str) -> int:
    await CampaignStore(pool).create(campaign(name))
    return await pool.fetchval("SELECT id FROM campaigns WHERE name = $1", name)


def _talks(first: int, count: int) -> list[TalkEnded]:
    """Distinct outcomes: talk n ends at T + n after n seconds."""
    return [TalkEnded(T + n, float(n)) for n in range(first, first + count)]


async def test_a_dialer_hears_the_others_rows_once_in_order_across_its_restarts(pool):
    """Dialers x and y and a third campaign's dialer keep rows in turns; x
    reads at each of its ticks what the others kept since its last reading:
    every row of y's exactly once, in y's order, none of its own, none of
    the other campaign's. x restarts (a new dialer id): its warm start
    reads back the window (its former self's rows among them) and the
    readings go on from there, again each row once."""
    campaign_id = await _campaign_id(pool, "shared")
    elsewhere = await _campaign_id(pool, "elsewhere")
    x, y, z = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    heard_at = EPOCH + timedelta(seconds=T)
    kept_by: dict[uuid.UUID, list] = {x: [], y: []}
    read: list = []
    after = 0
    async with pool.acquire() as connection:
        async def keep(dialer: uuid.UUID, events: list, where: int = campaign_id) -> None:
            async with connection.transaction():
                await keep_heard(connection, where, dialer, EPOCH,
                                 [Heard(e, heard_at) for e in events])
            if where == campaign_id:
                kept_by.setdefault(dialer, []).extend(events)

        async def tick(me: uuid.UUID) -> None:
            nonlocal after
            reading = await heard_after(connection, campaign_id, after, EPOCH, me)
            read.extend(reading.events)
            after = reading.last_id

        n = 0
        for turn in range(6):
            await keep(y, _talks(n, 3))
            await keep(z, _talks(n + 100, 2), elsewhere)
            await keep(x, _talks(n + 3, 2))
            n += 5
            if turn % 2:
                await tick(x)
        await keep(y, _talks(n, 4))
        n += 4
        await tick(x)
        await tick(x)  # nothing new: nothing heard twice
        assert read == kept_by[y]
        # x restarts as x2: its warm start reads back the campaign's window
        # (x's rows now another dialer's), then its readings go on from there.
        x2 = uuid.uuid4()
        warm = await heard_after(connection, campaign_id, 0, EPOCH, x2,
                                 EPOCH + timedelta(seconds=T - 3600))
        assert sorted(warm.events, key=lambda e: e.at) == sorted(kept_by[x] + kept_by[y],
                                                                 key=lambda e: e.at)
        read, after = [], warm.last_id
        await keep(y, _talks(n, 2))
        await keep(x2, _talks(n + 2, 2))
        await tick(x2)
        await keep(x2, _talks(n + 4, 1))
        await keep(y, _talks(n + 5, 3))
        await tick(x2)
        assert read == _talks(n, 2) + _talks(n + 5, 3)


async def test_a_reading_never_passes_over_a_row_still_being_kept(pool, fresh_database):
    """Dialer x keeps rows in a transaction not yet committed; dialer y's
    rows wait for it (the campaign's append lock), so a reading made
    meanwhile sees neither, and the next one sees x's then y's: no row with
    a smaller id is committed after a reading passed it."""
    campaign_id = await _campaign_id(pool, "raced")
    x, y, me = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    heard_at = EPOCH + timedelta(seconds=T)
    first = await asyncpg.connect(fresh_database)
    second = await asyncpg.connect(fresh_database)
    try:
        open_transaction = first.transaction()
        await open_transaction.start()
        await keep_heard(first, campaign_id, x, EPOCH, [Heard(e, heard_at) for e in _talks(0, 2)])
        later = asyncio.create_task(keep_heard(
            second, campaign_id, y, EPOCH, [Heard(e, heard_at) for e in _talks(2, 2)]))
        async def y_waits() -> None:
            while not await pool.fetchval(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"):
                assert not later.done(), "y kept its rows while x's were not committed"
                await asyncio.sleep(0.01)

        await asyncio.wait_for(y_waits(), 30)  # (a guard against a hang, not a timing)
        async with pool.acquire() as connection:
            meanwhile = await heard_after(connection, campaign_id, 0, EPOCH, me)
            assert meanwhile.events == [] and meanwhile.last_id == 0
            await open_transaction.commit()
            await later
            after = await heard_after(connection, campaign_id, meanwhile.last_id, EPOCH, me)
        assert after.events == _talks(0, 4)
    finally:
        await first.close()
        await second.close()
