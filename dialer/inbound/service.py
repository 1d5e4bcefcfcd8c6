"""Running `recobro inbound`: an engine on the inbound Stasis application,
the agent connector, payments (the "payment" flow, and the self-service
pay key) and the desk, until SIGINT or SIGTERM."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import asyncpg

from dialer.agents.connector import AgentConnector
from dialer.engine import Engine
from dialer.inbound.desk import InboundDesk
from dialer.payments.stasis import Payments
from dialer.payments.wiring import MakeAuthoriser, Record, wiring
from dialer.process import stop_requested
from dialer.settings import Settings

INBOUND_APP_SUFFIX = "-inbound"  # asterisk_conf/extensions_recobro.conf
PaymentWiring = Callable[[asyncpg.Pool], tuple[MakeAuthoriser, Record]]


async def serve(settings: Settings, wrap_up_s: float, region: str,
                payment_wiring: PaymentWiring = wiring) -> None:
    """Take inbound calls until told to stop; payments go through what
    payment_wiring makes (dialer.payments.wiring's gateway and ledger)."""
    app = settings.ari.app + INBOUND_APP_SUFFIX
    engine = await Engine.connect(replace(settings, ari=replace(settings.ari, app=app)))
    try:
        connector = AgentConnector(engine, engine.store.pool, wrap_up_s, settings.caller_id,
                                   settings.agent_caller_id)
        payments = Payments(engine, engine.store.pool, *payment_wiring(engine.store.pool))
        InboundDesk(engine, engine.store.pool, connector, region, payments)
        print(f"recobro inbound: taking calls in Stasis application {app}", flush=True)
        await stop_requested().wait()
    finally:
        await engine.close()
