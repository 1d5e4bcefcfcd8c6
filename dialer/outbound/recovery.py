"""Restart safety: a dialer that starts adopts what dead dialers of its
campaign left. A call whose channel Asterisk still has is followed to its
end (a bridged agent stays bridged); one Asterisk no longer has ended while
nobody listened and gets a final `lost` result; leads they claimed but
never dialed are freed, and agents left on calls that ended are ready."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime
from typing import Any

import asyncpg

from dialer.agents.connector import AgentConnector
from dialer.calls.control import CallControl
from dialer.calls.events import CallLost
from dialer.calls.outcome import Connection
from dialer.calls.state import CallRecord, CallState
from dialer.outbound import dialers
from dialer.outbound.stasis import CAMPAIGN_FLOW, AnsweredCalls
from dialer.portfolio.model import Segment

log = logging.getLogger(__name__)

Spawn = Callable[[Coroutine[Any, Any, None], str], None]
Settle = Callable[[CallRecord, datetime, Segment], Awaitable[None]]


def campaign_lock_key(campaign_id: int) -> int:
    """The advisory lock serialising ticks (and recovery) of one campaign
    across dialers."""
    return 0x5245_0000_0000 + campaign_id


def adopted_record(orphan: dialers.OrphanAttempt, channel_state: str | None,
                   now: datetime) -> CallRecord:
    """The record an adopted call is followed from. Its channel's state
    tells what the dead dialer may not have written: answered (Up) or
    ringing, at the latest now. So a call that rang or was answered is
    never taken for one the PBX did not place (calls.outcome.not_placed,
    which gives the lead its attempt back) when its hangup has no cause."""
    answered_at = orphan.answered_at
    if answered_at is None and channel_state == "Up":
        answered_at = now
    if answered_at is not None:
        return CallRecord(call_id=str(orphan.attempt_id), number=orphan.number,
                          originated_at=orphan.started_at, state=CallState.ANSWERED,
                          answered_at=answered_at)
    ringing = channel_state in ("Ring", "Ringing")
    return CallRecord(call_id=str(orphan.attempt_id), number=orphan.number,
                      originated_at=orphan.started_at,
                      state=CallState.RINGING if ringing else CallState.ORIGINATING,
                      ringing_at=now if ringing else None)


class Recovery:
    """Adopts the open attempts of a campaign's dead dialers."""

    def __init__(self, engine: CallControl, pool: asyncpg.Pool, campaign_id: int,
                 dialer_id: uuid.UUID, connector: AgentConnector, answered: AnsweredCalls,
                 app_of: Callable[[uuid.UUID], str], clock: Callable[[], datetime]) -> None:
        self.engine = engine
        self.pool = pool
        self.campaign_id = campaign_id
        self.dialer_id = dialer_id
        self.connector = connector
        self.answered = answered
        self.app_of = app_of  # a dialer's Stasis application
        self.clock = clock

    async def adopt(self, spawn: Spawn, settle: Settle) -> int:
        """Take over what dead dialers left; each adopted call is followed in
        a task made by spawn and settled by settle. How many were adopted."""
        states = await self.engine.channel_states()
        alive = set(states)
        async with self.pool.acquire() as connection, connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock($1)",
                                     campaign_lock_key(self.campaign_id))
            dead = await dialers.dead_dialers(connection, self.campaign_id, self.dialer_id)
            holders = await dialers.dialers_with_open_attempts(connection, self.campaign_id, dead)
            orphans = await dialers.adopt_orphans(connection, self.campaign_id, dead,
                                                  self.dialer_id)
            freed = await self.connector.agents.free_stranded(connection, self.clock(), alive)
        if freed:
            log.warning("agents left on calls that ended are ready again: %s",
                        ", ".join(agent for agent, _ in freed))
        for agent, leg in freed:
            # The agent's phone, still in a dead dialer's application; an
            # agent's session line stays (it is the API's, for the shift).
            if leg in alive and leg != await self.connector.agents.session_line(agent):
                await self.engine.hang_up(leg, "its call ended while no dialer listened")
        if not orphans:
            return 0
        for holder in holders:
            # The dead dialer's calls live in its Stasis application: listen
            # there too (answers to come, keys pressed, playbacks).
            await self.engine.hear_app(self.app_of(holder))
        for orphan in orphans:
            call_id = str(orphan.attempt_id)
            record = adopted_record(orphan, states.get(call_id), self.clock())
            spawn(self._follow(record, orphan, call_id in alive, spawn, settle),
                  f"adopt-{call_id}")
        return len(orphans)

    async def _follow(self, record: CallRecord, orphan: dialers.OrphanAttempt, alive: bool,
                      spawn: Spawn, settle: Settle) -> None:
        call_id = record.call_id
        finished = asyncio.ensure_future(
            self.engine.adopt(record, CAMPAIGN_FLOW, orphan.language.value))
        await asyncio.sleep(0)  # let adopt register the call before events for it
        bridged = orphan.agent and orphan.agent_channel and orphan.connected_at
        if bridged:
            # A conversation it was, whether or not it is still going on.
            self.answered.mark_connected(call_id, Connection(orphan.agent, orphan.connected_at))
            spawn(self.connector.follow_adopted(call_id, orphan.agent, orphan.agent_channel,
                                                orphan.connected_at, finished),
                  f"adopted-pair-{call_id}")
        if not alive:
            self.engine.submit(CallLost(call_id=call_id, at=self.clock()))
        elif not bridged and record.answered_at is not None:
            # Its 2-second window passed while no dialer was there.
            self.answered.mark_abandoned(call_id, record.answered_at)
            await self.engine.hang_up(call_id, "no agent: adopted after the 2 s rule")
        call = await finished
        await settle(call, orphan.started_at, orphan.segment)
