"""Messages in PostgreSQL (0010.messages.sql): template versions, the
outbox of messages to send, the opaque tokens payment links carry, and the
facts the rules decide on. Functions take an asyncpg connection (or pool)."""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from dialer.errors import ConfigError
from dialer.messages.delivery import next_retry
from dialer.messages.model import TRANSACTIONAL, Channel, Trigger
from dialer.messages.rules import MessageFacts
from dialer.messages.templates import AccountView, TemplateKey, check_template
from dialer.portfolio.model import (
    AccountStatus,
    DoNotCall,
    DoNotCallReason,
    Phone,
    PhoneKind,
)
from dialer.portfolio.store import add_do_not_call

Db = asyncpg.Connection | asyncpg.Pool
_DUNNING = [t.value for t in Trigger if t not in TRANSACTIONAL]


@asynccontextmanager
async def transaction(db: Db) -> AsyncIterator[asyncpg.Connection]:
    if isinstance(db, asyncpg.Pool):
        async with db.acquire() as connection, connection.transaction():
            yield connection
    else:
        async with db.transaction():
            yield db


@dataclass(frozen=True)
class TemplateVersion:
    id: int
    key: TemplateKey
    version: int
    subject: str | None
    body: str
    author: str
    created_at: datetime


@dataclass(frozen=True)
class OutboxMessage:
    id: int
    account_id: int
    campaign_id: int | None
    trigger: Trigger
    channel: Channel
    idempotency_key: str
    status: str
    attempts: int
    next_try_at: datetime
    template_id: int | None
    recipient: str | None
    last_error: str | None
    refused_rule: str | None
    event: str  # the trigger's own values, a JSON object
    # Kannel's last report on it: one before it is marked sent means Kannel
    # took it on an earlier try (dialer.messages.sender).
    delivery_code: int | None = None


@dataclass(frozen=True)
class PreviewAccount:
    id: int
    view: AccountView
    language: str
    segment: str  # in the campaign, by its thresholds
    link_token: str  # the opaque token its payment links name it by


def _version(row: asyncpg.Record) -> TemplateVersion:
    key = TemplateKey(row["campaign"], row["segment"], Trigger(row["trigger"]),
                      Channel(row["channel"]), row["language"])
    return TemplateVersion(row["id"], key, row["version"], row["subject"], row["body"],
                           row["author"], row["created_at"])


def _message(row: asyncpg.Record) -> OutboxMessage:
    return OutboxMessage(row["id"], row["account_id"], row["campaign_id"],
                         Trigger(row["trigger"]), Channel(row["channel"]),
                         row["idempotency_key"], row["status"], row["attempts"],
                         row["next_try_at"], row["template_id"], row["recipient"],
                         row["last_error"], row["refused_rule"], row["event"],
                         row["delivery_code"])


_TEMPLATE_COLUMNS = ("t.id, c.name AS campaign, t.segment, t.trigger, t.channel, t.language, "
                     "t.version, t.subject, t.body, t.author, t.created_at")


async def campaign_id(db: Db, campaign: str) -> int:
    """The campaign's id; ConfigError when there is none of that name."""
    found = await db.fetchval("SELECT id FROM campaigns WHERE name = $1", campaign)
    if found is None:
        raise ConfigError(f"no campaign named {campaign!r}")
    return found


async def save_template(db: Db, key: TemplateKey, body: str, subject: str | None,
                        author: str = "") -> TemplateVersion:
    """Check a template (TemplateRefused says where it is wrong) and keep it
    as the key's next version; earlier versions stay as they were."""
    check_template(key.trigger, key.channel, key.language, body, subject)
    async with transaction(db) as connection:
        found = await campaign_id(connection, key.campaign)
        # One save at a time per campaign: each gets the next version.
        await connection.execute("SELECT 1 FROM campaigns WHERE id = $1 FOR UPDATE", found)
        row = await connection.fetchrow(
            "INSERT INTO message_templates (campaign_id, segment, trigger, channel, language, "
            "version, subject, body, author) "
            "SELECT $1, $2, $3, $4, $5, coalesce(max(version), 0) + 1, $6, $7, $8 "
            "FROM message_templates WHERE campaign_id = $1 AND segment = $2 AND trigger = $3 "
            "AND channel = $4 AND language = $5 RETURNING id",
            found, key.segment, key.trigger.value, key.channel.value, key.language, subject,
            body, author)
        versions = await template_versions(connection, key)
    return next(v for v in versions if v.id == row["id"])


