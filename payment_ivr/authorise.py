"""The one handler of the capture flow's `Authorise` effect: exactly one
charge per attempt, whatever the gateway or the network does.

1. The attempt is written, with its idempotency key, before any request
   (a process that dies after this leaves it in flight, and the next one
   asks the gateway about that key before charging anything again).
2. The gateway is asked; a timeout or a dropped connection is asked again
   with the same key, at most TRIES times in all.
3. Its answer is written: approved, declined, or failed (nothing reached
   the gateway, or it refused the request itself). A request that may have
   reached the gateway and never got an answer leaves the attempt in
   flight, for the settling to ask about: the debtor hears that the
   gateway is down, and nothing is lost.
4. The card is wiped, whatever happened.

The ledger is told no card data: the brand and last four at most."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from payment_ivr.capture import (
    Approved,
    Authorise,
    Declined,
    GatewayAnswer,
    GatewayDown,
)
from payment_ivr.gateway import (
    ChargeAnswer,
    Charged,
    ChargeMetadata,
    Gateway,
    GatewayError,
    Refused,
)
from payment_ivr.terms import Money

TRIES = 3  # requests per attempt: the first and two more after a timeout or a lost answer
PAUSE_S = 0.5  # between two tries: a gateway's blip is given a moment


@dataclass(frozen=True)
class PaymentContext:
    """Whose capture this is: the capture's id (one per debtor's run of the
    flow), the account (its id and the reference the gateway is shown) and
    the call, when there is one."""

    capture_id: uuid.UUID
    account_id: int
    reference: str
    call_id: str | None = None


@dataclass(frozen=True)
class AttemptStart:
    """An attempt about to be sent: all the ledger keeps before the request."""

    attempt: int
    key: str
    amount: Money
    save_card: bool
    brand: str
    last4: str


class LedgerError(Exception):
    """The ledger could not write (it has said why in its own log)."""


class Ledger(Protocol):
    """Where attempts are written (PostgreSQL in dialer.payments). No method
    takes card data. A write that fails raises LedgerError: before the
    request, nothing is charged; after it, the attempt stays in flight."""

    async def started(self, context: PaymentContext, start: AttemptStart) -> None:
        """The attempt is in flight: written before its request."""
        ...

    async def approved(self, key: str, charged: Charged) -> None:
        """The gateway charged the attempt of key."""
        ...

    async def declined(self, key: str, reason: str) -> None:
        """The gateway declined the attempt of key."""
        ...

    async def failed(self, key: str, reason: str) -> None:
        """Nothing was charged for key: the request never reached the
        gateway, or the gateway refused it without deciding on the card."""
        ...


def idempotency_key(capture_id: uuid.UUID, attempt: int) -> str:
    """The one key of a capture's attempt: every request for it, and every
    question about it, carries this."""
    return f"recobro-{capture_id}-{attempt}"


def authoriser(gateway: Gateway, ledger: Ledger, context: PaymentContext,
               *, tries: int = TRIES, pause_s: float = PAUSE_S
               ) -> Callable[[Authorise], Awaitable[GatewayAnswer]]:
    """The Authorise handler for one capture (see the module): at most
    tries requests per attempt, pause_s apart."""
    metadata = ChargeMetadata(capture_id=str(context.capture_id),
                              account_reference=context.reference)

    async def authorise(effect: Authorise) -> GatewayAnswer:
        card = effect.card
        try:
            key = idempotency_key(context.capture_id, effect.attempt)
            try:
                await ledger.started(context, AttemptStart(
                    attempt=effect.attempt, key=key, amount=effect.amount,
                    save_card=effect.save_card, brand=card.brand.value, last4=card.last4))
            except LedgerError:
                return GatewayDown()  # an attempt not written is never sent
            answer = await _ask(gateway, effect, key, metadata, tries, pause_s)
            with contextlib.suppress(LedgerError):
                # Not written: left in flight, and settle_in_flight writes it
                # from the gateway's record.
                await _write(ledger, key, answer)
            return _heard(answer)
        finally:
            card.wipe()

    return authorise


async def _ask(gateway: Gateway, effect: Authorise, key: str, metadata: ChargeMetadata,
               tries: int, pause_s: float) -> Charged | Refused | GatewayError:
    """The gateway's answer to the attempt, asked again (same key) while it may help."""
    return await ask_until_decided(
        lambda: gateway.authorise(effect.card, effect.amount, key, metadata,
                                  save_card=effect.save_card), tries, pause_s)


async def ask_until_decided(request: Callable[[], Awaitable[ChargeAnswer]], tries: int = TRIES,
                            pause_s: float = PAUSE_S) -> ChargeAnswer:
    """The answer of request (a charge with one idempotency key), made again
    while the gateway has not decided and trying again may help, at most
    tries times, pause_s apart. An error says may_have_charged when any try
    may have reached the gateway. The one retry rule of every charge: a
    capture's attempts and a plan's instalments."""
    reached = False
    answer: ChargeAnswer = GatewayError("not asked", may_have_charged=False, retry=False)
    for number in range(max(1, tries)):
        if number:
            await asyncio.sleep(pause_s)
        answer = await request()
        if not isinstance(answer, GatewayError):
            return answer
        reached = reached or answer.may_have_charged
        if not answer.retry:
            break
    assert isinstance(answer, GatewayError)
    return GatewayError(answer.reason, may_have_charged=reached, retry=answer.retry)


async def _write(ledger: Ledger, key: str, answer: Charged | Refused | GatewayError) -> None:
    """The gateway's answer, written. An error after which the gateway may
    have charged leaves the attempt in flight: settle_in_flight asks the
    gateway about key later."""
    if isinstance(answer, Charged):
        await ledger.approved(key, answer)
    elif isinstance(answer, Refused):
        await ledger.declined(key, answer.reason)
    elif not answer.may_have_charged:
        await ledger.failed(key, answer.reason)


def _heard(answer: Charged | Refused | GatewayError) -> GatewayAnswer:
    """What the flow hears of the gateway's answer."""
    if isinstance(answer, Charged):
        return Approved(brand=answer.brand, last4=answer.last4, reference=answer.reference)
    if isinstance(answer, Refused):
        return Declined(answer.reason)
    return GatewayDown()
