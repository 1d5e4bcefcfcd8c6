"""What `recobro payments ...` does: run-instalments, one pass of the
instalment scheduler (dialer.payments.scheduler), for a timer to run."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime

from dialer.payments.gateway import open_gateway
from dialer.payments.scheduler import Result, run_instalments
from dialer.settings import load_payment_gateway_settings
from dialer.store.database import configured_database

# What a pass leaves for a later one to finish: its exit status says so.
UNFINISHED = frozenset({Result.IN_FLIGHT, Result.UNSENT, Result.BUSY, Result.ERROR})


async def run_instalments_command(today: date | None) -> int:
    """One pass: each instalment it did something with on a line, then the
    counts. Exit 0, or 1 when something is left to a later pass (an
    answer the gateway never gave, a gateway that took nothing, another
    pass holding one, an instalment in error)."""
    settings = load_payment_gateway_settings()
    async with configured_database() as pool, open_gateway(settings) as gateway:
        ran = await run_instalments(pool, gateway, datetime.now(UTC), today=today)
    for one in ran:
        if one.result is not Result.WAITING:
            print(f"instalment {one.capture_id}/{one.number}: {one.result.value}"
                  + (f" ({one.detail})" if one.detail else ""))
    counts = Counter(one.result for one in ran)
    print("instalments: " + (", ".join(f"{counts[r]} {r.value}" for r in Result if counts[r])
                             or "none due"))
    return 1 if any(one.result in UNFINISHED for one in ran) else 0
