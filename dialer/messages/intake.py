"""From what happened to the messages outbox: calls that reached no one to
talk to (no_interaction) and payment events (payment_outbox), each read
once, in the transaction that marks it handled; promises and instalments
due tomorrow, promises broken yesterday and accounts due in a few days
(pre_due), on the debtor's date. Each becomes a message per channel the
campaign's settings ask for (dialer.messages.triggers), written once (its
key)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from dialer.messages.model import Channel, Trigger
from dialer.messages.store import Db, campaign_id, enqueue, transaction
from dialer.messages.triggers import (
    PAYMENT_TRIGGERS,
    TriggerEvent,
    TriggerSetting,
    call_fires,
    call_key,
    instalment_key,
    payment_key,
    pre_due_key,
    promise_key,
)
from dialer.payments.store import DEBTOR_ZONE

BATCH = 500  # rows of an outbox read in one transaction


@dataclass(frozen=True)
class Intake:
    read: int  # outbox rows handled, dated reminders newly written: work found
    enqueued: int  # messages written


async def trigger_settings(db: Db, campaign_ids: list[int]
                           ) -> dict[int, list[TriggerSetting]]:
    """Each campaign's message settings."""
    rows = await db.fetch("SELECT campaign_id, trigger, channel, within_seconds, days_before "
                          "FROM campaign_message_triggers WHERE campaign_id = ANY ($1::int[]) "
                          "ORDER BY campaign_id, trigger, channel", campaign_ids)
    settings: dict[int, list[TriggerSetting]] = defaultdict(list)
    for row in rows:
        settings[row["campaign_id"]].append(TriggerSetting(
            Trigger(row["trigger"]), Channel(row["channel"]), row["within_seconds"],
            row["days_before"]))
    return settings


async def set_trigger(db: Db, campaign: str, setting: TriggerSetting) -> None:
    """Switch a campaign's message on (or change its within or days before)."""
    async with transaction(db) as connection:
        found = await campaign_id(connection, campaign)
        await connection.execute(
            "INSERT INTO campaign_message_triggers (campaign_id, trigger, channel, "
            "within_seconds, days_before) VALUES ($1, $2, $3, $4, $5) "
            "ON CONFLICT (campaign_id, trigger, channel) DO UPDATE SET "
            "within_seconds = excluded.within_seconds, days_before = excluded.days_before",
            found, setting.trigger.value, setting.channel.value, setting.within_s,
            setting.days_before)


async def clear_trigger(db: Db, campaign: str, trigger: Trigger, channel: Channel) -> bool:
    """Switch a campaign's message off: False when it was not on."""
    async with transaction(db) as connection:
        found = await campaign_id(connection, campaign)
        result = await connection.execute(
            "DELETE FROM campaign_message_triggers WHERE campaign_id = $1 AND trigger = $2 "
            "AND channel = $3", found, trigger.value, channel.value)
    return result != "DELETE 0"


async def _calls(connection: asyncpg.Connection, now: datetime) -> Intake:
    rows = await connection.fetch(
        "SELECT n.attempt_id, n.account_id, n.result, n.at, t.campaign_id, t.answered_at "
        "FROM no_interaction n JOIN attempts t ON t.id = n.attempt_id "
        "WHERE n.handled_at IS NULL ORDER BY n.at LIMIT $1 FOR UPDATE OF n SKIP LOCKED", BATCH)
    if not rows:
        return Intake(0, 0)
    settings = await trigger_settings(connection, list({r["campaign_id"] for r in rows}))
    enqueued = 0
    for row in rows:
        for setting in settings.get(row["campaign_id"], []):
            if call_fires(setting, row["result"], row["answered_at"], row["at"]):
                written = await enqueue(connection, row["account_id"], row["campaign_id"],
                                        setting.trigger, setting.channel,
                                        call_key(str(row["attempt_id"])), now)
                enqueued += written is not None
    await connection.execute("UPDATE no_interaction SET handled_at = $2 "
                             "WHERE attempt_id = ANY ($1::uuid[])",
                             [r["attempt_id"] for r in rows], now)
    return Intake(len(rows), enqueued)


