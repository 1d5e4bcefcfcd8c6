"""What a payment capture is wired to: the gateway that authorises a card
(an effect handler made per capture) and the ledger that records what a
capture ended with. The one place the gateway's modules are named.

MERGE (issue 14): the gateway and ledger are built on branch wt-gateway
(payment_ivr/authorise.py, payment_ivr/stripe_gateway.py,
dialer/payments/ledger.py, migration 0005). Until it lands, PaymentContext
is a copy of payment_ivr.authorise.PaymentContext, no card is authorised
(every Authorise is answered GatewayDown, which the debtor hears as "we
cannot take card payments right now" and a promise offered) and a result
is only logged. At the merge: import PaymentContext from
payment_ivr.authorise, and make `wiring()` return
`authoriser(StripeGateway(...settings), PostgresLedger(pool), context)`
and `record_result(pool, context, result)`."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg

from payment_ivr.capture import Authorise, GatewayAnswer, GatewayDown, PaymentResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PaymentContext:
    """One capture: its id (the gateway's idempotency keys derive from it),
    the account paying, and the call it is taken on (None without one)."""

    capture_id: uuid.UUID
    account_id: int
    reference: str
    call_id: str | None


# The effect handler of one capture: Authorise in, the gateway's answer out.
Authoriser = Callable[[Authorise], Awaitable[GatewayAnswer]]
MakeAuthoriser = Callable[[PaymentContext], Authoriser]
# What a capture ended with, recorded (payment, balance, status, promise, plan).
Record = Callable[[PaymentContext, PaymentResult], Awaitable[None]]


def wiring(pool: asyncpg.Pool) -> tuple[MakeAuthoriser, Record]:
    """The authoriser factory and the recorder a process's captures use."""

    def make_authoriser(context: PaymentContext) -> Authoriser:
        async def no_gateway(effect: Authorise) -> GatewayAnswer:
            return GatewayDown()
        return no_gateway

    async def record(context: PaymentContext, result: PaymentResult) -> None:
        log.info("payment %s on account %s: %s after %d authorisation(s)", context.capture_id,
                 context.reference, result.outcome.value, result.attempts)

    return make_authoriser, record
