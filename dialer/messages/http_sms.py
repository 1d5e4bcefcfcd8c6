"""SMS through a generic HTTP/JSON provider: one POST per message of
{"to", "from", "text"} with the provider's token as a Bearer token and the
message's idempotency key as the Idempotency-Key header, the same on
every try, so a provider that honours it sends a retried message once.

The answer: 2xx took it (the provider's id for it is the answer's JSON
field RECOBRO_SMS_HTTP_ID_FIELD, dotted for a nested one); 4xx will never
take it (permanent), but for 401 and 403 (the token, which an operator
fixes), 408, 409 (the same key still in flight) and 429 (slow down),
which are tried again, as are 5xx, timeouts and connections refused.

Its delivery reports come to Recobro's callback listener as
POST /sms/report?token=... with a JSON body naming the message by the
provider's id (the same field as the answer's) and its status
(RECOBRO_SMS_HTTP_STATUS_FIELD): report_code reads the status."""

from __future__ import annotations

import json
from typing import Any

from dialer.messages.channels import DeliveryCode, Handed, Outgoing, SendFailed
from dialer.messages.model import Channel
from dialer.messages.provider_http import ProviderClient
from dialer.settings import HttpSmsSettings

_TRANSIENT_4XX = frozenset({401, 403, 408, 409, 429})
REPORT_PATH = "/sms/report"
# The statuses providers report a text in (Twilio's, Vonage's, Plivo's and
# SMPP's words, lower-cased), as the delivery codes Recobro keeps.
REPORT_STATUSES: dict[str, DeliveryCode] = {
    **dict.fromkeys(("delivered", "delivrd"), DeliveryCode.DELIVERED),
    **dict.fromkeys(("undelivered", "undeliv", "failed", "expired", "deleted"),
                    DeliveryCode.UNDELIVERED),
    **dict.fromkeys(("rejected", "rejectd"), DeliveryCode.SMSC_REJECTED),
    **dict.fromkeys(("accepted", "sent", "submitted", "enroute"), DeliveryCode.SMSC_ACCEPTED),
    **dict.fromkeys(("queued", "buffered", "sending", "scheduled"), DeliveryCode.BUFFERED),
}


def report_code(status: str) -> DeliveryCode | None:
    """The delivery code of a provider's status word (any case); None for
    a word it does not use."""
    return REPORT_STATUSES.get(status.strip().lower())


def json_field(document: Any, field: str) -> str | None:
    """The string or whole number at field (a.b.c) of a parsed JSON
    document; None when it has none."""
    value = document
    for name in field.split("."):
        if not isinstance(value, dict) or name not in value:
            return None
        value = value[name]
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    return str(value)[:255] or None


def provider_id(body: str, field: str) -> str | None:
    """The id at field (a.b.c) of a JSON answer; None when it has none."""
    try:
        return json_field(json.loads(body), field)
    except ValueError:
        return None


def answer(status: int, body: str, id_field: str) -> Handed:
    """Handed for a 2xx; SendFailed, permanent or not, otherwise."""
    if 200 <= status < 300:
        return Handed(provider_id(body, id_field))
    said = " ".join(body.split())[:200] or "no body"
    if 400 <= status < 500 and status not in _TRANSIENT_4XX:
        raise SendFailed(f"the SMS provider refused the message ({status} {said})",
                         permanent=True)
    hint = (": check RECOBRO_SMS_HTTP_TOKEN" if status in (401, 403) else "")
    raise SendFailed(f"the SMS provider did not take the message ({status} {said}){hint}")


class HttpSmsChannel:
    """SMS through an HTTP/JSON provider."""

    channel = Channel.SMS

    def __init__(self, settings: HttpSmsSettings) -> None:
        self.settings = settings
        self._client = ProviderClient(f"the SMS provider at {settings.url}", settings.timeout_s)

    async def send(self, outgoing: Outgoing) -> Handed:
        """POST the message; SendFailed when the provider did not take it."""
        headers = {"Authorization": f"Bearer {self.settings.token}",
                   "Idempotency-Key": outgoing.idempotency_key}
        payload = {"to": outgoing.recipient, "from": self.settings.sender,
                   "text": outgoing.body}
        status, body = await self._client.request("POST", self.settings.url, json=payload,
                                                  headers=headers)
        return answer(status, body, self.settings.id_field)

    async def close(self) -> None:
        await self._client.close()
