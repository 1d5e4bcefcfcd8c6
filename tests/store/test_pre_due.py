"""The pre-due reminder against the real PostgreSQL (issue 15): an active
account not yet past due, a lead of a campaign that switched pre_due on,
gets one reminder per channel on the debtor's own date days_before its
due date: not the day before nor the day after, in New York or Los
Angeles, whatever UTC's date says at midnight; once however many rounds
run; none for an account past due, paid or no lead of the campaign. The
text says the due date and the amount (the balance)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from dialer.messages import store
from dialer.messages.intake import (
    PRE_DUE_KEY_SQL,
    set_trigger,
    take_in,
    trigger_settings,
)
from dialer.messages.model import Channel, Trigger
from dialer.messages.sender import Outcome, Sender, Tally
from dialer.messages.templates import TemplateKey
from dialer.messages.triggers import TriggerSetting, pre_due_key
from tests.store.test_history import import_text
from tests.store.test_message_sender import LINKS, Clock, RecordingChannel

pytestmark = pytest.mark.lab

# Every account is due on 8 January 2027; with 3 days before, the reminder
# day is 5 January on the debtor's date: 05:00 to 05:00 UTC in New York,
# 08:00 to 08:00 UTC in Los Angeles.
ACCOUNTS = ("reference,debtor_name,balance,days_past_due,risk_score,language,time_zone,phone1,"
            "due_date\n"
            "NY-0001,María Pérez,1234.50,0,0.5,es,America/New_York,+12125550101,2027-01-08\n"
            "LA-0002,Bo Smith,99.00,0,0.5,en,America/Los_Angeles,+13105550102,2027-01-08\n"
            "LATE-0003,Cy Late,50.00,12,0.5,en,America/New_York,+12125550103,2027-01-08\n"
            "PAID-0004,Di Paid,75.00,0,0.5,en,America/New_York,+12125550104,2027-01-08\n"
            "LEAD-0005,Ed Elsewhere,60.00,0,0.5,en,America/New_York,+12125550105,2027-01-08\n"
            "NONE-0006,Flo Nodate,70.00,0,0.5,en,America/New_York,+12125550106,\n")
REMINDER_ES = ("Hola {{ first_name }}: su pago de {{ amount }} vence el {{ due_date }}. "
               "{{ opt_out }}")
REMINDER_EN = "{{ first_name }}, your payment of {{ amount }} is due {{ due_date }}. {{ opt_out }}"
NEW_YORK, LOS_ANGELES = ZoneInfo("America/New_York"), ZoneInfo("America/Los_Angeles")


def utc(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2027, 1, day, hour, minute, second, tzinfo=UTC)


@pytest.fixture
async def pool(fresh_database, tmp_path):
    pool = await asyncpg.create_pool(fresh_database, min_size=2, max_size=12)
    await import_text(pool, tmp_path, ACCOUNTS)
    await pool.execute("UPDATE phones SET sms_capable = true, consent = true")
    await pool.execute("UPDATE accounts SET status = 'paid' WHERE reference = 'PAID-0004'")
    spring, other = [await pool.fetchval(
        "INSERT INTO campaigns (name, dial_mode, caller_id, window_profile) "
        "VALUES ($1, 'progressive', '+15550100000', 'us') RETURNING id", name)
        for name in ("spring", "other")]
    # Every account a lead of spring but LEAD-0005, a lead of a campaign
    # that sends no pre_due reminder.
    await pool.execute(
        "INSERT INTO leads (campaign_id, account_id, segment, priority, value, time_zone) "
        "SELECT CASE WHEN reference = 'LEAD-0005' THEN $2::int ELSE $1::int END, id, 'early', 1, 1, "
        "time_zone FROM accounts", spring, other)
    for language, body in (("es", REMINDER_ES), ("en", REMINDER_EN)):
        await store.save_template(
            pool, TemplateKey("spring", "", Trigger.PRE_DUE, Channel.SMS, language), body, None)
    await set_trigger(pool, "spring", TriggerSetting(Trigger.PRE_DUE, Channel.SMS))
    yield pool
    await pool.close()


async def reminded(pool) -> set[str]:
    rows = await pool.fetch("SELECT a.reference FROM messages m JOIN accounts a "
                            "ON a.id = m.account_id WHERE m.trigger = 'pre_due'")
    return {r["reference"] for r in rows}


async def test_the_setting_is_stored_with_its_days_before(pool) -> None:
    spring = await pool.fetchval("SELECT id FROM campaigns WHERE name = 'spring'")
    assert (await trigger_settings(pool, [spring]))[spring] == [
        TriggerSetting(Trigger.PRE_DUE, Channel.SMS, days_before=3)]
    await set_trigger(pool, "spring", TriggerSetting(Trigger.PRE_DUE, Channel.SMS, days_before=10))
    assert (await trigger_settings(pool, [spring]))[spring][0].days_before == 10
    # The schema holds the same rules as TriggerSetting.
    for trigger, days in (("pre_due", 31), ("pre_due", None), ("machine", 3)):
        with pytest.raises(asyncpg.CheckViolationError):
            await pool.execute("INSERT INTO campaign_message_triggers (campaign_id, trigger, "
                               "channel, days_before) VALUES ($1, $2, 'email', $3)",
                               spring, trigger, days)


@pytest.mark.parametrize("now, expected", [
    (utc(4, 23, 59), set()),
    # UTC's date is three days before the due date; both debtors' is four.
    (utc(5, 0, 0), set()),
    (utc(5, 4, 59, 59), set()),  # 23:59:59 on the 4th in New York
    (utc(5, 5, 0), {"NY-0001"}),  # midnight of the 5th in New York
    (utc(5, 7, 59, 59), {"NY-0001"}),
    (utc(5, 8, 0), {"NY-0001", "LA-0002"}),  # midnight of the 5th in Los Angeles
    # UTC's date is two days before; both debtors are still on the 5th.
    (utc(6, 0, 0), {"NY-0001", "LA-0002"}),
    (utc(6, 5, 0), {"LA-0002"}),  # New York's day has passed: not the day after
    (utc(6, 7, 59, 59), {"LA-0002"}),
    (utc(6, 8, 0), set()),
])
async def test_a_reminder_is_written_on_the_debtors_own_day_only(pool, now, expected) -> None:
    """One intake at now, as a sender that was down until then would run it."""
    intake = await take_in(pool, now)
    assert await reminded(pool) == expected
    assert intake.enqueued == len(expected)


async def test_one_reminder_each_on_its_day_however_many_rounds_run(pool) -> None:
    """A sender running every 30 minutes from the 3rd to the 9th (UTC):
    each debtor's reminder is written at the first round of their 5th,
    sent once inside their calling window that day, with the due date and
    the balance in their language; none for the account past due, the
    paid one, the other campaign's lead or the account with no due date."""
    clock, channel = Clock(utc(3, 0)), RecordingChannel()
    first_seen: dict[str, datetime] = {}
    work = Sender(pool, {Channel.SMS: channel}, LINKS, clock)
    tally = Tally()
    async with work.holding():
        while clock.now < utc(9, 0):
            busy = await work.round(tally)
            for reference in await reminded(pool):
                first_seen.setdefault(reference, clock.now)
            if clock.now == utc(5, 20):  # both sent, both still on the 5th
                # Read again this round, written before: no work found (a
                # `messages run --once` ends, a running sender rests).
                assert not busy
            clock.now += timedelta(minutes=30)
    assert first_seen == {"NY-0001": utc(5, 5), "LA-0002": utc(5, 8)}
    assert tally.counts[Outcome.SENT] == 2 and len(channel.handed) == 2
    by_recipient = {m.recipient: m.body for m in channel.handed}
    assert by_recipient == {
        "+12125550101": "Hola María: su pago de 1.234,50 USD vence el 8 de enero de 2027. "
                        "Responda BAJA para no recibir mensajes.",
        "+13105550102": "Bo, your payment of 99.00 USD is due January 8, 2027. "
                        "Reply STOP to stop texts."}
    rows = await pool.fetch(
        "SELECT a.reference, a.id, m.status, m.sent_at, m.idempotency_key, m.event "
        "FROM messages m JOIN accounts a ON a.id = m.account_id ORDER BY a.reference")
    assert [(r["reference"], r["status"]) for r in rows] == [("LA-0002", "sent"),
                                                             ("NY-0001", "sent")]
    for row, zone in zip(rows, (LOS_ANGELES, NEW_YORK), strict=True):
        assert row["idempotency_key"] == f"pre_due:{row['id']}:2027-01-08"
        local = row["sent_at"].astimezone(zone)
        assert local.date().day == 5 and 8 <= local.hour < 21