async def template_versions(db: Db, key: TemplateKey) -> list[TemplateVersion]:
    """Every version of a template, the first first."""
    rows = await db.fetch(
        f"SELECT {_TEMPLATE_COLUMNS} FROM message_templates t JOIN campaigns c "
        "ON c.id = t.campaign_id WHERE c.name = $1 AND t.segment = $2 AND t.trigger = $3 "
        "AND t.channel = $4 AND t.language = $5 ORDER BY t.version",
        key.campaign, key.segment, key.trigger.value, key.channel.value, key.language)
    return [_version(r) for r in rows]


async def current_template(db: Db, key: TemplateKey) -> TemplateVersion | None:
    """The latest version for the key's segment, else for any segment ('')."""
    row = await db.fetchrow(
        f"SELECT {_TEMPLATE_COLUMNS} FROM message_templates t JOIN campaigns c "
        "ON c.id = t.campaign_id WHERE c.name = $1 AND t.segment IN ($2, '') "
        "AND t.trigger = $3 AND t.channel = $4 AND t.language = $5 "
        "ORDER BY t.segment = $2 DESC, t.version DESC LIMIT 1",
        key.campaign, key.segment, key.trigger.value, key.channel.value, key.language)
    return None if row is None else _version(row)


async def latest_templates(db: Db, campaign: str | None = None) -> list[TemplateVersion]:
    """The latest version of every template (of one campaign, or all)."""
    rows = await db.fetch(
        f"SELECT DISTINCT ON (t.campaign_id, t.segment, t.trigger, t.channel, t.language) "
        f"{_TEMPLATE_COLUMNS} FROM message_templates t JOIN campaigns c "
        "ON c.id = t.campaign_id WHERE $1::text IS NULL OR c.name = $1 "
        "ORDER BY t.campaign_id, t.segment, t.trigger, t.channel, t.language, t.version DESC",
        campaign)
    return [_version(r) for r in rows]


async def template_by_id(db: Db, template_id: int) -> TemplateVersion | None:
    row = await db.fetchrow(
        f"SELECT {_TEMPLATE_COLUMNS} FROM message_templates t JOIN campaigns c "
        "ON c.id = t.campaign_id WHERE t.id = $1", template_id)
    return None if row is None else _version(row)


# Accounts in campaigns ($1 account ids, $2 campaign ids, pairwise), each
# with its link token, made the first time ($3: a fresh one per pair): one
# round trip for a sender's whole batch. The final SELECT does not see the
# rows `made` inserts (one snapshot), so it takes made's token, else the one
# that was there.
_ACCOUNTS_IN_CAMPAIGNS = """
WITH wanted AS (
    SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[])
        AS w (account_id, campaign_id, fresh_token)
), found AS (
    SELECT a.id, w.campaign_id, w.fresh_token, a.reference, a.debtor_name, a.balance,
           a.currency, a.language, c.name AS campaign,
           CASE WHEN a.days_past_due <= c.early_max_dpd THEN 'early'
           WHEN a.days_past_due <= c.mid_max_dpd THEN 'mid' ELSE 'late' END AS segment
    FROM wanted w JOIN accounts a ON a.id = w.account_id JOIN campaigns c ON c.id = w.campaign_id
), made AS (
    INSERT INTO account_link_tokens (account_id, token)
    SELECT DISTINCT ON (id) id, fresh_token FROM found ORDER BY id
    ON CONFLICT (account_id) DO NOTHING RETURNING account_id, token
)
SELECT found.*, coalesce(made.token, t.token) AS link_token
FROM found LEFT JOIN made ON made.account_id = found.id
LEFT JOIN account_link_tokens t ON t.account_id = found.id
"""


def _preview(row: asyncpg.Record) -> PreviewAccount:
    view = AccountView(row["reference"], row["debtor_name"], row["balance"],
                       row["currency"].strip())
    return PreviewAccount(row["id"], view, row["language"], row["segment"], row["link_token"])


