"""Running `recobro inbound`: an engine on the inbound Stasis application,
the agent connector, payments (the "payment" flow, and the self-service
pay key) and the desk, until SIGINT or SIGTERM."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import replace

from dialer.agents.connector import AgentConnector
from dialer.engine import Engine
from dialer.inbound.desk import InboundDesk
from dialer.metrics.exporter import MetricsExporter
from dialer.payments.stasis import Payments
from dialer.payments.wiring import payment_wiring
from dialer.process import started, stop_requested
from dialer.settings import PaymentGatewaySettings, Settings, load_metrics_settings

log = logging.getLogger(__name__)


async def serve(settings: Settings, wrap_up_s: float, region: str,
                gateway: PaymentGatewaySettings | None) -> None:
    """Take inbound calls until told to stop. With a card gateway, callers
    may pay by keypad (the self-service pay key, the "payment" flow);
    without one the pay key is not offered."""
    app = settings.ari.inbound_app
    metrics = load_metrics_settings()
    engine = await Engine.connect(replace(settings, ari=replace(settings.ari, app=app)))
    try:
        async with contextlib.AsyncExitStack() as stack:
            await stack.enter_async_context(MetricsExporter(metrics, "inbound"))
            connector = AgentConnector(engine, engine.store.pool, wrap_up_s,
                                       settings.caller_id, settings.db_ride_out_s,
                                       settings.agent_caller_id,
                                       asterisk=settings.asterisk_name)
            await connector.freed.start(settings.database_url)
            stack.push_async_callback(connector.freed.stop)
            payments = None
            if gateway is not None:
                wired = await stack.enter_async_context(
                    payment_wiring(engine.store.pool, gateway))
                payments = Payments(engine, engine.store.pool, *wired)
            InboundDesk(engine, engine.store.pool, connector, region, payments)
            print(f"recobro inbound: taking calls in Stasis application {app}"
                  + ("" if payments else "; no card gateway "
                     "(RECOBRO_PAYMENT_GATEWAY_URL), so no payments by keypad"), flush=True)
            started()
            await stop_requested().wait()
    finally:
        await engine.close()
