"""Running `recobro inbound`: an engine on the inbound Stasis application,
the agent connector and the desk, until SIGINT or SIGTERM."""

from __future__ import annotations

from dataclasses import replace

from dialer.agents.connector import AgentConnector
from dialer.engine import Engine
from dialer.inbound.desk import InboundDesk
from dialer.process import stop_requested
from dialer.settings import Settings

INBOUND_APP_SUFFIX = "-inbound"  # asterisk_conf/extensions_recobro.conf


async def serve(settings: Settings, wrap_up_s: float, region: str) -> None:
    """Take inbound calls until told to stop."""
    app = settings.ari.app + INBOUND_APP_SUFFIX
    engine = await Engine.connect(replace(settings, ari=replace(settings.ari, app=app)))
    try:
        connector = AgentConnector(engine, engine.store.pool, wrap_up_s, settings.caller_id,
                                   settings.agent_caller_id)
        InboundDesk(engine, engine.store.pool, connector, region)
        print(f"recobro inbound: taking calls in Stasis application {app}", flush=True)
        await stop_requested().wait()
    finally:
        await engine.close()
