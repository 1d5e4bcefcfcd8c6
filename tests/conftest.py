"""The lab fixture: tests marked `lab` run against the real Asterisk 22,
sipp peers and PostgreSQL that `recobro lab up` provisions and starts. A lab
this session started is stopped again at the end; one already running is
reused and left running."""

from __future__ import annotations

import pytest

from dialer.lab import asterisk, lab
from dialer.lab.config import LabConfig, load_lab_config
from dialer.settings import Settings, load_settings, read_env_file


@pytest.fixture(scope="session")
def lab_config() -> LabConfig:
    cfg = load_lab_config()
    was_running = asterisk.running_pid(cfg) is not None
    lab.up(cfg)
    yield cfg
    if not was_running:
        lab.down(cfg)


@pytest.fixture(scope="session")
def lab_settings(lab_config: LabConfig) -> Settings:
    """Settings for the lab, from the env file it wrote (nothing else)."""
    return load_settings(read_env_file(lab_config.env_file))