# The campaign a message about an account belongs to (its templates, its
# settings): the campaign of the call a payment was taken in, else the
# campaign that last called the account, else any campaign it is a lead of.
def _account_campaign(account: str, call: str = "NULL") -> str:
    return (f"coalesce((SELECT t.campaign_id FROM attempts t WHERE t.id::text = {call}), "
            f"(SELECT t.campaign_id FROM attempts t WHERE t.account_id = {account} "
            "ORDER BY t.started_at DESC LIMIT 1), "
            f"(SELECT l.campaign_id FROM leads l WHERE l.account_id = {account} "
            "ORDER BY l.campaign_id DESC LIMIT 1))")


async def _enqueue_event(connection: asyncpg.Connection,
                         settings: dict[int, list[TriggerSetting]], account_id: int,
                         campaign: int | None, event: TriggerEvent, key: str,
                         now: datetime) -> int:
    """The event's message by every channel its campaign switched on."""
    enqueued = 0
    for setting in settings.get(campaign, []) if campaign is not None else []:
        if setting.trigger is event.trigger:
            written = await enqueue(connection, account_id, campaign, event.trigger,
                                    setting.channel, key, now, event.to_json())
            enqueued += written is not None
    return enqueued


async def _payments(connection: asyncpg.Connection, now: datetime) -> Intake:
    rows = await connection.fetch(
        f"SELECT o.id, o.kind, o.account_id, o.amount, o.currency, o.brand, o.last4, "
        f"o.retry_on, {_account_campaign('o.account_id', 'c.call_id')} AS campaign_id, "
        "(SELECT max(i.due) FROM payment_instalments i WHERE i.capture_id = o.capture_id "
        "AND i.status = 'missed') AS missed_due "
        "FROM payment_outbox o LEFT JOIN payment_captures c ON c.capture_id = o.capture_id "
        "WHERE o.handled_at IS NULL ORDER BY o.id LIMIT $1 FOR UPDATE OF o SKIP LOCKED", BATCH)
    if not rows:
        return Intake(0, 0)
    settings = await trigger_settings(
        connection, list({r["campaign_id"] for r in rows if r["campaign_id"] is not None}))
    enqueued = 0
    for row in rows:
        event = TriggerEvent(PAYMENT_TRIGGERS[row["kind"]], row["amount"],
                             row["currency"].strip(), row["brand"], row["last4"],
                             row["retry_on"], row["missed_due"])
        enqueued += await _enqueue_event(connection, settings, row["account_id"],
                                         row["campaign_id"], event, payment_key(row["id"]), now)
    await connection.execute("UPDATE payment_outbox SET handled_at = $2 WHERE id = ANY ($1)",
                             [r["id"] for r in rows], now)
    return Intake(len(rows), enqueued)


# The debtor's date at $1 (now), and UTC's: any zone's date is within a
# day of UTC's, so UTC's bounds a search cheaply before the debtor's own.
_DEBTOR_TODAY = f"(($1::timestamptz AT TIME ZONE {DEBTOR_ZONE}))::date"
_UTC_TODAY = "($1::timestamptz AT TIME ZONE 'UTC')::date"

# triggers.pre_due_key in SQL, for account a (to_char: whatever DateStyle).
PRE_DUE_KEY_SQL = "'pre_due:' || a.id || ':' || to_char(a.due_date, 'YYYY-MM-DD')"

# Accounts whose pre_due reminder is due today on the debtor's date, by
# each campaign setting that asks for one, not yet written: active, not
# past due (the predicate of the index accounts_pre_due, repeated so that
# it is used), due exactly days_before days from the debtor's today, a lead
# of the campaign. An account already paid, settled or closed is skipped
# here rather than written and refused by the rules when sent: the index
# holds only active accounts anyway, and the account's history stays free
# of reminders that were never going to go (the rules still refuse one
# paid between now and its sending). Those already written are left out
# (messages' unique key) so that a round reads only new work: the same
# accounts match all day long.
_PRE_DUE = f"""
SELECT s.campaign_id, s.channel, a.id AS account_id, a.balance, a.currency, a.due_date
FROM campaign_message_triggers s
JOIN accounts a ON a.due_date BETWEEN {_UTC_TODAY} + s.days_before - 1
                                  AND {_UTC_TODAY} + s.days_before + 1
WHERE s.trigger = 'pre_due'
  AND a.due_date IS NOT NULL AND a.status = 'active' AND a.days_past_due = 0
  -- Written so that no side is of one table alone: as a join key, the
  -- planner would hash every eligible account's date instead of reading
  -- the index over the few days above.
  AND a.due_date - s.days_before = {_DEBTOR_TODAY}
  AND EXISTS (SELECT 1 FROM leads l WHERE l.campaign_id = s.campaign_id AND l.account_id = a.id)
  AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.trigger = 'pre_due'
                  AND m.channel = s.channel AND m.idempotency_key = {PRE_DUE_KEY_SQL})
ORDER BY a.id, s.campaign_id DESC
LIMIT $2
"""


