"""The channels' adapters, each against a real local server of its kind
(an aiohttp server standing for Kannel's smsbox or an HTTP SMS provider,
aiosmtpd for SMTP): what each sends, and how each maps the answers to
Handed or SendFailed, permanent or not."""

from __future__ import annotations

import asyncio
import io
import json
import socket
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs, urlsplit

import pytest
import zxingcpp
from aiohttp import web
from aiosmtpd.controller import Controller
from PIL import Image

from dialer.messages.channels import DeliveryCode, Handed, Outgoing, SendFailed
from dialer.messages.email import QR_FILENAME, EmailChannel, build_email, message_id
from dialer.messages.http_sms import HttpSmsChannel, provider_id, report_code
from dialer.messages.kannel import DLR_MASK, KannelChannel, answer
from dialer.messages.model import Channel
from dialer.settings import (
    HttpSmsSettings,
    KannelSettings,
    MessageCallbackSettings,
    SmtpSettings,
)

CALLBACK = MessageCallbackSettings("127.0.0.1", 8481, "http://127.0.0.1:8481",
                                   "callback-token-0123456789")
UCS2 = "Hola María, pague aquí: https://pay.example/p?a=1&p=pay"
GSM7 = "Hola señor Muñoz + 2 & ¿paga? 10 € [ref] Responda BAJA."
LINK = "https://pay.example.com/p?a=Zm9yLWEtdW5pdC10ZXN0&p=pay&e=1999999999&s=" + "A" * 43

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def sms(body: str, message: int = 42) -> Outgoing:
    return Outgoing(message, f"attempt:{message}", Channel.SMS, "+12125550101", body, None,
                    "")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
async def server():
    """A real HTTP server on loopback answering with the test's handler;
    yields a function taking the handler and giving its base URL and the
    requests it got (method, path, query string, headers, body)."""
    runners: list[web.AppRunner] = []

    async def serve(handler: Handler) -> tuple[str, list[dict]]:
        seen: list[dict] = []

        async def record(request: web.Request) -> web.StreamResponse:
            seen.append({"method": request.method, "path": request.path,
                         "query": request.query_string, "headers": dict(request.headers),
                         "body": await request.read()})
            return await handler(request)

        app = web.Application()
        app.router.add_route("*", "/{path:.*}", record)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        runners.append(runner)
        return f"http://127.0.0.1:{port}", seen

    yield serve
    for runner in runners:
        await runner.cleanup()


def reply(status: int, text: str = "") -> Handler:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=status, text=text)
    return handler


def kannel(url: str, timeout_s: float = 5.0) -> KannelChannel:
    return KannelChannel(KannelSettings(url, "recobro", "s3cret-pass", "+15550100000",
                                        timeout_s), CALLBACK)


# --- Kannel -------------------------------------------------------------------------------

async def test_kannel_gets_sendsms_with_the_exact_text_coding_and_report_url(server) -> None:
    url, seen = await server(reply(202, "0: Accepted for delivery"))
    channel = kannel(url)
    assert await channel.send(sms(UCS2)) == Handed(None)
    assert await channel.send(sms(GSM7, 43)) == Handed(None)
    await channel.close()
    ucs2, gsm7 = ({k: v[0] for k, v in parse_qs(r["query"]).items()} for r in seen)
    assert [r["path"] for r in seen] == ["/cgi-bin/sendsms"] * 2
    assert ucs2 == {"username": "recobro", "password": "s3cret-pass", "from": "+15550100000",
                    "to": "+12125550101", "text": UCS2, "charset": "UTF-8", "coding": "2",
                    "dlr-mask": str(DLR_MASK), "dlr-url": ucs2["dlr-url"]}
    assert gsm7["text"] == GSM7 and "coding" not in gsm7  # GSM-7: Kannel's default
    # Kannel fills %d and %A in itself: they reach it as written.
    report = urlsplit(ucs2["dlr-url"])
    assert report.netloc == "127.0.0.1:8481" and report.path == "/kannel/dlr"
    assert report.query == \
        "token=callback-token-0123456789&message=42&status=%d&answer=%A&to=%p"
    assert urlsplit(gsm7["dlr-url"]).query.startswith("token=callback-token-0123456789&"
                                                      "message=43&")


@pytest.mark.parametrize(("status", "text", "permanent"), [
    (400, "Number(s) has/have been denied by white- and/or black-lists.", True),
    (400, "Missing receiver number, rejected", True),
    (403, "Authorization failed for sendsms", False),  # the operator's to fix
    (503, "Sending failed.", False),
    (202, "Something else", False),  # a 2xx that does not say it took it
])
async def test_kannel_answers_that_did_not_take_it(server, status, text, permanent) -> None:
    url, _ = await server(reply(status, text))
    channel = kannel(url)
    with pytest.raises(SendFailed) as failed:
        await channel.send(sms("hola"))
    await channel.close()
    assert failed.value.permanent is permanent
    assert text[:20] in str(failed.value) and "s3cret-pass" not in str(failed.value)


