"""Campaigns and their segment strategies in PostgreSQL, and the leads each
campaign draws from the accounts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from dialer.errors import ConfigError
from dialer.outbound.lifecycles import (
    CampaignAction,
    CampaignState,
    TransitionError,
    campaign_after,
    check_settings_change,
)
from dialer.portfolio.model import (
    AnsweredTo,
    Campaign,
    DialMode,
    MachineAction,
    PaymentTerms,
    RetryDelays,
    Segment,
    SegmentThresholds,
    Strategy,
)
from dialer.store.database import refusal_in_words

REFRESH_OVERLAP = timedelta(minutes=5)

_INSERT_CAMPAIGN = """
INSERT INTO campaigns (name, dial_mode, dial_ratio, abandon_target, caller_id, window_profile,
                       ring_timeout_s, wrap_up_s, early_max_dpd, mid_max_dpd, segments,
                       portfolio, amd, machine_action, answered_to, max_lines)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) RETURNING id
"""
_INSERT_STRATEGY = """
INSERT INTO strategies (campaign_id, segment, dial_mode, priority, max_attempts, retry_busy_s,
                        retry_no_answer_s, retry_machine_s, retry_abandoned_s, retry_failed_s,
                        retry_hung_up_s, settlement_percent, instalments, promise_days)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
"""
# Leads of the campaign's segments; value = balance x chance to pay, the
# hour-free part of the expected value (see dialer.portfolio.contact).
# The zone is the account's, else its first current phone's first.
_REFRESH_LEADS = """
WITH c AS (SELECT * FROM campaigns WHERE id = $1),
candidates AS (
    SELECT a.id AS account_id,
           CASE WHEN a.days_past_due <= c.early_max_dpd THEN 'early'
                WHEN a.days_past_due <= c.mid_max_dpd THEN 'mid' ELSE 'late' END AS segment,
           a.balance::double precision * (1 - a.risk_score) AS value,
           coalesce(nullif(a.time_zone, ''),
                    (SELECT p.time_zones[1] FROM phones p WHERE p.account_id = a.id
                     AND p.retired_at IS NULL ORDER BY p.position LIMIT 1)) AS time_zone
    FROM accounts a, c WHERE a.status = 'active'
      AND (c.portfolio = '' OR a.client_segment = c.portfolio) AND ($2::timestamptz IS NULL OR a.updated_at >= $2)
)
INSERT INTO leads (campaign_id, account_id, segment, priority, value, time_zone)
SELECT $1, k.account_id, k.segment, s.priority, k.value, k.time_zone
FROM candidates k
JOIN strategies s ON s.campaign_id = $1 AND s.segment = k.segment
JOIN c ON k.segment = ANY (c.segments)
WHERE k.time_zone IS NOT NULL
ON CONFLICT (campaign_id, account_id) DO UPDATE SET
    segment = EXCLUDED.segment, priority = EXCLUDED.priority, value = EXCLUDED.value,
    time_zone = EXCLUDED.time_zone
WHERE leads.state = 'ready'
"""


class UnknownCampaign(ConfigError):
    """No campaign has that name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"no campaign named {name!r} (`recobro campaign create`)")


class CampaignExists(ConfigError):
    """A campaign has that name already."""


class CampaignRefused(ConfigError):
    """The campaign's lifecycle does not allow that now; the message names
    the fix (dialer.outbound.lifecycles)."""


@dataclass(frozen=True)
class CampaignSummary:
    """A campaign as a list shows it."""

    id: int
    name: str
    state: CampaignState
    dial_mode: DialMode
    abandon_target: float
    answered_to: AnsweredTo
    created_at: datetime


def _strategy(row: asyncpg.Record) -> Strategy:
    return Strategy(
        segment=Segment(row["segment"]), dial_mode=DialMode(row["dial_mode"]),
        priority=row["priority"], max_attempts=row["max_attempts"],
        retry=RetryDelays(busy_s=row["retry_busy_s"], no_answer_s=row["retry_no_answer_s"],
                          machine_s=row["retry_machine_s"],
                          abandoned_s=row["retry_abandoned_s"],
                          failed_s=row["retry_failed_s"], hung_up_s=row["retry_hung_up_s"]),
        payment=PaymentTerms(settlement_percent=row["settlement_percent"],
                             instalments=row["instalments"], promise_days=row["promise_days"]))


