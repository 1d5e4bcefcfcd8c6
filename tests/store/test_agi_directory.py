"""The AGI hooks' store (dialer.agi.server.PostgresDirectory) against the
real PostgreSQL, with the clock injected: a caller is identified as the
inbound desk identifies one, the gate judges a number through the
campaign's leads that have it as a current phone, and an opt-out is the
do-not-call list's one entry for the number."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
import pytest

from dialer.agi.server import NoCampaign, PostgresDirectory
from dialer.compliance.gate import Allowed, Refused, Rule
from dialer.outbound.store import CampaignStore
from dialer.portfolio.store import AccountStore
from tests.store.test_hopper import campaign, load_accounts

pytestmark = pytest.mark.lab

# Tuesday 24 November 2026, 15:00 in New York: inside the "us" window.
NOW = datetime(2026, 11, 24, 20, 0, tzinfo=UTC)
ROSA, SHARED, OLD = "+12125550181", "+12125550183", "+12125550184"


@pytest.fixture
async def directory(fresh_database, tmp_path):
    pool = await asyncpg.create_pool(fresh_database, min_size=1, max_size=4)
    # Rosa has her own phone and an old one; Ana and Luis share a phone.
    await load_accounts(pool, tmp_path, [
        f"R-ROSA,Rosa,300,20,0.2,{ROSA}", f"R-ANA,Ana,300,20,0.2,{SHARED}",
        f"R-LUIS,Luis,300,20,0.2,{SHARED}"])
    await pool.execute("INSERT INTO phones (account_id, number, kind, sms_capable, consent, "
                       "region, time_zones, position, retired_at) "
                       "SELECT account_id, $1, kind, sms_capable, consent, region, time_zones, "
                       "position + 1, $2 FROM phones WHERE number = $3", OLD, NOW, ROSA)
    store = CampaignStore(pool)
    await store.refresh_leads(await store.create(campaign("early")))
    yield PostgresDirectory(pool, "US")
    await pool.close()


async def test_a_caller_is_the_one_account_with_the_number_as_a_current_phone(directory):
    rosa = await directory.caller("2125550181")  # the region's number, no country code
    assert rosa is not None and rosa.reference == "R-ROSA"
    assert await directory.caller(SHARED) is None  # two accounts: no one
    assert await directory.caller(OLD) is None  # retired: no one
    assert await directory.caller("not a number") is None


async def test_the_gate_judges_a_number_through_the_campaigns_leads(directory):
    rosa = await directory.gate(ROSA, "early", NOW)
    assert isinstance(rosa, Allowed) and rosa.phone.number == ROSA
    assert isinstance(await directory.gate(SHARED, "early", NOW), Allowed)
    # Luis pays: his lead refuses the number he shares with Ana.
    await AccountStore(directory.pool).set_status("R-LUIS", "paid")
    shared = await directory.gate(SHARED, "early", NOW)
    assert isinstance(shared, Refused) and shared.rule is Rule.ACCOUNT_STATUS
    assert "R-LUIS" in shared.detail
    retired = await directory.gate(OLD, "early", NOW)
    assert isinstance(retired, Refused) and retired.rule is Rule.NOT_A_LEAD
    with pytest.raises(NoCampaign):
        await directory.gate(ROSA, "late", NOW)


async def test_an_opt_out_puts_the_number_on_the_list_once_and_the_gate_refuses_it(directory):
    await directory.opt_out(ROSA, NOW)
    await directory.opt_out(ROSA, datetime(2026, 11, 25, tzinfo=UTC))
    rows = await directory.pool.fetch("SELECT number, reference, reason, added_at "
                                      "FROM do_not_call")
    assert [tuple(r) for r in rows] == [(ROSA, None, "opt_out", NOW)]
    refused = await directory.gate(ROSA, "early", NOW)
    assert isinstance(refused, Refused) and refused.rule is Rule.DO_NOT_CALL
    # A number on no lead, but on the list: do_not_call rather than not_a_lead.
    await directory.opt_out("+15005550199", NOW)
    stranger = await directory.gate("+15005550199", "early", NOW)
    assert isinstance(stranger, Refused) and stranger.rule is Rule.DO_NOT_CALL
