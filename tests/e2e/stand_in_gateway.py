"""STAND-IN FOR THE GATEWAY BRANCH, to be replaced when it merges (issue 14).

`python -m tests.e2e.stand_in_gateway` runs `recobro inbound` as it is
(dialer.inbound.service.serve: the desk, the self-service pay key, the
"payment" flow) with this module's payment wiring instead of
dialer.payments.wiring's: an authoriser that answers like Stripe's test
mode for its published test cards (4242 4242 4242 4242 approved, 4000 0000
0000 0002 declined, anything else declined as an incorrect number), and a
recorder that appends each capture's result (no card data: PaymentResult
holds none) as a JSON line to the file RECOBRO_TEST_PAYMENTS names. It logs
at DEBUG to stderr, so that the tests search every log line for card data.

At the merge: drop this module; the tests start `recobro inbound` with the
lab's Stripe-compatible mock (RECOBRO_PAYMENT_GATEWAY_URL) and read the
results from the ledger's tables (dialer/payments/ledger.py) instead of
RECOBRO_TEST_PAYMENTS."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
from datetime import date
from enum import Enum
from pathlib import Path

import asyncpg

from dialer.inbound.service import serve
from dialer.payments.wiring import Authoriser, MakeAuthoriser, PaymentContext, Record
from dialer.settings import load_settings
from payment_ivr.capture import (
    Approved,
    Authorise,
    Declined,
    GatewayAnswer,
    PaymentResult,
)

APPROVED_CARD = "4242424242424242"  # Stripe's test Visa: succeeds
DECLINED_CARD = "4000000000000002"  # Stripe's test card: card_declined
RESULTS = "RECOBRO_TEST_PAYMENTS"


def _plain(value: object) -> object:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, date):
        return value.isoformat()
    if dataclasses.is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def _append(path: Path, line: str) -> None:
    with path.open("a") as out:
        out.write(line + "\n")


def stand_in(pool: asyncpg.Pool) -> tuple[MakeAuthoriser, Record]:
    """The stand-in's authoriser factory and recorder."""
    results = Path(os.environ[RESULTS])

    def make_authoriser(context: PaymentContext) -> Authoriser:
        async def authorise(effect: Authorise) -> GatewayAnswer:
            card = effect.card
            number = card.number
            card.wipe()  # as the real handler does once the gateway answered
            await asyncio.sleep(0.3)  # a gateway's round trip
            if number == APPROVED_CARD:
                return Approved(card.brand.value, card.last4, f"ch_{effect.attempt}4711")
            if number == DECLINED_CARD:
                return Declined("card_declined")
            return Declined("incorrect_number")
        return authorise

    async def record(context: PaymentContext, result: PaymentResult) -> None:
        line = {"account_id": context.account_id, "account": context.reference,
                "call_id": context.call_id, **_plain(result)}
        await asyncio.to_thread(_append, results, json.dumps(line))

    return make_authoriser, record


def main() -> None:
    """Take inbound calls with the stand-in, until SIGTERM."""
    logging.basicConfig(level=logging.DEBUG,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(load_settings(), 5.0, "US", payment_wiring=stand_in))


if __name__ == "__main__":
    main()
