"""The payment gateway, as Recobro needs it: card-not-present (MOTO)
authorise-and-capture of an amount, optionally keeping a token of the card
for a plan's later payments; charging a kept token; refunding; and finding
what became of a request by its idempotency key (to settle an attempt a
crash left in flight).

Pure: types and the protocol only. The card crosses this interface into
an adapter (stripe_gateway.py) and nowhere else; every answer holds the
brand and last four at most."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from payment_ivr.card import Card
from payment_ivr.terms import Money


@dataclass(frozen=True)
class ChargeMetadata:
    """What the gateway keeps beside a charge, to find it again and for a
    person reading the gateway's dashboard: never card data."""

    capture_id: str
    account_reference: str


@dataclass(frozen=True)
class Charged:
    """The gateway took the money. reference is the gateway's (a receipt
    number to quote); token, when the card was kept, charges it again."""

    brand: str
    last4: str
    reference: str
    token: str | None = None


@dataclass(frozen=True)
class Refused:
    """The gateway declined: reason is its own code (e.g. card_declined,
    insufficient_funds); reference when it kept a record of the try."""

    reason: str
    reference: str | None = None


@dataclass(frozen=True)
class GatewayError:
    """No decision from the gateway. may_have_charged: the request may have
    reached it (a timeout, a dropped connection, a server error), so the
    same idempotency key must be used again, or the gateway asked, before
    anything else is charged. retry: trying again may help (not so for a
    refused API key or a request the gateway calls malformed)."""

    reason: str
    may_have_charged: bool
    retry: bool


@dataclass(frozen=True)
class Refunded:
    """The gateway refunded (part of) a charge; reference is the refund's."""

    reference: str


ChargeAnswer = Charged | Refused | GatewayError


class Gateway(Protocol):
    """A card gateway. Every charging call takes an idempotency key: calling
    again with the same key charges nothing more than the first call did."""

    async def authorise(self, card: Card, amount: Money, key: str, metadata: ChargeMetadata,
                        *, save_card: bool = False) -> ChargeAnswer:
        """Charge card amount now (MOTO, captured at once); with save_card,
        keep the card and answer its token too. Reads the card, never
        wipes it (the caller does, once it stops retrying)."""
        ...

    async def charge_token(self, token: str, amount: Money, key: str,
                           metadata: ChargeMetadata) -> ChargeAnswer:
        """Charge a kept card (a plan's later payment, off session)."""
        ...

    async def refund(self, reference: str, key: str,
                     amount: Money | None = None) -> Refunded | Refused | GatewayError:
        """Refund a charge by its reference, in full or amount of it."""
        ...

    async def find(self, key: str) -> ChargeAnswer | None:
        """What became of the charge sent with key: Charged or Refused when
        the gateway decided, None when it never charged anything for it,
        GatewayError when it cannot tell now."""
        ...