class CampaignStore:
    """The campaigns, strategies and leads tables."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def create(self, campaign: Campaign) -> int:
        """Store a new campaign (its id is ignored) and return its id."""
        async with self.pool.acquire() as connection, connection.transaction():
            try:
                campaign_id = await connection.fetchval(
                    _INSERT_CAMPAIGN, campaign.name, campaign.dial_mode.value,
                    campaign.dial_ratio, campaign.abandon_target, campaign.caller_id,
                    campaign.window_profile, campaign.ring_timeout_s, campaign.wrap_up_s,
                    campaign.thresholds.early_max_dpd, campaign.thresholds.mid_max_dpd,
                    [s.value for s in campaign.segments], campaign.portfolio, campaign.amd,
                    campaign.machine_action.value, campaign.answered_to.value,
                    campaign.max_lines)
            except asyncpg.UniqueViolationError:
                raise CampaignExists(f"campaign {campaign.name!r} already exists") from None
            except asyncpg.CheckViolationError as error:
                raise ConfigError(f"campaign {campaign.name!r}: "
                                  f"{refusal_in_words(error)}") from None
            for s in campaign.strategies:
                await connection.execute(
                    _INSERT_STRATEGY, campaign_id, s.segment.value, s.dial_mode.value, s.priority,
                    s.max_attempts, s.retry.busy_s, s.retry.no_answer_s, s.retry.machine_s,
                    s.retry.abandoned_s, s.retry.failed_s, s.retry.hung_up_s,
                    s.payment.settlement_percent, s.payment.instalments, s.payment.promise_days)
        return campaign_id

    async def create_with_leads(self, campaign: Campaign) -> tuple[int, int]:
        """Store a new campaign and draw its leads from the accounts: its id
        and how many leads it has."""
        campaign_id = await self.create(campaign)
        await self.refresh_leads(campaign_id)
        leads = await self.pool.fetchval("SELECT count(*) FROM leads WHERE campaign_id = $1",
                                         campaign_id)
        return campaign_id, leads

    async def load(self, name: str) -> Campaign:
        """The campaign named name; UnknownCampaign when there is none."""
        row = await self.pool.fetchrow("SELECT * FROM campaigns WHERE name = $1", name)
        if row is None:
            raise UnknownCampaign(name)
        strategies = await self.pool.fetch(
            "SELECT * FROM strategies WHERE campaign_id = $1 ORDER BY priority DESC", row["id"])
        return Campaign(
            id=row["id"], name=row["name"], dial_mode=DialMode(row["dial_mode"]),
            dial_ratio=row["dial_ratio"], abandon_target=row["abandon_target"],
            caller_id=row["caller_id"], window_profile=row["window_profile"],
            ring_timeout_s=row["ring_timeout_s"], wrap_up_s=row["wrap_up_s"],
            thresholds=SegmentThresholds(row["early_max_dpd"], row["mid_max_dpd"]),
            segments=tuple(Segment(s) for s in row["segments"]), portfolio=row["portfolio"],
            amd=row["amd"], machine_action=MachineAction(row["machine_action"]),
            answered_to=AnsweredTo(row["answered_to"]), max_lines=row["max_lines"],
            strategies=tuple(_strategy(s) for s in strategies))

    async def state(self, campaign_id: int) -> CampaignState:
        return CampaignState(await self.pool.fetchval(
            "SELECT state FROM campaigns WHERE id = $1", campaign_id))

    async def steer(self, name: str, action: CampaignAction) -> CampaignState:
        """Start, pause, resume or stop a campaign (dialer.outbound.lifecycles);
        running dialers obey within a tick. Its new state."""
        async with self.pool.acquire() as connection, connection.transaction():
            state = await connection.fetchval(
                "SELECT state FROM campaigns WHERE name = $1 FOR UPDATE", name)
            if state is None:
                raise UnknownCampaign(name)
            try:
                after = campaign_after(CampaignState(state), action)
            except TransitionError as error:
                raise CampaignRefused(f"campaign {name}: {error}") from None
            await connection.execute("UPDATE campaigns SET state = $2 WHERE name = $1",
                                     name, after.value)
        return after

    async def set_dial_mode(self, name: str, mode: DialMode) -> None:
        """A stopped campaign's dial mode, and every segment strategy's
        (a strategies file's per-segment modes give way to it)."""
        async with self.pool.acquire() as connection, connection.transaction():
            campaign_id = await self._stopped(connection, name, "dial mode")
            await connection.execute("UPDATE campaigns SET dial_mode = $2 WHERE id = $1",
                                     campaign_id, mode.value)
            await connection.execute("UPDATE strategies SET dial_mode = $2 "
                                     "WHERE campaign_id = $1", campaign_id, mode.value)

    async def set_abandon_target(self, name: str, target: float) -> None:
        """A stopped campaign's abandon target (checked already:
        dialer.outbound.commands.check_abandon_target)."""
        async with self.pool.acquire() as connection, connection.transaction():
            campaign_id = await self._stopped(connection, name, "abandon target")
            await connection.execute("UPDATE campaigns SET abandon_target = $2 WHERE id = $1",
                                     campaign_id, target)

    @staticmethod
    async def _stopped(connection: asyncpg.Connection, name: str, setting: str) -> int:
        """The id of the campaign, locked, when its setting may change now;
        UnknownCampaign or CampaignRefused otherwise."""
        row = await connection.fetchrow(
            "SELECT id, state FROM campaigns WHERE name = $1 FOR UPDATE", name)
        if row is None:
            raise UnknownCampaign(name)
        try:
            check_settings_change(CampaignState(row["state"]), setting)
        except TransitionError as error:
            raise CampaignRefused(f"campaign {name}: {error}") from None
        return row["id"]

    async def page(self, after: int | None, limit: int) -> list[CampaignSummary]:
        """Campaigns by id, the first limit after the id `after` (a page)."""
        rows = await self.pool.fetch(
            "SELECT id, name, state, dial_mode, abandon_target, answered_to, created_at "
            "FROM campaigns WHERE $1::integer IS NULL OR id > $1 ORDER BY id LIMIT $2",
            after, limit)
        return [CampaignSummary(r["id"], r["name"], CampaignState(r["state"]),
                                DialMode(r["dial_mode"]), r["abandon_target"],
                                AnsweredTo(r["answered_to"]), r["created_at"]) for r in rows]

    async def refresh_leads(self, campaign_id: int, since: datetime | None = None) -> datetime:
        """Bring the campaign's leads up to date with the accounts changed
        since `since` (all when None); returns the `since` to pass next."""
        async with self.pool.acquire() as connection, connection.transaction():
            started = await connection.fetchval("SELECT now()")
            await connection.execute(_REFRESH_LEADS, campaign_id, since)
        # Changes committed just after this snapshot carry an earlier time.
        return started - REFRESH_OVERLAP