def test_kannel_queued_for_later_is_taken() -> None:
    assert answer(202, "3: Queued for later delivery") == Handed(None)


async def test_kannel_unreachable_or_slow_is_tried_again(server) -> None:
    channel = kannel(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(SendFailed, match="ClientConnectorError") as failed:
        await channel.send(sms("hola"))
    assert not failed.value.permanent

    released = asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        await released.wait()
        return web.Response(status=202, text="0: Accepted for delivery")

    url, _ = await server(slow)
    channel = kannel(url, timeout_s=0.2)
    with pytest.raises(SendFailed, match="did not answer within 0.2 s") as failed:
        await channel.send(sms("hola"))
    released.set()
    await channel.close()
    assert not failed.value.permanent


def test_only_the_final_reports_settle_a_message() -> None:
    assert {code: code.final_status for code in DeliveryCode} == {
        DeliveryCode.DELIVERED: "delivered", DeliveryCode.UNDELIVERED: "undelivered",
        DeliveryCode.BUFFERED: None, DeliveryCode.SMSC_ACCEPTED: None,
        DeliveryCode.SMSC_REJECTED: "undelivered"}


# --- HTTP/JSON provider ------------------------------------------------------------------

def http_sms(url: str, timeout_s: float = 5.0, id_field: str = "data.id") -> HttpSmsChannel:
    return HttpSmsChannel(HttpSmsSettings(url + "/v1/messages", "tok-123", "+15550100000",
                                          id_field, timeout_s))


async def test_http_provider_gets_json_a_bearer_token_and_the_idempotency_key(server) -> None:
    async def created(request: web.Request) -> web.Response:
        return web.json_response({"data": {"id": "msg-789", "status": "queued"}}, status=201)

    url, seen = await server(created)
    channel = http_sms(url)
    assert await channel.send(sms(UCS2)) == Handed("msg-789")
    assert await channel.send(sms(UCS2)) == Handed("msg-789")  # a retry: the same key
    await channel.close()
    first, retry = seen
    assert (first["method"], first["path"]) == ("POST", "/v1/messages")
    assert json.loads(first["body"]) == {"to": "+12125550101", "from": "+15550100000",
                                         "text": UCS2}
    assert first["headers"]["Authorization"] == "Bearer tok-123"
    assert first["headers"]["Content-Type"].startswith("application/json")
    assert first["headers"]["Idempotency-Key"] == retry["headers"]["Idempotency-Key"] \
        == "attempt:42"


@pytest.mark.parametrize(("status", "permanent"), [
    (400, True), (404, True), (422, True),
    (401, False), (403, False), (408, False), (409, False), (429, False),
    (500, False), (502, False), (503, False),
])
async def test_http_provider_4xx_is_permanent_but_what_waiting_fixes(server, status,
                                                                     permanent) -> None:
    url, _ = await server(reply(status, '{"error": "nope"}'))
    channel = http_sms(url)
    with pytest.raises(SendFailed, match=f"{status}") as failed:
        await channel.send(sms("hola"))
    await channel.close()
    assert failed.value.permanent is permanent
    assert "tok-123" not in str(failed.value)


async def test_http_provider_timeout_is_tried_again(server) -> None:
    released = asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        await released.wait()
        return web.json_response({"id": "late"})

    url, _ = await server(slow)
    channel = http_sms(url, timeout_s=0.2)
    with pytest.raises(SendFailed, match="did not answer") as failed:
        await channel.send(sms("hola"))
    released.set()
    await channel.close()
    assert not failed.value.permanent


def test_the_providers_id_is_read_from_its_field() -> None:
    assert provider_id('{"id": "a1"}', "id") == "a1"
    assert provider_id('{"id": 17}', "id") == "17"
    assert provider_id('{"data": {"sid": "SM1"}}', "data.sid") == "SM1"
    assert provider_id('{"data": {"sid": "SM1"}}', "id") is None
    assert provider_id('{"id": true}', "id") is None
    assert provider_id('{"id": ""}', "id") is None
    assert provider_id("accepted", "id") is None  # not JSON: taken, with no id
    assert provider_id('["a"]', "id") is None


# --- SMTP --------------------------------------------------------------------------------

def mail(link: str = LINK, key: str = "attempt:7") -> Outgoing:
    return Outgoing(7, key, Channel.EMAIL, "ana@example.com",
                    "Hola Ana: pague aquí.\nPara no recibir estos correos, responda BAJA.",
                    "Su saldo: 1.234,56 USD", link)


def test_an_email_carries_the_body_and_the_links_qr_code() -> None:
    built = build_email(mail(), "cobranza@example.com")
    assert (built["From"], built["To"], built["Subject"]) == (
        "cobranza@example.com", "ana@example.com", "Su saldo: 1.234,56 USD")
    assert built.get_body(("plain",)).get_content().startswith("Hola Ana: pague aquí.")
    [png] = list(built.iter_attachments())
    assert (png.get_content_type(), png.get_filename()) == ("image/png", QR_FILENAME)
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.get_content())))
    assert [d.text for d in decoded] == [LINK]
    # Every try of a message has the same Message-ID; another message another.
    assert built["Message-ID"] == build_email(mail(), "cobranza@example.com")["Message-ID"] \
        == message_id("attempt:7", "cobranza@example.com")
    assert message_id("attempt:8", "x@example.com") != message_id("attempt:7", "x@example.com")
    assert "attempt" not in built["Message-ID"] and built["Message-ID"].endswith(
        "@example.com>")


