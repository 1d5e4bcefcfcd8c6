"""Where a campaign's answered calls go, in PostgreSQL (issue 14,
migration 0007): a self-service campaign and its lines round-trip, the
schema refuses lines without self-service (and self-service without
lines). The e2e tests store the self-service results themselves."""

from __future__ import annotations

from dataclasses import replace

import asyncpg
import pytest

from dialer.limits import LINES
from dialer.outbound.store import CampaignStore
from dialer.portfolio.model import AnsweredTo
from tests.store.test_hopper import campaign

pytestmark = pytest.mark.lab



async def test_a_self_service_campaign_round_trips_with_its_lines(pool):
    campaigns = CampaignStore(pool)
    press = replace(campaign("press"), answered_to=AnsweredTo.SELF_SERVICE, max_lines=7)
    await campaigns.create(press)
    loaded = await campaigns.load("press")
    assert (loaded.answered_to, loaded.max_lines) == (AnsweredTo.SELF_SERVICE, 7)
    await campaigns.create(campaign("agents"))
    loaded = await campaigns.load("agents")
    assert (loaded.answered_to, loaded.max_lines) == (AnsweredTo.AGENT, None)


@pytest.mark.parametrize("answered_to, lines", [("agent", 5), ("self_service", None),
                                                ("self_service", 0), ("self_service", 2001),
                                                ("robot", None)])
async def test_the_schema_holds_lines_and_self_service_together(pool, answered_to, lines):
    with pytest.raises(asyncpg.CheckViolationError):
        await pool.execute(
            "INSERT INTO campaigns (name, dial_mode, caller_id, window_profile, answered_to, "
            "max_lines) VALUES ('x', 'predictive', '15550100', 'local', $1, $2)",
            answered_to, lines)



async def test_the_schema_takes_the_most_lines_the_command_does(pool):
    """--lines' range (dialer.limits.LINES) is the schema's (migration 0025)."""
    await pool.execute(
        "INSERT INTO campaigns (name, dial_mode, caller_id, window_profile, answered_to, "
        "max_lines) VALUES ('x', 'predictive', '15550100', 'local', 'self_service', $1)",
        int(LINES.high))
