"""The hopper and the campaign loop against the real PostgreSQL, with the
telephony replaced by a script of outcomes and the clock injected: two
claimers never share a lead, leads come best first, and over a simulated
week the gate holds every rule."""

import asyncio
import itertools
import os
import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from dialer.calls.caller_id import AgentCallerId
from dialer.calls.outcome import CallOutcome
from dialer.calls.state import CallRecord, CallState
from dialer.compliance.windows import PRESETS, is_open
from dialer.limits import RIDE_OUT_S
from dialer.outbound import dialers, leads
from dialer.outbound.dialer import CampaignDialer
from dialer.outbound.lifecycles import CampaignAction
from dialer.outbound.store import CampaignStore
from dialer.portfolio.importer import import_file
from dialer.portfolio.importing import ImportDefaults
from dialer.portfolio.model import (
    Campaign,
    DialMode,
    DoNotCall,
    DoNotCallReason,
    RetryDelays,
    Segment,
    SegmentThresholds,
    Strategy,
)
from dialer.portfolio.store import AccountStore
from dialer.settings import DEFAULT_ASTERISK_NAME

pytestmark = pytest.mark.lab

RETRY = RetryDelays(busy_s=600, no_answer_s=1800, machine_s=3600, abandoned_s=3600,
                    failed_s=1800, hung_up_s=1800)
AREA_CODES = {"America/New_York": "212", "America/Chicago": "312",
              "America/Los_Angeles": "213", "Pacific/Honolulu": "808"}

# What a dialer reads of its settings beside the engine's (which is fake here).
SETTINGS = SimpleNamespace(callback_number="+15550100000", agent_caller_id=AgentCallerId.DEBTOR,
                           db_ride_out_s=RIDE_OUT_S, asterisk_name=DEFAULT_ASTERISK_NAME,
                           ari=SimpleNamespace(inbound_app="recobro-inbound"))


def campaign(name: str, mode: DialMode = DialMode.PROGRESSIVE, max_attempts: int = 50) -> Campaign:
    strategies = tuple(Strategy(s, mode, priority=p, max_attempts=max_attempts, retry=RETRY)
                       for s, p in ((Segment.EARLY, 3), (Segment.MID, 2), (Segment.LATE, 1)))
    return Campaign(id=0, name=name, dial_mode=mode, dial_ratio=2.0, abandon_target=0.03,
                    caller_id="+15550100000", window_profile="us", ring_timeout_s=25,
                    wrap_up_s=0, thresholds=SegmentThresholds(), segments=tuple(Segment),
                    strategies=strategies)


@pytest.fixture
async def pool(fresh_database):
    pool = await asyncpg.create_pool(fresh_database, min_size=2, max_size=8)
    yield pool
    await pool.close()


async def load_accounts(pool, tmp_path, rows: list[str]) -> None:
    path = tmp_path / "accounts.csv"
    path.write_text("reference,debtor_name,balance,days_past_due,risk_score,phone1\n"
                    + "\n".join(rows) + "\n")
    outcome = await import_file(AccountStore(pool), path, {}, ImportDefaults())
    assert outcome.errors == []


def number_of(i: int) -> str:
    """Account Ri's phone: spread over four US zones."""
    codes = list(AREA_CODES.values())
    return f"+1{codes[i % len(codes)]}5{i // 10:02d}{1000 + i % 10}"


def us_accounts(count: int) -> list[str]:
    return [f"R{i},Debtor {i},{100 + i},{(i * 7) % 150},0.{i % 9},{number_of(i)}"
            for i in range(count)]


