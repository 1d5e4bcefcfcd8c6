"""The figures that span processes, read from PostgreSQL at scrape time by
one exporter (the API's), never summed by hand from many: each campaign's
abandon rate over the regulators' rolling windows beside its target,
whether it runs, its leads and dial level; the agents by state, their
occupancy and their wait between calls. With several APIs (one per
Asterisk server) one exports them, the holder of an advisory lock: a
dashboard's sum counts each figure once, and when that API stops another
takes the lock at its next scrape."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import asyncpg

from dialer.agents.occupancy import floor_time
from dialer.agents.state import AgentState, settled
from dialer.agents.store import AgentStore
from dialer.compliance.abandon import WINDOWS
from dialer.metrics.definitions import (
    ABANDON_RATE,
    ABANDON_TARGET,
    ABANDONED,
    AGENT_WAIT,
    AGENTS,
    CAMPAIGN_RUNNING,
    DIAL_LEVEL,
    LEADS,
    LIVE_ANSWERS,
    OCCUPANCY,
    window_label,
)
from dialer.outbound.lifecycles import CampaignState
from dialer.outbound.reports import abandon_tallies_of, lead_counts_of
from dialer.store.outage import CONNECTION_LOST

log = logging.getLogger(__name__)

FLOOR = (ABANDON_RATE, LIVE_ANSWERS, ABANDONED, ABANDON_TARGET, LEADS, CAMPAIGN_RUNNING, AGENTS,
         OCCUPANCY, AGENT_WAIT, DIAL_LEVEL)
# The stretches a wallboard shows occupancy and wait over: the last quarter
# hour (now) and the last hour.
FLOOR_WINDOWS = (timedelta(minutes=15), timedelta(hours=1))
# Agents who can take a call now or are taking one: a dial level's divisor.
LOGGED_IN = frozenset(AgentState) - {AgentState.LOGGED_OUT, AgentState.PAUSED}


# Held, on a connection of its own, by the one API that exports the floor.
_EXPORTER_LOCK = "hashtext('recobro.floor-exporter')"

# Each campaign's calls dialed and not yet answered (nor ended).
_RINGING = ("SELECT campaign_id, count(*) FROM attempts "
            "WHERE ended_at IS NULL AND answered_at IS NULL GROUP BY campaign_id")


class FloorFigures:
    """Refreshes the floor's gauges from PostgreSQL before a scrape."""

    def __init__(self, pool: asyncpg.Pool,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.pool = pool
        self.clock = clock
        self._held: asyncpg.Connection | None = None  # holds _EXPORTER_LOCK
        # Scrapes at once (two Prometheus servers) refresh one at a time:
        # neither clears the gauges while the other sets them, nor takes the
        # lock on a second connection of this process's.
        self._refreshing = asyncio.Lock()

    @property
    def exporting(self) -> bool:
        """Whether this process is the floor's exporter (it holds the lock)."""
        return self._held is not None

    async def refresh(self) -> None:
        """Every campaign's windows, target and leads, and the agents by
        state, as of now (a campaign gone from the database leaves no series),
        if this process is the floor's exporter; else none (another API
        exports them). With PostgreSQL out of reach the floor's series are
        left out, not shown stale: the rest of the process's metrics are
        still served."""
        async with self._refreshing:
            await self._refresh()

    async def _refresh(self) -> None:
        try:
            if await self._take_or_keep_lock():
                await self._read()
                return
        except CONNECTION_LOST as error:
            await self._let_go()
            log.warning("metrics: the floor's figures left out, PostgreSQL unreachable (%s)",
                        str(error) or type(error).__name__)
        for gauge in FLOOR:
            gauge.clear()

    async def close(self) -> None:
        """Give the lock (and its connection) back: another API exports."""
        async with self._refreshing:
            await self._let_go()

    async def _take_or_keep_lock(self) -> bool:
        """Whether this process holds the exporter's lock, taking it when
        free; a lock whose connection broke is held no more."""
        if self._held is not None:
            await self._held.fetchval("SELECT 1")  # its connection is still up
            return True
        held = await self.pool.acquire()
        try:
            taken = await held.fetchval(f"SELECT pg_try_advisory_lock({_EXPORTER_LOCK})")
        except BaseException:
            await self.pool.release(held)
            raise
        if not taken:
            await self.pool.release(held)
            return False
        self._held = held
        return True

    async def _let_go(self) -> None:
        held, self._held = self._held, None
        if held is None:
            return
        try:
            await held.execute(f"SELECT pg_advisory_unlock({_EXPORTER_LOCK})")
        except CONNECTION_LOST:
            pass  # the session, and its lock, are gone already
        # A connection that broke may be back with the pool already.
        with contextlib.suppress(asyncpg.InterfaceError):
            await self.pool.release(held)

    async def _read(self) -> None:
        now = self.clock()
        campaigns = await self.pool.fetch(
            "SELECT id, name, abandon_target, state, answered_to FROM campaigns")
        for gauge in FLOOR:
            gauge.clear()
        windows = dict(WINDOWS)
        # A few queries for the whole floor, however many campaigns it has
        # had: each campaign's own would grow with every campaign ever made.
        ids = [campaign["id"] for campaign in campaigns]
        tallies = await abandon_tallies_of(self.pool, ids, now)
        leads_of = await lead_counts_of(self.pool, ids, now)
        for campaign in campaigns:
            name = campaign["name"]
            ABANDON_TARGET.labels(name).set(campaign["abandon_target"])
            CAMPAIGN_RUNNING.labels(name, campaign["answered_to"]).set(
                1 if campaign["state"] == CampaignState.RUNNING.value else 0)
            for tally in tallies[campaign["id"]]:
                window = window_label(windows[tally.window])
                LIVE_ANSWERS.labels(name, window).set(tally.live)
                ABANDONED.labels(name, window).set(tally.abandoned)
                if tally.rate is not None:
                    ABANDON_RATE.labels(name, window).set(tally.rate)
            leads = leads_of[campaign["id"]]
            for state, count in (("callable_now", leads.callable_now),
                                 ("waiting", leads.waiting), ("dialing", leads.dialing),
                                 ("done", sum(leads.done.values()))):
                LEADS.labels(name, state).set(count)
        agents = await self.pool.fetch("SELECT state, state_since, wrap_up_until FROM agents")
        by_state = Counter(settled(AgentState(r["state"]), r["state_since"], r["wrap_up_until"],
                                   now)[0] for r in agents)
        for state in AgentState:
            AGENTS.labels(state.value).set(by_state[state])
        logged_in = sum(by_state[state] for state in LOGGED_IN)
        if logged_in:
            ringing = dict(await self.pool.fetch(_RINGING))
            for campaign in campaigns:
                DIAL_LEVEL.labels(campaign["name"]).set(
                    ringing.get(campaign["id"], 0) / logged_in)
        # One read for the longest window: floor_time clips the changes to
        # each window (an agent's state at a shorter one's start is among them).
        changes = await AgentStore(self.pool).state_changes(now - max(FLOOR_WINDOWS), now)
        for length in FLOOR_WINDOWS:
            time = floor_time(changes, now - length, now)
            window = window_label(length)
            if time.occupancy is not None:
                OCCUPANCY.labels(window).set(time.occupancy)
            if time.wait_s is not None:
                AGENT_WAIT.labels(window).set(time.wait_s)
