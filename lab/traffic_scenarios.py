"""The calls whose AMI and ARI traffic lab/record_traffic.py records from
the lab and tests/replay replays. The same code drives the engine in both,
so a replay gets the very requests its recording has, until the code
changes what it asks of Asterisk (then the fixtures are re-recorded:
docs/testing.md)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dialer.agents.connector import AgentConnector
from dialer.agents.store import Reservation
from dialer.calls.control import CallEvents
from dialer.calls.events import CallEvent
from dialer.calls.state import CallRecord
from dialer.engine import Engine
from dialer.outbound.results import AGENT_DEADLINE
from ivr.actions import Flow, Input
from ivr.greeting import FLOW as GREETING_FLOW
from ivr.greeting import Greeting
from ivr.runner import run_flow
from lab.number_plan import Behaviour, lab_number

BRIDGE_FLOW = "bridge"  # Stasis argument flow= of the bridging scenario
AGENT = "agent1001"  # the lab's sipp phone that answers at once and stays
LANGUAGE = "en"
FLOW_END_S = 30.0  # a flow still running this long after its call ended is stuck


@dataclass(frozen=True)
class Scenario:
    """One call placed through the engine, and what the far end does."""

    name: str  # the fixture's name
    what: str
    number: str  # the lab's number plan chooses what the debtor does
    flow: str
    ring_timeout_s: float


SCENARIOS = (
    Scenario("greeting_key", "an answered call greeted (ivr.greeting); the debtor keys 4 "
             "and 7 during the greeting", lab_number(Behaviour.ANSWER_AND_SEND_DTMF, "47"),
             GREETING_FLOW, 4.0),
    Scenario("agent_bridge", f"an answered call bridged to {AGENT}'s phone and recorded; "
             "the debtor hangs up after 3 s", lab_number(Behaviour.ANSWER_AND_STAY, "03"),
             BRIDGE_FLOW, 4.0),
    Scenario("busy", "the debtor's line is busy (486)", lab_number(Behaviour.BUSY),
             GREETING_FLOW, 4.0),
    Scenario("no_answer", "the debtor's phone rings until the ring timeout",
             lab_number(Behaviour.NO_ANSWER), GREETING_FLOW, 2.0),
)


def scenario(name: str) -> Scenario:
    """The scenario of that name."""
    return next(s for s in SCENARIOS if s.name == name)


@dataclass
class AgentBook:
    """The agent connector's bookkeeping kept in memory, every move in
    order: what is recorded is Asterisk's traffic, not PostgreSQL's, so
    recording and replay need no database for agents."""

    moves: list[tuple[str, str]] = field(default_factory=list)

    async def release(self, endpoint: str, now: datetime) -> None:
        self.moves.append(("release", endpoint))

    async def miss(self, endpoint: str, now: datetime, reason: str, call_id: str,
                   detail: str) -> None:
        self.moves.append((f"miss {reason}", endpoint))

    async def on_call(self, endpoint: str, now: datetime) -> None:
        self.moves.append(("on_call", endpoint))

    async def wrap_up(self, endpoint: str, now: datetime, seconds: float) -> None:
        self.moves.append(("wrap_up", endpoint))

    async def session_line(self, endpoint: str) -> None:
        """The recorded agent has no session: its phone is rung per call."""
        return

    async def execute(self, query: str, *args: Any) -> None:
        """The connector notes a call's recording file with the pool's
        execute (dialer.store.recordings): noted here."""
        self.moves.append(("recording", str(args[-1])))


class _Told:
    """A flow that passes on what its flow is told, keeping a copy."""

    def __init__(self, flow: Flow[Any], told: list[Input]) -> None:
        self.flow = flow
        self.told = told

    def start(self) -> tuple[Any, list[object]]:
        return self.flow.start()

    def on(self, state: Any, heard: Input) -> tuple[Any, list[object]]:
        self.told.append(heard)
        return self.flow.on(state, heard)


@dataclass
class ScenarioRun:
    """What the engine made of a scenario's call."""

    record: CallRecord
    events: list[CallEvent]  # every call event the engine heard, in order
    told: list[Input]  # what the greeting flow was told (keys, silence...)
    agents: AgentBook


async def run_scenario(engine: Engine, scenario: Scenario) -> ScenarioRun:
    """Place the scenario's call and follow it, and its flow, to the end."""
    loop = asyncio.get_running_loop()
    events: list[CallEvent] = []
    engine.add_listener(events.append)
    told: list[Input] = []
    book = AgentBook()
    # The book stands in for the pool and the connector's agent store.
    connector = AgentConnector(engine, book, wrap_up_s=0.0,
                               caller_id=engine.settings.caller_id,
                               ride_out_s=engine.settings.db_ride_out_s)
    connector.agents = book
    flow_done: asyncio.Future[None] = loop.create_future()

    async def greet(call_id: str, call_events: CallEvents) -> None:
        try:
            await run_flow(_Told(Greeting(), told), engine, call_id, call_events)
        finally:
            flow_done.set_result(None)

    async def bridge(call_id: str, call_events: CallEvents) -> None:
        try:
            deadline = loop.time() + AGENT_DEADLINE.total_seconds()
            connected = await connector.connect(call_id, Reservation(AGENT, None), deadline,
                                                call_events.ended,
                                                connector.shown_to_agent(None))
            if connected is not None:
                await connector.record(call_id)
                await call_events.ended
                await connector.tear_down(call_id, AGENT)
        finally:
            flow_done.set_result(None)

    engine.register_flow(GREETING_FLOW, greet)
    engine.register_flow(BRIDGE_FLOW, bridge)
    record = await engine.place_call(scenario.number, LANGUAGE, flow=scenario.flow,
                                     ring_timeout_s=scenario.ring_timeout_s)
    if record.entered_app_at is not None:
        await asyncio.wait_for(flow_done, FLOW_END_S)
    return ScenarioRun(record, events, told, book)
