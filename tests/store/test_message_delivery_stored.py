"""Delivery reports and opt-out replies in the real PostgreSQL (0011): a
final report settles a sent message, one that comes before the sender
marks it sent settles it then, a report after a final one changes
nothing; a STOP from a number opts out every account that has it and
enqueues one confirmation, to the account the last text went to; the
HTTP provider's reports, posted to the real callback listener, find the
text by the provider's id."""

from __future__ import annotations

import asyncio
import socket
import uuid
from datetime import UTC, datetime, timedelta

import aiohttp
import asyncpg
import pytest

from dialer.messages import report_writer, store
from dialer.messages.callbacks import serve
from dialer.messages.channels import DeliveryCode
from dialer.messages.model import Channel, Trigger
from dialer.messages.report_writer import DeliveryWriter
from dialer.messages.templates import TemplateKey
from tests.store.test_history import import_text

pytestmark = pytest.mark.lab

# Two accounts share a number (+12125550121); a third has its own.
ACCOUNTS = ("reference,debtor_name,balance,days_past_due,risk_score,language,time_zone,phone1\n"
            "ES-0201,Ana Ruiz,100.00,10,0.5,es,,+12125550121\n"
            "ES-0202,Juan Ruiz,200.00,10,0.5,es,,+12125550121\n"
            "ES-0203,Eva Sanz,300.00,10,0.5,es,,+12125550123\n")
NOW = datetime(2027, 1, 5, 15, 0, tzinfo=UTC)


@pytest.fixture
async def pool(fresh_database, tmp_path):
    pool = await asyncpg.create_pool(fresh_database, min_size=1, max_size=4)
    await import_text(pool, tmp_path, ACCOUNTS)
    await pool.execute("INSERT INTO campaigns (name, dial_mode, caller_id, window_profile) "
                       "VALUES ('spring', 'progressive', '+15550100000', 'us')")
    yield pool
    await pool.close()


async def account(pool, reference: str) -> int:
    return await pool.fetchval("SELECT id FROM accounts WHERE reference = $1", reference)


async def claimed(pool, reference: str) -> tuple[int, uuid.UUID, int]:
    """A message of reference's account, claimed by a sender: its id, the
    sender, a template version."""
    template = await store.save_template(
        pool, TemplateKey("spring", "", Trigger.NO_INTERACTION, Channel.SMS, "es"),
        "{{ first_name }} {{ opt_out }}", None)
    message = await store.enqueue(pool, await account(pool, reference),
                                  await pool.fetchval("SELECT id FROM campaigns"),
                                  Trigger.NO_INTERACTION, Channel.SMS, f"t:{uuid.uuid4()}", NOW)
    sender = uuid.uuid4()
    assert [m.id for m in await store.claim_due(pool, sender, NOW, 1)] == [message]
    return message, sender, template.id


async def state(pool, message: int) -> tuple:
    row = await pool.fetchrow("SELECT status, delivery_code, delivery_answer FROM messages "
                              "WHERE id = $1", message)
    return tuple(row)


async def record(pool, message: int, code: DeliveryCode, answer: str = "", at=NOW) -> bool:
    return await store.record_delivery(pool, message, code.value, code.final_status, answer, at)


async def test_reports_settle_a_sent_message_and_a_late_one_changes_nothing(pool) -> None:
    message, sender, template = await claimed(pool, "ES-0201")
    assert await store.mark_sent(pool, message, sender, template, "+12125550121", None, NOW)
    assert await record(pool, message, DeliveryCode.SMSC_ACCEPTED, "ACK/")
    assert await state(pool, message) == ("sent", 8, "ACK/")
    assert await record(pool, message, DeliveryCode.DELIVERED, "id:1 stat:DELIVRD")
    assert await state(pool, message) == ("delivered", 1, "id:1 stat:DELIVRD")
    # The SMSC's acceptance, arriving last, does not undo the delivery.
    assert not await record(pool, message, DeliveryCode.SMSC_ACCEPTED, "ACK/")
    assert await state(pool, message) == ("delivered", 1, "id:1 stat:DELIVRD")
    assert not await record(pool, 999_999, DeliveryCode.DELIVERED)


async def test_a_report_before_mark_sent_settles_it_when_it_is_marked(pool) -> None:
    message, sender, template = await claimed(pool, "ES-0201")
    assert await record(pool, message, DeliveryCode.UNDELIVERED, "stat:UNDELIV")
    assert await state(pool, message) == ("sending", 2, "stat:UNDELIV")  # the sender's still
    assert await store.mark_sent(pool, message, sender, template, "+12125550121", None,
                                 NOW + timedelta(seconds=1))
    assert await state(pool, message) == ("undelivered", 2, "stat:UNDELIV")


