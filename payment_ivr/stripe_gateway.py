"""The gateway over Stripe's PaymentIntents form API (aiohttp), as Stripe
serves it and as the lab's localstripe mock does.

A card payment is three requests, each with an Idempotency-Key derived
from the attempt's key: a PaymentMethod from the keyed card (the only
request whose body holds card data), a PaymentIntent for the amount
(unconfirmed, `payment_method_options[card][moto]=true`, the key and the
capture in its metadata) and its confirmation, which charges. Keeping the
card for a plan adds a Customer and attaches the PaymentMethod to it
before the PaymentIntent (Stripe checks the card then; the token is
"cus_...:pm_...").

Exactly one charge, even where a server ignores Idempotency-Key (localstripe
does): creating a PaymentIntent charges nothing, and confirming one twice
is refused, so a repeated call with a key this adapter has already sent
first looks the key up among the PaymentIntents (by metadata) and confirms
only one that was never confirmed. `find` is that look-up, for a process
settling what a crash left in flight. It lists PaymentIntents page by page
(localstripe has no Search API), at most MAX_PAGES pages.

Nothing here logs; errors carry the gateway's codes, never the request."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Self

import aiohttp

from payment_ivr.card import Card
from payment_ivr.gateway import (
    ChargeAnswer,
    Charged,
    ChargeMetadata,
    GatewayError,
    Refunded,
    Refused,
)
from payment_ivr.terms import Money

KEY_FIELD = "recobro_idempotency_key"  # metadata naming the attempt
MAX_PAGES = 50  # of 100 PaymentIntents each, when looking a key up
TOKEN_SEPARATOR = ":"


class _Answer(Exception):
    """A request's outcome that ends the operation (a decline, an error)."""

    def __init__(self, answer: Refused | GatewayError) -> None:
        super().__init__(answer)
        self.answer = answer


def _form(fields: Mapping[str, object], prefix: str = "") -> list[tuple[str, str]]:
    """Stripe's form encoding: nested mappings as a[b][c]=value."""
    pairs: list[tuple[str, str]] = []
    for name, value in fields.items():
        key = f"{prefix}[{name}]" if prefix else name
        if isinstance(value, Mapping):
            pairs += _form(value, key)
        elif isinstance(value, bool):
            pairs.append((key, "true" if value else "false"))
        elif value is not None:
            pairs.append((key, str(value)))
    return pairs


def _metadata(key: str, metadata: ChargeMetadata) -> dict[str, str]:
    return {KEY_FIELD: key, "capture_id": metadata.capture_id,
            "account_reference": metadata.account_reference}


def _decline(error: Mapping[str, Any]) -> Refused:
    reason = str(error.get("decline_code") or error.get("code") or "card_declined")
    return Refused(reason, error.get("payment_intent", {}).get("id")
                   if isinstance(error.get("payment_intent"), Mapping) else None)


