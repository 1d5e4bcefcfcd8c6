"""From what happened to the messages outbox: calls that reached no one to
talk to (no_interaction) and payment events (payment_outbox), each read
once, in the transaction that marks it handled, and turned into a message
per channel the campaign's settings ask for (dialer.messages.triggers)."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from dialer.messages.model import Channel, Trigger
from dialer.messages.store import Db, campaign_id, enqueue, transaction
from dialer.messages.triggers import (
    PAYMENT_TRIGGERS,
    TriggerSetting,
    call_fires,
    call_key,
    payment_key,
)

BATCH = 500  # rows of an outbox read in one transaction


@dataclass(frozen=True)
class Intake:
    read: int  # outbox rows handled
    enqueued: int  # messages written


async def trigger_settings(db: Db, campaign_ids: list[int]
                           ) -> dict[int, list[TriggerSetting]]:
    """Each campaign's message settings."""
    rows = await db.fetch("SELECT campaign_id, trigger, channel, within_seconds "
                          "FROM campaign_message_triggers WHERE campaign_id = ANY ($1::int[]) "
                          "ORDER BY campaign_id, trigger, channel", campaign_ids)
    settings: dict[int, list[TriggerSetting]] = defaultdict(list)
    for row in rows:
        settings[row["campaign_id"]].append(TriggerSetting(
            Trigger(row["trigger"]), Channel(row["channel"]), row["within_seconds"]))
    return settings


async def set_trigger(db: Db, campaign: str, setting: TriggerSetting) -> None:
    """Switch a campaign's message on (or change its within)."""
    async with transaction(db) as connection:
        found = await campaign_id(connection, campaign)
        await connection.execute(
            "INSERT INTO campaign_message_triggers (campaign_id, trigger, channel, "
            "within_seconds) VALUES ($1, $2, $3, $4) ON CONFLICT (campaign_id, trigger, channel) "
            "DO UPDATE SET within_seconds = excluded.within_seconds",
            found, setting.trigger.value, setting.channel.value, setting.within_s)


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


# A payment event's campaign: the call's it was taken in, else the
# campaign that last called the account, else any campaign it is a lead of.
_PAYMENT_CAMPAIGN = (
    "coalesce((SELECT t.campaign_id FROM attempts t WHERE t.id::text = c.call_id), "
    "(SELECT t.campaign_id FROM attempts t WHERE t.account_id = o.account_id "
    "ORDER BY t.started_at DESC LIMIT 1), "
    "(SELECT l.campaign_id FROM leads l WHERE l.account_id = o.account_id "
    "ORDER BY l.campaign_id DESC LIMIT 1))")


async def _payments(connection: asyncpg.Connection, now: datetime) -> Intake:
    rows = await connection.fetch(
        f"SELECT o.id, o.kind, o.account_id, o.amount, o.currency, o.brand, o.last4, "
        f"o.retry_on, {_PAYMENT_CAMPAIGN} AS campaign_id, "
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
        trigger = PAYMENT_TRIGGERS[row["kind"]]
        event = {"kind": row["kind"], "amount": str(row["amount"]),
                 "currency": row["currency"].strip(), "brand": row["brand"],
                 "last4": row["last4"],
                 "retry_on": row["retry_on"] and row["retry_on"].isoformat(),
                 "due": row["missed_due"] and row["missed_due"].isoformat()}
        for setting in settings.get(row["campaign_id"], []):
            if setting.trigger is trigger:
                written = await enqueue(connection, row["account_id"], row["campaign_id"],
                                        trigger, setting.channel, payment_key(row["id"]), now,
                                        json.dumps(event))
                enqueued += written is not None
    await connection.execute("UPDATE payment_outbox SET handled_at = $2 WHERE id = ANY ($1)",
                             [r["id"] for r in rows], now)
    return Intake(len(rows), enqueued)


async def take_in(pool: asyncpg.Pool, now: datetime) -> Intake:
    """Read one batch of each outbox into messages; several senders may run
    this at once (SKIP LOCKED: each row is read by one)."""
    total = Intake(0, 0)
    for read in (_calls, _payments):
        async with pool.acquire() as connection, connection.transaction():
            done = await read(connection, now)
        total = Intake(total.read + done.read, total.enqueued + done.enqueued)
    return total
