"""What a payment capture reads from PostgreSQL: the account paying (its
balance, currency, language, status) and the payment terms its campaign's
segment strategy offers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import asyncpg

from dialer.portfolio.model import PaymentTerms
from payment_ivr.instalments import FALLBACK_ZONE, debtor_zone, local_date


@dataclass(frozen=True)
class Payer:
    """The account a debtor pays on."""

    account_id: int
    reference: str
    balance: str  # numeric(14, 2) as text: "1234.50"
    currency: str
    language: str
    status: str
    time_zone: str  # the debtor's (payment_ivr.instalments.debtor_zone)

    def today(self, now: datetime) -> date:
        """The debtor's date at now (aware): the day a settlement offered
        "if paid today" is good for, and from which a promise counts."""
        return local_date(now, self.time_zone)

    @property
    def payable(self) -> bool:
        """Whether a card payment may be taken: an active account that owes
        something (a paid, settled, disputed or closed one is not asked)."""
        return self.status == "active" and float(self.balance) > 0


# The first zone of the first current phone of account a: with the
# account's own zone, what payment_ivr.instalments.debtor_zone reads.
PHONE_ZONE = ("(SELECT p.time_zones[1] FROM phones p WHERE p.account_id = a.id "
              "AND p.retired_at IS NULL ORDER BY p.position LIMIT 1)")
# debtor_zone in SQL, for account a.
DEBTOR_ZONE = f"coalesce(nullif(a.time_zone, ''), {PHONE_ZONE}, '{FALLBACK_ZONE}')"
_PAYER = ("SELECT a.id, a.reference, a.balance::text, a.currency, a.language, a.status, "
          f"a.time_zone, {PHONE_ZONE} FROM accounts a ")


def _payer(row: asyncpg.Record | None) -> Payer | None:
    if row is None:
        return None
    *account, account_zone, phone_zone = row
    return Payer(*account, time_zone=debtor_zone(account_zone, [phone_zone or ""]))


async def payer_by_reference(pool: asyncpg.Pool, reference: str) -> Payer | None:
    """The account with this reference, if any."""
    return _payer(await pool.fetchrow(_PAYER + "WHERE a.reference = $1", reference))


async def payer_by_id(pool: asyncpg.Pool, account_id: int) -> Payer | None:
    """The account with this id, if any (read again after a payment)."""
    return _payer(await pool.fetchrow(_PAYER + "WHERE a.id = $1", account_id))


async def terms_of(pool: asyncpg.Pool, account_id: int, campaign: str | None = None
                   ) -> PaymentTerms | None:
    """The payment terms of the strategy for the account's segment in the
    campaign named, or else in the latest campaign that drew a lead for it;
    None when no campaign did."""
    row = await pool.fetchrow(
        "SELECT s.settlement_percent, s.instalments, s.promise_days FROM leads l "
        "JOIN campaigns c ON c.id = l.campaign_id "
        "JOIN strategies s ON s.campaign_id = l.campaign_id AND s.segment = l.segment "
        "WHERE l.account_id = $1 AND ($2::text IS NULL OR c.name = $2) "
        "ORDER BY c.id DESC LIMIT 1", account_id, campaign)
    return None if row is None else PaymentTerms(*row)
