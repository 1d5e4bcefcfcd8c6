"""The message sender against the real PostgreSQL (issue 15): calls that
reached no one and payment events become one message each, by the
campaign's settings; the sender sends what the rules allow, exactly as the
preview shows it; quiet hours wait for the morning; the caps hold over a
simulated week; a failed send backs off, a hopeless one is dead-lettered;
two senders at once send each message once. The channel here only records
what it was handed: Kannel, SMTP and fakesmsc are proven in tests/e2e."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from dialer.messages import store
from dialer.messages.channels import Handed, Outgoing, SendFailed
from dialer.messages.composing import compose
from dialer.messages.intake import set_trigger
from dialer.messages.links import verify_link
from dialer.messages.model import Channel, Trigger
from dialer.messages.sender import Outcome, Sender, Tally
from dialer.messages.templates import TemplateKey
from dialer.messages.triggers import TriggerSetting
from dialer.settings import PaymentLinkSettings
from tests.store.test_history import import_text

pytestmark = pytest.mark.lab

ACCOUNTS = ("reference,debtor_name,balance,days_past_due,risk_score,language,time_zone,phone1,"
            "email\n"
            "ES-0001,María Pérez,1234.50,10,0.5,es,America/New_York,+12125550101,\n"
            "EN-0002,Bo Smith,99.00,120,0.5,en,America/New_York,+12125550102,bo@example.com\n")
LINKS = PaymentLinkSettings("https://pay.example.com/p", "k" * 40, 7.0)
NOW = datetime(2027, 1, 5, 15, 0, tzinfo=UTC)  # 10:00 in New York, a Tuesday
NO_ANSWER_ES = "Hola {{ first_name }}: debe {{ balance }}. Pague en {{ payment_link }}\n{{ opt_out }}"
MACHINE_EN = "{{ first_name }}, call us back or pay at {{ payment_link }} {{ opt_out }}"
RECEIPT_ES = "Recibimos {{ amount }} con {{ card }}. Gracias. {{ opt_out }}"


class RecordingChannel:
    """Takes every message, or fails as told; keeps what it was handed."""

    channel = Channel.SMS

    def __init__(self) -> None:
        self.handed: list[Outgoing] = []
        self.failure: Exception | None = None
        self.failing: int | None = None  # only this message fails, when set

    async def send(self, outgoing: Outgoing) -> Handed:
        if self.failure is not None and self.failing in (None, outgoing.message_id):
            raise self.failure
        self.handed.append(outgoing)
        await asyncio.sleep(0)
        return Handed(f"ref-{outgoing.message_id}")

    async def close(self) -> None:
        pass


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def pool(fresh_database, tmp_path):
    pool = await asyncpg.create_pool(fresh_database, min_size=2, max_size=24)
    await import_text(pool, tmp_path, ACCOUNTS)
    await pool.execute("UPDATE phones SET sms_capable = true, consent = true")
    campaign = await pool.fetchval(
        "INSERT INTO campaigns (name, dial_mode, caller_id, window_profile) "
        "VALUES ('spring', 'progressive', '+15550100000', 'us') RETURNING id")
    await pool.execute("INSERT INTO dialers (id, campaign_id, pid) VALUES ($1, $2, 1)",
                       DIALER, campaign)
    for trigger, language, body in ((Trigger.NO_INTERACTION, "es", NO_ANSWER_ES),
                                    (Trigger.MACHINE, "en", MACHINE_EN),
                                    (Trigger.RECEIPT, "es", RECEIPT_ES)):
        await store.save_template(pool, TemplateKey("spring", "", trigger, Channel.SMS, language),
                                  body, None)
    await set_trigger(pool, "spring", TriggerSetting(Trigger.NO_INTERACTION, Channel.SMS, 10))
    await set_trigger(pool, "spring", TriggerSetting(Trigger.MACHINE, Channel.SMS))
    await set_trigger(pool, "spring", TriggerSetting(Trigger.RECEIPT, Channel.SMS))
    yield pool
    await pool.close()


DIALER = uuid.uuid4()


async def call_ended(pool, reference: str, result: str, talk_s: float, at: datetime) -> uuid.UUID:
    """A call the dialer finished with result, answered talk_s before at."""
    attempt = uuid.uuid4()
    await pool.execute(
        "INSERT INTO attempts (id, campaign_id, account_id, phone_id, number, dialer_id, segment, "
        "started_at, answered_at, ended_at, result) "
        "SELECT $1, c.id, a.id, p.id, p.number, $2, 'early', $3, $4, $5, $6 "
        "FROM campaigns c, accounts a JOIN phones p ON p.account_id = a.id "
        "WHERE c.name = 'spring' AND a.reference = $7",
        attempt, DIALER, at - timedelta(seconds=talk_s + 10), at - timedelta(seconds=talk_s),
        at, result, reference)
    await pool.execute("INSERT INTO no_interaction (attempt_id, account_id, number, result, at) "
                       "SELECT id, account_id, number, result, ended_at FROM attempts "
                       "WHERE id = $1", attempt)
    return attempt


@asynccontextmanager
async def sender(pool, channel: RecordingChannel, clock: Clock, **options) -> AsyncIterator[Sender]:
    work = Sender(pool, {Channel.SMS: channel}, LINKS, clock, **options)
    async with work.holding():
        yield work


async def statuses(pool) -> list[tuple[str, str, str]]:
    rows = await pool.fetch("SELECT a.reference, m.trigger, m.status FROM messages m "
                            "JOIN accounts a ON a.id = m.account_id ORDER BY m.id")
    return [(r["reference"], r["trigger"], r["status"]) for r in rows]


async def test_calls_and_payments_become_one_message_each_as_previewed(pool) -> None:
    clock, channel = Clock(NOW), RecordingChannel()
    await call_ended(pool, "ES-0001", "hung_up", 3, NOW)  # a silent hang-up: fires
    await call_ended(pool, "EN-0002", "hung_up", 60, NOW)  # talked a minute: within 10 s fails
    await call_ended(pool, "EN-0002", "machine", 20, NOW)
    await call_ended(pool, "EN-0002", "busy", 0, NOW)  # not a no_interaction result at all
    await pool.execute(
        "INSERT INTO payment_outbox (kind, account_id, capture_id, amount, currency, brand, last4) "
        "SELECT 'receipt', id, $1, 250.00, 'USD', 'Visa', '4242' FROM accounts "
        "WHERE reference = 'ES-0001'", uuid.uuid4())
    tally = Tally()
    async with sender(pool, channel, clock) as work:
        assert await work.round(tally)
        assert tally.counts[Outcome.SENT] == 3, tally
        assert await statuses(pool) == [("ES-0001", "no_interaction", "sent"),
                                        ("EN-0002", "machine", "sent"),
                                        ("ES-0001", "receipt", "sent")]
        by_trigger = {m.body.split(":")[0].split(",")[0]: m for m in channel.handed}
        silent, machine, receipt = (by_trigger["Hola María"], by_trigger["Bo"],
                                    by_trigger["Recibimos 250"])
        # Byte for byte what the preview shows, with a link that verifies.
        preview = await compose(pool, LINKS, "spring", "ES-0001", Trigger.NO_INTERACTION,
                                Channel.SMS, NOW)
        assert silent.body == preview.rendered.body and silent.link == preview.link
        assert silent.recipient == "+12125550101" and verify_link(silent.link, LINKS.key, NOW)
        assert machine.body.startswith("Bo, call us back") and machine.body.endswith(
            "Reply STOP to stop texts.")
        assert receipt.body == ("Recibimos 250,00 USD con Visa 4242. Gracias. "
                                "Responda BAJA para no recibir mensajes.")
        rows = await pool.fetch("SELECT provider_reference, template_id, recipient FROM messages")
        assert all(r["provider_reference"].startswith("ref-") and r["template_id"] for r in rows)
        # Read once: a second round finds nothing, and nothing goes twice.
        assert not await work.round(tally)
        assert len(channel.handed) == 3
        assert await pool.fetchval("SELECT count(*) FROM no_interaction WHERE handled_at IS NULL") == 0


async def test_quiet_hours_wait_for_the_morning(pool) -> None:
    late = datetime(2027, 1, 6, 3, 0, tzinfo=UTC)  # 22:00 in New York
    clock, channel = Clock(late), RecordingChannel()
    await call_ended(pool, "ES-0001", "hung_up", 2, late)
    async with sender(pool, channel, clock) as work:
        tally = Tally()
        await work.round(tally)
        assert tally.counts[Outcome.DEFERRED] == 1 and channel.handed == []
        row = await pool.fetchrow("SELECT status, refused_rule, next_try_at FROM messages")
        assert (row["status"], row["refused_rule"]) == ("pending", "quiet_hours")
        opening = row["next_try_at"]
        assert opening.astimezone(UTC) == datetime(2027, 1, 6, 13, 0, tzinfo=UTC)  # 08:00 there
        clock.now = opening - timedelta(minutes=1)
        await work.round(tally)
        assert channel.handed == []
        clock.now = opening
        await work.round(tally)
        assert len(channel.handed) == 1
        assert await pool.fetchval("SELECT status FROM messages") == "sent"


async def test_the_caps_hold_over_a_simulated_week(pool) -> None:
    """Two silent hang-ups a day for eight days, the sender running every
    hour: at most 1 dunning message a day and 3 in any 7 days (the
    campaign's defaults), none at night, and the receipts not counted."""
    clock, channel = Clock(NOW), RecordingChannel()
    async with sender(pool, channel, clock) as work:
        tally = Tally()
        for hour in range(8 * 24):
            clock.now = NOW + timedelta(hours=hour)
            if hour % 24 in (0, 5):
                await call_ended(pool, "ES-0001", "hung_up", 2, clock.now)
            await work.round(tally)
        sent = [r["sent_at"] for r in await pool.fetch(
            "SELECT sent_at FROM messages WHERE status = 'sent' ORDER BY sent_at")]
        for at in sent:
            in_day = [t for t in sent if at - timedelta(days=1) < t <= at]
            in_week = [t for t in sent if at - timedelta(days=7) < t <= at]
            assert len(in_day) <= 1 and len(in_week) <= 3, sent
            local = at.astimezone(ZoneInfo("America/New_York"))
            assert 8 <= local.hour < 21
        # Three in the first days, then the week's cap; the first frees on day 8.
        assert len(sent) == 4 and sent[3] - sent[0] >= timedelta(days=7)
        assert len(channel.handed) == len(sent)
        waiting = await pool.fetchval("SELECT count(*) FROM messages WHERE status = 'pending' "
                                      "AND refused_rule IN ('daily_cap', 'weekly_cap')")
        assert waiting == 16 - len(sent)


async def test_failures_back_off_then_dead_letter_and_replay(pool) -> None:
    clock, channel = Clock(NOW), RecordingChannel()
    async with sender(pool, channel, clock) as work:
        await call_ended(pool, "ES-0001", "hung_up", 2, NOW)
        channel.failure = SendFailed("kannel answered 503")
        tally = Tally()
        await work.round(tally)
        row = await pool.fetchrow("SELECT id, status, attempts, next_try_at, last_error FROM messages")
        assert (row["status"], row["attempts"], row["last_error"]) == (
            "pending", 1, "kannel answered 503")
        assert row["next_try_at"] == NOW + timedelta(seconds=30)
        channel.failure = SendFailed("number refused", permanent=True)
        clock.now = row["next_try_at"]
        await work.round(tally)
        assert await pool.fetchval("SELECT status FROM messages") == "dead"
        assert [m.id for m in await store.dead_letters(pool)] == [row["id"]]
        channel.failure = None
        assert await store.replay(pool, row["id"], clock.now)
        await work.round(tally)
        assert await pool.fetchval("SELECT status FROM messages") == "sent"
        assert len(channel.handed) == 1


async def test_a_text_kannel_reported_on_before_it_was_recorded_sent_goes_once(pool) -> None:
    """Kannel took the text, then its answer was lost (a timeout; or the
    sender died before its UPDATE): the delivery report that comes in the
    gap is the trace, and the next try records the text sent instead of
    sending it again."""
    clock, channel = Clock(NOW), RecordingChannel()
    async with sender(pool, channel, clock) as work:
        await call_ended(pool, "ES-0001", "hung_up", 2, NOW)
        channel.failure = SendFailed("kannel: no answer in 10 s")
        await work.round(Tally())
        message = await pool.fetchval("SELECT id FROM messages")
        assert await pool.fetchval("SELECT status FROM messages") == "pending"
        # Kannel had queued it after all: the SMSC took it, then the phone.
        assert await store.record_delivery(pool, message, 8, None, "ACK/", NOW,
                                           "+12125550101")
        assert await store.record_delivery(pool, message, 1, "delivered", "DELIVRD", NOW)
        channel.failure = None
        clock.now = NOW + timedelta(seconds=30)
        tally = Tally()
        await work.round(tally)
        row = await pool.fetchrow("SELECT status, recipient, template_id, sent_at FROM messages")
    assert channel.handed == []  # not sent a second time
    assert tally.counts[Outcome.SENT] == 1
    assert (row["status"], row["recipient"], row["sent_at"]) == (
        "delivered", "+12125550101", clock.now)
    assert row["template_id"] == (await store.current_template(pool, TemplateKey(
        "spring", "", Trigger.NO_INTERACTION, Channel.SMS, "es"))).id


async def test_no_template_or_an_opted_out_account_sends_nothing(pool) -> None:
    clock, channel = Clock(NOW), RecordingChannel()
    async with sender(pool, channel, clock) as work:
        await call_ended(pool, "EN-0002", "hung_up", 2, NOW)  # no English no_interaction template
        await pool.execute("INSERT INTO do_not_call (reference, reason) VALUES ('ES-0001', 'opt_out')")
        await call_ended(pool, "ES-0001", "hung_up", 2, NOW)
        await work.round(Tally())
        rows = await pool.fetch("SELECT status, last_error, refused_rule FROM messages ORDER BY id")
        assert rows[0]["status"] == "dead"
        assert "no template for spring/late/no_interaction/sms/en" in rows[0]["last_error"]
        assert (rows[1]["status"], rows[1]["refused_rule"]) == ("refused", "opt_out")
        assert channel.handed == []


async def test_two_senders_send_each_message_once(pool) -> None:
    clock, channel = Clock(NOW), RecordingChannel()
    account = await pool.fetchval("SELECT id FROM accounts WHERE reference = 'ES-0001'")
    await pool.execute("UPDATE campaigns SET messages_per_day = 100, messages_per_week = 700")
    for n in range(60):
        await store.enqueue(pool, account, await pool.fetchval("SELECT id FROM campaigns"),
                            Trigger.NO_INTERACTION, Channel.SMS, f"attempt:{n}", NOW)
    tallies = [Tally(), Tally()]
    async with sender(pool, channel, clock, batch=7) as one, \
            sender(pool, channel, clock, batch=7) as two:
        while await pool.fetchval("SELECT count(*) FROM messages WHERE status = 'pending'"):
            await asyncio.gather(one.round(tallies[0]), two.round(tallies[1]))
    ids = [m.message_id for m in channel.handed]
    assert len(ids) == len(set(ids)) == 60
    assert all(t.counts[Outcome.SENT] > 0 for t in tallies)
    assert sum(t.counts[Outcome.SENT] for t in tallies) == 60
    assert Decimal(await pool.fetchval("SELECT count(*) FROM messages WHERE status = 'sent'")) == 60


async def test_reminders_go_on_the_debtors_date_once(pool) -> None:
    """A promise due tomorrow (New York's date) is reminded; one due
    yesterday that no payment kept is a broken promise, one a payment kept
    is not; an instalment due tomorrow is reminded. Read every round,
    written once."""
    await pool.execute("UPDATE campaigns SET messages_per_day = 10, messages_per_week = 10")
    for trigger, body in ((Trigger.PROMISE_REMINDER, "Mañana vence {{ amount }} ({{ due_date }})"),
                          (Trigger.BROKEN_PROMISE, "No recibimos {{ amount }} del {{ due_date }}"),
                          (Trigger.INSTALMENT_REMINDER, "Cuota {{ amount }} el {{ due_date }}")):
        await store.save_template(pool, TemplateKey("spring", "", trigger, Channel.SMS, "es"),
                                  body + " {{ opt_out }}", None)
        await set_trigger(pool, "spring", TriggerSetting(trigger, Channel.SMS))
    await call_ended(pool, "ES-0001", "busy", 0, NOW - timedelta(days=3))  # the account's campaign
    account = await pool.fetchval("SELECT id FROM accounts WHERE reference = 'ES-0001'")
    made = NOW - timedelta(days=3)
    for due, amount in ((date(2027, 1, 6), 40), (date(2027, 1, 4), 41), (date(2027, 1, 3), 42),
                        (date(2027, 1, 4), 43), (date(2027, 1, 9), 44)):
        await pool.execute("INSERT INTO promises (account_id, amount, due_by, source, at) "
                           "VALUES ($1, $2, $3, 'ivr', $4)", account, amount, due, made)
    capture = uuid.uuid4()
    await pool.execute("INSERT INTO payment_captures (capture_id, account_id, outcome, attempts) "
                       "VALUES ($1, $2, 'plan_set_up', 1)", capture, account)
    await pool.execute("INSERT INTO payment_instalments (capture_id, number, account_id, due, "
                       "amount, currency, status) VALUES ($1, 2, $2, '2027-01-06', 50, 'USD', "
                       "'due'), ($1, 3, $2, '2027-02-06', 50, 'USD', 'due')", capture, account)
    clock, channel = Clock(NOW), RecordingChannel()
    async with sender(pool, channel, clock) as work:
        await work.round(Tally())
        # Read again, written before: no work found (a running sender
        # rests, `messages run --once` ends).
        assert not await work.round(Tally())
    bodies = sorted(m.body.split(" Responda")[0] for m in channel.handed)
    assert bodies == ["Cuota 50,00 USD el 6 de enero de 2027",
                      "Mañana vence 40,00 USD (6 de enero de 2027)",
                      "No recibimos 41,00 USD del 4 de enero de 2027",
                      "No recibimos 43,00 USD del 4 de enero de 2027"]
    # A payment after the promise keeps it: the next day's read finds it kept.
    await pool.execute(
        "INSERT INTO payment_attempts (capture_id, attempt, idempotency_key, account_id, amount, "
        "currency, save_card, status, brand, last4, started_at) VALUES ($1, 1, 'k-1', $2, 42, "
        "'USD', false, 'approved', 'Visa', '4242', $3)", capture, account, made)
    clock.now = NOW + timedelta(days=1)  # the promise of the 3rd... is two days old now
    async with sender(pool, channel, clock) as work:
        await work.round(Tally())
    assert len(channel.handed) == 4


async def test_an_email_goes_to_the_imported_address(pool) -> None:
    await pool.execute("UPDATE campaigns SET messages_per_day = 2")
    await store.save_template(pool, TemplateKey("spring", "", Trigger.MACHINE, Channel.EMAIL, "en"),
                              "Pay at {{ payment_link }}\n{{ opt_out }}", "Your account")
    await set_trigger(pool, "spring", TriggerSetting(Trigger.MACHINE, Channel.EMAIL))
    await call_ended(pool, "EN-0002", "machine", 20, NOW)
    await call_ended(pool, "ES-0001", "machine", 20, NOW + timedelta(minutes=1))  # no address
    email, sms = RecordingChannel(), RecordingChannel()
    email.channel = Channel.EMAIL
    work = Sender(pool, {Channel.SMS: sms, Channel.EMAIL: email}, LINKS, Clock(NOW))
    async with work.holding():
        await work.round(Tally())
    assert [(m.recipient, m.subject) for m in email.handed] == [("bo@example.com",
                                                                 "Your account")]
    assert [m.recipient for m in sms.handed] == ["+12125550102"]  # the SMS by its own setting
    # A sender without an e-mail channel leaves e-mails pending for one that has it.
    await call_ended(pool, "EN-0002", "machine", 20, NOW + timedelta(minutes=2))
    only_sms = Sender(pool, {Channel.SMS: sms}, LINKS, Clock(NOW))
    async with only_sms.holding():
        await only_sms.round(Tally())
    assert await pool.fetchval("SELECT count(*) FROM messages WHERE channel = 'email' "
                               "AND status = 'pending' AND attempts = 0") == 1
    refused = await pool.fetchval("SELECT refused_rule FROM messages WHERE channel = 'email' "
                                  "AND status = 'refused'")
    assert refused == "no_recipient"


async def test_a_stop_is_confirmed_at_once_even_at_night_and_without_a_template(pool) -> None:
    """A STOP at 23:00 from a number no campaign has texted (no lead, no
    template): the one confirmation goes at once, in Recobro's own words."""
    night = datetime(2027, 1, 6, 4, 0, tzinfo=UTC)  # 23:00 in New York
    done = await store.opt_out_number(pool, "+12125550101", night)
    assert done.references == ("ES-0001",) and done.confirmation is not None
    clock, channel = Clock(night), RecordingChannel()
    async with sender(pool, channel, clock) as work:
        await work.round(Tally())
    assert [(m.recipient, m.body) for m in channel.handed] == [
        ("+12125550101", "Ha pedido la baja: no recibirá más mensajes nuestros.")]
    row = await pool.fetchrow("SELECT status, template_id, campaign_id FROM messages")
    assert (row["status"], row["template_id"], row["campaign_id"]) == ("sent", None, None)


async def test_a_channel_that_breaks_on_one_message_loses_none_of_the_others(pool) -> None:
    """Not a SendFailed but a fault of the channel itself: that message is
    a failed try, tried again later; its wave-mates the channel took are
    recorded sent, not left to be sent twice."""
    clock, channel = Clock(NOW), RecordingChannel()
    spanish, english = [await pool.fetchval("SELECT id FROM accounts WHERE reference = $1",
                                            reference) for reference in ("ES-0001", "EN-0002")]
    campaign = await pool.fetchval("SELECT id FROM campaigns")
    await pool.execute("UPDATE campaigns SET messages_per_day = 100, messages_per_week = 700")
    # One wave: Spanish's first (it breaks) and English's; Spanish's second in the next.
    ids = [await store.enqueue(pool, account, campaign, trigger, Channel.SMS, f"attempt:{n}",
                               NOW) for n, (account, trigger) in enumerate((
                                   (spanish, Trigger.NO_INTERACTION), (english, Trigger.MACHINE),
                                   (spanish, Trigger.NO_INTERACTION)))]
    channel.failure, channel.failing = ValueError("a bug in the channel"), ids[0]
    async with sender(pool, channel, clock) as work:
        tally = Tally()
        await work.round(tally)
    rows = {r["id"]: (r["status"], r["last_error"]) for r in await pool.fetch(
        "SELECT id, status, last_error FROM messages")}
    assert rows == {ids[0]: ("pending", "the channel failed: ValueError"), ids[1]: ("sent", None),
                    ids[2]: ("sent", None)}
    assert (tally.counts[Outcome.SENT], tally.counts[Outcome.RETRY]) == (2, 1)
