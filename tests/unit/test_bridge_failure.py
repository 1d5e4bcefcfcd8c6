"""A bridge Asterisk refuses (the debtor hung up as it was made) ends the
tries for that call: the half-made bridge is destroyed, the agent is ready
again, and BridgeFailed stops the routing loop. The call-control seam and
PostgreSQL are stand-ins here; the rest of the connector is proven against
the lab."""

import asyncio
from datetime import UTC, datetime

import pytest

from dialer.agents.connector import AgentConnector, BridgeFailed
from dialer.agents.store import Reservation
from dialer.calls.events import CallEnteredApp
from dialer.errors import AriError

NOW = datetime(2026, 12, 2, 15, tzinfo=UTC)


class Calls:
    """What the connector asks of calls (dialer.calls.control.CallControl)."""

    def __init__(self) -> None:
        self.asked: list[tuple] = []
        self.listeners: list = []

    def add_listener(self, listener) -> None:
        self.listeners.append(listener)

    def register_flow(self, name, runner, follow=True) -> None:
        pass

    def clock(self) -> datetime:
        return NOW

    async def call_endpoint(self, endpoint, channel_id, caller_id, timeout_s) -> None:
        self.asked.append(("call_endpoint", channel_id))
        # The agent's phone answers at once: its leg enters the application.
        for listener in self.listeners:
            listener(CallEnteredApp(call_id=channel_id, at=NOW, flow="agent"))

    async def bridge(self, bridge_id: str, channels) -> None:
        self.asked.append(("bridge", bridge_id))
        raise AriError(f"ARI POST /bridges/{bridge_id} failed: 409 Bridge already exists")

    async def hang_up(self, channel: str, reason: str) -> None:
        self.asked.append(("hang_up", channel))

    async def destroy_bridge(self, bridge_id: str) -> None:
        self.asked.append(("destroy_bridge", bridge_id))


class Agents:
    def __init__(self) -> None:
        self.released: list[str] = []

    async def release(self, endpoint: str, now: datetime) -> None:
        self.released.append(endpoint)

    async def session_line(self, endpoint: str) -> None:
        return None  # no session: the agent's phone is rung


async def test_a_refused_bridge_is_not_tried_again():
    calls = Calls()
    connector = AgentConnector(calls, pool=None, wrap_up_s=0, caller_id="+15550100000",
                               ride_out_s=1)
    connector.agents = Agents()
    loop = asyncio.get_running_loop()
    with pytest.raises(BridgeFailed, match="could not be bridged: .*already exists"):
        await connector.connect("call-1", Reservation("agent1001", None), loop.time() + 2, loop.create_future(),
                                '"Rosa" <+12125550181>')
    assert calls.asked == [("call_endpoint", "call-1-agent1001"), ("bridge", "call-1"),
                           ("hang_up", "call-1-agent1001"), ("destroy_bridge", "call-1")]
    assert connector.agents.released == ["agent1001"]
