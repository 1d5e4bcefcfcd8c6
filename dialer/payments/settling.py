"""After a crash: attempts left in flight are settled by asking the gateway
about their idempotency keys, before anything is charged again. The
attempts of a plan's instalments are the instalment scheduler's to settle
(dialer.payments.scheduler), with the instalment's state in the same
transaction."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import asyncpg

from dialer.payments.ledger import AttemptStatus, PostgresLedger
from payment_ivr.gateway import Charged, Gateway, GatewayError, Refused

log = logging.getLogger(__name__)

# An attempt younger than this may still be in a live process's hands (its
# requests and retries take less): it is left to that process.
SETTLE_AFTER_S = 120.0


@dataclass(frozen=True)
class Settled:
    """What became of an attempt left in flight: its key and status (still
    IN_FLIGHT when the gateway could not be asked; a later run tries again)."""

    key: str
    status: AttemptStatus


async def settle_in_flight(pool: asyncpg.Pool, gateway: Gateway, *,
                           older_than_s: float = SETTLE_AFTER_S) -> list[Settled]:
    """Ask the gateway about every attempt in flight for older_than_s or
    more and write its answer: approved (its money applied to the balance
    once), declined, or failed when the gateway never charged anything for
    its key."""
    keys = await pool.fetch(
        "SELECT idempotency_key FROM payment_attempts WHERE status = 'in_flight' "
        "AND instalment IS NULL AND started_at <= now() - make_interval(secs => $1) "
        "ORDER BY started_at",
        older_than_s)
    ledger = PostgresLedger(pool)
    settled = []
    for row in keys:
        key = row["idempotency_key"]
        answer = await gateway.find(key)
        if isinstance(answer, Charged):
            await ledger.approved(key, answer)
            status = AttemptStatus.APPROVED
        elif isinstance(answer, Refused):
            await ledger.declined(key, answer.reason)
            status = AttemptStatus.DECLINED
        elif isinstance(answer, GatewayError):
            log.warning("payment attempt %s left in flight: the gateway cannot say what "
                        "became of it now (%s); the next settling asks again", key,
                        answer.reason)
            status = AttemptStatus.IN_FLIGHT
        else:
            await ledger.failed(key, "the gateway never charged it (settled after a restart)")
            status = AttemptStatus.FAILED
        if status is not AttemptStatus.IN_FLIGHT:
            log.info("payment attempt %s left in flight settled: %s", key, status.value)
        settled.append(Settled(key, status))
    return settled
