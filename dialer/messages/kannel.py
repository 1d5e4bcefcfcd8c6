"""SMS through Kannel's sendsms HTTP interface (smsbox), and the shape of
what Kannel calls back with: delivery reports (dlr-url) and replies (an
sms-service's get-url), both taken by dialer/messages/callbacks.py.

One GET /cgi-bin/sendsms per message: the text in UTF-8 (charset=UTF-8),
coding=2 when it needs UCS-2 (dialer.messages.sms.measure decides, as the
preview shows it), dlr-mask=31 (every report: delivered, undelivered,
buffered, taken and refused by the SMSC) and a dlr-url naming the message.

Kannel's answers: 202 "0: Accepted for delivery" or "3: Queued for later
delivery" took it; 400 (a malformed or black-listed number, a missing
field) will never take it: permanent; 403 is the sendsms user's
credentials, which an operator fixes, so the message waits and is tried
again (transient), as for 5xx, a timeout or a connection refused.

Kannel has no idempotency key: a message Kannel took whose answer was
lost (a timeout after smsbox queued it) is sent again on the next try
(docs/messages.md, "At least once")."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from yarl import URL

from dialer.messages.channels import Handed, Outgoing, SendFailed
from dialer.messages.model import Channel
from dialer.messages.provider_http import ProviderClient
from dialer.messages.sms import Encoding, measure
from dialer.settings import KannelSettings, MessageCallbackSettings

SENDSMS_PATH = "/cgi-bin/sendsms"
DLR_PATH = "/kannel/dlr"
MO_PATH = "/kannel/mo"
DLR_MASK = 31  # 1 + 2 + 4 + 8 + 16: every kind of report
_ACCEPTED = ("0:", "3:")  # accepted for delivery; queued for later delivery


def dlr_url(callback: MessageCallbackSettings, message_id: int) -> str:
    """The dlr-url for a message: Kannel fills %d (the report's type), %A
    (the SMSC's answer, e.g. its id and error code) and %p (the number it
    went to: a report that comes before the outbox says sent tells where)."""
    query = urlencode({"token": callback.token, "message": message_id})
    return f"{callback.public_url}{DLR_PATH}?{query}&status=%d&answer=%A&to=%p"


def mo_url(public_url: str, token: str) -> str:
    """The get-url of Kannel's sms-service for replies: %p the debtor's
    number, %P ours, %b the text as received (URL-encoded bytes), %c its
    coding (0 GSM-7, 1 8-bit, 2 UCS-2), %I Kannel's id of the reply."""
    return (f"{public_url}{MO_PATH}?token={quote(token, safe='')}"
            "&from=%p&to=%P&text=%b&coding=%c&id=%I")


def sendsms_query(settings: KannelSettings, callback: MessageCallbackSettings,
                  outgoing: Outgoing) -> dict[str, str]:
    """The sendsms request's fields for a message."""
    query = {
        "username": settings.user, "password": settings.password,
        "from": settings.sender, "to": outgoing.recipient, "text": outgoing.body,
        "charset": "UTF-8", "dlr-mask": str(DLR_MASK),
        "dlr-url": dlr_url(callback, outgoing.message_id),
    }
    if measure(outgoing.body).encoding is Encoding.UCS2:
        query["coding"] = "2"
    return query


def answer(status: int, body: str) -> Handed:
    """Handed when Kannel took the message; SendFailed (permanent or not)
    for what it answered otherwise."""
    said = " ".join(body.split())[:200] or "no answer"
    if 200 <= status < 300 and said.startswith(_ACCEPTED):
        return Handed(None)  # sendsms gives no id of its own
    if status == 403:
        raise SendFailed(f"Kannel refused the sendsms user ({status} {said}): check "
                         "RECOBRO_KANNEL_USER and RECOBRO_KANNEL_PASSWORD")
    if 400 <= status < 500:
        raise SendFailed(f"Kannel refused the message ({status} {said})", permanent=True)
    raise SendFailed(f"Kannel did not take the message ({status} {said})")


class KannelChannel:
    """SMS through Kannel's sendsms, with delivery reports to Recobro's
    callback listener."""

    channel = Channel.SMS

    def __init__(self, settings: KannelSettings, callback: MessageCallbackSettings) -> None:
        self.settings = settings
        self.callback = callback
        self._client = ProviderClient(f"Kannel at {settings.url}", settings.timeout_s)

    async def send(self, outgoing: Outgoing) -> Handed:
        """GET sendsms for the message; SendFailed when Kannel did not take it."""
        # Encoded here, each field once: the dlr-url's %d and %A reach
        # Kannel as written, and a '+' in the text as %2B.
        query = urlencode(sendsms_query(self.settings, self.callback, outgoing))
        url = URL(f"{self.settings.url}{SENDSMS_PATH}?{query}", encoded=True)
        status, body = await self._client.request("GET", url)
        return answer(status, body)

    async def close(self) -> None:
        await self._client.close()
