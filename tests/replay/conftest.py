"""The replay fixture: the real Engine, its adapters untouched, placing a
traffic scenario's call against a replay Asterisk that serves the
scenario's recorded traffic (tests/replay/fixtures). No lab: the engine's
database is replaced by a store in memory, and the connector's agents by
an AgentBook (lab/traffic_scenarios.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dialer import engine as engine_module
from dialer.calls.events import CallEvent
from dialer.calls.state import CallRecord
from dialer.engine import Engine
from dialer.settings import Settings, load_settings
from dialer.store.calls import event_kind
from lab.config import CALLER_ID, TRUNK
from lab.traffic import read_fixture
from lab.traffic_scenarios import Scenario, ScenarioRun, run_scenario
from tests.replay.replay_asterisk import HOST, ReplayAsterisk, describe, parameters

FIXTURES = Path(__file__).parent / "fixtures"
REPLAY_APP = "recobro-replayed"  # the Stasis application the engine opens
REPLAY_LIMIT_S = 10.0  # a replayed call takes well under a second

Drive = Callable[[Engine, Scenario], Awaitable[ScenarioRun]]


class MemoryCallStore:
    """The engine's call store in memory: each event's kind, with the call
    as it was after it."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self.kept: list[tuple[str, CallRecord]] = []

    async def record_all(self, batch: Sequence[tuple[CallEvent, CallRecord]]) -> None:
        self.kept.extend((event_kind(event), call) for event, call in batch)


class _NoDatabase:
    async def close(self) -> None:
        pass


async def _no_database(*args: object, **kwargs: object) -> _NoDatabase:
    return _NoDatabase()


def replay_settings(asterisk: ReplayAsterisk) -> Settings:
    """Settings that point the engine at the replay Asterisk. The secrets
    are not the lab's: the recording has none to compare with."""
    return load_settings({
        "RECOBRO_AMI_HOST": HOST, "RECOBRO_AMI_PORT": str(asterisk.ami_port),
        "RECOBRO_AMI_USER": "recobro", "RECOBRO_AMI_SECRET": "replayed-secret",
        "RECOBRO_ARI_URL": asterisk.ari_url, "RECOBRO_ARI_USER": "recobro",
        "RECOBRO_ARI_PASSWORD": "replayed-password", "RECOBRO_ARI_APP": REPLAY_APP,
        "DATABASE_URL": "postgresql://replay@127.0.0.1:1/replay",
        "RECOBRO_TRUNK": TRUNK, "RECOBRO_CALLER_ID": CALLER_ID,
    })


@dataclass
class Replayed:
    """A scenario replayed: what the engine made of it, what it stored, and
    the replay Asterisk (every request it heard)."""

    run: ScenarioRun
    stored: list[tuple[str, CallRecord]]
    asterisk: ReplayAsterisk

    def requests(self, described: str) -> list[dict[str, str]]:
        """The parameters of every request of that description
        (`ARI POST /channels/{id}/play`), in the order sent."""
        return [dict(parameters(line)) for line in self.asterisk.heard
                if describe(line) == described]


@pytest.fixture
async def replay(monkeypatch: pytest.MonkeyPatch):
    """replay(scenario, drive=run_scenario, fixtures=FIXTURES): drive the
    engine through the scenario against its recording. At the end the test fails naming every
    request the recording did not have, or had otherwise, and every
    recorded request never sent."""
    started: list[ReplayAsterisk] = []

    async def replay_scenario(scenario: Scenario, drive: Drive = run_scenario,
                              fixtures: Path = FIXTURES) -> Replayed:
        # Here, not before the test: a test may record from the lab first.
        monkeypatch.setattr(engine_module, "open_pool", _no_database)
        monkeypatch.setattr(engine_module, "CallStore", MemoryCallStore)
        asterisk = ReplayAsterisk(read_fixture(fixtures / f"{scenario.name}.jsonl"))
        await asterisk.start()
        started.append(asterisk)
        engine = await Engine.connect(replay_settings(asterisk))
        try:
            run = await asyncio.wait_for(drive(engine, scenario), REPLAY_LIMIT_S)
        finally:
            await engine.close()
        return Replayed(run, engine.store.kept, asterisk)

    yield replay_scenario
    problems = []
    for asterisk in started:
        await asterisk.close()
        problems += asterisk.failures
        problems += [f"{asterisk.fixture.scenario}: never sent {request}, which the recording "
                     "has" for request in asterisk.unheard()]
    if problems:
        pytest.fail("the replay did not go as recorded:\n" + "\n".join(problems))
