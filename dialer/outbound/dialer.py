"""The live loop of one campaign in one dialer process: every tick it builds
the pacing snapshot from agent and call states in PostgreSQL, asks the
policy how many calls to launch, claims that many leads through the
compliance gate and originates them; every outcome goes back to the policy
and to the lead's retry rules. Several dialers may run the same campaign:
each tick's decision and claim are serialised by a campaign lock, and leads
are claimed with SKIP LOCKED. A dialer that dies leaves attempts the next
one to start adopts (see recover)."""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from zoneinfo import ZoneInfo

import asyncpg

from dialer.agents import routing
from dialer.agents.connector import AgentConnector
from dialer.calls.caller_id import Debtor
from dialer.calls.events import CallLost
from dialer.calls.outcome import AttemptResult, Connection, attempt_result
from dialer.calls.state import CallRecord, CallState
from dialer.compliance import gate
from dialer.compliance.windows import zone_may_be_open
from dialer.engine import Engine
from dialer.errors import DatabaseError
from dialer.outbound import attempts, dialers, floor, leads
from dialer.outbound.lifecycles import CampaignState
from dialer.outbound.plan import PbxHold, build_snapshot, plan_claims
from dialer.outbound.results import pacing_events
from dialer.outbound.stasis import CAMPAIGN_FLOW, AnsweredCalls
from dialer.outbound.store import CampaignStore
from dialer.portfolio.contact import contact_rates
from dialer.portfolio.model import Campaign, DialMode, Segment
from dialer.settings import Settings
from dialer.store.migrate import describe
from dialer.store.outage import CONNECTION_LOST, Outage
from pacing.model import PacingPolicy
from pacing.policies.predictive import Predictive
from pacing.policies.simple import FixedRatio, Preview, Progressive

log = logging.getLogger(__name__)

TICK_S = 0.5
REFRESH_S = 60.0  # leads from new accounts, contact rates by hour
ZONES_S = 15.0  # which zones hold ready leads
DRAIN_S = 120.0  # on stop, how long in-flight calls may take to end


def make_policy(campaign: Campaign) -> PacingPolicy:
    """The pacing policy of the campaign's dial mode."""
    match campaign.dial_mode:
        case DialMode.PREVIEW:
            return Preview()
        case DialMode.PROGRESSIVE:
            return Progressive()
        case DialMode.RATIO:
            return FixedRatio(campaign.dial_ratio)
    return Predictive(cap=campaign.abandon_target, prior_wrap_s=max(1.0, campaign.wrap_up_s))


def dialer_settings(settings: Settings, dialer_id: uuid.UUID) -> Settings:
    """The settings of one dialer process: its own Stasis application."""
    app = f"{settings.ari.app}-dialer-{dialer_id.hex[:12]}"
    return replace(settings, ari=replace(settings.ari, app=app))


def campaign_lock_key(campaign_id: int) -> int:
    """The advisory lock serialising ticks of one campaign across dialers."""
    return 0x5245_0000_0000 + campaign_id


@dataclass
class Tally:
    """What this dialer did, for its progress line."""

    claimed: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    results: Counter[str] = field(default_factory=Counter)
    adopted: int = 0

    def line(self, in_flight: int) -> str:
        results = ", ".join(f"{k} {v}" for k, v in sorted(self.results.items())) or "none yet"
        refused = sum(self.refused.values())
        return (f"dialed {self.claimed}, in flight {in_flight}, refused by the gate {refused}; "
                f"results: {results}")


