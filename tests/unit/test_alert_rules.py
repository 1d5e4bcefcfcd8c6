"""Recobro's alert rules (docker/prometheus/alerts.yml) checked and unit
tested by Prometheus's own promtool on made-up series
(tests/fixtures/alerts_test.yml). promtool comes with Debian's prometheus,
which the lab provisions: hence the lab fixture."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "docker" / "prometheus" / "alerts.yml"
RULE_TESTS = ROOT / "tests" / "fixtures" / "alerts_test.yml"

pytestmark = pytest.mark.lab


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL, check=False, cwd=RULE_TESTS.parent)


def test_the_alert_rules_are_valid(lab_config):
    checked = promtool("check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 5 rules found" in checked.stdout


def test_each_alert_fires_when_it_should_and_not_before(lab_config):
    tested = promtool("test", "rules", str(RULE_TESTS))
    assert tested.returncode == 0, tested.stdout + tested.stderr
