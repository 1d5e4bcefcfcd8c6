"""A bridge Asterisk refuses (the debtor hung up as it was made) ends the
tries for that call: the half-made bridge is destroyed, the agent is ready
again, and BridgeFailed stops the routing loop. Asterisk and PostgreSQL
are stand-ins here; the rest of the connector is proven against the lab."""

import asyncio
from datetime import UTC, datetime

import pytest

from dialer.calls.events import CallEnteredApp
from dialer.campaign.connect import AgentConnector, BridgeFailed
from dialer.errors import AriError
from dialer.settings import load_settings

NOW = datetime(2026, 12, 2, 15, tzinfo=UTC)


class Ari:
    def __init__(self, connector_box: list) -> None:
        self.box = connector_box
        self.calls: list[tuple] = []

    async def originate(self, **fields) -> None:
        self.calls.append(("originate", fields["channel_id"]))
        # The agent's phone answers at once: its leg enters the application.
        self.box[0]._hear(CallEnteredApp(call_id=fields["channel_id"], at=NOW))

    async def bridge(self, bridge_id: str, channels: list[str]) -> None:
        self.calls.append(("bridge", bridge_id))
        raise AriError(f"ARI POST /bridges/{bridge_id} failed: 409 Bridge already exists")

    async def hangup(self, channel: str) -> None:
        self.calls.append(("hangup", channel))

    async def destroy_bridge(self, bridge_id: str) -> None:
        self.calls.append(("destroy_bridge", bridge_id))


class Agents:
    def __init__(self) -> None:
        self.released: list[str] = []

    async def release(self, endpoint: str, now: datetime) -> None:
        self.released.append(endpoint)


class Engine:
    def __init__(self, ari: Ari) -> None:
        self.ari = ari
        self.settings = load_settings({
            "RECOBRO_AMI_USER": "u", "RECOBRO_AMI_SECRET": "s", "RECOBRO_ARI_USER": "u",
            "RECOBRO_ARI_PASSWORD": "p", "DATABASE_URL": "postgresql://u@127.0.0.1/d"})

    def add_listener(self, listener) -> None:
        pass

    def register_flow(self, name, runner) -> None:
        pass

    def clock(self) -> datetime:
        return NOW


async def test_a_refused_bridge_is_not_tried_again():
    box: list = []
    ari = Ari(box)
    connector = AgentConnector(Engine(ari), pool=None, wrap_up_s=0, caller_id="+15550100000")
    connector.agents = Agents()
    box.append(connector)
    loop = asyncio.get_running_loop()
    with pytest.raises(BridgeFailed, match="could not be bridged: .*already exists"):
        await connector.connect("call-1", "agent1001", loop.time() + 2, loop.create_future(),
                                '"Rosa" <+12125550181>')
    assert ari.calls == [("originate", "call-1-agent1001"), ("bridge", "call-1"),
                         ("hangup", "call-1-agent1001"), ("destroy_bridge", "call-1")]
    assert connector.agents.released == ["agent1001"]