def test_an_email_without_a_link_has_no_attachment() -> None:
    assert list(build_email(mail(link=""), "cobranza@example.com").iter_attachments()) == []


class Answering:
    """An aiosmtpd handler that keeps what it takes, or refuses the
    recipient or the data with the test's answer."""

    def __init__(self, rcpt: str = "250 OK", data: str = "250 OK") -> None:
        self.rcpt, self.data = rcpt, data
        self.kept: list[bytes] = []

    async def handle_RCPT(self, server, session, envelope, address, options):
        if self.rcpt.startswith("250"):
            envelope.rcpt_tos.append(address)
        return self.rcpt

    async def handle_DATA(self, server, session, envelope):
        if self.data.startswith("250"):
            self.kept.append(envelope.content)
        return self.data


@pytest.fixture
def smtp_server():
    controllers: list[Controller] = []

    def start(handler: Answering) -> SmtpSettings:
        port = free_port()
        controller = Controller(handler, hostname="127.0.0.1", port=port)
        controller.start()
        controllers.append(controller)
        return SmtpSettings("127.0.0.1", port, "cobranza@example.com", starttls=False,
                            timeout_s=5)

    yield start
    for controller in controllers:
        controller.stop()


async def test_an_smtp_server_takes_the_email(smtp_server) -> None:
    handler = Answering()
    channel = EmailChannel(smtp_server(handler))
    handed = await channel.send(mail())
    [kept] = handler.kept
    assert f"Message-ID: {handed.provider_reference}".encode() in kept
    assert b"Content-Type: image/png" in kept


@pytest.mark.parametrize(("handler", "permanent"), [
    (Answering(rcpt="550 5.1.1 no such user"), True),
    (Answering(rcpt="450 4.2.1 mailbox busy"), False),
    (Answering(data="554 5.7.1 message refused"), True),
    (Answering(data="451 4.3.0 try again later"), False),
])
async def test_smtp_refusals_map_to_permanent_or_not(smtp_server, handler, permanent) -> None:
    channel = EmailChannel(smtp_server(handler))
    with pytest.raises(SendFailed) as failed:
        await channel.send(mail())
    assert failed.value.permanent is permanent


async def test_an_smtp_server_not_there_or_without_starttls_is_tried_again(
        smtp_server) -> None:
    gone = SmtpSettings("127.0.0.1", free_port(), "cobranza@example.com", starttls=False,
                        timeout_s=2)
    with pytest.raises(SendFailed) as failed:
        await EmailChannel(gone).send(mail())
    assert not failed.value.permanent
    # STARTTLS asked of a server that offers none: never sent in clear.
    plain = smtp_server(Answering())
    wanting_tls = SmtpSettings(plain.host, plain.port, plain.sender, starttls=True,
                               timeout_s=5)
    with pytest.raises(SendFailed, match="STARTTLS|starttls") as failed:
        await EmailChannel(wanting_tls).send(mail())
    assert not failed.value.permanent


def test_a_providers_status_words_as_delivery_codes() -> None:
    assert report_code("delivered") is report_code(" DELIVRD ") is DeliveryCode.DELIVERED
    assert report_code("Failed") is report_code("expired") is DeliveryCode.UNDELIVERED
    assert report_code("rejected") is DeliveryCode.SMSC_REJECTED
    assert report_code("sent") is report_code("accepted") is DeliveryCode.SMSC_ACCEPTED
    assert report_code("queued") is DeliveryCode.BUFFERED
    assert report_code("read") is None and report_code("") is None
