"""The agent connector's warm transfer, with stand-ins for Asterisk and
PostgreSQL: what it asks of calls and agents in which order. The lab
test (tests/e2e/test_transfers.py) proves what the phones received."""

import asyncio
from datetime import UTC, datetime

from dialer.agents.connector import AgentConnector, Handover
from dialer.agents.store import Reservation
from dialer.calls.control import CallEvents
from dialer.calls.events import (
    CallEnteredApp,
    CallHungUp,
    SentToService,
    TransferCompleted,
    TransferCompleteRequested,
    TransferFailed,
    TransferRequested,
    TransferStarted,
)
from dialer.errors import CallControlError

NOW = datetime(2026, 12, 4, 6, tzinfo=UTC)
CALL, FIRST, SECOND = "call-1", "agent1001", "agent1002"
FIRST_LEG, SECOND_LEG = f"{CALL}-{FIRST}", f"{CALL}-{SECOND}"
ASKED = TransferRequested(call_id=CALL, at=NOW, agent=FIRST, to_agent=SECOND, call=CALL)


class Calls:
    """What the connector asks of calls; a phone rung answers at once
    unless it is in `silent`."""

    def __init__(self, silent: tuple[str, ...] = ()) -> None:
        self.silent = silent
        self.asked: list[tuple[str, ...]] = []
        self.noted: list[object] = []
        self.listeners: list = []

    def add_listener(self, listener) -> None:
        self.listeners.append(listener)

    def hear(self, event) -> None:
        for listener in self.listeners:
            listener(event)

    def clock(self) -> datetime:
        return NOW

    def note(self, event) -> None:
        self.noted.append(event)

    async def call_endpoint(self, endpoint, channel_id, caller_id, timeout_s) -> None:
        self.asked.append(("call", channel_id, caller_id))
        if endpoint.removeprefix("PJSIP/") not in self.silent:
            self.hear(CallEnteredApp(call_id=channel_id, at=NOW, flow="agent"))

    async def bridge(self, bridge_id: str, channels) -> None:
        self.asked.append(("bridge", bridge_id, *channels))

    async def join_bridge(self, bridge_id: str, channel_id: str, absorb_dtmf: bool) -> None:
        self.asked.append(("join", bridge_id, channel_id))

    async def record_audio(self, call_id: str, file: str) -> None:
        raise CallControlError("not recorded here")  # no recording's name to write

    async def hang_up(self, channel: str, reason: str) -> None:
        self.asked.append(("hang_up", channel))

    async def destroy_bridge(self, bridge_id: str) -> None:
        self.asked.append(("destroy_bridge", bridge_id))


class Agents:
    def __init__(self) -> None:
        self.changes: list[tuple[str, str]] = []
        self.told: list[tuple[str, str]] = []

    async def session_line(self, endpoint: str) -> None:
        return None  # per-call ringing

    async def on_call(self, endpoint: str, now: datetime) -> None:
        self.changes.append(("on_call", endpoint))

    async def wrap_up(self, endpoint: str, now: datetime, seconds: float) -> None:
        self.changes.append(("wrap_up", endpoint))

    async def miss(self, endpoint, now, reason, call_id, detail) -> None:
        self.changes.append(("paused", endpoint))

    async def tell(self, agent: str, event: dict) -> None:
        self.told.append((agent, str(event["status"])))


async def talking(calls: Calls, asked: TransferRequested = ASKED):
    """A debtor bridged to FIRST, in conversation; the conversation's task,
    its events, the agents and the hand-overs noted."""
    agents = Agents()
    connector = AgentConnector(calls, pool=None, wrap_up_s=0, caller_id="+15550100000",
                               ride_out_s=1)
    connector.agents = agents
    loop = asyncio.get_running_loop()
    assert await connector.connect(CALL, Reservation(FIRST, None), loop.time() + 2, loop.create_future(),
                                   '"Rosa" <+12125550181>') == NOW
    agents.changes.clear()  # FIRST is on the call
    events = CallEvents(CallEnteredApp(call_id=CALL, at=NOW))
    handed: list[tuple[str, str]] = []
    requests: asyncio.Queue = asyncio.Queue()

    async def while_connected(agent: str, leg: str, bridge: str):
        getter = asyncio.ensure_future(requests.get())
        await asyncio.wait([getter, events.ended], return_when=asyncio.FIRST_COMPLETED)
        if not getter.done():
            getter.cancel()
            return None
        return getter.result()

    async def note_agent(agent: str, channel: str) -> None:
        handed.append((agent, channel))

    async def noted() -> None:
        pass

    task = asyncio.create_task(connector.converse(
        CALL, FIRST, events, noted, while_connected, Handover('"Rosa" <+1>', note_agent)))
    await asyncio.sleep(0)
    requests.put_nowait(asked)
    await asyncio.sleep(0.05)
    return task, events, agents, handed


