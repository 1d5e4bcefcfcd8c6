"""The lab's private PostgreSQL cluster, used when DATABASE_URL is not set.
initdb and postgres refuse root, so both run as the `postgres` user."""

from __future__ import annotations

import secrets
import shutil
import subprocess
from pathlib import Path
from urllib.parse import quote

from dialer.errors import LabError
from lab import process
from lab.config import LabConfig
from lab.provision import postgres_bin_dir

DATABASE = "recobro"
SUPERUSER = "recobro"


def _data_dir(cfg: LabConfig) -> Path:
    return cfg.pg_dir / "data"


def _password_file(cfg: LabConfig) -> Path:
    return cfg.pg_dir / "password"


def _as_postgres(argv: list[str], what: str) -> None:
    result = subprocess.run(["runuser", "-u", "postgres", "--", *argv], check=False, capture_output=True,
                            text=True, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        raise LabError(f"PostgreSQL {what} failed: {tail[0]}")


def database_url(cfg: LabConfig) -> str:
    """The DATABASE_URL of the lab's cluster."""
    password = _password_file(cfg).read_text().strip()
    return (f"postgresql://{SUPERUSER}:{quote(password, safe='')}@{cfg.host}:{cfg.pg_port}"
            f"/{DATABASE}")


def running_pid(cfg: LabConfig) -> int | None:
    """The postmaster's PID from its own postmaster.pid, if it runs."""
    return process.running_pid(_data_dir(cfg) / "postmaster.pid", str(_data_dir(cfg)))


def _initdb(cfg: LabConfig, bin_dir: Path, password: str) -> None:
    shutil.rmtree(cfg.pg_dir, ignore_errors=True)
    cfg.pg_dir.mkdir(parents=True, mode=0o700)
    shutil.chown(cfg.pg_dir, "postgres", "postgres")
    pwfile = cfg.pg_dir / "initdb-password"
    pwfile.write_text(password + "\n")
    shutil.chown(pwfile, "postgres", "postgres")
    pwfile.chmod(0o600)
    try:
        _as_postgres([str(bin_dir / "initdb"), "-D", str(_data_dir(cfg)), "-U", SUPERUSER,
                      f"--pwfile={pwfile}", "--auth-host=scram-sha-256", "--auth-local=trust",
                      "-E", "UTF8", "--locale=C.UTF-8"], "initdb")
    finally:
        pwfile.unlink(missing_ok=True)


def start(cfg: LabConfig) -> int:
    """Create the cluster on first use, start it, and create the database."""
    bin_dir = postgres_bin_dir()
    if not (_data_dir(cfg) / "PG_VERSION").is_file():
        password = secrets.token_urlsafe(18)
        _initdb(cfg, bin_dir, password)
        _password_file(cfg).write_text(password + "\n")
        _password_file(cfg).chmod(0o600)
    pid = running_pid(cfg)
    if pid is None:
        options = (f"-c listen_addresses={cfg.host} -p {cfg.pg_port} "
                   f"-c unix_socket_directories={_data_dir(cfg)} -c fsync=off "
                   "-c max_connections=200")
        _as_postgres([str(bin_dir / "pg_ctl"), "-D", str(_data_dir(cfg)), "-l",
                      str(cfg.pg_dir / "postgres.log"), "-o", options, "-w", "-t", "60",
                      "start"], "start")
        pid = running_pid(cfg)
        if pid is None:
            raise LabError(f"PostgreSQL did not start; see {cfg.pg_dir / 'postgres.log'}")
    exists = subprocess.run(
        ["runuser", "-u", "postgres", "--", str(bin_dir / "psql"), "-h", str(_data_dir(cfg)),
         "-p", str(cfg.pg_port), "-U", SUPERUSER, "-d", "postgres", "-tAc",
         f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'"],
        check=False, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if exists.stdout.strip() != "1":
        _as_postgres([str(bin_dir / "createdb"), "-h", str(_data_dir(cfg)), "-p",
                      str(cfg.pg_port), "-U", SUPERUSER, DATABASE], "createdb")
    return pid


def stop(cfg: LabConfig) -> bool:
    """Stop the cluster with pg_ctl, which reads its own postmaster.pid."""
    if running_pid(cfg) is None:
        return False
    _as_postgres([str(postgres_bin_dir() / "pg_ctl"), "-D", str(_data_dir(cfg)), "-m", "fast",
                  "-w", "stop"], "stop")
    return True