async def accounts_in_campaigns(db: Db, wanted: Iterable[tuple[int, int]]
                                ) -> dict[tuple[int, int], tuple[str, PreviewAccount]]:
    """For each (campaign id, account id): the campaign's name and the
    account as a message of it sees it; a pair where either is unknown is
    left out."""
    pairs = list(dict.fromkeys(wanted))
    rows = await db.fetch(_ACCOUNTS_IN_CAMPAIGNS, [a for _, a in pairs], [c for c, _ in pairs],
                          [secrets.token_urlsafe(16) for _ in pairs])
    return {(r["campaign_id"], r["id"]): (r["campaign"], _preview(r)) for r in rows}


async def preview_account(db: Db, campaign: str, reference: str) -> PreviewAccount:
    """An account as a message to it would see it, and its segment in the
    campaign; ConfigError when either is unknown."""
    found = await campaign_id(db, campaign)
    account = await db.fetchval("SELECT id FROM accounts WHERE reference = $1", reference)
    if account is None:
        raise ConfigError(f"no account with reference {reference!r}")
    return (await message_account(db, found, account))[1]


async def message_account(db: Db, campaign: int, account_id: int
                          ) -> tuple[str, PreviewAccount]:
    """The campaign's name and the account as a message of it sees it."""
    found = (await accounts_in_campaigns(db, [(campaign, account_id)])).get(
        (campaign, account_id))
    if found is None:
        raise ConfigError(f"no account {account_id} or campaign {campaign}")
    return found


async def account_of_token(db: Db, token: str) -> int | None:
    """The account a payment link's token names (for the page behind it)."""
    return await db.fetchval("SELECT account_id FROM account_link_tokens WHERE token = $1",
                             token)


async def enqueue(db: Db, account_id: int, campaign_id: int | None, trigger: Trigger,
                  channel: Channel, idempotency_key: str, due_at: datetime | None = None,
                  event: str = "{}") -> int | None:
    """Put a message in the outbox, due at due_at (now when None), with the
    trigger's own values (event, a JSON object): its id, or None when the
    trigger already wrote it (it is not written twice)."""
    return await db.fetchval(
        "INSERT INTO messages (account_id, campaign_id, trigger, channel, idempotency_key, "
        "next_try_at, event) VALUES ($1, $2, $3, $4, $5, coalesce($6, now()), $7::jsonb) "
        "ON CONFLICT (trigger, channel, idempotency_key) DO NOTHING RETURNING id",
        account_id, campaign_id, trigger.value, channel.value, idempotency_key, due_at, event)


async def claim_due(db: Db, sender: uuid.UUID, now: datetime, limit: int,
                    channels: Iterable[Channel] = tuple(Channel)) -> list[OutboxMessage]:
    """Take up to limit due messages of these channels for this sender,
    oldest due first; several senders never take the same one (SKIP
    LOCKED). A channel no sender has stays pending until one does."""
    rows = await db.fetch(
        "UPDATE messages m SET status = 'sending', claimed_by = $1, updated_at = $2 "
        "FROM (SELECT id FROM messages WHERE status = 'pending' AND next_try_at <= $2 "
        "AND channel = ANY ($4::text[]) "
        "ORDER BY next_try_at, id LIMIT $3 FOR UPDATE SKIP LOCKED) due "
        "WHERE m.id = due.id RETURNING m.*", sender, now, limit, [c.value for c in channels])
    return sorted((_message(r) for r in rows), key=lambda m: (m.next_try_at, m.id))


# The messages ({ids}, a bigint[] parameter) an UPDATE of many changes,
# locked first in the order of their ids: the sender's marks and the
# delivery reports' writes lock the same rows, and in one order they never
# deadlock.
_HELD_IN_ORDER = ("held AS MATERIALIZED (SELECT id FROM messages WHERE id = ANY ({ids}::bigint[]) "
                  "ORDER BY id FOR UPDATE)")


@dataclass(frozen=True)
class Sent:
    """A message its provider took: the template version it used (None:
    Recobro's own confirmation of an opt-out), where it went (None: where a
    delivery report said) and the provider's id for it."""

    message_id: int
    template_id: int | None
    recipient: str | None
    provider_reference: str | None


async def mark_sent(db: Db, message_id: int, sender: uuid.UUID, template_id: int | None,
                    recipient: str | None, provider_reference: str | None,
                    now: datetime) -> bool:
    """The provider took the message. False when this sender no longer
    holds it."""
    sent = Sent(message_id, template_id, recipient, provider_reference)
    return bool(await mark_all_sent(db, sender, [sent], now))