async def test_two_claimers_never_share_a_lead(pool, tmp_path):
    await load_accounts(pool, tmp_path, us_accounts(300))
    store = CampaignStore(pool)
    campaign_id = await store.create(campaign("claims"))
    await store.refresh_leads(campaign_id)
    zones = list(AREA_CODES)
    now = datetime(2026, 11, 24, 20, tzinfo=UTC)

    async def claimer() -> list[int]:
        dialer_id = uuid.uuid4()
        async with pool.acquire() as connection:
            await connection.execute("INSERT INTO dialers (id, campaign_id, pid) "
                                     "VALUES ($1, $2, 0)", dialer_id, campaign_id)
        got: list[int] = []
        while True:
            async with pool.acquire() as connection, connection.transaction():
                batch = await leads.claim(connection, campaign_id, zones, [1.0] * len(zones),
                                           list(Segment), 7, now)
                await leads.hold_leads(connection, campaign_id,
                                        [b.account_id for b in batch], dialer_id)
            if not batch:
                return got
            got += [b.account_id for b in batch]
            await asyncio.sleep(0)

    first, second = await asyncio.gather(claimer(), claimer())
    assert first and second
    assert not set(first) & set(second)
    assert len(first) + len(second) == 300


async def test_leads_come_by_priority_then_value_at_the_local_hour(pool, tmp_path):
    # R0 early (DPD 5) but small; R1 mid, large, in New York; R2 mid, larger, in Honolulu.
    await load_accounts(pool, tmp_path, ["R0,A,10,5,0.5,+12125551030",
                                         "R1,B,1000,40,0.5,+12125551031",
                                         "R2,C,1500,40,0.5,+18085551030"])
    store = CampaignStore(pool)
    campaign_id = await store.create(campaign("order"))
    await store.refresh_leads(campaign_id)
    now = datetime(2026, 11, 24, 20, tzinfo=UTC)
    zones = ["America/New_York", "Pacific/Honolulu"]
    async with pool.acquire() as connection, connection.transaction():
        # Honolulu's hour is a poor one: 1500 x 0.5 x 0.1 < 1000 x 0.5 x 0.3.
        claimed = await leads.claim(connection, campaign_id, zones, [0.3, 0.1],
                                     list(Segment), 3, now)
    references = await pool.fetch("SELECT id, reference FROM accounts")
    by_id = {r["id"]: r["reference"] for r in references}
    assert [by_id[c.account_id] for c in claimed] == ["R0", "R1", "R2"]


class ScriptedEngine:
    """The telephony side, scripted: every call ends at once with the
    outcome the script gives its number."""

    def __init__(self, pool, clock, outcome_of):
        self.store = SimpleNamespace(pool=pool)
        self.clock = clock
        self.outcome_of = outcome_of
        self.placed: list[tuple[str, datetime]] = []
        # No call event waits: no outage here, and PostgreSQL keeps up.
        self.journal = SimpleNamespace(waiting=0, behind=False)

    def add_listener(self, listener):
        pass

    def register_flow(self, name, runner):
        pass

    async def place_call(self, number, language, *, call_id, caller_id, ring_timeout_s, flow,
                         amd):
        now = self.clock()
        self.placed.append((number, now))
        return CallRecord(call_id=call_id, number=number, originated_at=now,
                          state=CallState.ENDED, ended_at=now + timedelta(seconds=20),
                          outcome=self.outcome_of(number))


