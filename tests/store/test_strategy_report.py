"""The strategy report against the lab's PostgreSQL (issue 17): a
hand-made handful of attempts gives the cells of a hand-computed fixture
(corrections, captures' promises, kept and broken promises, zones,
attempts that placed no call or are still in flight); a simulated month of
attempts (seeded random, its clock injected) gives, cell by cell, what the
simulation itself tallied of what it wrote; each attempt keeps the dial
mode it was placed in; a date range is the debtor's local dates; several
currencies need --currency; messages by channel and template version give
the cells of a hand-computed fixture."""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from dialer.errors import ConfigError
from dialer.reports.cells import Dimension, Filters
from dialer.reports.commands import gather
from dialer.reports.messaging import MESSAGE_DIMENSIONS
from dialer.reports.strategy import CALL_DIMENSIONS
from tests.store.test_history import import_text

pytestmark = pytest.mark.lab

# The report's clock: promises due by then are judged.
AS_OF = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
ZONES = {"NY": "America/New_York", "MAD": "Europe/Madrid", "TYO": "Asia/Tokyo"}
SEGMENTS = ("early", "mid", "late")
# The accounts: three per zone and segment, and one with no zone of its
# own (its lead's zone counts).
_HEADER = "reference,debtor_name,balance,days_past_due,risk_score,language,time_zone,phone1\n"
_DAYS_PAST_DUE = {"early": 10, "mid": 60, "late": 200}
ACCOUNTS = _HEADER + "".join(
    f"{zone}-{segment}-{i},Deudor {zone} {i},{100 + 10 * i}.00,{_DAYS_PAST_DUE[segment]},"
    f"0.5,es,{name},+1212555{n:04d}\n"
    for n, (zone, name, segment, i) in enumerate(
        (z, nm, s, i) for z, nm in ZONES.items() for s in SEGMENTS for i in range(3)))
NO_ZONE = _HEADER + "LEAD-ZONE,Sin Zona,80.00,10,0.5,es,,+12125559999\n"
# Disposition codes only the debtor earns (docs/reports.md), as this test
# knows them.
RIGHT_PARTY = {"PTP", "PAID", "RPC", "REFUSED", "DISPUTE"}