async def mark_all_sent(db: Db, sender: uuid.UUID, sent: Iterable[Sent],
                        now: datetime) -> set[int]:
    """Messages their providers took, in one statement: the ids of those
    this sender still held (the others are not touched)."""
    taken = list(sent)
    # A final delivery report may have come before this (record_delivery).
    rows = await db.fetch(
        f"WITH {_HELD_IN_ORDER.format(ids='$3')} "
        "UPDATE messages m SET status = CASE WHEN m.delivery_code = 1 THEN 'delivered' "
        "WHEN m.delivery_code IN (2, 16) THEN 'undelivered' ELSE 'sent' END, "
        "attempts = m.attempts + 1, template_id = h.template_id, "
        "recipient = coalesce(h.recipient, m.recipient), provider_reference = h.reference, "
        "sent_at = $2, updated_at = $2, claimed_by = NULL, last_error = NULL "
        "FROM unnest($3::bigint[], $4::bigint[], $5::text[], $6::text[]) "
        "AS h (id, template_id, recipient, reference), held "
        "WHERE m.id = h.id AND held.id = h.id AND m.claimed_by = $1 AND m.status = 'sending' "
        "RETURNING m.id",
        sender, now, [s.message_id for s in taken], [s.template_id for s in taken],
        [s.recipient for s in taken], [s.provider_reference for s in taken])
    return {r["id"] for r in rows}


async def mark_failed(db: Db, message_id: int, sender: uuid.UUID, error: str, now: datetime,
                      *, permanent: bool = False) -> str | None:
    """A try that failed: pending again after the backoff, or dead after
    the last try (or at once when trying again cannot help). The new
    status, or None when this sender no longer holds it."""
    async with transaction(db) as connection:
        attempts = await connection.fetchval(
            "SELECT attempts + 1 FROM messages WHERE id = $1 AND claimed_by = $2 "
            "AND status = 'sending' FOR UPDATE", message_id, sender)
        if attempts is None:
            return None
        wait = None if permanent else next_retry(attempts)
        status = "dead" if wait is None else "pending"
        await connection.execute(
            "UPDATE messages SET status = $2, attempts = $3, last_error = left($4, 500), "
            "next_try_at = $5, dead_lettered_at = $6, claimed_by = NULL, updated_at = $7 "
            "WHERE id = $1", message_id, status, attempts, error,
            now + (wait or timedelta(0)), now if wait is None else None, now)
    return status


async def mark_refused(db: Db, message_id: int, sender: uuid.UUID, rule: str,
                       until: datetime | None, now: datetime) -> bool:
    """A rule said no: the message waits until then (pending), or is never
    sent (refused) when the rule holds for good."""
    done = await db.fetchval(
        "UPDATE messages SET status = CASE WHEN $4::timestamptz IS NULL THEN 'refused' "
        "ELSE 'pending' END, next_try_at = coalesce($4, next_try_at), refused_rule = $3, "
        "claimed_by = NULL, updated_at = $5 WHERE id = $1 AND claimed_by = $2 "
        "AND status = 'sending' RETURNING id", message_id, sender, rule, until, now)
    return done is not None


# Each running sender holds a session advisory lock on its id for life (on
# a connection of its own): a sender whose lock is free has died.
_SENDER_LOCK = "hashtext('recobro.message-sender'), hashtext($1::uuid::text)"


async def hold_sender_lock(connection: asyncpg.Connection, sender: uuid.UUID) -> None:
    """Take this sender's lock on connection, kept open while it runs."""
    await connection.execute(f"SELECT pg_advisory_lock({_SENDER_LOCK})", sender)


async def release_orphans(db: Db, now: datetime) -> int:
    """Messages a dead sender was sending become pending again: a sender
    killed between claim and send leaves them claimed, never sent."""
    result = await db.execute(
        "UPDATE messages SET status = 'pending', claimed_by = NULL, updated_at = $1 "
        "WHERE status = 'sending' AND pg_try_advisory_xact_lock("
        "hashtext('recobro.message-sender'), hashtext(claimed_by::text))", now)
    return int(result.split()[-1])


async def dead_letters(db: Db) -> list[OutboxMessage]:
    """The messages that failed every try, the latest first."""
    rows = await db.fetch("SELECT * FROM messages WHERE status = 'dead' "
                          "ORDER BY dead_lettered_at DESC, id DESC")
    return [_message(r) for r in rows]


