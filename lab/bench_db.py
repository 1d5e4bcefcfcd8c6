"""What the benches that drive Recobro's own processes share: a bench
database of their own in the lab's PostgreSQL, and how to run a Recobro
command on it with the lab's settings."""

from __future__ import annotations

import os
import sys
import uuid

import psycopg

from dialer.store.migrate import apply_migrations, cannot_connect
from lab.config import LabConfig

# This Recobro's command line, whatever PATH holds.
RECOBRO = (sys.executable, "-m", "dialer.cli")


class BenchDatabase:
    """A new, migrated database in the lab's PostgreSQL, dropped afterwards."""

    def __init__(self, base_url: str) -> None:
        self.admin = base_url.rsplit("/", 1)[0] + "/postgres"
        self.name = f"recobro_bench_{uuid.uuid4().hex[:10]}"
        self.url = base_url.rsplit("/", 1)[0] + f"/{self.name}"

    def __enter__(self) -> str:
        try:
            connection = psycopg.connect(self.admin, autocommit=True)
        except psycopg.OperationalError as error:
            raise cannot_connect(self.admin, error) from None
        with connection:
            connection.execute(f"CREATE DATABASE {self.name}")
        apply_migrations(self.url)
        return self.url

    def __exit__(self, *_: object) -> None:
        with psycopg.connect(self.admin, autocommit=True) as connection:
            connection.execute(f"DROP DATABASE {self.name} WITH (FORCE)")


def bench_connection(url: str) -> psycopg.Connection:
    """The bench's own connection to url's database, for the whole run. In
    autocommit, each query is a transaction of its own: PostgreSQL's
    statistics are read afresh each time, not as the transaction first saw
    them."""
    return psycopg.connect(url, autocommit=True)


def recobro_env(cfg: LabConfig, url: str) -> dict[str, str]:
    """The environment of a Recobro command on the lab's settings and url's database."""
    return {**os.environ, "RECOBRO_ENV_FILE": str(cfg.env_file), "DATABASE_URL": url}
