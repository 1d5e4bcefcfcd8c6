"""What the strategy reports read from PostgreSQL: each ended attempt that
placed a call, in the debtor's local time, with the disposition standing
on it, the promises made on it (due and kept by the report's time) and
the money it collected (dialer.reports.strategy decides what each counts
as); each message that went out, with its delivery report and what its
debtor paid or promised in the days after (dialer.reports.messaging)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import asyncpg

from dialer.errors import ConfigError
from dialer.reports.cells import Filters
from dialer.reports.messaging import FOLLOW_UP, SENT, Message, template_label
from dialer.reports.strategy import NOT_PLACED, Attempt

# The debtor's zone: the account's own, else the one its lead's calling
# window was checked in first; UTC when neither is known.
_ZONE = "coalesce(nullif(a.time_zone, ''), l.time_zone, 'UTC')"

# $1 campaign name (NULL: all), $2/$3 the debtor's local dates (inclusive,
# NULL: open; any zone is within a day of UTC, so the cheap UTC bounds
# first), $4 the result of an attempt that placed no call.
# From and to ($2, $3: NULL, open) are the debtor's local dates.
_IN_LOCAL_DATES = ("($2::date IS NULL OR local_at::date >= $2::date) "
                   "AND ($3::date IS NULL OR local_at::date <= $3::date)")

_COVERED = """
    t.result IS NOT NULL AND t.result <> $4
    AND ($1::text IS NULL OR c.name = $1)
    AND ($2::date IS NULL OR t.started_at >= ($2::date - 1)::timestamp AT TIME ZONE 'UTC')
    AND ($3::date IS NULL OR t.started_at < ($3::date + 2)::timestamp AT TIME ZONE 'UTC')
