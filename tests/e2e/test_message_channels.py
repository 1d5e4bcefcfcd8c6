"""Messages through the lab's real channels (issue 15): SMS through Kannel
arrive at fakesmsc with their exact text (UCS-2 when an á forces it,
GSM-7 otherwise) and Kannel's delivery reports come back to the callback
listener and are recorded per message; a BAJA sent from fakesmsc opts the
number's account out (a do_not_call row) and enqueues exactly one
confirmation, however often it is repeated; an e-mail reaches the lab's
SMTP server with the payment link's QR code attached, which decodes to the
signed link, which verifies.

Proof is what the other end received: fakesmsc's own output, the SMTP
server's Maildir, the rows in PostgreSQL."""

from __future__ import annotations

import asyncio
import io
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
import zxingcpp
from aiohttp import web
from PIL import Image

from dialer.messages import store
from dialer.messages.callbacks import callback_app
from dialer.messages.channels import Outgoing
from dialer.messages.email import QR_FILENAME, EmailChannel
from dialer.messages.kannel import MO_PATH, KannelChannel
from dialer.messages.links import Purpose, sign_link, verify_link
from dialer.messages.model import Channel, Trigger
from dialer.messages.sms import Encoding, measure
from dialer.messages.templates import TemplateKey
from dialer.settings import (
    KannelSettings,
    MessageChannelSettings,
    load_message_channel_settings,
    load_payment_link_settings,
    read_env_file,
)
from lab import kannel, smtp
from lab.config import CALLER_ID, LabConfig
from tests.store.test_history import import_text

pytestmark = pytest.mark.lab

ACCOUNTS = ("reference,debtor_name,balance,days_past_due,risk_score,language,time_zone,phone1\n"
            "ES-0101,María Pérez,1234.50,10,0.5,es,,+12125550111\n"
            "ES-0102,Lucía Gómez,80.00,40,0.5,es,,+12125550112\n")
# Two segments of UCS-2 (82 characters, forced by its í), so concatenated.
UCS2_TEXT = "Hola María: su saldo es 1.234,50 USD. Pagó usted? Responda BAJA para no recibir."
# GSM-7 (ñ, ¿ and the extension's € and [ ] are in it), one segment.
GSM7_TEXT = "Hola señor Muñoz, ¿paga hoy? Saldo 80,00 € [ref 0102] Responda BAJA."
WAIT_S = 20.0


