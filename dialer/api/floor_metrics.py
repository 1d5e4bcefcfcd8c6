"""The figures that span processes, read from PostgreSQL at scrape time by
one exporter (the API's), never summed by hand from many: each campaign's
abandon rate over the regulators' rolling windows beside its target,
whether it runs, its leads, and the agents by state."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

import asyncpg

from dialer.agents.state import AgentState, settled
from dialer.compliance.abandon import WINDOWS
from dialer.metrics.definitions import (
    ABANDON_RATE,
    ABANDON_TARGET,
    ABANDONED,
    AGENTS,
    CAMPAIGN_RUNNING,
    LEADS,
    LIVE_ANSWERS,
    window_label,
)
from dialer.outbound.lifecycles import CampaignState
from dialer.outbound.reports import abandon_tallies, lead_counts
from dialer.store.outage import CONNECTION_LOST

log = logging.getLogger(__name__)

FLOOR = (ABANDON_RATE, LIVE_ANSWERS, ABANDONED, ABANDON_TARGET, LEADS, CAMPAIGN_RUNNING, AGENTS)


class FloorFigures:
    """Refreshes the floor's gauges from PostgreSQL before a scrape."""

    def __init__(self, pool: asyncpg.Pool,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.pool = pool
        self.clock = clock

    async def refresh(self) -> None:
        """Every campaign's windows, target and leads, and the agents by
        state, as of now (a campaign gone from the database leaves no series).
        With PostgreSQL out of reach the floor's series are left out, not
        shown stale: the rest of the process's metrics are still served."""
        try:
            await self._read()
        except CONNECTION_LOST as error:
            for gauge in FLOOR:
                gauge.clear()
            log.warning("metrics: the floor's figures left out, PostgreSQL unreachable (%s)",
                        str(error) or type(error).__name__)

    async def _read(self) -> None:
        now = self.clock()
        campaigns = await self.pool.fetch(
            "SELECT id, name, abandon_target, state, answered_to FROM campaigns")
        for gauge in FLOOR:
            gauge.clear()
        windows = dict(WINDOWS)
        for campaign in campaigns:
            name = campaign["name"]
            ABANDON_TARGET.labels(name).set(campaign["abandon_target"])
            CAMPAIGN_RUNNING.labels(name, campaign["answered_to"]).set(
                1 if campaign["state"] == CampaignState.RUNNING.value else 0)
            for tally in await abandon_tallies(self.pool, campaign["id"], now):
                window = window_label(windows[tally.window])
                LIVE_ANSWERS.labels(name, window).set(tally.live)
                ABANDONED.labels(name, window).set(tally.abandoned)
                if tally.rate is not None:
                    ABANDON_RATE.labels(name, window).set(tally.rate)
            leads = await lead_counts(self.pool, campaign["id"], now)
            for state, count in (("callable_now", leads.callable_now),
                                 ("waiting", leads.waiting), ("dialing", leads.dialing),
                                 ("done", sum(leads.done.values()))):
                LEADS.labels(name, state).set(count)
        agents = await self.pool.fetch("SELECT state, state_since, wrap_up_until FROM agents")
        by_state = Counter(settled(AgentState(r["state"]), r["state_since"], r["wrap_up_until"],
                                   now)[0] for r in agents)
        for state in AgentState:
            AGENTS.labels(state.value).set(by_state[state])
