"""The live loop of one campaign in one dialer process: every tick it builds
the pacing snapshot from agent and call states in PostgreSQL, asks the
policy how many calls to launch, claims that many leads through the
compliance gate (claiming.py) and places them (placing.py); every outcome
goes back to the policy and to the lead's retry rules. Several dialers may
run the same campaign: each tick's decision and claim are serialised by a
campaign lock, and leads are claimed with SKIP LOCKED; each policy hears
the outcomes the others kept too (history.py), so the abandon budget and
the estimates are the campaign's. A dialer that dies leaves attempts the
next one to start adopts (recovery.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from dialer.agents.connector import AgentConnector
from dialer.compliance.windows import dialing_ends_s, zone_may_be_open
from dialer.engine import Engine
from dialer.errors import DatabaseError
from dialer.metrics.definitions import CALLS_IN_FLIGHT, PACED_CALLS
from dialer.outbound import claiming, dialers, floor, history, leads
from dialer.outbound.lifecycles import CampaignState
from dialer.outbound.placing import CallPlacer, Tally
from dialer.outbound.plan import build_pools, plan_claims, plan_lines
from dialer.outbound.recovery import Recovery, campaign_lock_key
from dialer.outbound.results import PacingFeed
from dialer.outbound.self_service import SelfServiceRoute
from dialer.outbound.stasis import AnsweredCalls
from dialer.outbound.store import CampaignStore
from dialer.payments.stasis import Payments
from dialer.payments.wiring import payment_wiring
from dialer.portfolio.contact import contact_rates
from dialer.portfolio.model import AnsweredTo, Campaign, DialMode
from dialer.settings import PaymentGatewaySettings, Settings
from dialer.store.migrate import describe
from dialer.store.outage import CONNECTION_LOST, Outage
from pacing.model import PacingPolicy
from pacing.policies.predictive import WINDOW_S, Predictive
from pacing.policies.simple import FixedRatio, Preview, Progressive
from pacing.pools import LanguageShare

log = logging.getLogger(__name__)

TICK_S = 0.5
REFRESH_S = 60.0  # leads from new accounts, contact rates by hour
ZONES_S = 15.0  # which zones hold ready leads
DRAIN_S = 120.0  # on stop, how long in-flight calls may take to end
# Pacing history older than the longest regulator's window is dropped.
HISTORY_KEPT = timedelta(seconds=max(WINDOW_S.values()) + 86400.0)


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


class CampaignDialer:
    """Runs one campaign until it is stopped (or for a while)."""

    def __init__(self, settings: Settings, engine: Engine, campaign: Campaign,
                 lock_connection: asyncpg.Connection,
                 clock: Callable[[], datetime] | None = None,
                 dialer_id: uuid.UUID | None = None, payments: Payments | None = None,
                 resources: contextlib.AsyncExitStack | None = None) -> None:
        self.settings = settings
        self.engine = engine
        self._journal_behind = False
        self.pool = engine.store.pool
        self.campaign = campaign
        self.campaigns = CampaignStore(self.pool)
        self.clock = clock or engine.clock
        self.dialer_id = dialer_id or uuid.uuid4()
        self.policy = make_policy(campaign)
        start = self.clock()
        # Midnight of the dialer's first day: pacing's hour of day is the clock's.
        epoch = start.replace(hour=0, minute=0, second=0, microsecond=0)
        self.feed = PacingFeed(self.policy, epoch, self.clock)
        self.connector = AgentConnector(engine, self.pool, campaign.wrap_up_s, campaign.caller_id,
                                        settings.db_ride_out_s, settings.agent_caller_id,
                                        asterisk=settings.asterisk_name)
        # payments None: no card gateway, so no payment by keypad.
        self_service = (SelfServiceRoute(engine, self.pool, campaign.name,
                                         settings.callback_number, payments)
                        if campaign.answered_to is AnsweredTo.SELF_SERVICE else None)
        self.answered = AnsweredCalls(engine, self.pool, self.connector, self.feed,
                                      settings.callback_number, campaign.machine_action,
                                      self_service=self_service, payments=payments,
                                      campaign=campaign.name,
                                      inbound_app=settings.ari.inbound_app)
        self._resources = resources or contextlib.AsyncExitStack()  # the card gateway's
        self.tally = Tally(campaign.name)
        self.stopping = False  # set to end the loop as if the campaign stopped
        self.warmed = 0  # outcomes of the campaign's pacing history read back at the start
        self._heard_to = 0  # the last row of the campaign's pacing history read
        self._lock_connection = lock_connection
        self.placer = CallPlacer(engine, self.pool, campaign, self.dialer_id, self.answered,
                                 self.feed, self.tally, self.clock, settings.db_ride_out_s)
        self.recovery = Recovery(engine, self.pool, campaign.id, self.dialer_id, self.connector,
                                 self.answered,
                                 lambda dialer: dialer_settings(settings, dialer).ari.app,
                                 self.clock)
        self._epoch = epoch
        self._calls: set[asyncio.Task[None]] = set()
        self._zones: list[str] = []
        self._rates: tuple[float, ...] = contact_rates([])
        self._languages: tuple[LanguageShare, ...] = ()  # of the ready leads: the pools
        self._next_refresh = 0.0
        self._refreshed_to: datetime | None = None
        self._next_zones = 0.0

    @classmethod
    async def start(cls, settings: Settings, name: str,
                    gateway: PaymentGatewaySettings | None = None) -> CampaignDialer:
        """Connect, register this dialer (its lock lives as long as the
        process) and adopt what dead dialers of the campaign left. Each
        dialer has a Stasis application of its own: Asterisk sends an app's
        events to one WebSocket only, the last one opened. With a card
        gateway, debtors may pay by keypad on its calls, and agents may hand
        their debtors to the payment capture (the payment attempts an earlier
        process left in flight are settled first)."""
        dialer_id = uuid.uuid4()
        engine = await Engine.connect(dialer_settings(settings, dialer_id))
        resources = contextlib.AsyncExitStack()
        try:
            campaign = await CampaignStore(engine.store.pool).load(name)
            payments = None
            if gateway is not None:
                wired = await resources.enter_async_context(
                    payment_wiring(engine.store.pool, gateway))
                payments = Payments(engine, engine.store.pool, *wired)
            try:
                lock_connection = await asyncpg.connect(settings.database_url)
            except (OSError, asyncpg.PostgresError) as error:
                raise DatabaseError(f"cannot open the dialer's lock connection: {error}") from None
            dialer = cls(settings, engine, campaign, lock_connection, dialer_id=dialer_id,
                         payments=payments, resources=resources)
            await dialers.register_dialer(lock_connection, dialer.dialer_id, campaign.id,
                                         os.getpid(), settings.asterisk_name)
            await dialer.connector.freed.start(settings.database_url)
            resources.push_async_callback(dialer.connector.freed.stop)
            dialer.connector.free_seen.start()
            resources.push_async_callback(dialer.connector.free_seen.stop)
            await dialer.warm_start()  # before adopted calls tell pacing anything new
            await dialer.recover()
        except BaseException:
            await resources.aclose()
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
        await self._resources.aclose()
        await self.engine.close()

    @property
    def in_flight(self) -> int:
        """Calls (and adopted calls) this dialer is following now."""
        return len(self._calls)

    async def calls_ended(self, timeout_s: float | None = None) -> None:
        """Wait for the calls in flight to end (at most timeout_s)."""
        if self._calls:
            await asyncio.wait(list(self._calls), timeout=timeout_s)

    def _spawn(self, coroutine: Coroutine[Any, Any, None], name: str) -> None:
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

    async def warm_start(self) -> None:
        """A predictive policy reads back what the campaign's pacing heard
        within its regulator's window (answer rate by hour; talk, wrap-up and
        answer-delay samples; the window's live answers and abandons) and the
        closed loop's last state, instead of relearning from zero. The talks
        still going on it counts as censored samples as it decides."""
        if not isinstance(self.policy, Predictive):
            return
        now = self.clock()
        since = now - timedelta(seconds=WINDOW_S[self.policy.regulator])
        async with self.pool.acquire() as connection:
            await history.forget_before(connection, self.campaign.id, now - HISTORY_KEPT)
            reading = await history.heard_after(connection, self.campaign.id, 0, self._epoch,
                                                self.dialer_id, since)
            log_lambda = await history.last_state(connection, self.campaign.id)
        self.policy.warm_start(reading.events, log_lambda)
        self.warmed = len(reading.events)
        self._heard_to = reading.last_id  # hear_others goes on from here

    async def hear_others(self) -> None:
        """A predictive policy hears what the campaign's other dialers kept
        since the last reading (in their order, each once; never this
        dialer's own): its estimators and the regulator's window it brakes
        on are the campaign's, and its closed loop steps on the campaign's
        every outcome, as one dialer's would."""
        if not isinstance(self.policy, Predictive):
            return
        async with self.pool.acquire() as connection:
            reading = await history.heard_after(connection, self.campaign.id, self._heard_to,
                                                self._epoch, self.dialer_id)
        self.feed.heard_elsewhere(reading.events)
        self._heard_to = reading.last_id

    async def recover(self) -> None:
        """Adopt the open attempts of the campaign's dead dialers
        (dialer.outbound.recovery)."""
        self.tally.adopted += await self.recovery.adopt(self._spawn, self.placer.settle)

    # The loop.

    async def idle(self) -> bool:
        """Nothing left to dial now and no call up: no call in flight (nor
        any of its events waiting for PostgreSQL), and no ready lead of the
        campaign's segments due now in a zone whose calling window may be
        open. Leads due later (a retry delay, Reg F, a window that opens
        later) do not count."""
        if self._calls or self.engine.journal.waiting:
            return False
        now = self.clock()
        async with self.pool.acquire() as connection:
            zones = await leads.due_zones(connection, self.campaign.id, self.campaign.segments,
                                          now)
        return not any(zone_may_be_open(self.campaign.window_profile, z, now) for z in zones)

    async def run(self, *, seconds: float | None = None, until_idle: bool = False,
                  progress: Callable[[str], None] | None = None) -> Tally:
        """Dial while the campaign is running (pausing while it is paused)
        until it is stopped, seconds have passed or, with until_idle, it is
        idle (nothing left to dial now and no call up); then let the calls
        in flight end."""
        loop = asyncio.get_running_loop()
        until = None if seconds is None else loop.time() + seconds
        next_progress = loop.time()
        outage = Outage()
        say = progress or (lambda line: None)
        if isinstance(self.policy, Predictive):
            say(f"pacing: {self.warmed} outcome(s) of the campaign's history read back, "
                f"closed loop at lambda {math.exp(self.policy.log_lambda):.4f}")
        while not self.stopping and (until is None or loop.time() < until):
            try:
                state = await self.campaigns.state(self.campaign.id)
                if state is CampaignState.STOPPED:
                    break
                await self.hear_others()
                if state is CampaignState.RUNNING:
                    await self.tick()
                await self.keep_history()
                if until_idle and await self.idle():
                    say("idle: nothing left to dial now and no call up")
                    break
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
            CALLS_IN_FLIGHT.labels(self.campaign.name).set(self.in_flight)
            if loop.time() >= next_progress:
                say(self.tally.line(self.in_flight))
                next_progress = loop.time() + 5.0
            await asyncio.sleep(TICK_S)
        await self.calls_ended(DRAIN_S)
        CALLS_IN_FLIGHT.labels(self.campaign.name).set(self.in_flight)
        with contextlib.suppress(*CONNECTION_LOST):
            await self.keep_history()
            await self.hear_others()
        say(self.tally.line(self.in_flight))
        if isinstance(self.policy, Predictive):
            say(f"pacing: {self.feed.elsewhere} outcome(s) heard from the campaign's other "
                f"dialers; the regulator's window: {self.policy.window_live:.10g} live "
                f"answer(s), {self.policy.window_abandoned:.10g} abandoned")
        return self.tally

    async def keep_history(self) -> None:
        """What pacing heard since the last time, appended to the campaign's
        history, with the closed loop's state (dialer.outbound.history)."""
        heard = self.feed.take()
        if not heard:
            return
        try:
            async with self.pool.acquire() as connection, connection.transaction():
                await history.keep_heard(connection, self.campaign.id, self.dialer_id,
                                         self._epoch, heard)
                if isinstance(self.policy, Predictive):
                    await history.save_state(connection, self.campaign.id,
                                             self.policy.log_lambda, self.clock())
        except BaseException:
            self.feed.give_back(heard)
            raise

    def look_again(self) -> None:
        """Read the leads' zones and contact rates again at the next tick
        (they are cached for REFRESH_S and ZONES_S otherwise)."""
        self._next_refresh = self._next_zones = 0.0

    async def _refresh(self) -> None:
        loop = asyncio.get_running_loop()
        if loop.time() >= self._next_refresh:
            self._refreshed_to = await self.campaigns.refresh_leads(self.campaign.id,
                                                                    self._refreshed_to)
            async with self.pool.acquire() as connection:
                self._rates = contact_rates(await floor.contact_tallies(connection,
                                                                         self.campaign.id))
                self._languages = await floor.language_shares(connection, self.campaign.id)
            self._next_refresh = loop.time() + REFRESH_S
            self._next_zones = 0.0
        if loop.time() >= self._next_zones:
            async with self.pool.acquire() as connection:
                self._zones = await leads.ready_zones(connection, self.campaign.id)
            self._next_zones = loop.time() + ZONES_S
            self._plan_day_end()

    def _plan_day_end(self) -> None:
        """Tell the predictive policy when today's dialing ends on its clock:
        the calling window's latest close in the zones of the ready leads
        (its abandon budget counts the live answers still to come until
        then)."""
        if not isinstance(self.policy, Predictive):
            return
        days = (self.clock() - self._epoch) // timedelta(days=1)
        ends = dialing_ends_s(self.campaign.window_profile, self._zones,
                              self._epoch + timedelta(days=days))
        if ends is not None:
            self.policy.dials_until(ends)

    def _open_zones(self, now: datetime) -> tuple[list[str], list[float]]:
        zones = [z for z in self._zones if zone_may_be_open(self.campaign.window_profile, z, now)]
        rates = [self._rates[now.astimezone(ZoneInfo(z)).hour] for z in zones]
        return zones, rates

    async def tick(self) -> None:
        """One step of the loop: the snapshot of each language's pool, the
        policy's decision for each, the claim of that many of the language's
        leads through the gate; the allowed leads are dialed in tasks of
        their own (in_flight, calls_ended). One policy decides for every
        pool: one closed loop, one abandon budget, the campaign's."""
        if self.placer.pbx_hold.holding(asyncio.get_running_loop().time()):
            return
        behind = self.engine.journal.behind
        if behind != self._journal_behind:
            self._journal_behind = behind
            if behind:
                log.warning("%d call event(s) wait for PostgreSQL: no new call until they "
                            "are written", self.engine.journal.waiting)
            else:
                log.warning("call events written: dialing again")
        if behind:
            return
        await self._refresh()
        now = self.clock()
        zones, rates = self._open_zones(now)
        async with self.pool.acquire() as connection, connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock($1)",
                                     campaign_lock_key(self.campaign.id))
            if self.campaign.answered_to is AnsweredTo.SELF_SERVICE:
                # No agents to pace to: the campaign's lines, on every server.
                calls = await floor.calls_in_flight(connection, self.campaign.id, now)
                plans = [plan_lines(self.campaign, len(calls))]
            else:
                # This server's agents take this server's calls.
                server = self.settings.asterisk_name
                calls = await floor.calls_in_flight(connection, self.campaign.id, now, server)
                agents = await floor.agent_rows(connection, server)
                self.feed.agents_seen(agents)  # wrap-ups that ended, before deciding
                plans = [plan_claims(self.campaign, self.policy.decide(pool.snapshot),
                                     pool.snapshot, pool.language)
                         for pool in build_pools(now, self._epoch, agents, calls,
                                                 self._languages)]
            claims = [await claiming.claim(
                connection, self.campaign, self.dialer_id,
                ((plan.guaranteed, plan.all_segments), (plan.extra, plan.overdial_segments)),
                zones, rates, now, plan.language) for plan in plans]
        PACED_CALLS.labels(self.campaign.name).set(sum(p.guaranteed + p.extra for p in plans))
        for claim in claims:
            for refusal in claim.refused:
                self.tally.refuse(refusal.rule.value, "claim")
            for lead in claim.allowed:
                self._spawn(self.placer.dial(lead), f"dial-{lead.account_id}")
