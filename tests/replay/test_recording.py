"""Recording from the lab: `recobro lab record`'s proxies leave the calls
as they are, and what they record replays as it was recorded."""

from __future__ import annotations

import pytest

from lab.record_traffic import record_all
from lab.traffic_scenarios import SCENARIOS

pytestmark = pytest.mark.lab


async def test_recorded_lab_traffic_replays_as_it_was_recorded(lab_config, replay, tmp_path):
    recorded = await record_all(lab_config, [], tmp_path)
    assert [scenario for scenario, _ in recorded] == list(SCENARIOS)
    for scenario, in_the_lab in recorded:
        replayed = await replay(scenario, fixtures=tmp_path)
        # The same outcome through the lab and through its recording.
        assert replayed.run.record.outcome is in_the_lab.outcome, scenario.name
        assert replayed.run.record.hangup_cause == in_the_lab.hangup_cause, scenario.name
