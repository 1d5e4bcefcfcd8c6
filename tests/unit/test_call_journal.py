"""Call events through their writer (dialer.store.journal): written in
order, in batches; through a PostgreSQL outage they wait behind the first
one that could not be written, up to the bound, and are written once it is
back; and a write tried again through an outage
(dialer.store.outage.through_outage)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from dialer.calls.events import CallEnteredApp, CallOriginated
from dialer.calls.state import originate
from dialer.engine import Engine
from dialer.settings import load_settings
from dialer.store import journal as journal_module
from dialer.store import outage
from dialer.store.journal import CallJournal

T0 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


class FlakyStore:
    """CallStore.record_all refused while down (as asyncpg's pool is when
    the server is gone), kept in order otherwise; one call's events refused
    by PostgreSQL itself when `refused` names it."""

    def __init__(self) -> None:
        self.down = False
        self.refused = ""
        self.written: list[str] = []
        self.batches: list[int] = []

    async def record_all(self, batch) -> None:
        if self.down:
            raise ConnectionRefusedError(111, "Connection refused")
        if any(event.call_id == self.refused for event, _ in batch):
            raise asyncpg.exceptions.CheckViolationError("new row violates a check")
        self.batches.append(len(batch))
        self.written.extend(event.call_id for event, _ in batch)


def events(count: int) -> list[tuple]:
    made = []
    for i in range(count):
        event = CallOriginated(call_id=f"call-{i}", at=T0 + timedelta(seconds=i),
                               number="+12125550100")
        made.append((event, originate(event)))
    return made


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch):
    monkeypatch.setattr(journal_module, "FIRST_RETRY_S", 0.01)
    monkeypatch.setattr(journal_module, "LAST_RETRY_S", 0.02)
    monkeypatch.setattr(outage, "FIRST_RETRY_S", 0.01)
    monkeypatch.setattr(outage, "LAST_RETRY_S", 0.02)


async def test_events_of_an_outage_wait_in_order_and_are_written_when_it_ends(caplog):
    store = FlakyStore()
    journal = CallJournal(store, limit=100)
    made = events(5)
    await journal.written_through(journal.record(*made[0]))
    store.down = True
    for event, call in made[1:4]:
        journal.record(event, call)
    await asyncio.sleep(0.05)
    assert journal.waiting == 3 and store.written == ["call-0"]
    assert journal.behind  # a dialer places no call meanwhile
    store.down = False
    last = journal.record(*made[4])  # behind the waiting ones, not before them
    await asyncio.wait_for(journal.written_through(last), 1)
    assert store.written == [f"call-{i}" for i in range(5)]
    assert journal.waiting == 0 and journal.unrecorded == 0 and not journal.behind
    assert "PostgreSQL is back: 4 call event(s) that waited are recorded" in caplog.text
    await journal.close(timeout_s=1)


async def test_a_burst_is_written_in_few_transactions_and_holds_new_calls_meanwhile():
    store = FlakyStore()
    journal = CallJournal(store, limit=10_000)
    made = events(1_200)
    for event, call in made:
        last = journal.record(event, call)
    assert journal.behind  # 1,200 wait: more than BEHIND_AT
    await asyncio.wait_for(journal.written_through(last), 1)
    assert store.batches == [500, 500, 200]
    assert store.written == [f"call-{i}" for i in range(1_200)]
    assert not journal.behind
    await journal.close(timeout_s=1)


async def test_an_event_postgresql_refuses_loses_no_other(caplog):
    store = FlakyStore()
    store.refused = "call-1"
    journal = CallJournal(store, limit=100)
    for event, call in events(3):
        last = journal.record(event, call)
    await asyncio.wait_for(journal.written_through(last), 1)
    assert store.written == ["call-0", "call-2"] and journal.unrecorded == 1
    assert "call call-1: call_originated not recorded: new row violates a check" in caplog.text
    await journal.close(timeout_s=1)


async def test_past_the_bound_an_event_is_counted_not_recorded(caplog):
    store = FlakyStore()
    store.down = True
    journal = CallJournal(store, limit=2)
    positions = [journal.record(event, call) for event, call in events(3)]
    assert positions == [1, 2, 0]
    assert journal.waiting == 2 and journal.unrecorded == 1
    assert "call call-2: call_originated not recorded" in caplog.text
    assert "RECOBRO_EVENT_BUFFER" in caplog.text
    await journal.close(timeout_s=0.05)
    assert "2 call event(s) not recorded" in caplog.text


async def test_a_write_is_tried_again_through_an_outage_then_gives_up():
    tries = []

    async def write() -> str:
        tries.append(1)
        if len(tries) < 3:
            raise ConnectionRefusedError(111, "Connection refused")
        return "written"

    assert await outage.through_outage(write, limit_s=5) == "written"
    assert len(tries) == 3

    async def never() -> None:
        raise ConnectionRefusedError(111, "Connection refused")

    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(ConnectionRefusedError):
        await outage.through_outage(never, limit_s=0.1)
    assert loop.time() - started < 1.0



class GatedStore:
    """CallStore.record_all that waits for the test to let each batch through."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.written: list[str] = []

    async def record_all(self, batch) -> None:
        await self.gate.wait()
        self.written.extend(type(event).__name__ for event, _ in batch)


async def test_a_call_that_came_in_meets_its_flow_only_once_its_arrival_is_written():
    # Its flow writes rows that refer to the call's (inbound_calls.call_id).
    store = GatedStore()
    settings = load_settings({"RECOBRO_AMI_USER": "u", "RECOBRO_AMI_SECRET": "s",
                              "RECOBRO_ARI_USER": "u", "RECOBRO_ARI_PASSWORD": "s",
                              "DATABASE_URL": "postgresql://x@127.0.0.1/db"})
    engine = Engine(settings, store, ami=None, ari=None)  # type: ignore[arg-type]
    flow_saw: list[list[str]] = []

    async def flow(call_id, events) -> None:
        flow_saw.append(list(store.written))

    engine.register_flow("inbound", flow)
    await engine._handle(CallEnteredApp(call_id="in-1", at=T0, flow="inbound", language="",
                                        params={"caller": "+13125550100"}))
    await asyncio.sleep(0.05)
    assert flow_saw == []  # the pump went on; the flow waits for the write
    store.gate.set()
    for _ in range(50):
        if flow_saw:
            break
        await asyncio.sleep(0.01)
    assert flow_saw == [["CallArrived", "CallEnteredApp"]]
    await engine.journal.close(timeout_s=1)
