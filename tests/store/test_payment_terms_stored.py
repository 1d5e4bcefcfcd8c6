"""Payment terms in PostgreSQL (issue 14): a campaign's per-segment terms
are stored and read back, and a capture finds the account paying and the
terms of its segment in the campaign named, else the latest campaign that
drew a lead for it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from dialer.outbound.store import CampaignStore
from dialer.payments import store
from dialer.portfolio.model import DialMode, PaymentTerms, default_strategies
from tests.store.test_history import import_text
from tests.store.test_hopper import campaign

pytestmark = pytest.mark.lab

ACCOUNTS = ("reference,debtor_name,balance,days_past_due,risk_score,language,phone1\n"
            "EARLY-1,Ana,120.50,10,0.2,es,+12125550101\n"
            "LATE-1,Bo,900.00,200,0.7,en,+12125550102\n")



async def test_terms_round_trip_and_are_found_by_segment_and_campaign(pool, tmp_path):
    await import_text(pool, tmp_path, ACCOUNTS)
    campaigns = CampaignStore(pool)
    spring = replace(campaign("spring"), strategies=default_strategies(DialMode.PROGRESSIVE))
    spring_id = await campaigns.create(spring)
    await campaigns.refresh_leads(spring_id)
    assert (await campaigns.load("spring")).strategies == spring.strategies
    late = await store.payer_by_reference(pool, "LATE-1")
    early = await store.payer_by_reference(pool, "EARLY-1")
    assert (late.balance, late.currency, late.language, late.payable) == ("900.00", "USD", "en",
                                                                          True)
    assert await store.terms_of(pool, late.account_id) == PaymentTerms(70, 12, 14)
    assert await store.terms_of(pool, early.account_id) == PaymentTerms(None, 3, 14)
    # A later campaign offering nothing but the balance is the default
    # now; the campaign named still gives its own.
    bare = replace(campaign("bare"), strategies=tuple(
        replace(s, payment=PaymentTerms()) for s in default_strategies(DialMode.PROGRESSIVE)))
    await campaigns.refresh_leads(await campaigns.create(bare))
    assert await store.terms_of(pool, late.account_id) == PaymentTerms()
    assert await store.terms_of(pool, late.account_id, "spring") == PaymentTerms(70, 12, 14)
    assert await store.terms_of(pool, late.account_id, "autumn") is None
    assert await store.payer_by_reference(pool, "NOBODY") is None
    await pool.execute("UPDATE accounts SET status = 'settled' WHERE reference = 'LATE-1'")
    assert not (await store.payer_by_id(pool, late.account_id)).payable


async def test_the_payers_today_is_the_debtors_date(pool, tmp_path):
    """A capture counts "today" (a settlement's day, a promise's start) in
    the debtor's zone: the account's own, else its first phone's."""
    await import_text(pool, tmp_path, ACCOUNTS.replace("+12125550102", "+81312345678"))
    await pool.execute("UPDATE accounts SET time_zone = 'Pacific/Honolulu' "
                       "WHERE reference = 'EARLY-1'")
    honolulu = await store.payer_by_reference(pool, "EARLY-1")
    tokyo = await store.payer_by_reference(pool, "LATE-1")
    assert (honolulu.time_zone, tokyo.time_zone) == ("Pacific/Honolulu", "Asia/Tokyo")
    evening_utc = datetime(2026, 12, 2, 20, tzinfo=UTC)
    assert honolulu.today(evening_utc) == date(2026, 12, 2)
    assert tokyo.today(evening_utc) == date(2026, 12, 3)
