"""A campaign's pacing history in PostgreSQL (issue 16, migration 0013):
what its policy heard round-trips in the order heard, the closed loop's
last state is the one read back, and history outside every regulator's
window is dropped."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from dialer.outbound.history import (
    forget_before,
    heard_since,
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


@pytest.fixture
async def pool(fresh_database):
    pool = await asyncpg.create_pool(fresh_database, min_size=1, max_size=2)
    yield pool
    await pool.close()


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
        read = await heard_since(connection, campaign_id, since, other_epoch)
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
        everything = await heard_since(connection, campaign_id, EPOCH - timedelta(days=60),
                                       EPOCH)
        assert len(everything) == len(events)
