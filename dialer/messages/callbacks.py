"""Recobro's callback listener: the HTTP routes Kannel calls back on.

GET /kannel/dlr?token=&message=&status=%d&answer=%A
    A delivery report for one of our messages (the dlr-url each sendsms
    carries, dialer.messages.kannel.dlr_url): its code and the SMSC's
    answer go on the message, and a final one settles it delivered or
    undelivered (report_writer: written in batches).
GET /kannel/mo?token=&from=%p&to=%P&text=%b&coding=%c&id=%I
    A reply from a debtor (Kannel's sms-service get-url,
    dialer.messages.kannel.mo_url). An opt-out word (rules.is_opt_out: STOP,
    BAJA, CANCELAR...) opts the number's accounts out at once and enqueues
    one confirmation (store.opt_out_number); any other reply is logged.
POST /sms/report?token=   (a JSON body)
    A delivery report from the HTTP/JSON SMS provider: the text it names by
    its own id (the id field of its answers) gets the status's code
    (http_sms.report_code; store.record_provider_delivery).

Every request must carry the listener's token (RECOBRO_MESSAGE_CALLBACK_TOKEN,
compared in constant time): a forged report or STOP from another local
process is refused with 403. A malformed request gets 400 naming the
field; an answered one 200 with an empty body (Kannel sends nothing back
to the debtor). `recobro messages run` mounts callback_app; serve()
runs it alone."""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import parse_qs

import asyncpg
from aiohttp import web

from dialer.messages.channels import DeliveryCode
from dialer.messages.http_sms import REPORT_PATH, json_field, report_code
from dialer.messages.kannel import DLR_PATH, MO_PATH
from dialer.messages.report_writer import DeliveryWriter
from dialer.messages.rules import is_opt_out
from dialer.messages.store import (
    DeliveryReport,
    opt_out_number,
    record_provider_delivery,
)

log = logging.getLogger(__name__)

_NUMBER = re.compile(r"\+?[0-9]{3,15}")
_UCS2 = "2"
Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _raw_query(request: web.Request) -> dict[str, bytes]:
    """The query's fields as bytes: Kannel's %b is the text's own bytes
    URL-encoded (UTF-16BE for a UCS-2 text), not always UTF-8."""
    fields = parse_qs(request.query_string, keep_blank_values=True, encoding="latin-1")
    return {name: values[-1].encode("latin-1") for name, values in fields.items()}


def _field(fields: dict[str, bytes], name: str) -> str:
    return fields.get(name, b"").decode("utf-8", errors="replace").strip()


def reply_text(data: bytes, coding: str) -> str:
    """A reply's text from Kannel's bytes and coding (2: UCS-2, as
    UTF-16BE; otherwise UTF-8, or Latin-1 for bytes that are not UTF-8)."""
    if coding == _UCS2:
        return data.decode("utf-16-be", errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def e164(number: str) -> str | None:
    """A debtor's number as the phones table keeps it (+ and digits), from
    what Kannel passes (an international number with or without its +)."""
    number = number.strip()
    if not _NUMBER.fullmatch(number):
        return None
    return number if number.startswith("+") else f"+{number}"


def callback_app(pool: asyncpg.Pool, token: str, *, clock: Clock = _utc_now,
                 report_fields: tuple[str, str] = ("id", "status")) -> web.Application:
    """The callback listener's application: Kannel's delivery reports and
    replies, and the HTTP provider's reports (report_fields: the fields of
    its JSON holding its id for the text and the status), each checked
    against token, recorded in pool's database."""
    if len(token) < 16:
        raise ValueError("the callback token is at least 16 characters")

    reports = DeliveryWriter(pool)

    def authorised(fields: dict[str, bytes]) -> bool:
        return hmac.compare_digest(fields.get("token", b""), token.encode())

    async def delivery_report(request: web.Request) -> web.Response:
        fields = _raw_query(request)
        if not authorised(fields):
            raise web.HTTPForbidden(text="token")
        message, status = _field(fields, "message"), _field(fields, "status")
        if not re.fullmatch(r"[0-9]{1,18}", message):
            raise web.HTTPBadRequest(text=f"message: not a message id ({message[:20]!r})")
        try:
            code = DeliveryCode(int(status))
        except ValueError:
            raise web.HTTPBadRequest(text=f"status: not a report type ({status[:20]!r})") \
                from None
        recorded = await reports.record(DeliveryReport(
            int(message), code.value, code.final_status, _field(fields, "answer"), clock(),
            e164(_field(fields, "to"))))
        if not recorded:
            log.info("delivery report %s for message %s not recorded (no such message, or "
                     "after a final report)", code.name, message)
        return web.Response(text="")

    async def reply(request: web.Request) -> web.Response:
        fields = _raw_query(request)
        if not authorised(fields):
            raise web.HTTPForbidden(text="token")
        number = e164(_field(fields, "from"))
        if number is None:
            raise web.HTTPBadRequest(text="from: not a phone number")
        text = reply_text(fields.get("text", b""), _field(fields, "coding"))
        if not is_opt_out(text):
            log.info("a reply from %s that does not opt out (%d characters)", number[-4:],
                     len(text))
            return web.Response(text="")
        done = await opt_out_number(pool, number, clock())
        log.info("number ending %s opted out by reply: accounts %s, confirmation %s",
                 number[-4:], ", ".join(done.references) or "none", done.confirmation)
        return web.Response(text="")

    async def provider_report(request: web.Request) -> web.Response:
        if not authorised(_raw_query(request)):
            raise web.HTTPForbidden(text="token")
        try:
            document = await request.json()
        except ValueError:
            raise web.HTTPBadRequest(text="body: not JSON") from None
        id_field, status_field = report_fields
        reference, status = json_field(document, id_field), json_field(document, status_field)
        if reference is None:
            raise web.HTTPBadRequest(text=f"{id_field}: missing (the provider's id for the text)")
        code = report_code(status or "")
        if code is None:
            raise web.HTTPBadRequest(text=f"{status_field}: not a status Recobro knows "
                                          f"({(status or '')[:20]!r})")
        recorded = await record_provider_delivery(pool, reference, code.value,
                                                  code.final_status, status or "", clock())
        if not recorded:
            log.info("provider report %s for %r not recorded (no such text, or after a final "
                     "report)", code.name, reference[:40])
        return web.Response(text="")

    app = web.Application()
    app.router.add_get(DLR_PATH, delivery_report)
    app.router.add_post(REPORT_PATH, provider_report)
    app.router.add_get(MO_PATH, reply)
    return app


async def serve(pool: asyncpg.Pool, host: str, port: int, token: str, *,
                clock: Clock = _utc_now,
                report_fields: tuple[str, str] = ("id", "status")) -> web.AppRunner:
    """Run the listener alone on host:port (a test's, or a process's own);
    the caller cleans the runner up."""
    runner = web.AppRunner(callback_app(pool, token, clock=clock, report_fields=report_fields),
                           access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
