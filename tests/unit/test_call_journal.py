"""Call events through a PostgreSQL outage (dialer.store.journal): they
wait in order behind the first one that could not be written, up to the
bound, and are written once PostgreSQL is back; and a write tried again
through an outage (dialer.store.outage.through_outage)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from dialer.calls.events import CallOriginated
from dialer.calls.state import originate
from dialer.store import journal as journal_module
from dialer.store import outage
from dialer.store.journal import CallJournal

T0 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


class FlakyStore:
    """CallStore.record refused while down (as asyncpg's pool is when the
    server is gone), kept in order otherwise."""

    def __init__(self) -> None:
        self.down = False
        self.written: list[str] = []

    async def record(self, event, call) -> None:
        if self.down:
            raise ConnectionRefusedError(111, "Connection refused")
        self.written.append(event.call_id)


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


async def test_events_of_an_outage_wait_in_order_and_are_written_when_it_ends():
    store = FlakyStore()
    journal = CallJournal(store, limit=100)
    made = events(5)
    await journal.record(*made[0])
    store.down = True
    for event, call in made[1:4]:
        await journal.record(event, call)
    assert journal.waiting == 3 and store.written == ["call-0"]
    store.down = False
    await journal.record(*made[4])  # behind the waiting ones, not before them
    await journal.close(timeout_s=2)
    assert store.written == [f"call-{i}" for i in range(5)]
    assert journal.waiting == 0 and journal.unrecorded == 0


async def test_past_the_bound_an_event_is_counted_not_recorded(caplog):
    store = FlakyStore()
    store.down = True
    journal = CallJournal(store, limit=2)
    for event, call in events(3):
        await journal.record(event, call)
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

