"""An Originate whose answer never came (AMI stopped being read, say) may
have been placed: the engine keeps following the call rather than failing
it, which would free its lead to be dialed again while the debtor's phone
rings. Its own events end it; so does the reconcile once AMI is back, when
Asterisk has no such channel."""

from __future__ import annotations

import asyncio

from dialer.calls.events import CallAnswered, CallHungUp
from dialer.calls.state import CallState
from dialer.engine import Engine
from dialer.errors import AmiUnanswered
from dialer.settings import load_settings
from dialer.store.calls import event_kind


class Store:
    def __init__(self) -> None:
        self.kinds: list[str] = []

    async def record_all(self, batch) -> None:
        self.kinds.extend(event_kind(event) for event, _ in batch)


class UnansweredAmi:
    """Takes the Originate, and its answer never comes."""

    def __init__(self) -> None:
        self.session = 1

    async def originate(self, **_: object) -> None:
        raise AmiUnanswered("AMI Originate: no answer from 127.0.0.1:5038 in 5 s", self.session)


class Ari:
    def __init__(self, alive: set[str]) -> None:
        self.alive = alive

    async def wait_connected(self, timeout_s: float) -> None:
        return None

    async def channel_ids(self) -> set[str]:
        return self.alive


def _engine(alive: set[str]) -> tuple[Engine, Store, UnansweredAmi]:
    settings = load_settings({"RECOBRO_AMI_USER": "u", "RECOBRO_AMI_SECRET": "s",
                              "RECOBRO_ARI_USER": "u", "RECOBRO_ARI_PASSWORD": "s",
                              "DATABASE_URL": "postgresql://x@127.0.0.1/db"})
    store, ami = Store(), UnansweredAmi()
    engine = Engine(settings, store, ami=ami, ari=Ari(alive))  # type: ignore[arg-type]
    engine._pump = asyncio.create_task(engine._run_pump())
    return engine, store, ami


async def _placing(engine: Engine, call_id: str) -> asyncio.Task:
    placing = asyncio.create_task(engine.place_call("+12125550100", flow="campaign",
                                                    call_id=call_id))
    for _ in range(100):
        await asyncio.sleep(0.01)
        record = engine.record(call_id)
        if record is not None and record.state is CallState.ORIGINATING and \
                engine._calls[call_id].sent_in is not None:
            break
    return placing


async def test_a_call_whose_originate_went_unanswered_is_followed_to_its_real_end():
    engine, store, _ = _engine(alive={"placed"})
    placing = await _placing(engine, "placed")
    assert not placing.done()  # not failed: it may ring
    engine.submit(CallAnswered(call_id="placed", at=engine.clock()))
    engine.submit(CallHungUp(call_id="placed", at=engine.clock(), cause=16,
                                 cause_text="Normal Clearing"))
    record = await asyncio.wait_for(placing, 2)
    assert record.state is CallState.ENDED and record.hangup_cause == 16
    await engine.journal.close(timeout_s=1)
    assert "originate_failed" not in store.kinds
    engine._pump.cancel()


async def test_one_asterisk_has_no_channel_of_is_lost_once_ami_is_back():
    engine, store, ami = _engine(alive=set())
    placing = await _placing(engine, "never-placed")
    ami.session = 2  # logged in again
    await engine.reconcile()
    record = await asyncio.wait_for(placing, 2)
    assert record.lost
    await engine.journal.close(timeout_s=1)
    assert "originate_failed" not in store.kinds
    engine._pump.cancel()
