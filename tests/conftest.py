"""The lab fixture: tests marked `lab` run against the real Asterisk 22,
sipp peers and PostgreSQL that `recobro lab up` provisions and starts. A lab
this session started is stopped again at the end; one already running is
reused and left running. Under pytest-xdist (`make test` runs two workers)
each worker has a lab of its own (lab.config.worker_lab_environment)."""

from __future__ import annotations

import fcntl
import os
import uuid

import psycopg
import pytest

from dialer.settings import Settings, load_settings, read_env_file
from dialer.store.migrate import apply_migrations
from lab import api as lab_api
from lab import asterisk
from lab import lab as lab_control
from lab.asterisk_log import AsteriskLog, describe
from lab.config import LabConfig, load_lab_config, worker_lab_environment

# Set before any lab is loaded (load_lab_config reads it).
os.environ.update(worker_lab_environment(os.environ.get("PYTEST_XDIST_WORKER", "gw0"),
                                         os.environ))


@pytest.fixture(scope="session")
def lab() -> tuple[LabConfig, AsteriskLog]:
    """The lab, up; at the end of the run, a failure naming every sound
    Asterisk could not play meanwhile (a caller heard silence)."""
    cfg = load_lab_config()
    was_running = asterisk.running_pid(cfg) is not None
    try:
        lab_control.up(cfg)
    except BaseException:
        if not was_running:
            lab_control.down(cfg)  # what did start is stopped, by its PID files
        raise
    # A lab left running keeps the API it started with: the tests want
    # this checkout's (the agents' feature codes go there).
    lab_api.stop(cfg)
    lab_api.start(cfg)
    log = AsteriskLog(cfg)
    yield cfg, log
    if not was_running:
        lab_control.down(cfg)
    unplayable = log.unplayable()
    assert not unplayable, ("Asterisk could not play these during the run (callers heard "
                            f"silence): {describe(unplayable)}")


@pytest.fixture(scope="session")
def lab_config(lab: tuple[LabConfig, AsteriskLog]) -> LabConfig:
    return lab[0]


@pytest.fixture(scope="session")
def asterisk_log(lab: tuple[LabConfig, AsteriskLog]) -> AsteriskLog:
    """The lab's Asterisk log, for a test that must excuse what it causes."""
    return lab[1]


@pytest.fixture(scope="session")
def lab_settings(lab_config: LabConfig) -> Settings:
    """Settings for the lab, from the env file it wrote (nothing else)."""
    return load_settings(read_env_file(lab_config.env_file))


@pytest.fixture
def fresh_database(lab_settings: Settings, lab_config: LabConfig):
    """A new, migrated database in the lab's PostgreSQL (with the lab's
    agents enrolled), dropped afterwards; yields its URL."""
    base = lab_settings.database_url
    name = f"recobro_t_{uuid.uuid4().hex[:10]}"
    admin = base.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    url = base.rsplit("/", 1)[0] + f"/{name}"
    apply_migrations(url)
    lab_control.enrol_agents(lab_config, url)
    yield url
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture(autouse=True)
def _shared_recordings(request: pytest.FixtureRequest):
    """Labs share one Asterisk root, and its recordings: a lab test marked
    removes_recordings has them to itself; other lab tests share them (with
    two workers, each waits for the other's test to end)."""
    if request.node.get_closest_marker("lab") is None:
        yield
        return
    cfg: LabConfig = request.getfixturevalue("lab_config")
    exclusive = request.node.get_closest_marker("removes_recordings") is not None
    with open(cfg.cache_dir / "recordings.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
