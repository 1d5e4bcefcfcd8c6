"""History outlives re-imports (issue 12): against the real PostgreSQL, a
re-import that changes and drops phones keeps every attempt, its call
events, no-interaction row and disposition, and the gate's facts (Reg F
7 in 7, the 72-hour rule); a dropped phone is retired, never dialed, and
comes back as the same row."""

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from dialer.calls.outcome import AttemptResult
from dialer.compliance.gate import GateRules, Refused, Rule, decide
from dialer.inbound import store as inbound
from dialer.outbound import attempts, leads
from dialer.outbound.store import CampaignStore
from dialer.portfolio.importer import import_file
from dialer.portfolio.importing import ImportDefaults
from dialer.portfolio.model import Phone, PhoneKind, RetryDelays
from dialer.portfolio.store import AccountStore
from tests.store.test_hopper import campaign

pytestmark = pytest.mark.lab

HEADER = "reference,debtor_name,balance,days_past_due,phone1,phone2\n"
FIRST = HEADER + ("A1,Ana,100,40,+12125551030,+12125551031\n"
                  "A2,Bob,200,40,+12125551040,\n"
                  "A3,Cid,300,40,+12125551050,\n")
# A1's first phone changes and its second goes; A3 moves to Honolulu.
SECOND = HEADER + ("A1,Ana,100,40,+12125551039,\n"
                   "A2,Bob,200,40,+12125551040,\n"
                   "A3,Cid,300,40,+18085551050,\n")
NOW = datetime(2026, 11, 24, 18, tzinfo=UTC)
# Retry after an abandoned call in an hour, so the 72-hour rule shows on its own.
RULES = GateRules("us", max_attempts=50, retry=RetryDelays(abandoned_s=3600),
                  agent_guaranteed=False)



async def import_text(pool, tmp_path, text: str):
    path = tmp_path / "accounts.csv"
    path.write_text(text)
    outcome = await import_file(AccountStore(pool), path, {}, ImportDefaults())
    assert outcome.errors == []
    return outcome.report


async def contexts(pool, campaign_id: int) -> dict[str, leads.LeadContext]:
    ids = [r["id"] for r in await pool.fetch("SELECT id FROM accounts")]
    async with pool.acquire() as connection:
        found = await leads.lead_contexts(connection, campaign_id, ids, NOW)
    return {c.facts.reference: c for c in found}


async def make_history(pool, campaign_id: int) -> None:
    """A1: seven attempts in the last week over both phones, the last one
    abandoned an hour ago (with its no_interaction row), each with a call
    and an event; a disposition on one of them. A2: one attempt."""
    dialer_id = uuid.uuid4()
    await pool.execute("INSERT INTO dialers (id, campaign_id, pid) VALUES ($1, $2, 0)",
                       dialer_id, campaign_id)
    leads = await contexts(pool, campaign_id)
    plan = [("A1", i, NOW - timedelta(days=6) + timedelta(hours=20 * i),
             AttemptResult.NO_ANSWER) for i in range(6)]
    plan += [("A1", 6, NOW - timedelta(hours=1), AttemptResult.ABANDONED),
             ("A2", 0, NOW - timedelta(days=2), AttemptResult.CONVERSATION)]
    for reference, i, at, result in plan:
        lead = leads[reference]
        phones = sorted(lead.phone_ids)
        number = phones[i % len(phones)]
        attempt_id = uuid.uuid4()
        phone = Phone(number, PhoneKind.MOBILE, True, True, "US", ("America/New_York",))
        async with pool.acquire() as connection, connection.transaction():
            await connection.execute(
                "INSERT INTO calls (id, number, state, originated_at) "
                "VALUES ($1, $2, 'originating', $3)", attempt_id, number, at)
            await connection.execute(
                "INSERT INTO call_events (call_id, at, kind) VALUES ($1, $2, 'call_originated')",
                attempt_id, at)
            await attempts.start_attempt(connection, attempt_id, campaign_id, lead, phone,
                                       dialer_id, at)
            await attempts.finish_attempt(connection, attempt_id, result, at + timedelta(seconds=30),
                                        None, at + timedelta(hours=1), 50)
        if result is AttemptResult.CONVERSATION:
            await pool.execute("INSERT INTO dispositions (attempt_id, code, agent) "
                               "VALUES ($1, 'PTP', 'agent1001')", attempt_id)


HISTORY = """
SELECT (SELECT count(*) FROM attempts) AS attempts, (SELECT count(*) FROM calls) AS calls,
       (SELECT count(*) FROM call_events) AS events,
       (SELECT count(*) FROM no_interaction) AS no_interaction,
       (SELECT count(*) FROM dispositions) AS dispositions,
       (SELECT array_agg(phone_id ORDER BY id) FROM attempts) AS phone_ids
"""


