"""The stored fixtures: one per traffic scenario, readable, and holding no
secret (the AMI login's is redacted, no HTTP header is kept, and none of
the lab's secrets appears where this checkout has a lab)."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from dialer.settings import read_env_file, secrets_of
from lab.traffic import REDACTED, Fixture, Recorded, read_fixture, redact, write_fixture
from lab.traffic_scenarios import SCENARIOS
from tests.replay.conftest import FIXTURES

LAB_DIR = Path(os.environ.get("RECOBRO_LAB_DIR", ".lab"))


def _fixture_texts() -> dict[str, str]:
    return {path.name: path.read_text(encoding="utf-8")
            for path in sorted(FIXTURES.glob("*.jsonl"))}


def test_every_scenario_has_a_fixture_that_starts_with_the_login():
    assert sorted(path.stem for path in FIXTURES.glob("*.jsonl")) == sorted(
        s.name for s in SCENARIOS)
    for s in SCENARIOS:
        fixture = read_fixture(FIXTURES / f"{s.name}.jsonl")
        assert fixture.scenario == s.name
        first = next(line for line in fixture.lines if line.is_request)
        assert (first.via, first.header("Action")) == ("ami", "Login"), s.name
        assert [line.t for line in fixture.lines] == sorted(line.t for line in fixture.lines)


def test_no_fixture_holds_a_credential():
    for s in SCENARIOS:
        for line in read_fixture(FIXTURES / f"{s.name}.jsonl").lines:
            if line.via == "ami" and line.header("Action") == "Login":
                assert line.header("Secret") == REDACTED, s.name
    for name, text in _fixture_texts().items():
        lowered = text.lower()
        assert "authorization" not in lowered and "basic " not in lowered, name


def test_no_fixture_holds_a_secret_of_this_checkouts_lab():
    """The fixtures were recorded from some lab; a lab's secrets are its own
    (generated once), so this checks this checkout's, when it has one."""
    secrets_file, env_file = LAB_DIR / "secrets.env", LAB_DIR / "recobro.env"
    if not secrets_file.is_file():
        pytest.skip(f"no lab in {LAB_DIR}: its secrets cannot be looked for")
    secrets = [v for v in read_env_file(secrets_file).values() if len(v) >= 8]
    if env_file.is_file():
        secrets += secrets_of(read_env_file(env_file))
    for name, text in _fixture_texts().items():
        assert not [s for s in secrets if s in text], f"{name} holds a lab secret"


def test_a_fixture_that_would_hold_a_secret_is_not_written(tmp_path):
    secret = "Zq8secretValue42"
    login = Recorded(t=0.0, via="ami", dir="action",
                     headers=redact([("Action", "Login"), ("Secret", secret)]))
    assert login.header("Secret") == REDACTED
    leaking = Recorded(t=0.1, via="ari", dir="request", method="GET", path="/asterisk/info",
                       status=200, body={"echo": secret})
    fixture = Fixture("leak", "a body echoing a secret", "2026-12-02", 0.0, (login, leaking))
    with pytest.raises(ValueError, match="secrets would be written"):
        write_fixture(tmp_path / "leak.jsonl", fixture, [secret])
    assert not (tmp_path / "leak.jsonl").exists()
    write_fixture(tmp_path / "login.jsonl", replace(fixture, lines=(login,)), [secret])
    assert read_fixture(tmp_path / "login.jsonl").lines == (login,)
