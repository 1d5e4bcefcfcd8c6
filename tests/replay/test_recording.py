"""Recording from the lab: `recobro lab record`'s proxies leave the calls
as they are, and what they record replays as it was recorded."""

from __future__ import annotations

import pytest

from lab.record_traffic import record_all
from lab.traffic_scenarios import SCENARIOS

pytestmark = pytest.mark.lab


async def test_recorded_lab_traffic_replays_as_it_was_recorded(lab_config, replay, tmp_path,
                                                               capsys):
    await record_all(lab_config, [], tmp_path)
    recorded = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in recorded] == [s.name for s in SCENARIOS]
    for scenario, line in zip(SCENARIOS, recorded, strict=True):
        replayed = await replay(scenario, fixtures=tmp_path)
        # The same outcome through the lab and through its recording.
        assert line.startswith(f"{scenario.name}: {replayed.run.record.outcome.value},"), line