async def test_a_cold_transfer_tears_the_agent_down_and_leaves_the_debtor_to_the_flow():
    calls = Calls()
    cold = TransferRequested(call_id=CALL, at=NOW, agent=FIRST, call=CALL,
                             to_service="self_service")
    task, _, agents, handed = await talking(calls, cold)
    assert await asyncio.wait_for(task, 1) == cold  # the flow's to carry out
    assert ("hang_up", FIRST_LEG) in calls.asked and ("hang_up", CALL) not in calls.asked
    assert agents.changes == [("wrap_up", FIRST)] and handed == []
    assert [type(e) for e in calls.noted] == [SentToService]


async def test_the_target_joins_the_bridge_and_the_first_agent_leaves_when_asked():
    calls = Calls()
    task, events, agents, handed = await talking(calls)
    assert ("call", SECOND_LEG, '"Rosa" <+1>') in calls.asked
    assert calls.asked[-1] == ("join", CALL, SECOND_LEG)  # the three talk
    assert ("hang_up", FIRST_LEG) not in calls.asked
    events.put(TransferCompleteRequested(call_id=CALL, at=NOW, agent=FIRST))
    await asyncio.sleep(0.3)
    assert ("hang_up", FIRST_LEG) in calls.asked  # its BYE
    assert agents.changes == [("on_call", SECOND), ("wrap_up", FIRST)]
    assert handed == [(SECOND, SECOND_LEG)]
    assert [type(e) for e in calls.noted] == [TransferStarted, TransferCompleted]
    assert calls.noted[-1].how == "asked"
    assert agents.told == [(FIRST, "started"), (SECOND, "started"), (FIRST, "completed"),
                           (SECOND, "completed")]
    # The second agent hangs up: the debtor's call ends, and the second
    # agent is torn down with it.
    calls.hear(CallHungUp(call_id=SECOND_LEG, at=NOW, cause=16, cause_text="Normal"))
    await asyncio.sleep(0.05)
    assert ("hang_up", CALL) in calls.asked
    events.end()
    await asyncio.wait_for(task, 1)
    assert agents.changes[-1] == ("wrap_up", SECOND)
    assert calls.asked[-1] == ("destroy_bridge", CALL)


async def test_the_first_agent_hanging_up_completes_it_and_the_debtor_stays():
    calls = Calls()
    task, events, agents, handed = await talking(calls)
    calls.hear(CallHungUp(call_id=FIRST_LEG, at=NOW, cause=16, cause_text="Normal"))
    await asyncio.sleep(0.3)
    assert ("hang_up", CALL) not in calls.asked  # the debtor stays, with the second agent
    assert handed == [(SECOND, SECOND_LEG)]
    assert calls.noted[-1].how == "hung_up"
    events.end()
    await asyncio.wait_for(task, 1)
    assert agents.changes == [("on_call", SECOND), ("wrap_up", FIRST), ("wrap_up", SECOND)]


async def test_a_target_whose_phone_does_not_answer_leaves_the_call_with_the_first_agent():
    calls = Calls(silent=(SECOND,))
    task, events, agents, handed = await talking(calls)
    await asyncio.sleep(0.1)
    # The debtor is neither hung up nor moved while the target's phone rings.
    assert not [step for step in calls.asked if step[0] in ("join", "hang_up")]
    calls.hear(CallHungUp(call_id=SECOND_LEG, at=NOW, cause=21, cause_text="Call rejected"))
    await asyncio.sleep(0.1)
    assert agents.changes == [("paused", SECOND)]
    assert [type(e) for e in calls.noted] == [TransferFailed]
    assert agents.told == [(FIRST, "failed"), (SECOND, "failed")]
    assert handed == [] and ("hang_up", CALL) not in calls.asked
    events.end()
    await asyncio.wait_for(task, 1)
    assert agents.changes[-1] == ("wrap_up", FIRST)
    assert ("hang_up", FIRST_LEG) in calls.asked  # torn down at the call's end, as ever