async def test_a_simulated_week_holds_every_rule(pool, tmp_path, fresh_database):
    """Eight days, a tick every 10 minutes, every call unanswered: each
    account is called as often as the rules allow. Thanksgiving falls in
    the week; one account pays and one number is put on the DNC list
    mid-week."""
    await load_accounts(pool, tmp_path, us_accounts(40))
    accounts = AccountStore(pool)
    await accounts.add_do_not_call(DoNotCall(DoNotCallReason.DNC, number=number_of(8)))
    store = CampaignStore(pool)
    c = campaign("week")
    c_id = await store.create(c)
    await store.steer("week", CampaignAction.START)
    await pool.execute("UPDATE agents SET state = 'ready'")
    clock = [datetime(2026, 11, 22, 12, tzinfo=UTC)]
    engine = ScriptedEngine(pool, lambda: clock[0], lambda number: CallOutcome.NO_ANSWER)
    lock = await asyncpg.connect(fresh_database)
    dialer = CampaignDialer(SETTINGS, engine, await store.load("week"), lock,
                            clock=lambda: clock[0])
    await dialers.register_dialer(lock, dialer.dialer_id, c_id, os.getpid(),
                                 dialer.settings.asterisk_name)
    paid_at = datetime(2026, 11, 25, 12, tzinfo=UTC)
    end = clock[0] + timedelta(days=8)
    while clock[0] < end:
        if clock[0] == paid_at:
            await accounts.set_status("R5", "paid")
            await accounts.add_do_not_call(DoNotCall(DoNotCallReason.DNC, number=number_of(9)))
        dialer.look_again()  # zones as of this simulated moment
        await dialer.tick()
        await dialer.calls_ended()
        clock[0] += timedelta(minutes=10)
    await lock.close()

    attempts = await pool.fetch(
        "SELECT a.account_id, c.reference, a.number, a.started_at, a.result, p.time_zones "
        "FROM attempts a JOIN accounts c ON c.id = a.account_id "
        "JOIN phones p ON p.id = a.phone_id ORDER BY a.started_at")
    assert len(attempts) > 40 * 7  # the rules bind, not the script
    by_account: dict[str, list[datetime]] = {}
    for attempt in attempts:
        by_account.setdefault(attempt["reference"], []).append(attempt["started_at"])
        zone = attempt["time_zones"][0]
        assert is_open(PRESETS["us"], zone, attempt["started_at"]), attempt
        local = attempt["started_at"].astimezone(ZoneInfo(zone))
        assert local.date() != datetime(2026, 11, 26).date()  # Thanksgiving
        assert attempt["result"] == "no_answer"
    for reference, times in by_account.items():
        for start in times:  # Reg F: 7 in any 7 days
            assert sum(1 for t in times if start <= t < start + timedelta(days=7)) <= 7, reference
        for earlier, later in itertools.pairwise(times):  # retry delay
            assert later - earlier >= timedelta(seconds=RETRY.no_answer_s), reference
    assert by_account["R5"] and all(t < paid_at for t in by_account["R5"])
    assert by_account["R9"] and all(t < paid_at for t in by_account["R9"])
    assert "R8" not in by_account
    refusals = {r["rule"] for r in await pool.fetch("SELECT DISTINCT rule FROM compliance_refusals")}
    assert {"reg_f_7_in_7", "account_status"} <= refusals


async def test_a_payment_stops_a_lead_already_claimed(pool, tmp_path, fresh_database):
    """The gate is asked again just before the call: an account paid
    between the claim and the dial is not called."""
    await load_accounts(pool, tmp_path, us_accounts(1))
    store = CampaignStore(pool)
    c_id = await store.create(campaign("queued"))
    await store.refresh_leads(c_id)
    now = datetime(2026, 11, 24, 20, tzinfo=UTC)
    engine = ScriptedEngine(pool, lambda: now, lambda number: CallOutcome.NO_ANSWER)
    lock = await asyncpg.connect(fresh_database)
    dialer = CampaignDialer(SETTINGS, engine, await store.load("queued"), lock,
                            clock=lambda: now)
    await dialers.register_dialer(lock, dialer.dialer_id, c_id, os.getpid(),
                                 dialer.settings.asterisk_name)
    async with pool.acquire() as connection, connection.transaction():
        claimed = await leads.claim(connection, c_id, ["America/New_York"], [1.0],
                                     list(Segment), 1, now)
        await leads.hold_leads(connection, c_id, [claimed[0].account_id], dialer.dialer_id)
        lead = (await leads.lead_contexts(connection, c_id, [claimed[0].account_id], now))[0]
    await AccountStore(pool).set_status("R0", "paid")
    await dialer.placer.dial(lead)
    await lock.close()
    assert engine.placed == []
    assert await pool.fetchval("SELECT count(*) FROM attempts") == 0
    refusal = await pool.fetchrow("SELECT stage, rule FROM compliance_refusals")
    assert (refusal["stage"], refusal["rule"]) == ("dial", "account_status")
    assert await pool.fetchval("SELECT state FROM leads") == "done"