async def replay(db: Db, message_id: int, now: datetime) -> bool:
    """A dead letter, due again now with a fresh count of tries."""
    done = await db.fetchval(
        "UPDATE messages SET status = 'pending', attempts = 0, next_try_at = $2, "
        "dead_lettered_at = NULL, updated_at = $2 WHERE id = $1 AND status = 'dead' "
        "RETURNING id", message_id, now)
    return done is not None


async def account_messages(db: Db, account_id: int) -> list[OutboxMessage]:
    """An account's messages, the latest first (for its screen pop)."""
    rows = await db.fetch("SELECT * FROM messages WHERE account_id = $1 "
                          "ORDER BY created_at DESC, id DESC", account_id)
    return [_message(r) for r in rows]


async def message_facts(db: Db, account_id: int, now: datetime) -> MessageFacts:
    """What may_send decides on for an account, read fresh: its status,
    opt-outs, zones, current phones, e-mail and the dunning messages sent
    to it in the last 7 days."""
    found = await accounts_message_facts(db, [account_id], now)
    if account_id not in found:
        raise ConfigError(f"no account with id {account_id}")
    return found[account_id]


async def accounts_message_facts(db: Db, account_ids: Iterable[int], now: datetime
                                 ) -> dict[int, MessageFacts]:
    """message_facts for many accounts in one round trip (a sender's
    batch), by account id; an unknown id is left out."""
    rows = await db.fetch(
        "SELECT a.id, a.reference, a.status, a.time_zone, a.email, "
        "EXISTS (SELECT 1 FROM do_not_call d WHERE d.reference = a.reference) AS opted_out, "
        "(SELECT coalesce(jsonb_agg(jsonb_build_object('number', p.number, 'kind', p.kind, "
        "'sms_capable', p.sms_capable, 'consent', p.consent, 'region', p.region, "
        "'time_zones', p.time_zones, 'dnc', EXISTS (SELECT 1 FROM do_not_call d "
        "WHERE d.number = p.number)) ORDER BY p.position), '[]') FROM phones p "
        "WHERE p.account_id = a.id AND p.retired_at IS NULL) AS phones, "
        "ARRAY(SELECT m.sent_at FROM messages m WHERE m.account_id = a.id AND m.sent_at > $2 "
        "AND m.trigger = ANY ($3::text[])) AS sent "
        "FROM accounts a WHERE a.id = ANY ($1::bigint[])",
        list(set(account_ids)), now - timedelta(days=7), _DUNNING)
    return {row["id"]: _facts(row) for row in rows}


def _facts(account: asyncpg.Record) -> MessageFacts:
    phones = json.loads(account["phones"])
    return MessageFacts(
        reference=account["reference"], status=AccountStatus(account["status"]),
        opted_out=account["opted_out"], time_zone=account["time_zone"],
        phones=tuple(Phone(p["number"], PhoneKind(p["kind"]), p["sms_capable"], p["consent"],
                           p["region"], tuple(p["time_zones"])) for p in phones),
        numbers_opted_out=frozenset(p["number"] for p in phones if p["dnc"]),
        email=account["email"], sent=tuple(account["sent"]))


@dataclass(frozen=True)
class DeliveryReport:
    """A delivery report on a message: its code and the SMSC's answer (and
    the number it went to, where the outbox may not know it yet); a final
    one (final_status) settles the message delivered or undelivered."""

    message_id: int
    code: int
    final_status: str | None
    answer: str
    at: datetime
    recipient: str | None = None


async def record_delivery(db: Db, message_id: int, code: int, final_status: str | None,
                          answer: str, now: datetime, recipient: str | None = None) -> bool:
    """A delivery report for a message (see record_deliveries). False when
    there is no such message, or the report came after a final one."""
    report = DeliveryReport(message_id, code, final_status, answer, now, recipient)
    return bool(await record_deliveries(db, [report]))


