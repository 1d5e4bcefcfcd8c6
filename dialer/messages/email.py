"""E-mail over SMTP (aiosmtplib): the rendered body as UTF-8 plain text,
and, when the message carries a payment link, a PNG of its QR code
attached (dialer.messages.links.qr_png), for a debtor reading the e-mail
on a computer to scan with a phone.

STARTTLS and credentials are optional settings (docs/messages.md). The
Message-ID is derived from the message's idempotency key, the same on
every try, so a receiving system that keeps Message-IDs can tell a
retried e-mail from a new one.

The SMTP server's answers: a recipient or the data refused with a 5xx
code will never go (permanent); anything else (4xx, a refused sender or
login, which an operator fixes, a timeout, a connection refused) is tried
again."""

from __future__ import annotations

import hashlib
from email.message import EmailMessage
from email.utils import formatdate

import aiosmtplib

from dialer.messages.channels import Handed, Outgoing, SendFailed
from dialer.messages.links import qr_png
from dialer.messages.model import Channel
from dialer.settings import SmtpSettings

QR_FILENAME = "payment-link-qr.png"


def message_id(idempotency_key: str, sender: str) -> str:
    """The Message-ID of every try of a message: a hash of its key at the
    sender's domain (the key itself stays inside Recobro)."""
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
    return f"<recobro.{digest}@{sender.rpartition('@')[2]}>"


def build_email(outgoing: Outgoing, sender: str) -> EmailMessage:
    """The e-mail of a message: From, To, Subject, the body, and its
    link's QR code as a PNG attachment when it has a link."""
    email = EmailMessage()
    email["From"] = sender
    email["To"] = outgoing.recipient
    email["Subject"] = outgoing.subject or ""
    email["Date"] = formatdate(localtime=False, usegmt=True)
    email["Message-ID"] = message_id(outgoing.idempotency_key, sender)
    email.set_content(outgoing.body, charset="utf-8")
    if outgoing.link:
        email.add_attachment(qr_png(outgoing.link), maintype="image", subtype="png",
                             filename=QR_FILENAME)
    return email


def _failed(error: aiosmtplib.SMTPException) -> SendFailed:
    code = getattr(error, "code", None)
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        codes = [refused.code for refused in error.recipients]
        permanent = bool(codes) and all(500 <= c < 600 for c in codes)
        said = "; ".join(f"{r.code} {r.message}" for r in error.recipients)
        return SendFailed(f"the SMTP server refused the recipient ({said})",
                          permanent=permanent)
    if isinstance(error, aiosmtplib.SMTPDataError) and code is not None and 500 <= code < 600:
        return SendFailed(f"the SMTP server refused the e-mail ({code} {error.message})",
                          permanent=True)
    if isinstance(error, aiosmtplib.SMTPAuthenticationError):
        return SendFailed(f"the SMTP server refused the login ({code}): check "
                          "RECOBRO_SMTP_USER and RECOBRO_SMTP_PASSWORD")
    return SendFailed(f"SMTP: {type(error).__name__}: {error}")


class EmailChannel:
    """E-mail through an SMTP server, one connection per message."""

    channel = Channel.EMAIL

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings

    async def send(self, outgoing: Outgoing) -> Handed:
        """Send the e-mail; SendFailed when the server did not take it."""
        settings = self.settings
        email = build_email(outgoing, settings.sender)
        try:
            await aiosmtplib.send(
                email, hostname=settings.host, port=settings.port,
                username=settings.user or None, password=settings.password or None,
                start_tls=settings.starttls, use_tls=False, timeout=settings.timeout_s)
        except aiosmtplib.SMTPException as error:
            raise _failed(error) from None
        except OSError as error:
            raise SendFailed(f"SMTP server {settings.host}:{settings.port}: {error}") from None
        return Handed(email["Message-ID"])

    async def close(self) -> None:
        """Nothing held: each message has its own connection."""