async def test_the_key_in_sql_is_the_key_in_python(pool) -> None:
    """The intake leaves out reminders already written by their key in SQL:
    it must be the key they were written with, whatever the DateStyle."""
    async with pool.acquire() as connection:
        await connection.execute("SET DateStyle = 'SQL, DMY'")
        rows = await connection.fetch(f"SELECT a.id, a.due_date, {PRE_DUE_KEY_SQL} AS key "
                                      "FROM accounts a WHERE a.due_date IS NOT NULL")
        await connection.execute("RESET DateStyle")
    assert rows and all(r["key"] == pre_due_key(r["id"], r["due_date"]) for r in rows)


async def test_an_account_paid_after_its_reminder_was_written_gets_none(pool) -> None:
    """The intake skips accounts that are not active; one paid between the
    intake and the send is refused by the rules (rules.may_send)."""
    late_night = utc(5, 6)  # 01:00 in New York: written now, due at 08:00
    await take_in(pool, late_night)
    assert await reminded(pool) == {"NY-0001"}
    await pool.execute("UPDATE accounts SET status = 'paid' WHERE reference = 'NY-0001'")
    clock, channel = Clock(utc(5, 13)), RecordingChannel()
    work = Sender(pool, {Channel.SMS: channel}, LINKS, clock)
    async with work.holding():
        await work.round(Tally())
    row = await pool.fetchrow("SELECT status, refused_rule FROM messages")
    assert (row["status"], row["refused_rule"]) == ("refused", "account_status")
    assert channel.handed == []