async def record_deliveries(db: Db, reports: Sequence[DeliveryReport]) -> set[int]:
    """Delivery reports in one statement, at most one per message (which of
    two the UPDATE would take is not defined: dialer.messages.batches.waves
    splits them): the ids of the messages they were recorded on. A final
    report settles its message once it is sent; a report that is not final
    never overwrites a final one (they may come in any order; 1, 2 and 16
    are DeliveryCode's final codes)."""
    rows = await db.fetch(
        f"WITH {_HELD_IN_ORDER.format(ids='$1')} "
        "UPDATE messages m SET delivery_code = r.code, delivery_reported_at = r.at, "
        "delivery_answer = left(r.answer, 255), updated_at = r.at, "
        "recipient = coalesce(m.recipient, r.recipient), "
        "status = CASE WHEN r.final IS NOT NULL AND m.status IN ('sent', 'delivered', "
        "'undelivered') THEN r.final ELSE m.status END "
        "FROM unnest($1::bigint[], $2::int[], $3::text[], $4::timestamptz[], $5::text[], "
        "$6::text[]) AS r (id, code, final, at, answer, recipient), held "
        "WHERE m.id = r.id AND held.id = r.id AND (r.final IS NOT NULL OR m.delivery_code IS NULL "
        "OR m.delivery_code NOT IN (1, 2, 16)) RETURNING m.id",
        [r.message_id for r in reports], [r.code for r in reports],
        [r.final_status for r in reports], [r.at for r in reports],
        [r.answer for r in reports], [r.recipient for r in reports])
    return {row["id"] for row in rows}


async def record_provider_delivery(db: Db, provider_reference: str, code: int,
                                   final_status: str | None, answer: str,
                                   now: datetime) -> bool:
    """record_delivery for a text an SMS provider names by its own id (the
    HTTP provider's reports); False when no text has that id."""
    ids = await db.fetch("SELECT id FROM messages WHERE channel = 'sms' "
                         "AND provider_reference = $1", provider_reference)
    recorded = await record_deliveries(db, [
        DeliveryReport(row["id"], code, final_status, answer, now) for row in ids])
    return bool(recorded)


@dataclass(frozen=True)
class OptedOut:
    """What a reply that opts out did: the accounts it opted out (by
    reference), and the confirmation it enqueued (None: none, because the
    number has no account, or the confirmation was enqueued before)."""

    references: tuple[str, ...]
    confirmation: int | None


async def opt_out_number(db: Db, number: str, now: datetime) -> OptedOut:
    """A debtor at number replied STOP (or BAJA...): every account with the
    number among its current phones goes on the do-not-call list (calls
    and messages alike), and one opt_out_confirmation is enqueued by SMS
    to the account a text last went to from that number (else the first).
    A number on no account goes on the list itself. Its idempotency key
    names the account's do-not-call entry, so a second STOP while the
    account stays opted out enqueues nothing more."""
    async with transaction(db) as connection:
        accounts = await connection.fetch(
            "SELECT DISTINCT a.id, a.reference FROM phones p JOIN accounts a "
            "ON a.id = p.account_id WHERE p.number = $1 AND p.retired_at IS NULL ORDER BY a.id",
            number)
        if not accounts:
            await add_do_not_call(connection, DoNotCall(DoNotCallReason.OPT_OUT, number=number),
                                  now)
            return OptedOut((), None)
        for account in accounts:
            await add_do_not_call(
                connection, DoNotCall(DoNotCallReason.OPT_OUT, reference=account["reference"]),
                now)
        ids = [a["id"] for a in accounts]
        last = await connection.fetchrow(
            "SELECT account_id, campaign_id FROM messages WHERE recipient = $1 "
            "AND channel = 'sms' AND account_id = ANY ($2::bigint[]) AND sent_at IS NOT NULL "
            "ORDER BY sent_at DESC, id DESC LIMIT 1", number, ids)
        if last is not None:
            account_id, campaign = last["account_id"], last["campaign_id"]
        else:
            account_id = ids[0]
            campaign = await connection.fetchval(
                "SELECT campaign_id FROM leads WHERE account_id = $1 "
                "ORDER BY campaign_id LIMIT 1", account_id)
        entry = await connection.fetchval(
            "SELECT d.id FROM do_not_call d JOIN accounts a ON a.reference = d.reference "
            "WHERE a.id = $1", account_id)
        confirmation = await enqueue(connection, account_id, campaign,
                                     Trigger.OPT_OUT_CONFIRMATION, Channel.SMS,
                                     f"opt-out:{entry}", now)
    return OptedOut(tuple(a["reference"] for a in accounts), confirmation)