class CampaignDialer:
    """Runs one campaign until it is stopped (or for a while)."""

    def __init__(self, settings: Settings, engine: Engine, campaign: Campaign,
                 lock_connection: asyncpg.Connection,
                 clock: Callable[[], datetime] | None = None,
                 dialer_id: uuid.UUID | None = None) -> None:
        self.settings = settings
        self.engine = engine
        self.pool = engine.store.pool
        self.campaign = campaign
        self.campaigns = CampaignStore(self.pool)
        self.clock = clock or engine.clock
        self.dialer_id = dialer_id or uuid.uuid4()
        self.policy = make_policy(campaign)
        self.connector = AgentConnector(engine, self.pool, campaign.wrap_up_s, campaign.caller_id,
                                        settings.agent_caller_id)
        self.answered = AnsweredCalls(engine, self.pool, self.connector,
                                      settings.callback_number, campaign.machine_action)
        self.tally = Tally()
        self.stopping = False  # set to end the loop as if the campaign stopped
        self._lock_connection = lock_connection
        start = self.clock()
        self._epoch = start.replace(hour=0, minute=0, second=0, microsecond=0)
        self._calls: set[asyncio.Task[None]] = set()
        self._zones: list[str] = []
        self._rates: tuple[float, ...] = contact_rates([])
        self._next_refresh = 0.0
        self._refreshed_to: datetime | None = None
        self._next_zones = 0.0
        self._pbx_hold = PbxHold()

    @classmethod
    async def start(cls, settings: Settings, name: str) -> CampaignDialer:
        """Connect, register this dialer (its lock lives as long as the
        process) and adopt what dead dialers of the campaign left. Each
        dialer has a Stasis application of its own: Asterisk sends an app's
        events to one WebSocket only, the last one opened."""
        dialer_id = uuid.uuid4()
        engine = await Engine.connect(dialer_settings(settings, dialer_id))
        try:
            campaign = await CampaignStore(engine.store.pool).load(name)
            try:
                lock_connection = await asyncpg.connect(settings.database_url)
            except (OSError, asyncpg.PostgresError) as error:
                raise DatabaseError(f"cannot open the dialer's lock connection: {error}") from None
            dialer = cls(settings, engine, campaign, lock_connection, dialer_id=dialer_id)
            await dialers.register_dialer(lock_connection, dialer.dialer_id, campaign.id,
                                         os.getpid())
            await dialer.recover()
        except BaseException:
            await engine.close()
            raise
        return dialer

    def stop(self) -> None:
        """Stop dialing; the calls in flight end, then run returns."""
        self.stopping = True

    async def close(self) -> None:
        for task in list(self._calls):
            task.cancel()
        await self._lock_connection.close()
        await self.engine.close()

    def _spawn(self, coroutine, name: str) -> None:
        task = asyncio.create_task(coroutine, name=name)
        self._calls.add(task)
        task.add_done_callback(self._call_done)

    def _call_done(self, task: asyncio.Task[None]) -> None:
        """A call's task ended: one line if it failed (its attempt stays open,
        for the next dialer to adopt)."""
        self._calls.discard(task)
        if task.cancelled() or task.exception() is None:
            return
        error = task.exception()
        if isinstance(error, CONNECTION_LOST):
            log.warning("%s: PostgreSQL unreachable (%s); its attempt is left open",
                        task.get_name(), error)
        else:
            log.error("%s failed", task.get_name(), exc_info=error)

    # Restart safety.

    async def recover(self) -> None:
        """Adopt the open attempts of dead dialers: a call whose channel
        Asterisk still has is followed to its end (a bridged agent stays
        bridged); one Asterisk no longer has ended while nobody listened and
        gets a final `lost` result. Their leads never dialed are freed."""
        alive = await self.engine.channel_ids()
        async with self.pool.acquire() as connection, connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock($1)",
                                     campaign_lock_key(self.campaign.id))
            dead = await dialers.dead_dialers(connection, self.campaign.id, self.dialer_id)
            holders = await dialers.dialers_with_open_attempts(connection, self.campaign.id, dead)
            orphans = await dialers.adopt_orphans(connection, self.campaign.id, dead,
                                                 self.dialer_id)
            freed = await self.connector.agents.free_stranded(connection, self.clock(), alive)
        if freed:
            log.warning("agents left on calls that ended are ready again: %s",
                        ", ".join(agent for agent, _ in freed))
        for _, leg in freed:
            if leg in alive:  # the agent's phone, still in a dead dialer's application
                await self.engine.hang_up(leg, "its call ended while no dialer listened")
        if not orphans:
            return
        for holder in holders:
            # The dead dialer's calls live in its Stasis application: listen
            # there too (answers to come, keys pressed, playbacks).
            await self.engine.hear_app(dialer_settings(self.settings, holder).ari.app)
        for orphan in orphans:
            self.tally.adopted += 1
            call_id = str(orphan.attempt_id)
            record = CallRecord(
                call_id=call_id, number=orphan.number, originated_at=orphan.started_at,
                state=CallState.ANSWERED if orphan.answered_at else CallState.ORIGINATING,
                answered_at=orphan.answered_at)
            self._spawn(self._follow(record, orphan, call_id in alive), f"adopt-{call_id}")

    async def _follow(self, record: CallRecord, orphan: dialers.OrphanAttempt, alive: bool) -> None:
        call_id = record.call_id
        finished = asyncio.ensure_future(
            self.engine.adopt(record, CAMPAIGN_FLOW, orphan.language.value))
        await asyncio.sleep(0)  # let adopt register the call before events for it
        bridged = orphan.agent and orphan.agent_channel and orphan.connected_at
        if bridged:
            # A conversation it was, whether or not it is still going on.
            self.answered.mark_connected(call_id, Connection(orphan.agent, orphan.connected_at))
            self._spawn(self.connector.follow_adopted(call_id, orphan.agent, orphan.agent_channel,
                                                      orphan.connected_at, finished),
                        f"adopted-pair-{call_id}")
        if not alive:
            self.engine.submit(CallLost(call_id=call_id, at=self.clock()))
        elif not bridged and orphan.answered_at is not None:
            # Its 2-second window passed while no dialer was there.
            self.answered.mark_abandoned(call_id)
            await self.engine.hang_up(call_id, "no agent: adopted after the 2 s rule")
        call = await finished
        await self._finish(call, orphan.started_at, orphan.segment)

    # The loop.

    async def run(self, *, seconds: float | None = None,
                  progress: Callable[[str], None] | None = None) -> Tally:
        """Dial while the campaign is running (pausing while it is paused)
        until it is stopped or seconds have passed; then let the calls in
        flight end."""
        loop = asyncio.get_running_loop()
        until = None if seconds is None else loop.time() + seconds
        next_progress = loop.time()
        outage = Outage()
        say = progress or (lambda line: None)
        while not self.stopping and (until is None or loop.time() < until):
            try:
                state = await self.campaigns.state(self.campaign.id)
                if state is CampaignState.STOPPED:
                    break
                if state is CampaignState.RUNNING:
                    await self._tick()
            except CONNECTION_LOST as error:
                # No call is placed while the dialer cannot record it.
                ride_out = self.settings.db_ride_out_s
                if outage.lost(loop.time(), error):
                    say(f"PostgreSQL is unreachable ({outage.reason}): not dialing until it "
                        f"is back; giving up after {ride_out:g} s")
                stop = outage.give_up(loop.time(), describe(self.settings.database_url),
                                      ride_out)
                if stop is not None:
                    raise stop from None
            else:
                gone = outage.back(loop.time())
                if gone is not None:
                    say(f"PostgreSQL is back after {gone:.1f} s: dialing again")
            if loop.time() >= next_progress:
                say(self.tally.line(len(self._calls)))
                next_progress = loop.time() + 5.0
            await asyncio.sleep(TICK_S)
        if self._calls:
            await asyncio.wait(list(self._calls), timeout=DRAIN_S)
        say(self.tally.line(len(self._calls)))
        return self.tally

    async def _refresh(self) -> None:
        loop = asyncio.get_running_loop()
        if loop.time() >= self._next_refresh:
            self._refreshed_to = await self.campaigns.refresh_leads(self.campaign.id,
                                                                    self._refreshed_to)
            async with self.pool.acquire() as connection:
                self._rates = contact_rates(await floor.contact_tallies(connection,
                                                                         self.campaign.id))
            self._next_refresh = loop.time() + REFRESH_S
            self._next_zones = 0.0
        if loop.time() >= self._next_zones:
            async with self.pool.acquire() as connection:
                self._zones = await leads.ready_zones(connection, self.campaign.id)
            self._next_zones = loop.time() + ZONES_S

    def _open_zones(self, now: datetime) -> tuple[list[str], list[float]]:
        zones = [z for z in self._zones if zone_may_be_open(self.campaign.window_profile, z, now)]
        rates = [self._rates[now.astimezone(ZoneInfo(z)).hour] for z in zones]
        return zones, rates

    def _rules(self, segment: Segment) -> gate.GateRules:
        strategy = self.campaign.strategy(segment)
        return gate.GateRules(window_profile=self.campaign.window_profile,
                              max_attempts=strategy.max_attempts, retry=strategy.retry,
                              agent_guaranteed=not strategy.dial_mode.may_overdial)

    async def _tick(self) -> None:
        if self._pbx_hold.holding(asyncio.get_running_loop().time()):
            return
        await self._refresh()
        now = self.clock()
        zones, rates = self._open_zones(now)
        async with self.pool.acquire() as connection, connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock($1)",
                                     campaign_lock_key(self.campaign.id))
            snapshot = build_snapshot(now, self._epoch, await floor.agent_rows(connection),
                                      await floor.calls_in_flight(connection, self.campaign.id,
                                                                   now))
            plan = plan_claims(self.campaign, self.policy.decide(snapshot), snapshot)
            claimed: list[leads.ClaimedLead] = []
            for count, segments in ((plan.guaranteed, plan.all_segments),
                                    (plan.extra, plan.overdial_segments)):
                batch = await leads.claim(connection, self.campaign.id, zones, rates, segments,
                                           count, now)
                # Held at once, so the next claim of this tick passes them by.
                await leads.hold_leads(connection, self.campaign.id,
                                        [lead.account_id for lead in batch], self.dialer_id)
                claimed += batch
            allowed = []
            for lead in await leads.lead_contexts(connection, self.campaign.id,
                                                   [c.account_id for c in claimed], now):
                decision = await self._decide(connection, lead, "claim", now)
                if isinstance(decision, gate.Allowed):
                    allowed.append(lead)
        for lead in allowed:
            self._spawn(self._dial(lead), f"dial-{lead.account_id}")

    async def _decide(self, connection: asyncpg.Connection, lead: leads.LeadContext, stage: str,
                      now: datetime) -> gate.Decision:
        decision = gate.decide(lead.facts, self._rules(lead.segment), now)
        if isinstance(decision, gate.Refused):
            self.tally.refused[decision.rule.value] += 1
            await leads.set_aside(connection, self.campaign.id, lead.account_id, stage,
                                   decision.rule.value, decision.detail, decision.until, now)
        return decision

    async def _dial(self, claimed: leads.LeadContext) -> None:
        """Ask the gate again with fresh facts (a payment or an opt-out may
        have arrived since the claim), record the attempt, place the call."""
        attempt_id = uuid.uuid4()
        async with self.pool.acquire() as connection, connection.transaction():
            now = self.clock()
            fresh = await leads.lead_contexts(connection, self.campaign.id,
                                              [claimed.account_id], now)
            decision = await self._decide(connection, fresh[0], "dial", now)
            if not isinstance(decision, gate.Allowed):
                return
            await attempts.start_attempt(connection, attempt_id, self.campaign.id, fresh[0],
                                         decision.phone, self.dialer_id, now)
        self.tally.claimed += 1
        lead = fresh[0]
        self.answered.expect(
            str(attempt_id),
            routing.needs_of(lead.language.value, lead.segment.value, lead.balance,
                             lead.risk_score),
            Debtor(lead.debtor_name, lead.facts.reference, decision.phone.number))
        call = await self.engine.place_call(
            decision.phone.number, lead.language.value, call_id=str(attempt_id),
            caller_id=self.campaign.caller_id, ring_timeout_s=self.campaign.ring_timeout_s,
            flow=CAMPAIGN_FLOW, amd=self.campaign.amd)
        await self._finish(call, now, lead.segment)

    async def _finish(self, call: CallRecord, started_at: datetime, segment: Segment) -> None:
        connection = self.answered.connection(call.call_id)
        result = attempt_result(call, connection)
        self.tally.results[result.value] += 1
        if result is AttemptResult.NOT_PLACED:
            hold = self._pbx_hold.refused(asyncio.get_running_loop().time())
            if hold is not None:
                log.warning("Asterisk did not place a call (no channel or RTP port, or the "
                            "trunk is down: see its log); no new calls for %.0f s, and the "
                            "lead is not charged the attempt", hold)
        else:
            self._pbx_hold.placed()
        strategy = self.campaign.strategy(segment)
        async with self.pool.acquire() as db, db.transaction():
            await attempts.finish_attempt(
                db, uuid.UUID(call.call_id), result, call.ended_at or self.clock(),
                call.answered_at, gate.next_callable_at(result, started_at, strategy.retry),
                strategy.max_attempts)
        for event in pacing_events(call, connection, result, self.campaign.wrap_up_s,
                                   self._epoch):
            self.policy.observe(event)

