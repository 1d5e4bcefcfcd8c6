"""Placing one call of a campaign and settling it: the gate asked again
with fresh facts just before the call (a payment or an opt-out may have
come since the claim), the attempt recorded before the originate, the call
placed through the engine, then its one final result written, the lead's
next try (or retirement) set; pacing hears the call's end (a call that
never stopped ringing resolves, a conversation's talk ends)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

from dialer.agents import routing
from dialer.calls.caller_id import Debtor
from dialer.calls.control import CallControl
from dialer.calls.outcome import AttemptResult, attempt_result
from dialer.calls.state import CallRecord
from dialer.compliance import gate
from dialer.metrics.definitions import CALLS, REFUSALS
from dialer.outbound import attempts, leads
from dialer.outbound.claiming import screen
from dialer.outbound.plan import PbxHold
from dialer.outbound.results import PacingFeed
from dialer.outbound.stasis import CAMPAIGN_FLOW, AnsweredCalls
from dialer.portfolio.model import Campaign, Segment
from dialer.store.outage import through_outage

log = logging.getLogger(__name__)


@dataclass
class Tally:
    """What this dialer did, for its progress line and its metrics."""

    campaign: str = ""
    claimed: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    results: Counter[str] = field(default_factory=Counter)
    adopted: int = 0

    def refuse(self, rule: str, stage: str) -> None:
        """The gate refused a lead at a stage: claim (when the hopper
        claimed it) or dial (asked again just before dialing)."""
        self.refused[rule] += 1
        REFUSALS.labels(self.campaign, rule, stage).inc()

    def ended(self, result: AttemptResult) -> None:
        """A call this dialer placed (or adopted) ended with result."""
        self.results[result.value] += 1
        CALLS.labels(self.campaign, result.value).inc()

    def line(self, in_flight: int) -> str:
        results = ", ".join(f"{k} {v}" for k, v in sorted(self.results.items())) or "none yet"
        refused = sum(self.refused.values())
        return (f"dialed {self.claimed}, in flight {in_flight}, refused by the gate {refused}; "
                f"results: {results}")


class CallPlacer:
    """Dials claimed leads of one campaign for one dialer, and settles them."""

    def __init__(self, engine: CallControl, pool: asyncpg.Pool, campaign: Campaign,
                 dialer_id: uuid.UUID, answered: AnsweredCalls, feed: PacingFeed,
                 tally: Tally, clock: Callable[[], datetime], ride_out_s: float) -> None:
        self.engine = engine
        self.pool = pool
        self.campaign = campaign
        self.dialer_id = dialer_id
        self.answered = answered
        self.feed = feed
        self.tally = tally
        self.clock = clock
        self.ride_out_s = ride_out_s
        self.pbx_hold = PbxHold()

    async def dial(self, claimed: leads.LeadContext) -> None:
        """Ask the gate again with fresh facts, record the attempt, place the
        call and settle it (nothing is placed when the gate refuses now)."""
        attempt_id = uuid.uuid4()
        async with self.pool.acquire() as connection, connection.transaction():
            now = self.clock()
            lead = (await leads.lead_contexts(connection, self.campaign.id,
                                              [claimed.account_id], now))[0]
            decision = await screen(connection, self.campaign, lead, "dial", now)
            if not isinstance(decision, gate.Allowed):
                self.tally.refuse(decision.rule.value, "dial")
                return
            await attempts.start_attempt(connection, attempt_id, self.campaign.id, lead,
                                         decision.phone, self.dialer_id, now)
        self.tally.claimed += 1
        self.answered.expect(
            str(attempt_id),
            routing.needs_of(lead.language.value, lead.segment.value, lead.balance,
                             lead.risk_score),
            Debtor(lead.debtor_name, lead.facts.reference, decision.phone.number))
        call = await self.engine.place_call(
            decision.phone.number, lead.language.value, call_id=str(attempt_id),
            caller_id=self.campaign.caller_id, ring_timeout_s=self.campaign.ring_timeout_s,
            flow=CAMPAIGN_FLOW, amd=self.campaign.amd)
        await self.settle(call, now, lead.segment)

    async def settle(self, call: CallRecord, started_at: datetime, segment: Segment) -> None:
        """The call ended: its attempt's final result, the lead's next try,
        and what pacing hears of its end (first). A call Asterisk would not
        place holds new calls for a while (PbxHold)."""
        connection = self.answered.connection(call.call_id)
        result = attempt_result(call, connection)
        self.feed.ended(call, connection, result)
        self.tally.ended(result)
        if result is AttemptResult.NOT_PLACED:
            hold = self.pbx_hold.refused(asyncio.get_running_loop().time())
            if hold is not None:
                log.warning("Asterisk did not place a call (no channel or RTP port, or the "
                            "trunk is down: see its log); no new calls for %.0f s, and the "
                            "lead is not charged the attempt", hold)
        else:
            self.pbx_hold.placed()
        strategy = self.campaign.strategy(segment)
        ended_at = call.ended_at or self.clock()

        async def finish() -> None:
            async with self.pool.acquire() as db, db.transaction():
                await attempts.finish_attempt(
                    db, uuid.UUID(call.call_id), result, ended_at, call.answered_at,
                    gate.next_callable_at(result, started_at, strategy.retry),
                    strategy.max_attempts, keyed=call.dtmf_count > 0)

        # A call that ended while PostgreSQL restarts keeps its result.
        await through_outage(finish, self.ride_out_s)