async def until(predicate, what: str, timeout_s: float = WAIT_S):
    """Poll an async predicate until it returns something true."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = await predicate()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s:g} s")
        await asyncio.sleep(0.1)


@pytest.fixture(scope="module")
def channel_settings(lab_config: LabConfig) -> MessageChannelSettings:
    return load_message_channel_settings(read_env_file(lab_config.env_file))


@pytest.fixture
async def pool(fresh_database, tmp_path):
    pool = await asyncpg.create_pool(fresh_database, min_size=1, max_size=4)
    await import_text(pool, tmp_path, ACCOUNTS)
    await pool.execute("INSERT INTO campaigns (name, dial_mode, caller_id, window_profile) "
                       "VALUES ('spring', 'progressive', '+15550100000', 'us')")
    yield pool
    await pool.close()


@pytest.fixture
async def listener(pool, channel_settings):
    """The callback listener on the lab's port, as `recobro messages run`
    mounts it; counts the replies it has answered."""
    answered: Counter[str] = Counter()

    @web.middleware
    async def count(request, handler):
        response = await handler(request)
        answered[request.path] += 1
        return response

    app = callback_app(pool, channel_settings.callback.token)
    app.middlewares.append(count)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    callback = channel_settings.callback
    await web.TCPSite(runner, callback.host, callback.port).start()
    yield answered
    await runner.cleanup()


async def sent_message(pool, reference: str, channel: KannelChannel, text: str) -> int:
    """A message of the outbox, claimed, handed to Kannel and marked sent
    (what the sender does); its id."""
    account = await pool.fetchval("SELECT id FROM accounts WHERE reference = $1", reference)
    campaign = await pool.fetchval("SELECT id FROM campaigns")
    template = await store.save_template(
        pool, TemplateKey("spring", "", Trigger.NO_INTERACTION, Channel.SMS, "es"),
        "{{ first_name }} {{ opt_out }}", None)
    message_id = await store.enqueue(pool, account, campaign, Trigger.NO_INTERACTION,
                                     Channel.SMS, f"test:{uuid.uuid4()}")
    sender = uuid.uuid4()
    claimed = await store.claim_due(pool, sender, datetime.now(UTC), 10)
    assert [m.id for m in claimed] == [message_id]
    number = await pool.fetchval("SELECT number FROM phones WHERE account_id = $1", account)
    handed = await channel.send(Outgoing(message_id, f"test:{message_id}", Channel.SMS, number,
                                         text, None, ""))
    assert await store.mark_sent(pool, message_id, sender, template.id, number,
                                 handed.provider_reference, datetime.now(UTC))
    return message_id


async def test_texts_reach_fakesmsc_exactly_and_their_reports_are_recorded(
        lab_config, channel_settings, pool, listener) -> None:
    assert isinstance(channel_settings.sms, KannelSettings)
    before = len(kannel.received(lab_config))
    channel = KannelChannel(channel_settings.sms, channel_settings.callback)
    try:
        ucs2 = await sent_message(pool, "ES-0101", channel, UCS2_TEXT)
        gsm7 = await sent_message(pool, "ES-0102", channel, GSM7_TEXT)
    finally:
        await channel.close()

    async def both_arrived():
        found = kannel.received(lab_config)[before:]
        return found if len(found) >= 2 else None

    arrived = {r.receiver: r for r in await until(both_arrived, "fakesmsc received both")}
    assert set(arrived) == {"+12125550111", "+12125550112"}
    ucs2_line, gsm7_line = arrived["+12125550111"], arrived["+12125550112"]
    assert (measure(UCS2_TEXT).encoding, measure(UCS2_TEXT).segments) == (Encoding.UCS2, 2)
    assert (measure(GSM7_TEXT).encoding, measure(GSM7_TEXT).segments) == (Encoding.GSM7, 1)
    # UCS-2: the bytes are UTF-16BE, in two parts joined by their UDH.
    assert (ucs2_line.sender, ucs2_line.segments) == (CALLER_ID, 2)
    assert ucs2_line.text("utf-16-be") == UCS2_TEXT
    # GSM-7: Kannel keeps the text as UTF-8 and the fake SMSC prints it as is.
    assert (gsm7_line.sender, gsm7_line.kind, gsm7_line.segments) == (CALLER_ID, "text", 1)
    assert gsm7_line.text() == GSM7_TEXT

    async def reported():
        rows = await pool.fetch("SELECT id, status, delivery_code, delivery_answer, "
                                "delivery_reported_at FROM messages WHERE id = ANY ($1) "
                                "ORDER BY id", [ucs2, gsm7])
        return rows if all(r["delivery_code"] == 1 for r in rows) else None

    rows = await until(reported, "both delivery reports recorded")
    assert [(r["id"], r["status"]) for r in rows] == [(ucs2, "delivered"), (gsm7, "delivered")]
    assert all(r["delivery_reported_at"] is not None for r in rows)
    assert listener["/kannel/dlr"] >= 2  # the SMSC's acceptance (8), then delivery (1), each


async def test_baja_from_fakesmsc_opts_out_and_enqueues_one_confirmation(
        lab_config, pool, listener) -> None:
    number = "+12125550111"
    for reply in ("Bajá", "STOP"):  # the second finds the account opted out already
        answered = listener[MO_PATH]
        kannel.send_reply(lab_config, number, CALLER_ID, reply)

        async def handled(count=answered):
            return listener[MO_PATH] > count

        await until(handled, f"the listener answered the reply {reply!r}")
    rows = await pool.fetch("SELECT number, reference, reason FROM do_not_call")
    assert [tuple(r) for r in rows] == [(None, "ES-0101", "opt_out")]
    confirmations = await pool.fetch(
        "SELECT m.account_id, a.reference, m.channel, m.status "
        "FROM messages m JOIN accounts a ON a.id = m.account_id WHERE m.trigger = $1",
        Trigger.OPT_OUT_CONFIRMATION.value)
    assert [(r["reference"], r["channel"], r["status"]) for r in confirmations] == [
        ("ES-0101", "sms", "pending")]
    facts = await store.message_facts(pool, confirmations[0]["account_id"], datetime.now(UTC))
    assert facts.opted_out  # the calling gate and may_send read the same table


async def test_an_email_arrives_with_the_link_qr_code_which_verifies(
        lab_config, channel_settings) -> None:
    links = load_payment_link_settings(read_env_file(lab_config.env_file))
    now = datetime.now(UTC)
    link = sign_link(links.base_url, links.key, "Zm9yLWEtbGFiLXRlc3QtdG9rZW4", Purpose.PAY,
                     now + timedelta(days=7))
    key = f"test:{uuid.uuid4()}"
    address = f"debtor-{uuid.uuid4().hex[:8]}@recobro.test"
    body = f"Hola Lucía: pague en {link}\nPara no recibir estos correos, responda BAJA."
    assert channel_settings.email is not None
    channel = EmailChannel(channel_settings.email)
    handed = await channel.send(Outgoing(1, key, Channel.EMAIL, address, body,
                                         "Su saldo con Recobro: 80,00 USD", link))
    await channel.close()

    async def arrived():
        return [m for m in smtp.received(lab_config) if m["To"] == address]

    [email] = await until(arrived, "the SMTP server received the e-mail")
    assert email["From"] == channel_settings.email.sender
    assert email["Subject"] == "Su saldo con Recobro: 80,00 USD"
    assert email["Message-ID"] == handed.provider_reference
    assert email.get_body(("plain",)).get_content() == body + "\n"
    [attachment] = list(email.iter_attachments())
    assert (attachment.get_content_type(), attachment.get_filename()) == ("image/png",
                                                                          QR_FILENAME)
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(attachment.get_content())))
    assert [d.text for d in decoded] == [link]
    assert verify_link(decoded[0].text, links.key, now).token == "Zm9yLWEtbGFiLXRlc3QtdG9rZW4"
