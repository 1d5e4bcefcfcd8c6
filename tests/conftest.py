"""The lab fixture: tests marked `lab` run against the real Asterisk 22,
sipp peers and PostgreSQL that `recobro lab up` provisions and starts. A lab
this session started is stopped again at the end; one already running is
reused and left running. Under pytest-xdist (`make test` runs three workers)
each worker has a lab of its own (lab.config.worker_lab_environment)."""

from __future__ import annotations

import fcntl
import os
import time
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


def _new_database(settings: Settings, prefix: str, template: str | None = None) -> str:
    """A new database in the lab's PostgreSQL (a copy of template, if
    given); its name."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    copy = f" TEMPLATE {template}" if template else ""
    with psycopg.connect(_admin_url(settings), autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}{copy}")
    return name


def _drop_database(settings: Settings, name: str) -> None:
    with psycopg.connect(_admin_url(settings), autocommit=True) as connection:
        connection.execute(f"DROP DATABASE {name} WITH (FORCE)")


def _admin_url(settings: Settings) -> str:
    return settings.database_url.rsplit("/", 1)[0] + "/postgres"


def _url_of(settings: Settings, name: str) -> str:
    return settings.database_url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(scope="session")
def migrated_template(lab_settings: Settings, lab_config: LabConfig):
    """A database this session migrates once (with the lab's agents
    enrolled), which no test connects to: each fresh_database is a copy of
    it. PostgreSQL copies a database in a tenth of the time the migrations
    take, and each of the few hundred lab tests took that time."""
    name = _new_database(lab_settings, "recobro_template")
    try:  # dropped even when making it failed
        url = _url_of(lab_settings, name)
        apply_migrations(url)
        lab_control.enrol_agents(lab_config, url)
        with psycopg.connect(_admin_url(lab_settings), autocommit=True) as connection:
            # Nobody may connect any more, autovacuum's workers included:
            # PostgreSQL copies no database a session is on.
            connection.execute(f"ALTER DATABASE {name} WITH ALLOW_CONNECTIONS false")
        _until_unused(lab_settings, name)
        yield name
    finally:
        _drop_database(lab_settings, name)


def _until_unused(settings: Settings, name: str) -> None:
    """Wait until no session is on database name (which takes no new
    ones): a client's closed connection leaves its server process a moment
    later."""
    with psycopg.connect(_admin_url(settings), autocommit=True) as connection:
        for _ in range(100):
            sessions = connection.execute("SELECT count(*) FROM pg_stat_activity "
                                          "WHERE datname = %s", (name,)).fetchone()[0]
            if sessions == 0:
                return
            time.sleep(0.1)
        holders = connection.execute("SELECT backend_type, application_name, state "
                                     "FROM pg_stat_activity WHERE datname = %s",
                                     (name,)).fetchall()
    raise AssertionError(f"database {name} is still in use after 10 s, by {holders}: "
                         "it cannot be copied")


@pytest.fixture
def fresh_database(lab_settings: Settings, migrated_template: str):
    """A new, migrated database in the lab's PostgreSQL (with the lab's
    agents enrolled; a copy of migrated_template), dropped afterwards;
    yields its URL."""
    name = _new_database(lab_settings, "recobro_t", template=migrated_template)
    yield _url_of(lab_settings, name)
    _drop_database(lab_settings, name)


@pytest.fixture(autouse=True)
def _shared_recordings(request: pytest.FixtureRequest):
    """Labs share one Asterisk root, and its recordings: a lab test marked
    removes_recordings has them to itself; other lab tests share them (it
    waits for the other workers' tests to end). It goes through a turnstile
    first and holds it while it waits, so that no worker starts a test
    meanwhile: with two other workers their tests overlap without end, and
    it would wait out its timeout."""
    if request.node.get_closest_marker("lab") is None:
        yield
        return
    cfg: LabConfig = request.getfixturevalue("lab_config")
    exclusive = request.node.get_closest_marker("removes_recordings") is not None
    with open(cfg.cache_dir / "recordings.turnstile", "w") as turnstile, \
            open(cfg.cache_dir / "recordings.lock", "w") as lock:
        fcntl.flock(turnstile, fcntl.LOCK_EX)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        finally:
            fcntl.flock(turnstile, fcntl.LOCK_UN)
        yield