class Seed:
    """Writes attempts and what came of them, as the dialer and the payment
    flow do, at the times it is told."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def campaign(self, name: str, mode: str) -> int:
        campaign = await self.pool.fetchval(
            "INSERT INTO campaigns (name, dial_mode, caller_id, window_profile) "
            "VALUES ($1, $2, '+15550100000', '08:00-21:00') RETURNING id", name, mode)
        await self.pool.execute("INSERT INTO dialers (id, campaign_id, pid) VALUES ($1, $2, 1)",
                                uuid.uuid4(), campaign)
        return campaign

    async def attempt(self, campaign: int, reference: str, segment: str, at: datetime,
                      result: str | None) -> uuid.UUID:
        attempt = uuid.uuid4()
        await self.pool.execute(
            "INSERT INTO attempts (id, campaign_id, account_id, phone_id, number, dialer_id, "
            "segment, started_at, ended_at, result) "
            "SELECT $1, $2, a.id, p.id, p.number, (SELECT id FROM dialers WHERE campaign_id = "
            "$2), $4, $5::timestamptz, CASE WHEN $6::text IS NULL THEN NULL ELSE $5::timestamptz + interval '40 s' END, "
            "$6 FROM accounts a JOIN phones p ON p.account_id = a.id WHERE a.reference = $3",
            attempt, campaign, reference, segment, at, result)
        return attempt

    async def disposition(self, attempt: uuid.UUID, code: str, at: datetime,
                          corrects: int | None = None) -> int:
        return await self.pool.fetchval(
            "INSERT INTO dispositions (attempt_id, code, agent, at, corrects) "
            "VALUES ($1, $2, 'agent1001', $3, $4) RETURNING id", attempt, code, at, corrects)

    async def promise(self, reference: str, amount: Decimal, due_by: date, at: datetime,
                      attempt: uuid.UUID | None = None,
                      capture_call: uuid.UUID | None = None) -> None:
        capture = None
        if capture_call is not None:  # a promise made in a payment capture on the call
            capture = uuid.uuid4()
            await self.pool.execute(
                "INSERT INTO payment_captures (capture_id, account_id, call_id, outcome, "
                "option, amount, currency, promise_date, attempts) SELECT $1, id, $2, "
                "'promised', 'promise', $3, 'USD', $4, 0 FROM accounts WHERE reference = $5",
                capture, str(capture_call), amount, due_by, reference)
        await self.pool.execute(
            "INSERT INTO promises (account_id, attempt_id, capture_id, amount, due_by, source, "
            "at) SELECT id, $2, $3, $4, $5, 'ivr', $6 FROM accounts WHERE reference = $1",
            reference, attempt, capture, amount, due_by, at)

    async def payment(self, reference: str, amount: Decimal, at: datetime,
                      call: uuid.UUID | None = None, status: str = "approved") -> None:
        key = uuid.uuid4()
        await self.pool.execute(
            "INSERT INTO payment_attempts (capture_id, attempt, idempotency_key, account_id, "
            "call_id, amount, currency, save_card, status, brand, last4, started_at) "
            "SELECT $1, 1, $2, id, $3, $4, currency, false, $5, 'visa', '4242', $6 "
            "FROM accounts WHERE reference = $7",
            key, str(key), call and str(call), amount, status, at, reference)


@pytest.fixture
async def seeded(fresh_database, tmp_path):
    pool = await asyncpg.create_pool(fresh_database, min_size=1, max_size=4)
    await import_text(pool, tmp_path, ACCOUNTS)
    await import_text(pool, tmp_path, NO_ZONE)
    yield Seed(pool)
    await pool.close()


def _local(zone: str, day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), ZoneInfo(zone)).astimezone(UTC)


def _figures(cell) -> dict[str, object]:
    return {"attempts": cell.count, "contacts": cell["right_party_contact"].successes,
            "promises": cell["promise"].successes, "due": cell["kept_promise"].n,
            "kept": cell["kept_promise"].successes, "collected": cell["collected"].total}


async def test_a_handful_of_attempts_gives_the_hand_computed_cells(seeded: Seed) -> None:
    hand = await seeded.campaign("hand", "predictive")
    ny, mad = ZONES["NY"], ZONES["MAD"]
    monday, saturday = date(2026, 11, 2), date(2026, 11, 7)
    # early, 09 h New York, Monday (14:00 UTC):
    at = _local(ny, monday, 9, 5)
    await seeded.attempt(hand, "NY-early-0", "early", at, "no_answer")
    corrected = await seeded.attempt(hand, "NY-early-1", "early", at, "conversation")
    first = await seeded.disposition(corrected, "WRONG_NUMBER", at)
    await seeded.disposition(corrected, "RPC", at, corrects=first)  # the correction stands
    paid = await seeded.attempt(hand, "NY-early-2", "early", at, "conversation")
    await seeded.disposition(paid, "PAID", at)
    await seeded.payment("NY-early-2", Decimal("110.00"), at + timedelta(seconds=20), call=paid)
    await seeded.payment("NY-early-2", Decimal("5.00"), at, call=paid, status="declined")
    # A capture's promise on an agent's call with no disposition, due 2026-11-09,
    # kept by a payment away from the call before the day ended in New York
    # (23:30 local = 04:30 UTC the next day).
    captured = await seeded.attempt(hand, "NY-early-0", "early", at, "conversation")
    await seeded.promise("NY-early-0", Decimal("100.00"), date(2026, 11, 9), at,
                         capture_call=captured)
    await seeded.payment("NY-early-0", Decimal("100.00"), _local(ny, date(2026, 11, 9), 23, 30))
    await seeded.attempt(hand, "NY-early-1", "early", at, "not_placed")  # no call: not counted
    await seeded.attempt(hand, "NY-early-1", "early", at, None)  # in flight: not counted
    # late, 20 h Madrid, Saturday (19:00 UTC): a self-served promise due
    # 2026-11-10 paid only in part (broken); one due after AS_OF (not
    # judged); an OPT_OUT (whoever answered may ask).
    at = _local(mad, saturday, 20, 0)
    broken = await seeded.attempt(hand, "MAD-late-0", "late", at, "self_served")
    await seeded.promise("MAD-late-0", Decimal("100.00"), date(2026, 11, 10), at,
                         attempt=broken)
    await seeded.payment("MAD-late-0", Decimal("60.00"), at + timedelta(days=1))
    pending = await seeded.attempt(hand, "MAD-late-1", "late", at, "self_served")
    await seeded.promise("MAD-late-1", Decimal("110.00"), date(2026, 12, 20), at,
                         attempt=pending)
    opt_out = await seeded.attempt(hand, "MAD-late-2", "late", at, "conversation")
    await seeded.disposition(opt_out, "OPT_OUT", at)
    await seeded.attempt(hand, "MAD-late-2", "late", at, "busy")

    report = await gather(seeded.pool, "calls", Filters("hand"), CALL_DIMENSIONS, AS_OF)
    assert report.currency == "USD"
    cells = {cell.key: _figures(cell) for cell in report.cells}
    assert cells == {
        ("early", 9, 1, "predictive"): {"attempts": 4, "contacts": 3, "promises": 1,
                                        "due": 1, "kept": 1, "collected": Decimal("110.00")},
        ("late", 20, 6, "predictive"): {"attempts": 4, "contacts": 2, "promises": 2,
                                        "due": 1, "kept": 0, "collected": Decimal(0)},
    }
    contact = report.cells[0]["right_party_contact"].interval
    assert contact.estimate == 0.75
    assert contact.low == pytest.approx(0.30064, abs=5e-5)  # 0.627525 - 0.326889
    assert contact.high == pytest.approx(0.95441, abs=5e-5)
    assert report.cells[0]["collected"].per_item.estimate == pytest.approx(27.5)
    assert report.cells[0]["attempts_per_contact"].interval.estimate == pytest.approx(4 / 3)
    # By the accounts' portfolio (client_segment) instead.
    await seeded.pool.execute("UPDATE accounts SET client_segment = 'bank-a' "
                              "WHERE reference LIKE 'NY-%'")
    portfolios = await gather(seeded.pool, "calls", Filters("hand"), (Dimension.PORTFOLIO,),
                              AS_OF)
    assert {c.key: _figures(c)["contacts"] for c in portfolios.cells} == {
        ("bank-a",): 3, ("none",): 2}
    # Judged a week earlier, the New York promise was not due yet.
    earlier = await gather(seeded.pool, "calls", Filters("hand"), CALL_DIMENSIONS,
                           datetime(2026, 11, 10, 4, 0, tzinfo=UTC))
    assert earlier.cells[0]["kept_promise"].n == 0


@dataclass
class Tally:
    attempts: int = 0
    contacts: int = 0
    promises: int = 0
    due: int = 0
    kept: int = 0
    collected: Decimal = field(default_factory=lambda: Decimal(0))

    def figures(self) -> dict[str, object]:
        return {"attempts": self.attempts, "contacts": self.contacts,
                "promises": self.promises, "due": self.due, "kept": self.kept,
                "collected": self.collected}


async def _simulate_month(seed: Seed, rng: random.Random) -> dict[tuple, tuple[date, Tally]]:
    """November 2026 of two campaigns (one predictive; one progressive
    that an operator turns to ratio on the 16th), 700 attempts at local
    hours 8-20 over the three zones, each one's outcome drawn at random.
    Returns the simulation's own tally: per (segment, local hour, ISO
    weekday, mode, local date), what it wrote."""
    spring = await seed.campaign("spring", "predictive")
    autumn = await seed.campaign("autumn", "progressive")
    tallies: dict[tuple, Tally] = defaultdict(Tally)
    # A clock the simulation moves: attempts in time order, so the mode
    # change falls where it falls in time.
    plan = sorted((date(2026, 11, rng.randint(1, 30)), rng.randint(8, 20), rng.randint(0, 59),
                   rng.choice(list(ZONES)), rng.choice(SEGMENTS), rng.randint(0, 2),
                   rng.random()) for _ in range(700))
    modes = {spring: "predictive", autumn: "progressive"}
    switched = False
    for day, hour, minute, zone, segment, i, pick in plan:
        if day >= date(2026, 11, 16) and not switched:
            await seed.pool.execute("UPDATE campaigns SET dial_mode = 'ratio' WHERE id = $1",
                                    autumn)
            modes[autumn], switched = "ratio", True
        campaign = spring if pick < 0.5 else autumn
        reference, at = f"{zone}-{segment}-{i}", _local(ZONES[zone], day, hour, minute)
        result = rng.choices(["no_answer", "busy", "machine", "conversation", "self_served",
                              "unverified", "failed", "not_placed"],
                             [30, 10, 15, 25, 8, 4, 3, 5])[0]
        attempt = await seed.attempt(campaign, reference, segment, at, result)
        if result == "not_placed":
            continue
        tally = tallies[segment, hour, day.isoweekday(), modes[campaign], day]
        tally.attempts += 1
        code, promised, paid = None, False, Decimal(0)
        if result == "conversation" and rng.random() < 0.9:
            code = rng.choice(["PTP", "PAID", "RPC", "REFUSED", "DISPUTE", "OPT_OUT",
                               "WRONG_NUMBER", "CALLBACK"])
            first = await seed.disposition(attempt, code, at)
            if rng.random() < 0.1:  # a supervisor's correction stands
                code = rng.choice(["RPC", "WRONG_NUMBER", "PTP"])
                await seed.disposition(attempt, code, at, corrects=first)
            if code == "PAID":
                paid = Decimal(rng.choice(["50.00", "75.50", "120.00"]))
                await seed.payment(reference, paid, at + timedelta(seconds=30), call=attempt)
        promised = code == "PTP"
        if result == "self_served" and rng.random() < 0.7:
            promised = True
            amount = Decimal(rng.choice(["40.00", "100.00"]))
            due_by = day + timedelta(days=rng.randint(0, 14))
            await seed.promise(reference, amount, due_by, at, attempt=attempt)
            due_end = datetime.combine(due_by + timedelta(days=1), time(0),
                                       ZoneInfo(ZONES[zone])).astimezone(UTC)
            # Kept on time, in part, late, or not at all.
            fate = rng.choice(["kept", "partial", "late", "none"])
            if fate in ("kept", "partial"):
                when = at + (due_end - at) * rng.random()
                # Other promises of the account may count this payment too;
                # tallied at the end, from every payment, like the rule.
                await seed.payment(reference, amount if fate == "kept" else amount / 4, when)
            elif fate == "late":
                await seed.payment(reference, amount, due_end + timedelta(hours=2))
            tally.due += due_end <= AS_OF
        tally.promises += promised
        tally.collected += paid
        tally.contacts += (result == "self_served" or code in RIGHT_PARTY or promised
                           or paid > 0)
    return tallies


async def _kept_by_rule(pool: asyncpg.Pool) -> dict[uuid.UUID, int]:
    """Kept promises per attempt, from every payment the month wrote: a
    promise is kept when the approved payments of its account from its
    making to the end of its due day (the debtor's) add up to it."""
    rows = await pool.fetch(
        "SELECT p.attempt_id, p.amount, p.at, p.due_by, a.time_zone, a.id AS account "
        "FROM promises p JOIN accounts a ON a.id = p.account_id WHERE p.attempt_id IS NOT NULL")
    payments = await pool.fetch("SELECT account_id, amount, started_at FROM payment_attempts "
                                "WHERE status = 'approved'")
    kept: dict[uuid.UUID, int] = defaultdict(int)
    for row in rows:
        due_end = datetime.combine(row["due_by"] + timedelta(days=1), time(0),
                                   ZoneInfo(row["time_zone"]))
        paid = sum((p["amount"] for p in payments if p["account_id"] == row["account"]
                    and row["at"] <= p["started_at"] < due_end), Decimal(0))
        kept[row["attempt_id"]] += due_end <= AS_OF and paid >= row["amount"]
    return kept


async def test_a_simulated_month_gives_each_cell_what_the_simulation_tallied(
        seeded: Seed) -> None:
    tallies = await _simulate_month(seeded, random.Random(20261101))
    kept = await _kept_by_rule(seeded.pool)
    # Kept promises, from the rule over every payment, into the tallies' cells.
    rows = await seeded.pool.fetch(
        "SELECT t.id, t.segment, t.started_at, t.dial_mode, a.time_zone FROM attempts t "
        "JOIN accounts a ON a.id = t.account_id WHERE t.id = ANY ($1::uuid[])", list(kept))
    for row in rows:
        local = row["started_at"].astimezone(ZoneInfo(row["time_zone"]))
        tallies[row["segment"], local.hour, local.isoweekday(), row["dial_mode"],
                local.date()].kept += kept[row["id"]]

    def expected(first: date, last: date) -> dict[tuple, dict[str, object]]:
        cells: dict[tuple, Tally] = defaultdict(Tally)
        for (segment, hour, weekday, mode, day), tally in tallies.items():
            if first <= day <= last and tally.attempts:
                cell = cells[segment, hour, weekday, mode]
                for name in ("attempts", "contacts", "promises", "due", "kept"):
                    setattr(cell, name, getattr(cell, name) + getattr(tally, name))
                cell.collected += tally.collected
        return {key: tally.figures() for key, tally in cells.items()}

    month = await gather(seeded.pool, "calls", Filters(), CALL_DIMENSIONS, AS_OF)
    got = {cell.key: _figures(cell) for cell in month.cells}
    want = expected(date(2026, 11, 1), date(2026, 11, 30))
    assert got == want
    # The month really exercises every figure and all three modes.
    assert {key[3] for key in got} == {"predictive", "progressive", "ratio"}
    totals = _figures(month.totals)
    assert totals["attempts"] > 600 and totals["contacts"] > 100 and totals["promises"] > 30
    assert 0 < totals["kept"] < totals["due"] and totals["collected"] > 0
    # Each rate from its counts, with a Wilson interval around it.
    for cell in month.cells:
        rate = cell["right_party_contact"]
        assert rate.n == cell.count and rate.interval.estimate == rate.successes / rate.n
        assert rate.interval.low <= rate.interval.estimate <= rate.interval.high

    # A date range is the debtor's local dates: 10 to 20 November.
    ranged = await gather(seeded.pool, "calls", Filters(date_from=date(2026, 11, 10),
                                               date_to=date(2026, 11, 20)),
                          CALL_DIMENSIONS, AS_OF)
    assert {c.key: _figures(c) for c in ranged.cells} == expected(
        date(2026, 11, 10), date(2026, 11, 20))


async def test_the_zone_is_the_leads_when_the_account_has_none_and_currencies_are_not_mixed(
        seeded: Seed) -> None:
    spring = await seeded.campaign("spring", "preview")
    await seeded.pool.execute(
        "INSERT INTO leads (campaign_id, account_id, segment, priority, value, time_zone) "
        "SELECT $1, id, 'early', 1, 1, 'Asia/Tokyo' FROM accounts WHERE reference = "
        "'LEAD-ZONE'", spring)
    await seeded.attempt(spring, "LEAD-ZONE", "early", datetime(2026, 11, 2, 23, 30, tzinfo=UTC),
                         "no_answer")
    report = await gather(seeded.pool, "calls", Filters("spring"), CALL_DIMENSIONS, AS_OF)
    assert [c.key for c in report.cells] == [("early", 8, 2, "preview")]  # 08:30 Tuesday, Tokyo
    await seeded.pool.execute("UPDATE accounts SET currency = 'EUR' WHERE reference LIKE 'MAD%'")
    await seeded.attempt(spring, "MAD-mid-0", "mid", datetime(2026, 11, 2, 10, tzinfo=UTC),
                         "busy")
    with pytest.raises(ConfigError, match="the accounts covered are in EUR, USD: give --currency"):
        await gather(seeded.pool, "calls", Filters("spring"), CALL_DIMENSIONS, AS_OF)
    euros = await gather(seeded.pool, "calls", Filters("spring", currency="EUR"), CALL_DIMENSIONS, AS_OF)
    assert [c.key for c in euros.cells] == [("mid", 11, 1, "preview")]
    with pytest.raises(ConfigError, match="campaign 'winter': no such campaign"):
        await gather(seeded.pool, "calls", Filters("winter"), CALL_DIMENSIONS, AS_OF)


async def _template(pool: asyncpg.Pool, campaign: int, trigger: str, channel: str,
                    language: str, version: int) -> int:
    return await pool.fetchval(
        "INSERT INTO message_templates (campaign_id, segment, trigger, channel, language, "
        "version, subject, body) VALUES ($1, '', $2, $3, $4, $5, $6, 'Pague {{ balance }}') "
        "RETURNING id", campaign, trigger, channel, language, version,
        "Aviso" if channel == "email" else None)


async def _message(pool: asyncpg.Pool, campaign: int, reference: str, template: int | None,
                   channel: str, status: str, sent_at: datetime | None) -> None:
    await pool.execute(
        "INSERT INTO messages (account_id, campaign_id, trigger, channel, idempotency_key, "
        "status, template_id, recipient, sent_at, dead_lettered_at) "
        "SELECT id, $2, 'no_interaction', $3, $4, $5, $6, '+12125550000', $7, "
        "CASE WHEN $5 = 'dead' THEN now() END FROM accounts WHERE reference = $1",
        reference, campaign, channel, str(uuid.uuid4()), status, template, sent_at)


async def test_messages_by_channel_and_template_version_give_the_hand_computed_cells(
        seeded: Seed) -> None:
    pool = seeded.pool
    hand = await seeded.campaign("hand", "predictive")
    await pool.execute(
        "INSERT INTO leads (campaign_id, account_id, segment, priority, value, time_zone) "
        "SELECT $1, id, split_part(reference, '-', 2), 1, 1, time_zone FROM accounts "
        "WHERE reference IN ('NY-early-0', 'NY-early-1', 'NY-early-2', 'MAD-late-0')", hand)
    v1 = await _template(pool, hand, "no_interaction", "sms", "es", 1)
    v2 = await _template(pool, hand, "no_interaction", "sms", "es", 2)
    email = await _template(pool, hand, "pre_due", "email", "en", 1)
    # Monday 2 November, 19:10 in New York.
    at = _local(ZONES["NY"], date(2026, 11, 2), 19, 10)
    # v1: delivered, and the debtor paid 50.00 two days later.
    await _message(pool, hand, "NY-early-0", v1, "sms", "delivered", at)
    await seeded.payment("NY-early-0", Decimal("50.00"), at + timedelta(days=2))
    # v2: one undelivered whose debtor promised the next day; one delivered
    # whose debtor paid eight days later (after the window), and a decline
    # within it.
    await _message(pool, hand, "NY-early-1", v2, "sms", "undelivered", at)
    await seeded.promise("NY-early-1", Decimal("110.00"), date(2026, 11, 20),
                         at + timedelta(days=1))
    await _message(pool, hand, "NY-early-2", v2, "sms", "delivered", at)
    await seeded.payment("NY-early-2", Decimal("120.00"), at + timedelta(days=8))
    await seeded.payment("NY-early-2", Decimal("120.00"), at + timedelta(days=1),
                         status="declined")
    # Never went out: not counted.
    await _message(pool, hand, "NY-early-2", v2, "sms", "pending", None)
    await _message(pool, hand, "NY-early-2", v2, "sms", "refused", None)
    # Saturday 28 November, 09:00 in Madrid: an e-mail (no delivery report)
    # whose window is still open on 3 December: not judged.
    late = _local(ZONES["MAD"], date(2026, 11, 28), 9, 0)
    await _message(pool, hand, "MAD-late-0", email, "email", "sent", late)
    await seeded.payment("MAD-late-0", Decimal("100.00"), late + timedelta(days=1))

    report = await gather(pool, "messages", Filters("hand"), MESSAGE_DIMENSIONS, AS_OF)

    def figures(cell) -> dict[str, object]:
        return {"messages": cell.count,
                **{name: (cell[name].successes, cell[name].n)
                   for name in ("delivered", "paid", "promise")},
                "collected": cell["collected"].total}

    assert {cell.key: figures(cell) for cell in report.cells} == {
        ("early", 19, 1, "sms", "no_interaction es v1"): {
            "messages": 1, "delivered": (1, 1), "paid": (1, 1), "promise": (0, 1),
            "collected": Decimal("50.00")},
        ("early", 19, 1, "sms", "no_interaction es v2"): {
            "messages": 2, "delivered": (1, 2), "paid": (0, 2), "promise": (1, 2),
            "collected": Decimal(0)},
        ("late", 9, 6, "email", "pre_due en v1"): {
            "messages": 1, "delivered": (0, 0), "paid": (0, 0), "promise": (0, 0),
            "collected": Decimal(0)},
    }
    by_template = await gather(pool, "messages", Filters("hand", date_to=date(2026, 11, 27)),
                               (Dimension.TEMPLATE,), AS_OF)
    assert [(c.key, c.count) for c in by_template.cells] == [
        (("no_interaction es v1",), 1), (("no_interaction es v2",), 2)]