class StripeGateway:
    """The gateway at url (Stripe's https://api.stripe.com, or a mock),
    with the secret API key; each request is given timeout_s."""

    def __init__(self, url: str, key: str, timeout_s: float = 10.0) -> None:
        self._url = url.rstrip("/")
        self._key = key
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self._sent: set[str] = set()  # keys this process has sent a charge for

    def __repr__(self) -> str:
        return f"StripeGateway({self._url!r})"  # never the key

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # The Gateway protocol.

    async def authorise(self, card: Card, amount: Money, key: str, metadata: ChargeMetadata,
                        *, save_card: bool = False) -> ChargeAnswer:
        """Charge card amount now (MOTO); with save_card also keep it."""
        try:
            intent = await self._unconfirmed_or_settled(key)
            if intent is None:
                self._sent.add(key)
                method = await self._card_method(card, f"{key}-pm")
                customer = None
                if save_card:
                    customer = await self._keep(method, key, metadata)
                intent = await self._post("/v1/payment_intents", {
                    "amount": amount.cents, "currency": amount.currency.lower(),
                    "payment_method": method, "customer": customer,
                    "payment_method_options": {"card": {"moto": True}},
                    "metadata": _metadata(key, metadata), "confirm": False,
                }, f"{key}-pi")
            elif not _confirmable(intent):
                return _settled(intent, card)
            confirmed = await self._post(f"/v1/payment_intents/{intent['id']}/confirm", {},
                                         f"{key}-confirm")
            return _settled(confirmed, card)
        except _Answer as answer:
            return answer.answer

    async def charge_token(self, token: str, amount: Money, key: str,
                           metadata: ChargeMetadata) -> ChargeAnswer:
        """Charge a kept card off session."""
        customer, _, method = token.partition(TOKEN_SEPARATOR)
        if not customer or not method:
            return GatewayError("not a token of this gateway", may_have_charged=False,
                                retry=False)
        try:
            found = await self._unconfirmed_or_settled(key)
            if found is not None:
                return _settled(found, None)
            self._sent.add(key)
            intent = await self._post("/v1/payment_intents", {
                "amount": amount.cents, "currency": amount.currency.lower(),
                "customer": customer, "payment_method": method,
                "payment_method_options": {"card": {"moto": True}},
                "metadata": _metadata(key, metadata), "confirm": True, "off_session": True,
            }, f"{key}-pi")
            card = (await self._get(f"/v1/payment_methods/{method}", {})).get("card", {})
            answer = _settled(intent, None)
            if isinstance(answer, Charged):
                return Charged(str(card.get("brand", "")), str(card.get("last4", "")),
                               answer.reference, token)
            return answer
        except _Answer as answer:
            return answer.answer

    async def refund(self, reference: str, key: str,
                     amount: Money | None = None) -> Refunded | Refused | GatewayError:
        """Refund the PaymentIntent reference, in full or amount of it."""
        try:
            refund = await self._post("/v1/refunds", {
                "payment_intent": reference,
                "amount": None if amount is None else amount.cents}, f"{key}-refund")
        except _Answer as answer:
            return answer.answer
        return Refunded(str(refund["id"]))

    async def find(self, key: str) -> ChargeAnswer | None:
        """What became of the charge sent with key (see the module)."""
        try:
            intents = await self._intents(key)
        except _Answer as answer:
            return answer.answer
        for intent in intents:
            if intent.get("status") == "succeeded":
                return _settled(intent, None)
        for intent in intents:
            if not _confirmable(intent):
                return _settled(intent, None)
        return None

    # Steps.

    async def _unconfirmed_or_settled(self, key: str) -> dict[str, Any] | None:
        """For a key sent before by this process: its PaymentIntent (settled,
        or never confirmed), or None when it made none."""
        if key not in self._sent:
            return None
        intents = await self._intents(key)
        for intent in intents:
            if not _confirmable(intent):
                return intent
        return intents[0] if intents else None

    async def _card_method(self, card: Card, idempotency_key: str) -> str:
        expiry = card.expiry
        if expiry is None or card.cvv is None:
            raise _Answer(GatewayError("incomplete card", may_have_charged=False, retry=False))
        method = await self._post("/v1/payment_methods", {
            "type": "card",
            "card": {"number": card.number, "exp_month": expiry.month,
                     "exp_year": expiry.year, "cvc": card.cvv},
        }, idempotency_key)
        return str(method["id"])

    async def _keep(self, method: str, key: str, metadata: ChargeMetadata) -> str:
        """A Customer holding the card: the token's half that charges later."""
        customer = await self._post("/v1/customers", {"metadata": _metadata(key, metadata)},
                                    f"{key}-customer")
        await self._post(f"/v1/payment_methods/{method}/attach",
                         {"customer": customer["id"]}, f"{key}-attach")
        return str(customer["id"])

    async def _intents(self, key: str) -> list[dict[str, Any]]:
        """Every PaymentIntent whose metadata names key."""
        found: list[dict[str, Any]] = []
        after: str | None = None
        for _ in range(MAX_PAGES):
            page = await self._get("/v1/payment_intents",
                                   {"limit": 100, "starting_after": after})
            data = page.get("data", [])
            found += [i for i in data if (i.get("metadata") or {}).get(KEY_FIELD) == key]
            if not page.get("has_more") or not data:
                return found
            after = data[-1]["id"]
        raise _Answer(GatewayError(f"key not found in {MAX_PAGES} pages of PaymentIntents",
                                   may_have_charged=True, retry=False))

    # HTTP.

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout, headers={"Authorization": f"Bearer {self._key}"})
        return self._session

    async def _post(self, path: str, fields: Mapping[str, object],
                    idempotency_key: str) -> dict[str, Any]:
        return await self._request("POST", path, data=_form(fields),
                                   headers={"Idempotency-Key": idempotency_key})

    async def _get(self, path: str, query: Mapping[str, object]) -> dict[str, Any]:
        return await self._request("GET", path, params=_form(query))

    async def _request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """The JSON answer of a 2xx; _Answer for anything else."""
        try:
            async with self._client().request(method, self._url + path, **kwargs) as response:
                status = response.status
                text = await response.text()
        except aiohttp.ClientConnectorError:
            raise _Answer(GatewayError("cannot connect", may_have_charged=False,
                                       retry=True)) from None
        except TimeoutError:
            raise _Answer(GatewayError("timed out", may_have_charged=True, retry=True)) from None
        except aiohttp.ClientError as error:
            raise _Answer(GatewayError(f"connection lost ({type(error).__name__})",
                                       may_have_charged=True, retry=True)) from None
        try:
            body = json.loads(text)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise _Answer(GatewayError(f"HTTP {status}, not JSON", may_have_charged=status >= 500,
                                       retry=status >= 500))
        if 200 <= status < 300:
            return body
        error = body.get("error") if isinstance(body.get("error"), dict) else {}
        if status == 402:
            raise _Answer(_decline(error))
        code = str(error.get("code") or error.get("type") or "error")
        raise _Answer(GatewayError(f"HTTP {status} {code}", may_have_charged=status >= 500,
                                   retry=status >= 500 or status == 429))


def _confirmable(intent: Mapping[str, Any]) -> bool:
    """Created and never confirmed: confirming it is the first charge."""
    return intent.get("status") == "requires_confirmation"


def _settled(intent: Mapping[str, Any], card: Card | None) -> ChargeAnswer:
    """A PaymentIntent's outcome as an answer."""
    status = intent.get("status")
    reference = str(intent.get("id", ""))
    if status == "succeeded":
        method = intent.get("payment_method")
        customer = intent.get("customer")
        token = (f"{customer}{TOKEN_SEPARATOR}{method}"
                 if isinstance(customer, str) and isinstance(method, str) else None)
        if card is not None:
            return Charged(card.brand.value, card.last4, reference, token)
        charge = intent.get("latest_charge")
        details = (charge.get("payment_method_details") or {}).get("card", {}) \
            if isinstance(charge, Mapping) else {}
        return Charged(str(details.get("brand", "")), str(details.get("last4", "")),
                       reference, token)
    error = intent.get("last_payment_error")
    if isinstance(error, Mapping):
        return Refused(str(error.get("decline_code") or error.get("code") or "card_declined"),
                       reference)
    if status in ("requires_action", "requires_payment_method", "canceled"):
        return Refused(str(status), reference)
    return GatewayError(f"payment {status}", may_have_charged=True, retry=True)
