"""What a payment capture is wired to: the card gateway that authorises a
card (an effect handler made per capture, payment_ivr.authorise) and the
ledger that keeps each attempt and what each capture ended with
(dialer.payments.ledger, results). The one place they are put together."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import asyncpg

from dialer.payments.gateway import open_gateway
from dialer.payments.ledger import PostgresLedger
from dialer.payments.results import record_result
from dialer.payments.settling import settle_in_flight
from dialer.settings import PaymentGatewaySettings
from payment_ivr.authorise import PaymentContext, authoriser
from payment_ivr.capture import Authorise, GatewayAnswer, PaymentResult

log = logging.getLogger(__name__)

# The effect handler of one capture: Authorise in, the gateway's answer out.
Authoriser = Callable[[Authorise], Awaitable[GatewayAnswer]]
MakeAuthoriser = Callable[[PaymentContext], Authoriser]
# What a capture ended with, recorded (payment, balance, status, promise, plan).
Record = Callable[[PaymentContext, PaymentResult], Awaitable[object]]


@asynccontextmanager
async def payment_wiring(pool: asyncpg.Pool, settings: PaymentGatewaySettings
                         ) -> AsyncIterator[tuple[MakeAuthoriser, Record]]:
    """The authoriser factory and the recorder a process's captures use,
    for as long as the gateway's connection is open. Attempts an earlier
    process left in flight (it died between a request and its answer) are
    settled first, by asking the gateway, so nothing is charged twice."""
    async with open_gateway(settings) as gateway:
        settled = await settle_in_flight(pool, gateway)
        if settled:
            log.warning("payment attempts left in flight by an earlier process settled: %s",
                        ", ".join(f"{s.key} {s.status.value}" for s in settled))
        ledger = PostgresLedger(pool)

        def make_authoriser(context: PaymentContext) -> Authoriser:
            return authoriser(gateway, ledger, context)

        async def record(context: PaymentContext, result: PaymentResult) -> bool:
            return await record_result(pool, context, result)

        yield make_authoriser, record
