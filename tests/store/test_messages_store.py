"""Messages in the real PostgreSQL (issue 15, 0010.messages.sql): every
template version kept (the table refuses an update or a delete), the
latest for the account's segment else for any; a preview of a real account
with a link that verifies; the outbox writes a trigger's message once,
senders claim with SKIP LOCKED and never the same message (a dead
sender's go back to pending), a failed send
backs off and is dead-lettered after the last try, then replayed; the
facts may_send decides on."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from dialer.errors import ConfigError
from dialer.messages import store
from dialer.messages.composing import compose
from dialer.messages.delivery import MAX_ATTEMPTS
from dialer.messages.links import Purpose, verify_link
from dialer.messages.model import Channel, Trigger
from dialer.messages.rules import Caps, Refused, Rule, may_send
from dialer.messages.sms import Encoding
from dialer.messages.templates import TemplateKey, TemplateRefused
from dialer.settings import PaymentLinkSettings
from tests.store.test_history import import_text

pytestmark = pytest.mark.lab

ACCOUNTS = ("reference,debtor_name,balance,days_past_due,risk_score,language,time_zone,phone1\n"
            "ES-0001,María Pérez,1234.50,10,0.5,es,,+12125550101\n"
            "EN-0002,Bo Smith,99.00,120,0.5,en,America/Chicago,+12125550102\n")
LINKS = PaymentLinkSettings("https://pay.example.com/p", "k" * 40, 7.0)
NOW = datetime(2027, 1, 5, 15, 0, tzinfo=UTC)  # 10:00 in New York
SMS_ES = "Hola {{ first_name }}: debe {{ balance }}. Pague en {{ payment_link }}\n{{ opt_out }}"


@pytest.fixture
async def pool(fresh_database, tmp_path):
    pool = await asyncpg.create_pool(fresh_database, min_size=2, max_size=6)
    await import_text(pool, tmp_path, ACCOUNTS)
    await pool.execute("INSERT INTO campaigns (name, dial_mode, caller_id, window_profile) "
                       "VALUES ('spring', 'progressive', '+15550100000', 'us')")
    yield pool
    await pool.close()


def key(segment: str = "", trigger: Trigger = Trigger.NO_INTERACTION,
        channel: Channel = Channel.SMS, language: str = "es") -> TemplateKey:
    return TemplateKey("spring", segment, trigger, channel, language)


async def account_id(pool, reference: str) -> int:
    return await pool.fetchval("SELECT id FROM accounts WHERE reference = $1", reference)


async def test_every_version_is_kept_and_the_table_is_append_only(pool) -> None:
    first = await store.save_template(pool, key(), "v1 {{ opt_out }}", None, "ana")
    second = await store.save_template(pool, key(), "v2 {{ opt_out }}", None, "bo")
    assert (first.version, second.version) == (1, 2)
    versions = await store.template_versions(pool, key())
    assert [(v.version, v.body, v.author) for v in versions] == [
        (1, "v1 {{ opt_out }}", "ana"), (2, "v2 {{ opt_out }}", "bo")]
    assert (await store.current_template(pool, key())).id == second.id
    with pytest.raises(asyncpg.RestrictViolationError, match="append-only"):
        await pool.execute("UPDATE message_templates SET body = 'x' WHERE id = $1", first.id)
    with pytest.raises(asyncpg.RestrictViolationError, match="append-only"):
        await pool.execute("DELETE FROM message_templates WHERE id = $1", first.id)
    # Saved at once from several sessions, each gets its own next version.
    saved = await asyncio.gather(*(store.save_template(pool, key(), f"c{i} {{{{ opt_out }}}}",
                                                       None) for i in range(4)))
    assert sorted(v.version for v in saved) == [3, 4, 5, 6]


async def test_a_bad_template_is_refused_and_nothing_is_stored(pool) -> None:
    with pytest.raises(TemplateRefused, match="body line 2: unknown variable 'saldo'"):
        await store.save_template(pool, key(), "Hola\n{{ saldo }} {{ opt_out }}", None)
    with pytest.raises(ConfigError, match="no campaign named 'autumn'"):
        await store.save_template(pool, TemplateKey("autumn", "", Trigger.MACHINE, Channel.SMS,
                                                    "es"), "{{ opt_out }}", None)
    assert await pool.fetchval("SELECT count(*) FROM message_templates") == 0


async def test_the_segments_own_template_wins_over_any_segment(pool) -> None:
    await store.save_template(pool, key(), "any {{ opt_out }}", None)
    await store.save_template(pool, key("early"), "early {{ opt_out }}", None)
    assert (await store.current_template(pool, key("early"))).body.startswith("early")
    assert (await store.current_template(pool, key("late"))).body.startswith("any")
    assert await store.current_template(pool, key(language="en")) is None
    latest = await store.latest_templates(pool, "spring")
    assert sorted(str(v.key) for v in latest) == ["spring/any/no_interaction/sms/es",
                                                  "spring/early/no_interaction/sms/es"]


async def test_a_preview_renders_a_real_account_with_a_link_that_verifies(pool) -> None:
    saved = await store.save_template(pool, key(), SMS_ES, None)
    composed = await compose(pool, LINKS, "spring", "ES-0001", Trigger.NO_INTERACTION,
                             Channel.SMS, NOW)
    assert composed.template.id == saved.id
    assert composed.rendered.body == (
        f"Hola María: debe 1.234,50 USD. Pague en {composed.link}\n"
        "Responda BAJA para no recibir mensajes.")
    verified = verify_link(composed.link, LINKS.key, NOW)
    # It lasts the 7 days, to the end of the last (UTC): made again that day, it is the same.
    assert verified.purpose is Purpose.PAY
    assert verified.expires_at == datetime(2027, 1, 13, tzinfo=UTC)
    # The link names the account by its token alone, the same every time.
    assert await store.account_of_token(pool, verified.token) == await account_id(pool, "ES-0001")
    assert "ES-0001" not in composed.link and "Mar" not in composed.link
    again = await compose(pool, LINKS, "spring", "ES-0001", Trigger.NO_INTERACTION,
                          Channel.SMS, NOW)
    assert again.rendered.body == composed.rendered.body
    # The template is GSM-7; María's í makes her text UCS-2 (the preview says so).
    assert composed.sms is not None
    assert (composed.sms.encoding, composed.sms.forcing) == (Encoding.UCS2, "í")
    assert composed.sms.segments == 3 and composed.sms.units == len(composed.rendered.body)
    with pytest.raises(ConfigError, match="no template for spring/late/no_interaction/sms/en"):
        await compose(pool, LINKS, "spring", "EN-0002", Trigger.NO_INTERACTION, Channel.SMS, NOW)
    with pytest.raises(ConfigError, match="no account with reference 'NOPE'"):
        await compose(pool, LINKS, "spring", "NOPE", Trigger.NO_INTERACTION, Channel.SMS, NOW)


async def test_a_trigger_writes_its_message_once(pool) -> None:
    account = await account_id(pool, "ES-0001")
    first = await store.enqueue(pool, account, None, Trigger.NO_INTERACTION, Channel.SMS,
                                "attempt:1", NOW)
    assert first is not None
    assert await store.enqueue(pool, account, None, Trigger.NO_INTERACTION, Channel.SMS,
                               "attempt:1", NOW) is None
    # Another channel, or another trigger, is another message.
    assert await store.enqueue(pool, account, None, Trigger.NO_INTERACTION, Channel.EMAIL,
                               "attempt:1", NOW)
    assert await store.enqueue(pool, account, None, Trigger.MACHINE, Channel.SMS,
                               "attempt:1", NOW)
    assert await pool.fetchval("SELECT count(*) FROM messages") == 3


async def test_senders_never_claim_the_same_message(pool) -> None:
    account = await account_id(pool, "ES-0001")
    for n in range(40):
        await store.enqueue(pool, account, None, Trigger.NO_INTERACTION, Channel.SMS,
                            f"attempt:{n}", NOW - timedelta(seconds=n))
    later = await store.enqueue(pool, account, None, Trigger.MACHINE, Channel.SMS, "later",
                                NOW + timedelta(hours=1))
    senders = [uuid.uuid4() for _ in range(4)]
    claimed = await asyncio.gather(*(store.claim_due(pool, s, NOW, 15) for s in senders))
    ids = [m.id for batch in claimed for m in batch]
    assert len(ids) == len(set(ids)) == 40 and later not in ids
    for sender, batch in zip(senders, claimed, strict=True):
        rows = await pool.fetch("SELECT id FROM messages WHERE claimed_by = $1 "
                                "AND status = 'sending'", sender)
        assert {r["id"] for r in rows} == {m.id for m in batch}
    # A sender that is gone (its lock free): its messages are pending again;
    # a live sender's (its lock held on a connection) stay its own.
    async with pool.acquire() as held:
        for sender in senders[1:]:
            await store.hold_sender_lock(held, sender)
        assert await store.release_orphans(pool, NOW) == len(claimed[0])
        await held.execute("SELECT pg_advisory_unlock_all()")
    assert await pool.fetchval("SELECT count(*) FROM messages WHERE status = 'sending'") == sum(
        len(batch) for batch in claimed[1:])


async def test_sent_failed_dead_and_replayed(pool) -> None:
    account = await account_id(pool, "ES-0001")
    template = await store.save_template(pool, key(), SMS_ES, None)
    sender = uuid.uuid4()
    sent_id = await store.enqueue(pool, account, None, Trigger.NO_INTERACTION, Channel.SMS,
                                  "attempt:ok", NOW)
    failing = await store.enqueue(pool, account, None, Trigger.NO_INTERACTION, Channel.SMS,
                                  "attempt:ko", NOW)
    await store.claim_due(pool, sender, NOW, 10)
    assert not await store.mark_sent(pool, sent_id, uuid.uuid4(), template.id, "+1", None, NOW)
    assert await store.mark_sent(pool, sent_id, sender, template.id, "+12125550101", "k-1", NOW)
    row = await pool.fetchrow("SELECT * FROM messages WHERE id = $1", sent_id)
    assert (row["status"], row["template_id"], row["recipient"], row["attempts"]) == (
        "sent", template.id, "+12125550101", 1)

    now = NOW
    for attempt in range(1, MAX_ATTEMPTS + 1):
        status = await store.mark_failed(pool, failing, sender, "provider said 503", now)
        row = await pool.fetchrow("SELECT * FROM messages WHERE id = $1", failing)
        assert row["attempts"] == attempt and row["last_error"] == "provider said 503"
        if attempt < MAX_ATTEMPTS:
            assert status == "pending" and row["next_try_at"] > now
            assert await store.claim_due(pool, sender, row["next_try_at"] - timedelta(
                microseconds=1), 10) == []
            now = row["next_try_at"]
            assert [m.id for m in await store.claim_due(pool, sender, now, 10)] == [failing]
    assert status == "dead"
    assert [m.id for m in await store.dead_letters(pool)] == [failing]
    assert await store.replay(pool, failing, now)
    assert await store.dead_letters(pool) == []
    assert [m.id for m in await store.claim_due(pool, sender, now, 10)] == [failing]


async def test_a_refusal_waits_or_ends_the_message(pool) -> None:
    account = await account_id(pool, "ES-0001")
    sender = uuid.uuid4()
    waits = await store.enqueue(pool, account, None, Trigger.NO_INTERACTION, Channel.SMS, "a", NOW)
    ends = await store.enqueue(pool, account, None, Trigger.NO_INTERACTION, Channel.SMS, "b", NOW)
    await store.claim_due(pool, sender, NOW, 10)
    morning = NOW + timedelta(hours=10)
    assert await store.mark_refused(pool, waits, sender, "quiet_hours", morning, NOW)
    assert await store.mark_refused(pool, ends, sender, "opt_out", None, NOW)
    rows = {r["id"]: r for r in await pool.fetch("SELECT * FROM messages")}
    assert (rows[waits]["status"], rows[waits]["next_try_at"]) == ("pending", morning)
    assert (rows[ends]["status"], rows[ends]["refused_rule"]) == ("refused", "opt_out")
    history = await store.account_messages(pool, account)
    assert {m.id for m in history} == {waits, ends}


async def test_the_facts_may_send_decides_on(pool) -> None:
    account = await account_id(pool, "ES-0001")
    template = await store.save_template(pool, key(), SMS_ES, None)
    sender = uuid.uuid4()
    for trigger, at in ((Trigger.NO_INTERACTION, NOW - timedelta(hours=2)),
                        (Trigger.RECEIPT, NOW - timedelta(hours=1))):
        message = await store.enqueue(pool, account, None, trigger, Channel.SMS, "x", at)
        await store.claim_due(pool, sender, at, 10)
        await store.mark_sent(pool, message, sender, template.id, "+12125550101", None, at)
    facts = await store.message_facts(pool, account, NOW)
    assert facts.sent == (NOW - timedelta(hours=2),)  # the receipt does not count
    assert [p.number for p in facts.phones] == ["+12125550101"] and not facts.opted_out
    decision = may_send(facts, Trigger.NO_INTERACTION, Channel.SMS, "us", Caps(), NOW)
    assert isinstance(decision, Refused) and decision.rule is Rule.DAILY_CAP
    await pool.execute("INSERT INTO do_not_call (reference, reason) VALUES ('ES-0001', 'opt_out')")
    facts = await store.message_facts(pool, account, NOW)
    assert facts.opted_out
    await pool.execute("UPDATE accounts SET email = 'maria@example.com' WHERE id = $1", account)
    assert (await store.message_facts(pool, account, NOW)).email == "maria@example.com"
