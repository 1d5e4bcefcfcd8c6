"""The AMI keepalive against a real TCP server on 127.0.0.1 that speaks
just enough AMI (a banner, Login, Ping), then stops answering Pings while
keeping the connection open: a half-open session, or a frozen Asterisk.
AmiClient finds it dead within the ping interval and the Ping's answer
time, lets it go, logs in again and tells its owner."""

from __future__ import annotations

import asyncio

import pytest

from dialer.settings import AmiSettings
from dialer.telephony import ami
from dialer.telephony.ami import AmiClient
from tests.unit.fake_ami_server import EOL, FakeAmiServer, reply


class SilentAmi(FakeAmiServer):
    """An AMI server whose Pings go unanswered while `answering` is off."""

    def __init__(self) -> None:
        super().__init__()
        self.answering = True
        self.logins = 0
        self.pings = 0
        self.closed_by_client = 0

    async def converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                message = await reader.readuntil(EOL + EOL)
                headers = dict(line.split(": ", 1) for line in
                               message.decode().strip().split("\r\n"))
                action, action_id = headers["Action"], headers["ActionID"]
                if action == "Login":
                    self.logins += 1
                    lines = ["Response: Success", "Message: Authentication accepted"]
                elif action == "Ping":
                    self.pings += 1
                    if not self.answering:
                        continue  # said nothing, and the connection stays open
                    lines = ["Response: Success", "Ping: Pong"]
                else:
                    lines = ["Response: Error", "Message: Invalid/unknown command"]
                writer.write(reply(*lines, action_id=action_id))
        except asyncio.IncompleteReadError:
            self.closed_by_client += 1
        finally:
            writer.close()


@pytest.fixture
async def silent_ami():
    server = SilentAmi()
    port = await server.start()
    yield server, port
    await server.stop()


async def test_a_peer_that_stops_answering_pings_is_found_dead_and_replaced(silent_ami,
                                                                            monkeypatch):
    server, port = silent_ami
    monkeypatch.setattr(ami, "PING_ANSWER_S", 0.3)
    reconnected = asyncio.Event()

    async def on_reconnect() -> None:
        reconnected.set()

    settings = AmiSettings(host="127.0.0.1", port=port, user="recobro", secret="test-only",
                           ping_s=0.2)
    client = AmiClient(settings, on_event=lambda event: None, on_reconnect=on_reconnect)
    await client.connect()
    try:
        assert client.connected and client.session == 1
        await asyncio.sleep(0.5)
        assert server.pings >= 2 and client.connected  # answered Pings change nothing

        server.answering = False
        loop = asyncio.get_running_loop()
        frozen_at = loop.time()
        async with asyncio.timeout(10):
            while client.connected:
                await asyncio.sleep(0.01)
        found_in = loop.time() - frozen_at
        # 0.5 s for a loaded machine; TCP itself would take minutes.
        assert found_in <= settings.ping_s + ami.PING_ANSWER_S + 0.5, found_in
        for _ in range(100):
            if server.closed_by_client:
                break
            await asyncio.sleep(0.01)
        assert server.closed_by_client == 1  # the dead session was let go

        server.answering = True
        await asyncio.wait_for(reconnected.wait(), 5)
        assert client.connected and client.session == 2 and server.logins == 2
    finally:
        await client.close()