async def _pre_due(connection: asyncpg.Connection, now: datetime) -> int:
    """Pre-due reminders, each by its own setting's channel (a campaign
    may text three days before and e-mail seven). An account that is a
    lead of two such campaigns gets one per channel (its key): the newer
    campaign's, as _account_campaign would pick. How many it wrote."""
    rows = await connection.fetch(_PRE_DUE, now, BATCH)
    enqueued = 0
    for row in rows:
        event = TriggerEvent(Trigger.PRE_DUE, row["balance"], row["currency"].strip(),
                             due=row["due_date"])
        written = await enqueue(connection, row["account_id"], row["campaign_id"],
                                Trigger.PRE_DUE, Channel(row["channel"]),
                                pre_due_key(row["account_id"], row["due_date"]), now,
                                event.to_json())
        enqueued += written is not None
    return enqueued


async def _dated(connection: asyncpg.Connection, now: datetime) -> Intake:
    """Reminders due on the debtor's date: a promise or an instalment due
    tomorrow, a promise due yesterday that no payment kept, an account due
    in its campaign's days_before (_pre_due). Each read every round,
    written once (its key); the rules decide when it goes."""
    # Cheap bounds first (any zone is within a day of UTC), then the
    # debtor's own date.
    near = f"BETWEEN {_UTC_TODAY} - 2 AND {_UTC_TODAY} + 2"
    promises = await connection.fetch(
        f"SELECT p.id, p.account_id, p.amount, a.currency, p.due_by, "
        f"p.due_by - {_DEBTOR_TODAY} AS days_left, "
        f"{_account_campaign('p.account_id')} AS campaign_id, "
        "EXISTS (SELECT 1 FROM payment_attempts x WHERE x.account_id = p.account_id "
        "AND x.status = 'approved' AND x.started_at >= p.at) AS kept "
        f"FROM promises p JOIN accounts a ON a.id = p.account_id WHERE p.due_by {near}",
        now)
    instalments = await connection.fetch(
        f"SELECT i.capture_id, i.number, i.account_id, i.amount, i.currency, i.due, "
        f"i.due - {_DEBTOR_TODAY} AS days_left, "
        f"{_account_campaign('i.account_id')} AS campaign_id "
        f"FROM payment_instalments i JOIN accounts a ON a.id = i.account_id "
        f"WHERE i.status = 'due' AND i.due {near}", now)
    events: list[tuple[int, int | None, TriggerEvent, str]] = []
    for row in promises:
        trigger = {1: Trigger.PROMISE_REMINDER,
                   -1: None if row["kept"] else Trigger.BROKEN_PROMISE}.get(row["days_left"])
        if trigger is not None:
            events.append((row["account_id"], row["campaign_id"],
                           TriggerEvent(trigger, row["amount"], row["currency"].strip(),
                                        due=row["due_by"]), promise_key(row["id"], trigger)))
    for row in instalments:
        if row["days_left"] == 1:
            events.append((row["account_id"], row["campaign_id"],
                           TriggerEvent(Trigger.INSTALMENT_REMINDER, row["amount"],
                                        row["currency"].strip(), due=row["due"]),
                           instalment_key(str(row["capture_id"]), row["number"])))
    enqueued = await _pre_due(connection, now)
    if events:
        settings = await trigger_settings(connection, list({c for _, c, _, _ in events if c}))
        for account_id, campaign, event, key in events:
            enqueued += await _enqueue_event(connection, settings, account_id, campaign, event,
                                             key, now)
    # These rows are read again every round all day: only a message newly
    # written is work found (Sender.round rests, and drain stops, on none).
    return Intake(enqueued, enqueued)


async def take_in(pool: asyncpg.Pool, now: datetime) -> Intake:
    """Read one batch of each outbox into messages; several senders may run
    this at once (SKIP LOCKED: each row is read by one)."""
    total = Intake(0, 0)
    for read in (_calls, _payments, _dated):
        async with pool.acquire() as connection, connection.transaction():
            done = await read(connection, now)
        total = Intake(total.read + done.read, total.enqueued + done.enqueued)
    return total
