"""Runtime settings, read from the environment (or an env file the lab
writes). Every error names the variable to set."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dialer.agents.caller_id import AgentCallerId
from dialer.errors import ConfigError

ENV_FILE_VARIABLE = "RECOBRO_ENV_FILE"
DEFAULT_ENV_FILE = Path(".lab") / "recobro.env"


@dataclass(frozen=True)
class AmiSettings:
    host: str
    port: int
    user: str
    secret: str = ""

    def __repr__(self) -> str:  # never show the secret
        return f"AmiSettings(host={self.host!r}, port={self.port}, user={self.user!r})"


@dataclass(frozen=True)
class AriSettings:
    url: str
    user: str
    password: str
    app: str

    def __repr__(self) -> str:
        return f"AriSettings(url={self.url!r}, user={self.user!r}, app={self.app!r})"


@dataclass(frozen=True)
class ApiSettings:
    """Where `recobro api` listens, and the token its clients must show."""

    host: str
    port: int
    token: str = field(repr=False)


@dataclass(frozen=True)
class Settings:
    """Everything the engine needs to reach Asterisk and PostgreSQL."""

    ami: AmiSettings
    ari: AriSettings
    database_url: str = field(repr=False)  # may hold a password
    trunk: str
    caller_id: str
    callback_number: str  # said when a recorded message cannot be played
    ring_timeout_s: float
    language: str
    api: ApiSettings
    agent_caller_id: AgentCallerId = AgentCallerId.DEBTOR


def read_env_file(path: Path) -> dict[str, str]:
    """Parse KEY=VALUE lines; blank lines and # comments are skipped."""
    values: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ConfigError(f"{path}:{number}: expected KEY=VALUE, got {line!r}")
        values[key.strip()] = value.strip()
    return values


def environment() -> dict[str, str]:
    """The process environment over the env file (RECOBRO_ENV_FILE, or the
    lab's .lab/recobro.env when it exists): real variables always win."""
    path = Path(os.environ.get(ENV_FILE_VARIABLE, DEFAULT_ENV_FILE))
    merged = read_env_file(path) if path.is_file() else {}
    if ENV_FILE_VARIABLE in os.environ and not path.is_file():
        raise ConfigError(f"{ENV_FILE_VARIABLE}={path}: no such file")
    merged.update(os.environ)
    return merged


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name} is not set (run `recobro lab up`, or set it for your Asterisk)")
    return value


def _number(env: Mapping[str, str], name: str, default: str, kind: type = int) -> float:
    raw = env.get(name, default).strip()
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a {kind.__name__}") from None
    if value <= 0:
        raise ConfigError(f"{name}={raw!r} must be positive")
    return value


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from the environment; ConfigError names what is wrong."""
    env = environment() if env is None else env
    language = env.get("RECOBRO_LANGUAGE", "es").strip()
    caller_id = env.get("RECOBRO_CALLER_ID", "+15550100000")
    shown = env.get("RECOBRO_AGENT_CALLER_ID", AgentCallerId.DEBTOR.value).strip()
    try:
        agent_caller_id = AgentCallerId(shown)
    except ValueError:
        raise ConfigError(f"RECOBRO_AGENT_CALLER_ID={shown!r}: use "
                          + ", ".join(v.value for v in AgentCallerId)) from None
    if language not in ("es", "en"):
        raise ConfigError(f"RECOBRO_LANGUAGE={language!r}: use es or en")
    return Settings(
        ami=AmiSettings(
            host=env.get("RECOBRO_AMI_HOST", "127.0.0.1"),
            port=int(_number(env, "RECOBRO_AMI_PORT", "5038")),
            user=_required(env, "RECOBRO_AMI_USER"),
            secret=_required(env, "RECOBRO_AMI_SECRET"),
        ),
        ari=AriSettings(
            url=env.get("RECOBRO_ARI_URL", "http://127.0.0.1:8088").rstrip("/"),
            user=_required(env, "RECOBRO_ARI_USER"),
            password=_required(env, "RECOBRO_ARI_PASSWORD"),
            app=env.get("RECOBRO_ARI_APP", "recobro"),
        ),
        database_url=_required(env, "DATABASE_URL"),
        trunk=env.get("RECOBRO_TRUNK", "recobro-trunk"),
        caller_id=caller_id,
        callback_number=env.get("RECOBRO_CALLBACK_NUMBER", caller_id),
        ring_timeout_s=_number(env, "RECOBRO_RING_TIMEOUT", "25", float),
        language=language,
        api=ApiSettings(host=env.get("RECOBRO_API_HOST", "127.0.0.1"),
                        port=int(_number(env, "RECOBRO_API_PORT", "8480")),
                        token=env.get("RECOBRO_API_TOKEN", "")),
        agent_caller_id=agent_caller_id,
    )
