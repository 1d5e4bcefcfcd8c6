"""The replay Asterisk itself, on a small hand-made recording: keepalives
are answered however often they come, independent requests may come in
another order, and what a request caused is sent only once it arrived,
with the client's ids and timestamps moved to now."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import aiohttp

from lab.traffic import REDACTED, AmiFramer, Fixture, Recorded, format_ami
from tests.replay.replay_asterisk import ReplayAsterisk

RECORDED_EPOCH = 1_000_000_000.0  # 2001-09-09T01:46:40Z: long before any replay
QUIET_S = 0.05  # how long nothing is heard before a request, to show nothing comes


def _event(kind: str, t: float, **body: object) -> Recorded:
    at = datetime.fromtimestamp(RECORDED_EPOCH + t, UTC)
    stamp = at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}+0000"
    return Recorded(t=t, via="ari", dir="event", event={"type": kind, "timestamp": stamp, **body})


RECORDING = Fixture(scenario="teardown", what="a hand-made teardown", recorded_on="2001-09-09",
                    started_epoch=RECORDED_EPOCH, lines=(
    Recorded(t=0.0, via="ami", dir="action", headers=[
        ("Action", "Login"), ("ActionID", "recorded-1"), ("Username", "recobro"),
        ("Secret", REDACTED)]),
    Recorded(t=0.001, via="ami", dir="message", headers=[
        ("Response", "Success"), ("ActionID", "recorded-1"),
        ("Message", "Authentication accepted")]),
    Recorded(t=0.01, via="ari", dir="connect", query={"app": "recorded-app-0001"}),
    Recorded(t=0.02, via="ari", dir="request", method="DELETE",
             path="/channels/recorded-call-0001", query={"reason": "normal"}, status=204),
    _event("StasisEnd", 0.5, channel={"id": "recorded-call-0001"}),
    Recorded(t=0.6, via="ari", dir="request", method="DELETE",
             path="/bridges/recorded-bridge-0001", status=204),
    _event("BridgeDestroyed", 0.7, bridge={"id": "recorded-bridge-0001"}),
))


async def _ami_login(port: int) -> tuple[asyncio.StreamWriter, list[list[tuple[str, str]]]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(format_ami([("Action", "Ping"), ("ActionID", "mine-0")]))
    writer.write(format_ami([("Action", "Login"), ("ActionID", "mine-1"),
                             ("Username", "recobro"), ("Secret", "anything")]))
    framer, heard = AmiFramer(from_asterisk=True), []
    while len(heard) < 2:
        heard += framer.feed(await reader.read(4096))
    assert framer.banner.startswith("Asterisk Call Manager/")
    return writer, heard


async def test_keepalives_reordered_requests_and_what_each_caused():
    asterisk = ReplayAsterisk(RECORDING)
    await asterisk.start()
    try:
        writer, (pong, login) = await _ami_login(asterisk.ami_port)
        assert ("Ping", "Pong") in pong and ("ActionID", "mine-0") in pong
        assert login[:2] == [("Response", "Success"), ("ActionID", "mine-1")]
        async with aiohttp.ClientSession() as http:
            base = f"{asterisk.ari_url}/ari"
            async with http.ws_connect(f"{base}/events", params={"app": "my-app"}) as events:
                for _ in range(3):  # a keepalive the recording does not have
                    async with http.get(f"{base}/asterisk/info") as info:
                        assert info.status == 200
                try:
                    early = await events.receive(timeout=QUIET_S)
                    raise AssertionError(f"heard before any request caused it: {early.data}")
                except TimeoutError:
                    pass
                # The bridge first, though the recording has the channel first.
                async with http.delete(f"{base}/bridges/my-bridge") as gone:
                    assert gone.status == 204
                first = json.loads((await events.receive(timeout=2)).data)
                async with http.delete(f"{base}/channels/my-call",
                                       params={"reason": "normal"}) as gone:
                    assert gone.status == 204
                second = json.loads((await events.receive(timeout=2)).data)
        writer.close()
    finally:
        await asterisk.close()

    assert (first["type"], first["bridge"]["id"]) == ("BridgeDestroyed", "my-bridge")
    assert (second["type"], second["channel"]["id"]) == ("StasisEnd", "my-call")
    stamp = datetime.strptime(second["timestamp"], "%Y-%m-%dT%H:%M:%S.%f%z")
    assert abs((stamp - datetime.now(UTC)).total_seconds()) < 5  # moved from 2001 to now
    assert asterisk.failures == [] and asterisk.unheard() == []
