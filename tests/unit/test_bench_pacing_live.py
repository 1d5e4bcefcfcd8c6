"""`recobro bench pacing-live`'s pieces that need no lab: each debtor's fate
written into a lab number the sipp PSTN plays, the accounts in the
simulator's order, the lab's calls read back as moments, and what of a
scenario the lab cannot play."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from dialer.agents.routing import balance_tier
from dialer.errors import ConfigError
from lab.bench_pacing_live import (
    check_scenario,
    fate_number,
    lab_moments,
    lead_count,
    write_accounts,
)
from lab.config import LabAgent, LabConfig
from lab.number_plan import LONGEST_STAY_SECONDS, Behaviour, parse_lab_number
from pacing.fates import Fate, draw_fates
from pacing.model import DialResult
from pacing.scenario import Duration, Scenario, Shape, fixed

SCENARIO = Scenario(name="LIVE", agents=2, talk=Duration(Shape.LOGNORMAL, 30.0, 0.5),
                    live_start=0.3, busy=0.1, failed=0.05, wrap=fixed(5.0), ring_timeout=15.0,
                    seed=61)


def lab(agents: int) -> LabConfig:
    team = tuple(LabAgent(f"agent{1001 + i}", "Agent", "s3cret", 15101 + i, 17100 + 10 * i)
                 for i in range(agents))
    return LabConfig(lab_dir=Path("/nonexistent"), cache_dir=Path("/nonexistent"),
                     port_base=15000, lab_id="test", ami_user="u", ami_secret="s",
                     ari_user="u", ari_password="p", api_token="t", agents=team)


def test_each_fate_is_a_lab_number_that_plays_it():
    fates = draw_fates(SCENARIO, 3000, LONGEST_STAY_SECONDS)
    numbers = [fate_number(fate, i) for i, fate in enumerate(fates)]
    assert len(set(numbers)) == len(numbers)
    played = {DialResult.LIVE: Behaviour.ANSWER_AND_STAY, DialResult.BUSY: Behaviour.BUSY,
              DialResult.FAILED: Behaviour.CONGESTION, DialResult.NO_ANSWER: Behaviour.NO_ANSWER}
    for fate, number in zip(fates, numbers, strict=True):
        assert number.startswith("+1212") and len(number) == 12
        plan = parse_lab_number(number)
        assert plan.behaviour is played[fate.result]
        if fate.result is DialResult.LIVE:
            assert plan.stay_seconds == fate.talk_s


def test_accounts_are_dialed_in_the_fates_order(tmp_path):
    fates = [Fate(DialResult.LIVE, 12), Fate(DialResult.BUSY), Fate(DialResult.NO_ANSWER)]
    path = tmp_path / "accounts.csv"
    write_accounts(path, "PL1-", fates)
    lines = path.read_text().splitlines()
    assert lines[0] == "reference,debtor_name,balance,days_past_due,phone1,client_segment"
    balances = [Decimal(line.split(",")[2]) for line in lines[1:]]
    assert balances == sorted(balances, reverse=True)  # highest value first: the hopper's order
    assert all(balance_tier(b) == "low" for b in balances)  # any agent takes any debtor
    assert lines[1].split(",")[4] == fate_number(fates[0], 0)
    write_accounts(path, "PL1-", [Fate(DialResult.BUSY)] * 8000)
    assert balance_tier(Decimal(path.read_text().splitlines()[-1].split(",")[2])) == "low"
    with pytest.raises(ConfigError, match="8,000"):
        write_accounts(path, "PL1-", [Fate(DialResult.BUSY)] * 8001)


def test_lab_calls_are_read_back_as_their_moments():
    epoch = datetime(2026, 12, 3, 18, 0, tzinfo=UTC)

    def at(seconds: float) -> datetime:
        return epoch + timedelta(seconds=seconds)

    rows = [
        {"originated_at": at(1), "answered_at": at(1.4), "connected_at": at(1.42),
         "ended_at": at(31.4), "result": "conversation"},
        {"originated_at": at(2), "answered_at": at(2.4), "connected_at": None,
         "ended_at": at(9), "result": "abandoned"},
        {"originated_at": at(3), "answered_at": None, "connected_at": None,
         "ended_at": at(18), "result": "no_answer"},
        {"originated_at": at(4), "answered_at": None, "connected_at": None,
         "ended_at": at(4.05), "result": "busy"},
    ]
    talked, abandoned, rang, busy = lab_moments(rows, epoch, wrap_s=5.0)
    assert (talked.result, talked.answered_at, talked.connected_at) == (DialResult.LIVE, 1.4,
                                                                        pytest.approx(1.42))
    assert talked.wrap_up_ended_at == pytest.approx(36.4)
    assert abandoned.abandoned_at == pytest.approx(4.4) and abandoned.connected_at is None
    assert (rang.result, rang.resolved_at) == (DialResult.NO_ANSWER, 18.0)
    assert busy.result is DialResult.BUSY


def test_what_the_lab_cannot_play_is_named():
    with pytest.raises(ConfigError, match="RECOBRO_LAB_AGENTS=2 recobro lab up"):
        check_scenario(SCENARIO, lab(1))
    check_scenario(SCENARIO, lab(2))
    with pytest.raises(ConfigError, match="wrap must be a whole number"):
        check_scenario(replace(SCENARIO, wrap=Duration(Shape.LOGNORMAL, 5.0, 0.5)), lab(2))
    with pytest.raises(ConfigError, match="ring_timeout"):
        check_scenario(replace(SCENARIO, ring_timeout=12.5), lab(2))
    with pytest.raises(ConfigError, match="pauses"):
        check_scenario(replace(SCENARIO, pause_per_hour=1.0), lab(2))


def test_there_are_leads_for_a_team_busy_all_along():
    # 2 agents, 35 s a call, 30% live: about 206 dials in an hour; three times over.
    assert lead_count(SCENARIO, 3600.0) == int(3 * 2 * 3600 / 35 / 0.3) + 100