async def test_leads_follow_new_and_changed_accounts(pool, tmp_path):
    await load_accounts(pool, tmp_path, us_accounts(3))
    store = CampaignStore(pool)
    c_id = await store.create(campaign("refresh"))
    since = await store.refresh_leads(c_id)
    assert await pool.fetchval("SELECT count(*) FROM leads") == 3
    # A re-import brings a new account and moves R0 from early to late.
    await load_accounts(pool, tmp_path, ["R0,Debtor 0,100,150,0.5," + number_of(0),
                                         "R9,Debtor 9,100,10,0.5," + number_of(9)])
    await store.refresh_leads(c_id, since)
    leads = await pool.fetch("SELECT a.reference, l.segment FROM leads l "
                             "JOIN accounts a ON a.id = l.account_id ORDER BY 1")
    assert [(r["reference"], r["segment"]) for r in leads] == [
        ("R0", "late"), ("R1", "early"), ("R2", "early"), ("R9", "early")]


async def test_pause_resume_and_stop_are_obeyed(pool, tmp_path, fresh_database):
    await load_accounts(pool, tmp_path, us_accounts(40))
    store = CampaignStore(pool)
    c_id = await store.create(campaign("steer"))
    await pool.execute("UPDATE agents SET state = 'ready'")
    now = datetime(2026, 11, 24, 20, tzinfo=UTC)
    engine = ScriptedEngine(pool, lambda: now, lambda number: CallOutcome.BUSY)
    lock = await asyncpg.connect(fresh_database)
    dialer = CampaignDialer(SETTINGS, engine, await store.load("steer"), lock,
                            clock=lambda: now)
    await dialers.register_dialer(lock, dialer.dialer_id, c_id, os.getpid(),
                                 dialer.settings.asterisk_name)
    await store.steer("steer", CampaignAction.START)
    await store.steer("steer", CampaignAction.PAUSE)
    await dialer.run(seconds=1.2)
    assert engine.placed == []
    await store.steer("steer", CampaignAction.RESUME)
    await dialer.run(seconds=1.2)
    placed = len(engine.placed)
    assert placed >= 4
    await store.steer("steer", CampaignAction.STOP)
    await dialer.run(seconds=30)  # returns at the first tick: the campaign is stopped
    assert len(engine.placed) == placed
    await lock.close()


async def test_run_until_idle_returns_once_nothing_is_due_and_no_call_is_up(
        pool, tmp_path, fresh_database):
    """`campaign run --until-idle`: the loop dials each lead due now once
    and returns by itself, though no --for bounds it: every call ended
    busy (each lead due again only after its retry delay), and the leads
    still due are in zones whose calling window is closed."""
    await load_accounts(pool, tmp_path, us_accounts(8))
    store = CampaignStore(pool)
    c_id = await store.create(campaign("idle"))
    await store.steer("idle", CampaignAction.START)
    await pool.execute("UPDATE agents SET state = 'ready'")
    # 08:30 in New York: its window (08:00-21:00) is open; not yet in the
    # other three zones.
    now = datetime(2026, 11, 24, 13, 30, tzinfo=UTC)
    engine = ScriptedEngine(pool, lambda: now, lambda number: CallOutcome.BUSY)
    lock = await asyncpg.connect(fresh_database)
    dialer = CampaignDialer(SETTINGS, engine, await store.load("idle"), lock,
                            clock=lambda: now)
    await dialers.register_dialer(lock, dialer.dialer_id, c_id, os.getpid(),
                                 dialer.settings.asterisk_name)
    await store.refresh_leads(c_id)
    assert not await dialer.idle()  # New York's leads are due
    # Not idle, it would run until the bound, and fail here.
    await asyncio.wait_for(dialer.run(until_idle=True), 60)
    await lock.close()
    new_york = [number_of(i) for i in range(8) if number_of(i).startswith("+1212")]
    assert sorted(number for number, _ in engine.placed) == sorted(new_york)
    due = await pool.fetch("SELECT a.reference FROM leads l JOIN accounts a "
                           "ON a.id = l.account_id WHERE l.state = 'ready' "
                           "AND l.next_callable_at <= $1", now)
    assert len(due) == 8 - len(new_york)  # due, in zones still closed
    assert await dialer.idle()