async def test_each_channel_goes_its_own_days_before_and_a_new_due_date_is_reminded_again(
        pool, tmp_path) -> None:
    await set_trigger(pool, "spring", TriggerSetting(Trigger.PRE_DUE, Channel.EMAIL, days_before=1))
    await take_in(pool, utc(5, 12))
    await take_in(pool, utc(7, 12))
    rows = await pool.fetch("SELECT a.reference, m.channel FROM messages m JOIN accounts a "
                            "ON a.id = m.account_id ORDER BY m.id")
    assert [tuple(r) for r in rows] == [("NY-0001", "sms"), ("LA-0002", "sms"),
                                        ("NY-0001", "email"), ("LA-0002", "email")]
    # The next file moves NY-0001's due date on a month: reminded again then.
    await import_text(pool, tmp_path, ACCOUNTS.replace(
        "+12125550101,2027-01-08", "+12125550101,2027-02-08"))
    await take_in(pool, utc(5, 12))  # the old date's day again: already written
    await take_in(pool, datetime(2027, 2, 5, 12, tzinfo=UTC))
    keys = await pool.fetch("SELECT idempotency_key FROM messages m JOIN accounts a "
                            "ON a.id = m.account_id WHERE a.reference = 'NY-0001' "
                            "AND m.channel = 'sms' ORDER BY m.id")
    assert [k["idempotency_key"].rsplit(":", 1)[1] for k in keys] == ["2027-01-08", "2027-02-08"]