"""

_ATTEMPTS = f"""
WITH placed AS (
    SELECT t.id, t.id::text AS call, t.segment, t.dial_mode, t.result,
           coalesce(nullif(a.client_segment, ''), 'none') AS portfolio,
           {_ZONE} AS zone, t.started_at AT TIME ZONE {_ZONE} AS local_at
    FROM attempts t
    JOIN campaigns c ON c.id = t.campaign_id
    JOIN accounts a ON a.id = t.account_id
    LEFT JOIN leads l ON l.campaign_id = t.campaign_id AND l.account_id = t.account_id
    WHERE {_COVERED} AND a.currency = $5
), covered AS (
    SELECT * FROM placed
    WHERE {_IN_LOCAL_DATES}
), standing AS (
    -- The latest disposition of each attempt: a correction is written
    -- after the disposition it corrects.
    SELECT DISTINCT ON (d.attempt_id) d.attempt_id, d.code
    FROM dispositions d JOIN covered ON covered.id = d.attempt_id
    ORDER BY d.attempt_id, d.id DESC
), made AS (
    -- Promises made on the call: in its self-service menu (attempt_id),
    -- or in a payment capture on it (the capture's call).
    SELECT p.id, covered.id AS attempt_id, p.account_id, p.amount, p.at,
           (p.due_by + 1)::timestamp AT TIME ZONE covered.zone AS due_end
    FROM promises p
    LEFT JOIN payment_captures pc ON pc.capture_id = p.capture_id
    JOIN covered ON covered.call = coalesce(p.attempt_id::text, pc.call_id)
), paid_by_due AS (
    -- What the debtor paid from each promise to the end of its due day.
    SELECT m.id, sum(x.amount) AS amount FROM made m
    JOIN payment_attempts x ON x.account_id = m.account_id AND x.status = 'approved'
        AND x.started_at >= m.at AND x.started_at < m.due_end
    GROUP BY m.id
), judged AS (
    SELECT m.attempt_id, count(*) AS made,
           count(*) FILTER (WHERE m.due_end <= $6) AS due,
           count(*) FILTER (WHERE m.due_end <= $6 AND m.amount <= coalesce(p.amount, 0))
               AS kept
    FROM made m LEFT JOIN paid_by_due p ON p.id = m.id GROUP BY m.attempt_id
), collected AS (
    -- Charges taken on the call (a plan's later instalments are not).
    SELECT x.call_id, sum(x.amount) AS amount FROM payment_attempts x
    WHERE x.status = 'approved' AND x.instalment IS NULL AND x.call_id IS NOT NULL
    GROUP BY x.call_id
)
SELECT covered.segment, covered.dial_mode, covered.result, covered.portfolio,
       extract(hour FROM covered.local_at)::int AS local_hour,
       extract(isodow FROM covered.local_at)::int AS weekday,
       standing.code AS disposition,
       coalesce(judged.made, 0) AS promises, coalesce(judged.due, 0) AS due,
       coalesce(judged.kept, 0) AS kept, coalesce(collected.amount, 0) AS collected
FROM covered
LEFT JOIN standing ON standing.attempt_id = covered.id
LEFT JOIN judged ON judged.attempt_id = covered.id
LEFT JOIN collected ON collected.call_id = covered.call
"""

# The messages that went out: $1 campaign, $2/$3 local dates as above,
# $4 the statuses of a message sent.
_MESSAGES_COVERED = """
    m.status = ANY ($4::text[])
    AND ($1::text IS NULL OR c.name = $1)
    AND ($2::date IS NULL OR m.sent_at >= ($2::date - 1)::timestamp AT TIME ZONE 'UTC')
    AND ($3::date IS NULL OR m.sent_at < ($3::date + 2)::timestamp AT TIME ZONE 'UTC')
"""

_MESSAGES = f"""
WITH sent AS (
    SELECT m.id, m.account_id, m.channel, m.status, m.sent_at, l.segment,
           coalesce(nullif(a.client_segment, ''), 'none') AS portfolio,
           tm.trigger, tm.language, tm.version,
           m.sent_at AT TIME ZONE {_ZONE} AS local_at
    FROM messages m
    JOIN accounts a ON a.id = m.account_id
    LEFT JOIN campaigns c ON c.id = m.campaign_id
    LEFT JOIN leads l ON l.campaign_id = m.campaign_id AND l.account_id = m.account_id
    LEFT JOIN message_templates tm ON tm.id = m.template_id
    WHERE {_MESSAGES_COVERED} AND a.currency = $5
), covered AS (
    SELECT * FROM sent
    WHERE {_IN_LOCAL_DATES}
), paid AS (
    -- Approved charges of the debtor in the window after the message.
    SELECT s.id, sum(x.amount) AS amount FROM covered s
    JOIN payment_attempts x ON x.account_id = s.account_id AND x.status = 'approved'
        AND x.started_at >= s.sent_at AND x.started_at < s.sent_at + $7::interval
    GROUP BY s.id
), promised AS (
    SELECT DISTINCT s.id FROM covered s
    JOIN promises p ON p.account_id = s.account_id
        AND p.at >= s.sent_at AND p.at < s.sent_at + $7::interval
)
SELECT coalesce(covered.segment, 'none') AS segment, covered.portfolio, covered.channel,
       covered.trigger, covered.language, covered.version,
       extract(hour FROM covered.local_at)::int AS local_hour,
       extract(isodow FROM covered.local_at)::int AS weekday,
       CASE covered.status WHEN 'delivered' THEN true WHEN 'undelivered' THEN false END
           AS delivery,
       covered.sent_at + $7::interval <= $6 AS judged,
       paid.amount AS collected, promised.id IS NOT NULL AS promised
FROM covered
LEFT JOIN paid ON paid.id = covered.id
LEFT JOIN promised ON promised.id = covered.id
"""

_CURRENCIES = {
    "calls": f"""
        SELECT DISTINCT a.currency FROM attempts t
        JOIN campaigns c ON c.id = t.campaign_id JOIN accounts a ON a.id = t.account_id
        WHERE {_COVERED} ORDER BY 1""",
    "messages": f"""
        SELECT DISTINCT a.currency FROM messages m
        LEFT JOIN campaigns c ON c.id = m.campaign_id JOIN accounts a ON a.id = m.account_id
        WHERE {_MESSAGES_COVERED} ORDER BY 1""",
}
_COVERED_ARGUMENT = {"calls": NOT_PLACED, "messages": list(SENT)}


async def report_currency(pool: asyncpg.Pool, filters: Filters, of: str) -> str | None:
    """The currency a report's amounts are in: the one asked for, or the
    only one the accounts of what it covers (of: calls or messages) have
    (None: it covers nothing). ConfigError when they have several and none
    was asked for."""
    if filters.campaign is not None and await pool.fetchval(
            "SELECT id FROM campaigns WHERE name = $1", filters.campaign) is None:
        raise ConfigError(f"campaign {filters.campaign!r}: no such campaign")
    if filters.currency is not None:
        return filters.currency
    found = [row["currency"].strip() for row in await pool.fetch(
        _CURRENCIES[of], filters.campaign, filters.date_from, filters.date_to,
        _COVERED_ARGUMENT[of])]
    if len(found) > 1:
        raise ConfigError(f"the accounts covered are in {', '.join(found)}: give --currency "
                          "(one currency a report)")
    return found[0] if found else None


async def report_attempts(pool: asyncpg.Pool, filters: Filters, currency: str,
                          as_of: datetime) -> list[Attempt]:
    """Every ended attempt that placed a call, within the filters, on
    accounts in this currency; promises judged as of as_of."""
    rows = await pool.fetch(_ATTEMPTS, filters.campaign, filters.date_from, filters.date_to,
                            NOT_PLACED, currency, as_of)
    return [Attempt(segment=r["segment"], local_hour=r["local_hour"], weekday=r["weekday"],
                    dial_mode=r["dial_mode"], result=r["result"], portfolio=r["portfolio"],
                    disposition=r["disposition"],
                    promises=r["promises"], promises_due=r["due"], promises_kept=r["kept"],
                    collected=Decimal(r["collected"]))
            for r in rows]


async def report_messages(pool: asyncpg.Pool, filters: Filters, currency: str,
                          as_of: datetime) -> list[Message]:
    """Every message that went out, within the filters, to accounts in
    this currency; judged when its follow-up window is over by as_of."""
    rows = await pool.fetch(_MESSAGES, filters.campaign, filters.date_from, filters.date_to,
                            list(SENT), currency, as_of, FOLLOW_UP)
    return [Message(segment=r["segment"], local_hour=r["local_hour"], weekday=r["weekday"],
                    channel=r["channel"],
                    template=template_label(r["trigger"], r["language"], r["version"]),
                    delivery=r["delivery"], judged=r["judged"], portfolio=r["portfolio"],
                    paid=r["collected"] is not None, promised=r["promised"],
                    collected=Decimal(r["collected"] or 0))
            for r in rows]