async def test_a_stop_opts_out_every_account_of_the_number_and_confirms_once(pool) -> None:
    # The last text to the number went to ES-0202: the confirmation goes there.
    message, sender, template = await claimed(pool, "ES-0202")
    assert await store.mark_sent(pool, message, sender, template, "+12125550121", None, NOW)
    first = await store.opt_out_number(pool, "+12125550121", NOW)
    again = await store.opt_out_number(pool, "+12125550121", NOW + timedelta(minutes=1))
    assert first.references == again.references == ("ES-0201", "ES-0202")
    assert first.confirmation is not None and again.confirmation is None
    rows = await pool.fetch("SELECT reference, number, reason FROM do_not_call ORDER BY id")
    assert [tuple(r) for r in rows] == [("ES-0201", None, "opt_out"),
                                        ("ES-0202", None, "opt_out")]
    confirmation = await pool.fetchrow("SELECT * FROM messages WHERE id = $1",
                                       first.confirmation)
    assert (confirmation["account_id"], confirmation["trigger"], confirmation["channel"],
            confirmation["status"]) == (await account(pool, "ES-0202"),
                                        "opt_out_confirmation", "sms", "pending")
    assert confirmation["campaign_id"] == await pool.fetchval("SELECT id FROM campaigns")
    # ES-0203, with a number of its own, is untouched.
    facts = await store.message_facts(pool, await account(pool, "ES-0203"), NOW)
    assert not facts.opted_out


async def test_a_stop_from_a_number_on_no_account_puts_the_number_on_the_list(pool) -> None:
    done = await store.opt_out_number(pool, "+12125550999", NOW)
    assert (done.references, done.confirmation) == ((), None)
    rows = await pool.fetch("SELECT reference, number, reason FROM do_not_call")
    assert [tuple(r) for r in rows] == [(None, "+12125550999", "opt_out")]


async def test_the_http_providers_reports_find_the_text_by_its_id(pool) -> None:
    message, sender, template = await claimed(pool, "ES-0203")
    assert await store.mark_sent(pool, message, sender, template, "+12125550123", "SM9f2",
                                 NOW)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    token = "cb-T0ken-for-the-tests-0123"
    runner = await serve(pool, "127.0.0.1", port, token, clock=lambda: NOW,
                         report_fields=("data.sid", "data.status"))
    url = f"http://127.0.0.1:{port}/sms/report?token={token}"
    try:
        async with aiohttp.ClientSession() as session:
            for status in ("sent", "DELIVERED", "sent"):  # the last, late: no change
                async with session.post(url, json={"data": {"sid": "SM9f2",
                                                            "status": status}}) as answer:
                    assert answer.status == 200
            async with session.post(url, json={"data": {"sid": "SM-none",
                                                        "status": "failed"}}) as answer:
                assert answer.status == 200  # no such text: nothing recorded, nothing to retry
    finally:
        await runner.cleanup()
    assert await state(pool, message) == ("delivered", 1, "DELIVERED")


# Delivery reports written in batches (dialer.messages.report_writer): a
# burst of two reports on each of many messages is stored in a few
# statements, each message's reports in the order they came; every caller
# learns whether its report was recorded; a failed write reaches them all.

def writer_report(message: int, code: DeliveryCode) -> store.DeliveryReport:
    return store.DeliveryReport(message, code.value, code.final_status, code.name, NOW)


async def test_a_burst_of_reports_is_written_in_a_few_statements_in_order(pool, monkeypatch):
    message, sender, template = await claimed(pool, "ES-0201")
    others = [await store.enqueue(pool, await account(pool, "ES-0203"),
                                  await pool.fetchval("SELECT id FROM campaigns"),
                                  Trigger.NO_INTERACTION, Channel.SMS,
                                  f"t:{uuid.uuid4()}", NOW) for _ in range(99)]
    assert await store.claim_due(pool, sender, NOW, 100)
    for one in [message, *others]:
        assert await store.mark_sent(pool, one, sender, template, "+12125550121", None, NOW)
    statements = []
    real = store.record_deliveries

    async def counted(db, reports):
        statements.append(len(reports))
        return await real(db, reports)

    monkeypatch.setattr(report_writer, "record_deliveries", counted)
    writer = DeliveryWriter(pool)
    burst = [writer_report(m, code) for m in [message, *others]
             for code in (DeliveryCode.SMSC_ACCEPTED, DeliveryCode.DELIVERED)]
    burst.append(writer_report(10**12, DeliveryCode.DELIVERED))  # no such message
    recorded = await asyncio.gather(*(writer.record(r) for r in burst))
    assert recorded == [True] * 200 + [False]
    assert sum(statements) == 201 and len(statements) <= 6, statements
    rows = await pool.fetch("SELECT status, delivery_code FROM messages WHERE id = ANY ($1)",
                            [message, *others])
    # The accepted report came first, the delivered one after it: delivered.
    assert {tuple(r) for r in rows} == {("delivered", 1)}


async def test_a_write_that_fails_reaches_every_caller(pool, monkeypatch):
    async def broken(db, reports):
        raise ConnectionResetError("PostgreSQL went away")

    monkeypatch.setattr(report_writer, "record_deliveries", broken)
    writer = DeliveryWriter(pool)
    results = await asyncio.gather(*(writer.record(writer_report(n, DeliveryCode.DELIVERED))
                                     for n in range(5)), return_exceptions=True)
    assert all(isinstance(r, ConnectionResetError) for r in results)
