"""A placed call is settled (its result written, the dialer told what
became of it) once it ended and its flow ended too: a debtor who hangs
up while the flow still works on the call (a self-service flow between
its last prompt and its verdict, say) no longer outruns what the flow
makes of the call. A soak found the race: each such call left its
connection behind in the dialer's memory (some 20 a second at 200
lines), and its result went without the flow's verdict."""

from __future__ import annotations

import asyncio

from dialer import engine as engine_module
from dialer.calls.events import CallAnswered, CallEnteredApp, CallHungUp
from dialer.engine import Engine
from dialer.settings import load_settings


class Store:
    async def record_all(self, batch) -> None:
        pass


class Ami:
    session = 1

    async def originate(self, **_: object) -> None:
        return None


class Ari:
    async def wait_connected(self, timeout_s: float) -> None:
        return None

    async def channel_ids(self) -> set[str]:
        return set()


def _engine() -> Engine:
    settings = load_settings({"RECOBRO_AMI_USER": "u", "RECOBRO_AMI_SECRET": "s",
                              "RECOBRO_ARI_USER": "u", "RECOBRO_ARI_PASSWORD": "s",
                              "DATABASE_URL": "postgresql://x@127.0.0.1/db"})
    engine = Engine(settings, Store(), ami=Ami(), ari=Ari())  # type: ignore[arg-type]
    engine._pump = asyncio.create_task(engine._run_pump())
    return engine


async def _answered_then_hung_up(engine: Engine, call_id: str) -> asyncio.Task:
    placing = asyncio.create_task(engine.place_call("+12125550100", flow="campaign",
                                                    call_id=call_id))
    await asyncio.sleep(0.05)
    engine.submit(CallAnswered(call_id=call_id, at=engine.clock()))
    engine.submit(CallEnteredApp(call_id=call_id, at=engine.clock(), flow="campaign"))
    await asyncio.sleep(0.05)
    engine.submit(CallHungUp(call_id=call_id, at=engine.clock(), cause=16,
                             cause_text="Normal Clearing"))
    return placing


async def test_a_call_is_settled_once_its_flow_has_ended():
    engine = _engine()
    verdicts: list[str] = []

    async def flow(call_id, events) -> None:
        await events.ended
        await asyncio.sleep(0.3)  # a last write after the debtor hung up
        verdicts.append(call_id)

    engine.register_flow("campaign", flow)
    placing = await _answered_then_hung_up(engine, "c1")
    await asyncio.wait_for(placing, 2)
    assert verdicts == ["c1"]  # in before the call was settled
    await engine.journal.close(timeout_s=1)


async def test_a_flow_that_never_ends_holds_the_call_for_a_bounded_while(monkeypatch):
    monkeypatch.setattr(engine_module, "FLOW_END_WAIT_S", 0.2)
    engine = _engine()
    stuck = asyncio.Event()

    async def flow(call_id, events) -> None:
        await stuck.wait()

    engine.register_flow("campaign", flow)
    placing = await _answered_then_hung_up(engine, "c2")
    record = await asyncio.wait_for(placing, 2)
    assert record.hangup_cause == 16
    stuck.set()
    await engine.journal.close(timeout_s=1)
