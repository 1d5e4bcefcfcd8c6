"""A conversation outlives PostgreSQL going silent: once a debtor is
bridged to an agent, a write that cannot reach the database (the call's
connection, its recording's name) is tried again through the ride-out;
past it, the call goes on and the agent is torn down and wrapped up when
it ends, never left on a call that has ended (CI found an agent left
`on_call` after a 30 s silence: the recording's name timed out and the
flow stopped before the wrap-up). The call-control seam and PostgreSQL are
stand-ins; the lab test is tests/e2e/test_faults.py's silent PostgreSQL."""

import asyncio
from datetime import UTC, datetime

from dialer.agents.connector import AgentConnector, Handover
from dialer.agents.store import Reservation
from dialer.calls.control import CallEvents
from dialer.calls.events import CallEnteredApp

NOW = datetime(2026, 12, 4, 5, tzinfo=UTC)
CALL, AGENT = "call-1", "agent1001"
LEG = f"{CALL}-{AGENT}"


class Calls:
    """What the connector asks of calls (dialer.calls.control.CallControl)."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []
        self.listeners: list = []

    def add_listener(self, listener) -> None:
        self.listeners.append(listener)

    def register_flow(self, name, runner, follow=True) -> None:
        pass

    def clock(self) -> datetime:
        return NOW

    async def call_endpoint(self, endpoint, channel_id, caller_id, timeout_s) -> None:
        for listener in self.listeners:  # the agent's phone answers at once
            listener(CallEnteredApp(call_id=channel_id, at=NOW, flow="agent"))

    async def bridge(self, bridge_id: str, channels) -> None:
        self.asked.append(("bridge", bridge_id))

    async def record_audio(self, call_id: str, file: str) -> None:
        self.asked.append(("record_audio", call_id))

    async def hang_up(self, channel: str, reason: str) -> None:
        self.asked.append(("hang_up", channel))

    async def destroy_bridge(self, bridge_id: str) -> None:
        self.asked.append(("destroy_bridge", bridge_id))


class Agents:
    def __init__(self, silent: bool = False) -> None:
        self.silent = silent
        self.changes: list[tuple[str, str]] = []

    async def session_line(self, endpoint: str) -> None:
        return None  # no session: the agent's phone is rung

    async def on_call(self, endpoint: str, now: datetime) -> None:
        if self.silent:
            raise TimeoutError
        self.changes.append(("on_call", endpoint))

    async def wrap_up(self, endpoint: str, now: datetime, seconds: float) -> None:
        self.changes.append(("wrap_up", endpoint))


class Silent:
    """A write PostgreSQL does not answer (the pool's query timeout), the
    first `times` times it is tried."""

    def __init__(self, times: int) -> None:
        self.times, self.tried = times, 0

    async def __call__(self) -> None:
        self.tried += 1
        if self.tried <= self.times:
            raise TimeoutError


async def connected(ride_out_s: float, silent: bool = False
                    ) -> tuple[AgentConnector, Calls, Agents]:
    calls, agents = Calls(), Agents(silent)
    connector = AgentConnector(calls, pool=None, wrap_up_s=0, caller_id="+15550100000",
                               ride_out_s=ride_out_s)
    connector.agents = agents
    loop = asyncio.get_running_loop()
    assert await connector.connect(CALL, Reservation(AGENT, None), loop.time() + 2, loop.create_future(),
                                   '"Rosa" <+12125550181>') == NOW
    return connector, calls, agents


async def no_handover(agent: str, channel: str) -> None:
    raise AssertionError("no transfer was asked for")


HANDOVER = Handover('"Rosa" <+12125550181>', no_handover)


async def test_past_the_ride_out_the_call_goes_on_and_its_agent_wraps_up_at_its_end():
    connector, calls, agents = await connected(ride_out_s=0.1)
    events = CallEvents(CallEnteredApp(call_id=CALL, at=NOW))
    watched: list[str] = []

    async def while_connected(agent: str, leg: str, bridge: str) -> None:
        watched.append(CALL)

    talking = asyncio.create_task(
        connector.converse(CALL, AGENT, events, Silent(times=99), while_connected, HANDOVER))
    await asyncio.sleep(0.2)  # past the ride-out: the debtor still talks
    assert not talking.done()
    assert ("hang_up", LEG) not in calls.asked
    assert agents.changes == [("on_call", AGENT)]
    events.end()  # the debtor hangs up
    await asyncio.wait_for(talking, 1)
    assert ("hang_up", LEG) in calls.asked and ("destroy_bridge", CALL) in calls.asked
    assert agents.changes == [("on_call", AGENT), ("wrap_up", AGENT)]
    assert watched == []  # nothing watched the call for payments meanwhile


async def test_a_recordings_name_waits_out_a_short_silence_and_the_call_is_watched(
        monkeypatch):
    connector, calls, agents = await connected(ride_out_s=5)
    named = Silent(times=1)
    monkeypatch.setattr("dialer.agents.connector.recordings.mark_recording",
                        lambda pool, attempt, file: named())
    noted = Silent(times=1)
    events = CallEvents(CallEnteredApp(call_id=CALL, at=NOW))

    async def while_connected(agent: str, leg: str, bridge: str) -> None:
        assert (agent, leg, bridge) == (AGENT, LEG, CALL)
        await events.ended

    talking = asyncio.create_task(
        connector.converse(CALL, AGENT, events, noted, while_connected, HANDOVER))
    await asyncio.sleep(1.2)  # one retry each, 0.5 s apart
    assert (noted.tried, named.tried) == (2, 2)
    assert ("record_audio", CALL) in calls.asked
    events.end()
    await asyncio.wait_for(talking, 1)
    assert agents.changes == [("on_call", AGENT), ("wrap_up", AGENT)]


async def test_a_bridged_debtor_is_not_failed_for_an_agents_state_left_unwritten():
    # PostgreSQL silent as the bridge is made: the agent stays reserved in
    # the database, and the connection is the caller's all the same.
    connector, calls, agents = await connected(ride_out_s=0.1, silent=True)
    assert ("bridge", CALL) in calls.asked
    assert agents.changes == []
    assert connector.leg_of(CALL) == LEG