async def test_a_reimport_keeps_every_attempt_and_the_gates_facts(pool, tmp_path):
    await import_text(pool, tmp_path, FIRST)
    store = CampaignStore(pool)
    campaign_id = await store.create(campaign("history"))
    await store.refresh_leads(campaign_id)
    await make_history(pool, campaign_id)
    before = dict(await pool.fetchrow(HISTORY))
    assert (before["attempts"], before["no_interaction"], before["dispositions"]) == (8, 1, 1)
    leads = await contexts(pool, campaign_id)
    refused = decide(leads["A1"].facts, RULES, NOW)
    assert isinstance(refused, Refused) and refused.rule is Rule.REG_F_FREQUENCY

    # Before issue 12 this deleted A1's attempts (or failed on no_interaction).
    report = await import_text(pool, tmp_path, SECOND)
    assert (report.updated, report.retired, report.restored) == (3, 3, 0)
    assert dict(await pool.fetchrow(HISTORY)) == before

    after = await contexts(pool, campaign_id)
    for reference in ("A1", "A2", "A3"):
        assert set(after[reference].facts.history) == set(leads[reference].facts.history)
    # The gate reads the same facts: Reg F still binds A1, and without it the
    # 72-hour rule does (its abandoned attempt was on a phone now retired).
    assert decide(after["A1"].facts, RULES, NOW) == refused
    later = NOW + timedelta(days=2)
    gate = decide(after["A1"].facts, RULES, later)
    assert isinstance(gate, Refused) and gate.rule is Rule.ABANDONED_72H
    # Retired phones are not offered to the gate, nor dialed.
    assert list(after["A1"].phone_ids) == ["+12125551039"]
    assert [p.number for p in after["A1"].facts.phones] == ["+12125551039"]
    phones = await pool.fetch("SELECT number, retired_at IS NOT NULL AS retired, position "
                              "FROM phones p JOIN accounts a ON a.id = p.account_id "
                              "WHERE a.reference = 'A1' ORDER BY number")
    assert [(p["number"], p["retired"]) for p in phones] == [
        ("+12125551030", True), ("+12125551031", True), ("+12125551039", False)]


async def test_a_phone_that_comes_back_is_the_same_row_and_current_again(pool, tmp_path):
    await import_text(pool, tmp_path, FIRST)
    ids = {r["number"]: r["id"] for r in await pool.fetch("SELECT id, number FROM phones")}
    await import_text(pool, tmp_path, SECOND)
    # Back, in the other order: A1's second phone first.
    report = await import_text(pool, tmp_path, HEADER + "A1,Ana,100,40,+12125551031,"
                                                        "+12125551030\n")
    assert (report.retired, report.restored) == (1, 2)
    rows = await pool.fetch("SELECT p.id, p.number FROM phones p "
                            "JOIN accounts a ON a.id = p.account_id WHERE a.reference = 'A1' "
                            "AND p.retired_at IS NULL ORDER BY p.position")
    assert [(r["number"], r["id"]) for r in rows] == [
        ("+12125551031", ids["+12125551031"]), ("+12125551030", ids["+12125551030"])]
    assert await pool.fetchval("SELECT count(*) FROM phones WHERE retired_at IS NOT NULL "
                               "AND number = '+12125551039'") == 1


async def test_retired_phones_identify_no_caller_and_set_no_zone(pool, tmp_path):
    await import_text(pool, tmp_path, FIRST)
    store = CampaignStore(pool)
    campaign_id = await store.create(campaign("zones"))
    await store.refresh_leads(campaign_id)
    assert (await inbound.by_phone(pool, "+12125551031")).reference == "A1"
    await import_text(pool, tmp_path, SECOND)
    await store.refresh_leads(campaign_id)
    assert await inbound.by_phone(pool, "+12125551031") is None  # retired
    assert (await inbound.by_phone(pool, "+12125551039")).reference == "A1"
    assert (await inbound.by_reference(pool, "A1")).reference == "A1"
    zone = await pool.fetchval("SELECT l.time_zone FROM leads l JOIN accounts a "
                               "ON a.id = l.account_id WHERE a.reference = 'A3'")
    assert zone == "Pacific/Honolulu"


async def test_no_delete_takes_history_with_it(pool, tmp_path):
    await import_text(pool, tmp_path, FIRST)
    store = CampaignStore(pool)
    campaign_id = await store.create(campaign("kept"))
    await store.refresh_leads(campaign_id)
    await make_history(pool, campaign_id)
    for statement in ("DELETE FROM accounts WHERE reference = 'A1'", "DELETE FROM phones",
                      "DELETE FROM campaigns"):
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await pool.execute(statement)
    history = ("attempts", "calls", "call_events", "no_interaction", "dispositions",
               "compliance_refusals", "inbound_calls", "callbacks", "promises")
    cascading = await pool.fetch(
        "SELECT conrelid::regclass::text AS tbl, conname FROM pg_constraint "
        "WHERE contype = 'f' AND confdeltype IN ('c', 'n', 'd') "
        "AND conrelid::regclass::text = ANY ($1::text[])", list(history))
    assert [dict(r) for r in cascading] == []


async def test_phones_that_swap_places_keep_their_rows_and_the_same_file_changes_nothing(
        pool, tmp_path):
    await import_text(pool, tmp_path, FIRST)
    before = {r["number"]: (r["id"], r["position"]) for r in await pool.fetch(
        "SELECT id, number, position FROM phones")}
    report = await import_text(pool, tmp_path, FIRST)
    assert (report.retired, report.restored) == (0, 0)
    assert {r["number"]: (r["id"], r["position"]) for r in await pool.fetch(
        "SELECT id, number, position FROM phones")} == before
    report = await import_text(pool, tmp_path, HEADER + "A1,Ana,100,40,+12125551031,"
                                                        "+12125551030\n")
    assert (report.retired, report.restored) == (0, 0)
    swapped = {r["number"]: (r["id"], r["position"]) for r in await pool.fetch(
        "SELECT id, number, position FROM phones WHERE number IN ('+12125551030', "
        "'+12125551031') AND retired_at IS NULL")}
    assert swapped == {"+12125551030": (before["+12125551030"][0], 2),
                       "+12125551031": (before["+12125551031"][0], 1)}
