"""Runtime settings, read from the environment (or an env file the lab
writes). Every error names the variable to set."""

from __future__ import annotations

import ipaddress
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import SplitResult, unquote, urlsplit

from dialer.calls.caller_id import AgentCallerId
from dialer.errors import ConfigError
from dialer.limits import (
    AMI_PING,
    AMI_PING_S,
    EVENT_BUFFER,
    EVENT_BUFFER_RANGE,
    MESSAGE_PROVIDER_TIMEOUT,
    MESSAGE_PROVIDER_TIMEOUT_S,
    PAYMENT_GATEWAY_TIMEOUT,
    PAYMENT_GATEWAY_TIMEOUT_S,
    PAYMENT_LINK_KEY_LENGTH,
    PAYMENT_LINK_LIFETIME,
    PAYMENT_LINK_LIFETIME_DAYS,
    QUERY_TIMEOUT,
    QUERY_TIMEOUT_S,
    RIDE_OUT,
    RIDE_OUT_S,
    RING_TIMEOUT_S,
    Range,
)
from ivr.prompts import LANGUAGES

ENV_FILE_VARIABLE = "RECOBRO_ENV_FILE"
DEFAULT_ENV_FILE = Path(".lab") / "recobro.env"
# The name of the one Asterisk server of a deployment that names none
# (dialers.asterisk's default, migration 0026).
DEFAULT_ASTERISK_NAME = "asterisk"
# Asterisk's monitor directory as its packages install it (astspooldir/monitor).
DEFAULT_RECORDINGS_DIR = Path("/var/spool/asterisk/monitor")


@dataclass(frozen=True)
class AmiSettings:
    host: str
    port: int
    user: str
    secret: str = ""
    ping_s: float = AMI_PING_S  # the keepalive: a Ping this often, its answer awaited

    def __repr__(self) -> str:  # never show the secret
        return (f"AmiSettings(host={self.host!r}, port={self.port}, user={self.user!r}, "
                f"ping_s={self.ping_s:g})")


INBOUND_APP_SUFFIX = "-inbound"


@dataclass(frozen=True)
class AriSettings:
    url: str
    user: str
    password: str
    app: str

    def __repr__(self) -> str:
        return f"AriSettings(url={self.url!r}, user={self.user!r}, app={self.app!r})"

    @property
    def inbound_app(self) -> str:
        """The Stasis application `recobro inbound` takes calls on
        (asterisk_conf/extensions_recobro.conf sends the trunk's there)."""
        return self.app + INBOUND_APP_SUFFIX


@dataclass(frozen=True)
class ApiSettings:
    """Where `recobro api` listens, the token its clients must show, and
    where Asterisk writes the calls' recordings (its monitor directory, as
    this host sees it), which the API serves to supervisors."""

    host: str
    port: int
    token: str = field(repr=False)
    recordings_dir: Path = DEFAULT_RECORDINGS_DIR


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
    db_ride_out_s: float = RIDE_OUT_S  # how long a dialer waits out a PostgreSQL outage
    db_query_timeout_s: float = QUERY_TIMEOUT_S  # one query's answer, before it is an outage
    event_buffer: int = EVENT_BUFFER  # call events kept in memory through an outage
    # The Asterisk server this process controls, by the name agents are
    # given (`recobro agent server`): dialers route to its agents only.
    asterisk_name: str = DEFAULT_ASTERISK_NAME


@dataclass(frozen=True)
class PaymentGatewaySettings:
    """The card gateway: its API's base URL (Stripe's, or the lab's mock),
    the secret API key, and how long one request may take."""

    url: str
    key: str = field(repr=False)
    timeout_s: float = PAYMENT_GATEWAY_TIMEOUT_S


def read_env_file(path: Path) -> dict[str, str]:
    """Parse KEY=VALUE lines; blank lines and # comments are skipped."""
    values: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        line = path.read_bytes()[:error.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: not UTF-8 (byte {error.start + 1})") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read it ({error.strerror})") from None
    for number, line in enumerate(text.splitlines(), start=1):
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


# Control characters (a NUL above all) have no place in a setting: a file
# name, a URL or a secret with one is a mistake, and PostgreSQL cannot
# store a NUL.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Names Asterisk takes in a dial string, a Stasis application's name or
# the comma-separated arguments around them.
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_PHONE = re.compile(r"\+?[0-9]{3,15}")
PORTS = (1, 65535)


def _shown(raw: str) -> str:
    """A value, quoted for a message (a long one cut short)."""
    return repr(raw if len(raw) <= 40 else raw[:40] + "...")


def _value(env: Mapping[str, str], name: str, default: str = "", *,
           secret: bool = False) -> str:
    value = env.get(name, default).strip()
    if _CONTROL.search(value):
        shown = "" if secret else f"={_shown(value)}"
        raise ConfigError(f"{name}{shown} holds a control character")
    return value


def _required(env: Mapping[str, str], name: str, *, secret: bool = False) -> str:
    value = _value(env, name, secret=secret)
    if not value:
        raise ConfigError(f"{name} is not set (run `recobro lab up`, or set it for your Asterisk)")
    return value


def _directory(env: Mapping[str, str], name: str, default: Path) -> Path:
    """An absolute directory's path (it need not exist yet: Asterisk makes
    its monitor directory with the first recording)."""
    value = Path(_value(env, name, str(default)))
    if not value.is_absolute():
        raise ConfigError(f"{name}={_shown(str(value))}: give an absolute path")
    return value


def _port(env: Mapping[str, str], name: str, default: str) -> int:
    raw = _value(env, name, default)
    if not re.fullmatch(r"[0-9]{1,5}", raw) or not PORTS[0] <= int(raw) <= PORTS[1]:
        raise ConfigError(f"{name}={_shown(raw)}: a port is a whole number from "
                          f"{PORTS[0]} to {PORTS[1]}")
    return int(raw)


def _seconds(env: Mapping[str, str], name: str, default: str, allowed: Range) -> float:
    raw = _value(env, name, default)
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value not in allowed:
        raise ConfigError(f"{name}={_shown(raw)}: allowed {allowed}")
    return value


def _whole(env: Mapping[str, str], name: str, default: str, allowed: Range) -> int:
    raw = _value(env, name, default)
    if not re.fullmatch(r"[0-9]{1,9}", raw) or int(raw) not in allowed:
        raise ConfigError(f"{name}={_shown(raw)}: a whole number {allowed}")
    return int(raw)


NAME_RULE = "letters, digits, '.', '_' and '-' (64 at most)"


def is_name(value: str) -> bool:
    """Whether value may name a Stasis application, an endpoint or an
    Asterisk server (NAME_RULE)."""
    return _NAME.fullmatch(value) is not None


def _named(env: Mapping[str, str], name: str, default: str, what: str) -> str:
    value = _value(env, name, default)
    if not is_name(value):
        raise ConfigError(f"{name}={_shown(value)}: {what} is {NAME_RULE}")
    return value


def _phone(env: Mapping[str, str], name: str, default: str) -> str:
    value = _value(env, name, default)
    if not _PHONE.fullmatch(value):
        raise ConfigError(f"{name}={_shown(value)}: digits (3 to 15), optionally after a +")
    return value


def _host(env: Mapping[str, str], name: str, default: str) -> str:
    value = _value(env, name, default)
    if not value or any(c.isspace() or c in "/@?#" for c in value):
        raise ConfigError(f"{name}={_shown(value)}: a host name or address (e.g. 127.0.0.1)")
    return value


def _ari_url(env: Mapping[str, str]) -> str:
    """RECOBRO_ARI_URL: http(s)://HOST[:PORT][/PATH] (Recobro adds /ari/...)."""
    name = "RECOBRO_ARI_URL"
    written = _value(env, name, "http://127.0.0.1:8088")
    raw = written.rstrip("/")
    parts = urlsplit(raw)
    if "@" in parts.netloc:  # never quoted: a user:password may be there
        raise ConfigError(f"{name} must not hold a user or password: set RECOBRO_ARI_USER "
                          "and RECOBRO_ARI_PASSWORD")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{name}={_shown(written)}: use http://HOST:PORT or https://HOST:PORT "
                          "(e.g. http://127.0.0.1:8088)")
    try:
        port = parts.port
    except ValueError:
        port = 0
    if not parts.hostname or port == 0 or (parts.netloc.endswith(":") and port is None):
        raise ConfigError(f"{name}={_shown(raw)}: the host is missing or its port is not "
                          f"a whole number from {PORTS[0]} to {PORTS[1]}")
    if parts.query or parts.fragment:
        raise ConfigError(f"{name}={_shown(raw)}: no query or fragment (Recobro adds /ari/...)")
    return raw


def _web_address(parts: SplitResult) -> bool:
    """Whether a URL is http(s)://HOST[:PORT][/PATH] with a valid port and
    no query or fragment (a user in it is for the caller to name)."""
    try:
        port = parts.port
    except ValueError:
        return False
    return (parts.scheme in ("http", "https") and bool(parts.hostname) and port != 0
            and not parts.query and not parts.fragment)


def _gateway_url(env: Mapping[str, str]) -> str:
    """RECOBRO_PAYMENT_GATEWAY_URL: http(s)://HOST[:PORT][/PATH]."""
    name = "RECOBRO_PAYMENT_GATEWAY_URL"
    written = _value(env, name)
    if not written:
        raise ConfigError(f"{name} is not set: the card gateway's API, e.g. "
                          "https://api.stripe.com (the lab's mock: run `recobro lab up`)")
    parts = urlsplit(written.rstrip("/"))
    if "@" in parts.netloc:
        raise ConfigError(f"{name} must not hold a user or password: set "
                          "RECOBRO_PAYMENT_GATEWAY_KEY or RECOBRO_PAYMENT_GATEWAY_KEY_FILE")
    if not _web_address(parts):
        raise ConfigError(f"{name}={_shown(written)}: use https://HOST[:PORT] "
                          "(e.g. https://api.stripe.com), no query or fragment")
    return written.rstrip("/")


def _secret(env: Mapping[str, str], name: str, file_name: str, *,
            spaces: bool = False) -> str:
    """A secret: the variable name, or the first line of the file that
    file_name names (one, not both); '' when neither is set. A key (an API
    key, a token) holds no space unless spaces."""
    key = _value(env, name, secret=True)
    path = _value(env, file_name)
    if key and path:
        raise ConfigError(f"set {name} or {file_name}, not both")
    if path:
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as error:
            why = getattr(error, "strerror", None) or "not UTF-8"
            raise ConfigError(f"{file_name}={_shown(path)}: cannot read it ({why})") from None
        key = lines[0].strip() if lines else ""
        if not key:
            raise ConfigError(f"{file_name}={_shown(path)}: the file's first line is empty")
        if _CONTROL.search(key):
            raise ConfigError(f"{file_name}={_shown(path)}: the key holds a control character")
    if not spaces and any(c.isspace() for c in key):
        raise ConfigError(f"{name if not path else file_name}: the key holds a space")
    return key


def _gateway_key(env: Mapping[str, str]) -> str:
    """The gateway's secret key: RECOBRO_PAYMENT_GATEWAY_KEY, or the first
    line of the file RECOBRO_PAYMENT_GATEWAY_KEY_FILE names (one, not both)."""
    name, file_name = "RECOBRO_PAYMENT_GATEWAY_KEY", "RECOBRO_PAYMENT_GATEWAY_KEY_FILE"
    key = _secret(env, name, file_name)
    if not key:
        raise ConfigError(f"{name} is not set (or {file_name}): the card gateway's secret "
                          "API key (the lab writes one: run `recobro lab up`)")
    return key


def load_payment_gateway_settings(env: Mapping[str, str] | None = None
                                  ) -> PaymentGatewaySettings:
    """The card gateway's settings, for the processes that take payments;
    ConfigError names what is wrong (and never quotes the key)."""
    env = environment() if env is None else env
    return PaymentGatewaySettings(
        url=_gateway_url(env), key=_gateway_key(env),
        timeout_s=_seconds(env, "RECOBRO_PAYMENT_GATEWAY_TIMEOUT_S",
                           f"{PAYMENT_GATEWAY_TIMEOUT_S:g}", PAYMENT_GATEWAY_TIMEOUT))


def configured_payment_gateway(env: Mapping[str, str] | None = None
                               ) -> PaymentGatewaySettings | None:
    """The card gateway's settings when RECOBRO_PAYMENT_GATEWAY_URL is set
    (a process then takes payments), None when it is not; a gateway set
    but wrongly is a ConfigError naming the setting."""
    env = environment() if env is None else env
    if not _value(env, "RECOBRO_PAYMENT_GATEWAY_URL"):
        return None
    return load_payment_gateway_settings(env)


@dataclass(frozen=True)
class PaymentLinkSettings:
    """Payment links (dialer.messages.links): the page they open, the key
    they are signed with (shared with that page), and how long they last."""

    base_url: str
    key: str = field(repr=False)
    lifetime_days: float = PAYMENT_LINK_LIFETIME_DAYS


def _link_base_url(env: Mapping[str, str]) -> str:
    """RECOBRO_PAYMENT_LINK_URL: the payment page, https://HOST[:PORT][/PATH]."""
    name = "RECOBRO_PAYMENT_LINK_URL"
    written = _value(env, name)
    if not written:
        raise ConfigError(f"{name} is not set: the page payment links open, e.g. "
                          "https://pay.example.com/p")
    parts = urlsplit(written)
    if "@" in parts.netloc or not _web_address(parts):
        raise ConfigError(f"{name}={_shown(written)}: use https://HOST[:PORT][/PATH], no user, "
                          "query or fragment (the link adds its own query)")
    return written


def load_payment_link_settings(env: Mapping[str, str] | None = None) -> PaymentLinkSettings:
    """The payment links' settings; ConfigError names what is wrong (and
    never quotes the key)."""
    env = environment() if env is None else env
    name, file_name = "RECOBRO_PAYMENT_LINK_KEY", "RECOBRO_PAYMENT_LINK_KEY_FILE"
    key = _secret(env, name, file_name)
    if len(key) < PAYMENT_LINK_KEY_LENGTH:
        raise ConfigError(f"{name} (or {file_name}) is not set or shorter than "
                          f"{PAYMENT_LINK_KEY_LENGTH} characters: the key payment links are "
                          "signed with, shared with the payment page (e.g. `openssl rand "
                          "-base64 32`)")
    return PaymentLinkSettings(
        base_url=_link_base_url(env), key=key,
        lifetime_days=_seconds(env, "RECOBRO_PAYMENT_LINK_DAYS",
                               f"{PAYMENT_LINK_LIFETIME_DAYS:g}", PAYMENT_LINK_LIFETIME))


def _password_hint(name: str) -> ConfigError:
    return ConfigError(
        f"{name}: the user or password holds a '/', '?', '#' or '@' as is, so the URL "
        "cannot be read: percent-encode them (%2F, %3F, %23, %40), e.g. "
        "postgresql://USER:pa%2Fss@HOST:PORT/DATABASE")


def check_database_url(url: str, name: str = "DATABASE_URL") -> str:
    """The URL, when PostgreSQL's drivers will read it as written:
    postgresql://USER:PASSWORD@HOST:PORT/DATABASE with '/', '?', '#' and
    '@' in the user or password percent-encoded. ConfigError otherwise; its
    message never quotes the URL (a password may be anywhere in it)."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("postgresql", "postgres"):
        raise ConfigError(f"{name} must start with postgresql:// "
                          "(postgresql://USER:PASSWORD@HOST:PORT/DATABASE)")
    if _CONTROL.search(url):
        raise ConfigError(f"{name} holds a control character")
    # The user and password end at the first '/', '?' or '#' (RFC 3986);
    # an '@' after that, or a second '@', is part of a password written as
    # is, and the drivers would each read a different host.
    authority = re.match(r"[^/?#]*", rest).group()
    path = re.match(r"[^?#]*", rest[len(authority):]).group()
    tail = rest[len(authority) + len(path):]
    if "@" in path or authority.count("@") > 1 or ("#" in tail and "@" in tail):
        raise _password_hint(name)
    if "@" not in authority and "@" in tail and "=" not in tail.split("@", 1)[0]:
        raise _password_hint(name)  # 'user:pa?ss@host': no query has '@' before '='
    userinfo, _, hosts = authority.rpartition("@")
    if "%" in userinfo and re.search(r"%(?![0-9A-Fa-f]{2})", userinfo):
        raise ConfigError(f"{name}: the user or password holds a '%' not followed by two hex "
                          "digits: write '%' itself as %25")
    for host in hosts.split(","):
        port = host.rpartition("]")[2] if host.startswith("[") else host
        _, colon, digits = port.rpartition(":") if ":" in port else ("", "", "")
        if colon and not (re.fullmatch(r"[0-9]{1,5}", digits)
                          and PORTS[0] <= int(digits) <= PORTS[1]):
            # Not quoted: with a ':' in the user part and a '/' after it,
            # what stands here is the start of a password.
            raise ConfigError(
                f"{name}: the port after the host is not a whole number from {PORTS[0]} to "
                f"{PORTS[1]} (if that part is a password holding '/', '?', '#' or '@', "
                "percent-encode those: %2F, %3F, %23, %40)")
    return url


def _given(env: Mapping[str, str], name: str) -> str:
    """A secret as set: the variable, else the first line of the file its
    _FILE names ('' when neither is there or the file cannot be read)."""
    if env.get(name):
        return env[name]
    try:
        lines = Path(env.get(f"{name}_FILE", "")).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return ""
    return lines[0].strip() if lines else ""


def secrets_of(env: Mapping[str, str]) -> list[str]:
    """The secrets among the settings (the DATABASE_URL's password as
    written and decoded): what no message may show."""
    found = [_given(env, name) for name in
             ("RECOBRO_AMI_SECRET", "RECOBRO_ARI_PASSWORD", "RECOBRO_API_TOKEN",
             "RECOBRO_PAYMENT_GATEWAY_KEY", "RECOBRO_PAYMENT_LINK_KEY",
             "RECOBRO_KANNEL_PASSWORD", "RECOBRO_SMS_HTTP_TOKEN", "RECOBRO_SMTP_PASSWORD",
             "RECOBRO_MESSAGE_CALLBACK_TOKEN", "RECOBRO_ASTERISK_METRICS_PASSWORD")]
    url = _given(env, "DATABASE_URL")
    _, sep, rest = url.partition("://")
    if sep:
        # Whatever sits between the user's ':' and the last '@' (even when
        # '/', '?' or '#' split it from the host as urlsplit reads it).
        userinfo = rest.rpartition("@")[0]
        password = userinfo.partition(":")[2]
        found += [password, unquote(password), *re.split(r"[/?#@]", password)]
    # Short strings would be masked in every word they happen to be in
    # ("pass" in "password"); the messages themselves never quote a secret.
    return sorted({s for s in found if len(s) >= 8}, key=len, reverse=True)


def _required_secret(env: Mapping[str, str], name: str) -> str:
    """A secret that must be set: the variable name, or the first line of
    the file name_FILE names (a secret mounted by the deployment)."""
    value = _secret(env, name, f"{name}_FILE", spaces=True)
    if not value:
        raise ConfigError(f"{name} is not set, nor {name}_FILE (run `recobro lab up`, or set "
                          "it for your Asterisk)")
    return value


def load_database_url(env: Mapping[str, str] | None = None) -> str:
    """DATABASE_URL (or the first line of DATABASE_URL_FILE), checked: all
    a command that only reads and writes PostgreSQL needs (no Asterisk
    settings)."""
    env = environment() if env is None else env
    name = "DATABASE_URL_FILE" if _value(env, "DATABASE_URL_FILE") else "DATABASE_URL"
    return check_database_url(_required_secret(env, "DATABASE_URL"), name)


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from the environment; ConfigError names what is wrong
    (and never quotes a secret)."""
    env = environment() if env is None else env
    language = _value(env, "RECOBRO_LANGUAGE", "es")
    caller_id = _phone(env, "RECOBRO_CALLER_ID", "+15550100000")
    shown = _value(env, "RECOBRO_AGENT_CALLER_ID", AgentCallerId.DEBTOR.value)
    try:
        agent_caller_id = AgentCallerId(shown)
    except ValueError:
        raise ConfigError(f"RECOBRO_AGENT_CALLER_ID={shown!r}: use "
                          + ", ".join(v.value for v in AgentCallerId)) from None
    if language not in LANGUAGES:
        raise ConfigError(f"RECOBRO_LANGUAGE={language!r}: use {' or '.join(LANGUAGES)}")
    return Settings(
        ami=AmiSettings(
            host=_host(env, "RECOBRO_AMI_HOST", "127.0.0.1"),
            port=_port(env, "RECOBRO_AMI_PORT", "5038"),
            user=_required(env, "RECOBRO_AMI_USER"),
            secret=_required_secret(env, "RECOBRO_AMI_SECRET"),
            ping_s=_seconds(env, "RECOBRO_AMI_PING_S", f"{AMI_PING_S:g}", AMI_PING),
        ),
        ari=AriSettings(
            url=_ari_url(env),
            user=_required(env, "RECOBRO_ARI_USER"),
            password=_required_secret(env, "RECOBRO_ARI_PASSWORD"),
            app=_named(env, "RECOBRO_ARI_APP", "recobro", "a Stasis application's name"),
        ),
        database_url=load_database_url(env),
        trunk=_named(env, "RECOBRO_TRUNK", "recobro-trunk", "a PJSIP endpoint's name"),
        caller_id=caller_id,
        callback_number=_phone(env, "RECOBRO_CALLBACK_NUMBER", caller_id),
        ring_timeout_s=_seconds(env, "RECOBRO_RING_TIMEOUT", "25", RING_TIMEOUT_S),
        language=language,
        api=ApiSettings(host=_host(env, "RECOBRO_API_HOST", "127.0.0.1"),
                        port=_port(env, "RECOBRO_API_PORT", "8480"),
                        token=_secret(env, "RECOBRO_API_TOKEN", "RECOBRO_API_TOKEN_FILE",
                                      spaces=True),
                        recordings_dir=_directory(env, "RECOBRO_RECORDINGS_DIR",
                                                  DEFAULT_RECORDINGS_DIR)),
        agent_caller_id=agent_caller_id,
        db_ride_out_s=_seconds(env, "RECOBRO_DB_RIDE_OUT", f"{RIDE_OUT_S:g}", RIDE_OUT),
        db_query_timeout_s=_seconds(env, "RECOBRO_DB_QUERY_TIMEOUT", f"{QUERY_TIMEOUT_S:g}",
                                    QUERY_TIMEOUT),
        event_buffer=_whole(env, "RECOBRO_EVENT_BUFFER", str(EVENT_BUFFER), EVENT_BUFFER_RANGE),
        asterisk_name=_named(env, "RECOBRO_ASTERISK_NAME", DEFAULT_ASTERISK_NAME,
                             "an Asterisk server's name"),
    )


@dataclass(frozen=True)
class AgiSettings:
    """`recobro agi`: where its FastAGI server listens (loopback unless
    set: FastAGI has no authentication), and the database it answers from."""

    host: str
    port: int
    database_url: str = field(repr=False)


def load_agi_settings(env: Mapping[str, str] | None = None) -> AgiSettings:
    """RECOBRO_AGI_HOST, RECOBRO_AGI_PORT (FastAGI's usual 4573) and DATABASE_URL."""
    env = environment() if env is None else env
    return AgiSettings(host=_host(env, "RECOBRO_AGI_HOST", "127.0.0.1"),
                       port=_port(env, "RECOBRO_AGI_PORT", "4573"),
                       database_url=load_database_url(env))


@dataclass(frozen=True)
class MetricsSettings:
    """Where a long-running process serves Prometheus's /metrics (loopback
    unless set; port None: not served, 0: any free port), and the directory
    it announces itself in for Prometheus's file-based discovery (None:
    not announced; the scrape config names the port instead)."""

    host: str
    port: int | None
    targets_dir: Path | None


def load_metrics_settings(env: Mapping[str, str] | None = None) -> MetricsSettings:
    """RECOBRO_METRICS_HOST, RECOBRO_METRICS_PORT (unset: no /metrics; 0: any
    free port, for several processes on one host) and RECOBRO_METRICS_TARGETS
    (a directory Prometheus's file_sd_configs read)."""
    env = environment() if env is None else env
    raw_port = _value(env, "RECOBRO_METRICS_PORT", "")
    port = None if not raw_port else (0 if raw_port == "0" else
                                      _port(env, "RECOBRO_METRICS_PORT", ""))
    targets = _value(env, "RECOBRO_METRICS_TARGETS", "")
    if targets and not Path(targets).is_dir():
        raise ConfigError(f"RECOBRO_METRICS_TARGETS={_shown(targets)}: no such directory")
    return MetricsSettings(host=_host(env, "RECOBRO_METRICS_HOST", "127.0.0.1"), port=port,
                           targets_dir=Path(targets) if targets else None)


# Messages' channels (docs/messages.md): the SMS provider, the SMTP server,
# and the callback listener that takes Kannel's delivery reports and replies.
SMS_PROVIDERS = ("kannel", "http")


@dataclass(frozen=True)
class MessageCallbackSettings:
    """Recobro's callback listener: where it listens (loopback unless
    set), the base URL Kannel reaches it at, and the token every callback
    must carry."""

    host: str
    port: int
    public_url: str
    token: str = field(repr=False)


@dataclass(frozen=True)
class KannelSettings:
    """Kannel's sendsms interface (smsbox): its base URL, the sendsms
    user, and the sender id texts go from."""

    url: str
    user: str
    password: str = field(repr=False)
    sender: str = ""
    timeout_s: float = MESSAGE_PROVIDER_TIMEOUT_S


@dataclass(frozen=True)
class HttpSmsSettings:
    """A generic HTTP/JSON SMS provider: the URL texts are POSTed to, its
    bearer token, the sender id, and the answer's field holding its id for
    the message (dotted for a nested one: data.id)."""

    url: str
    token: str = field(repr=False)
    sender: str = ""
    id_field: str = "id"
    timeout_s: float = MESSAGE_PROVIDER_TIMEOUT_S
    status_field: str = "status"  # a delivery report's status (dialer.messages.http_sms)


@dataclass(frozen=True)
class SmtpSettings:
    """The SMTP server e-mails go through, and who they are from."""

    host: str
    port: int
    sender: str  # the From address
    user: str = ""
    password: str = field(default="", repr=False)
    starttls: bool = True
    timeout_s: float = MESSAGE_PROVIDER_TIMEOUT_S


@dataclass(frozen=True)
class MessageChannelSettings:
    """Which channels send (None: that channel is not configured)."""

    sms: KannelSettings | HttpSmsSettings | None
    email: SmtpSettings | None
    callback: MessageCallbackSettings


_EMAIL = re.compile(r"[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+")
_FIELD = re.compile(r"[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*")
_LOOPBACK = ("127.0.0.1", "::1", "localhost")


def _http_url(env: Mapping[str, str], name: str, example: str, hint: str) -> str:
    """An http(s)://HOST[:PORT][/PATH] setting with no user in it."""
    written = _value(env, name)
    if not written:
        raise ConfigError(f"{name} is not set: {hint}, e.g. {example}")
    parts = urlsplit(written.rstrip("/"))
    if "@" in parts.netloc:
        raise ConfigError(f"{name} must not hold a user or password: each has its own setting")
    if not _web_address(parts):
        raise ConfigError(f"{name}={_shown(written)}: use http(s)://HOST[:PORT][/PATH], no "
                          f"query or fragment (e.g. {example})")
    return written.rstrip("/")


def _yes_no(env: Mapping[str, str], name: str, default: str) -> bool:
    raw = _value(env, name, default).lower()
    if raw not in ("yes", "no", "true", "false", "1", "0"):
        raise ConfigError(f"{name}={_shown(raw)}: use yes or no")
    return raw in ("yes", "true", "1")


def _sender_id(env: Mapping[str, str]) -> str:
    """RECOBRO_SMS_SENDER: the number (or alphanumeric id) texts go from."""
    name = "RECOBRO_SMS_SENDER"
    value = _value(env, name, _value(env, "RECOBRO_CALLER_ID", "+15550100000"))
    if not (_PHONE.fullmatch(value) or re.fullmatch(r"[A-Za-z0-9 ]{1,11}", value)):
        raise ConfigError(f"{name}={_shown(value)}: a number (3 to 15 digits, optionally after "
                          "a +) or an alphanumeric sender id of at most 11 letters and digits")
    return value


def _timeout(env: Mapping[str, str]) -> float:
    return _seconds(env, "RECOBRO_MESSAGE_PROVIDER_TIMEOUT_S", f"{MESSAGE_PROVIDER_TIMEOUT_S:g}",
                    MESSAGE_PROVIDER_TIMEOUT)


def _callback_settings(env: Mapping[str, str]) -> MessageCallbackSettings:
    host = _host(env, "RECOBRO_MESSAGE_CALLBACK_HOST", "127.0.0.1")
    port = _port(env, "RECOBRO_MESSAGE_CALLBACK_PORT", "8481")
    shown_host = f"[{host}]" if ":" in host else host
    public = _value(env, "RECOBRO_MESSAGE_CALLBACK_URL")
    public_url = (_http_url(env, "RECOBRO_MESSAGE_CALLBACK_URL", "http://127.0.0.1:8481",
                            "the base URL Kannel reaches the callback listener at")
                  if public else f"http://{shown_host}:{port}")
    token = _secret(env, "RECOBRO_MESSAGE_CALLBACK_TOKEN", "RECOBRO_MESSAGE_CALLBACK_TOKEN_FILE")
    return MessageCallbackSettings(host=host, port=port, public_url=public_url, token=token)


def _sms_settings(env: Mapping[str, str], callback: MessageCallbackSettings
                  ) -> KannelSettings | HttpSmsSettings | None:
    provider = _value(env, "RECOBRO_SMS_PROVIDER").lower()
    if not provider:
        return None
    if provider not in SMS_PROVIDERS:
        raise ConfigError(f"RECOBRO_SMS_PROVIDER={_shown(provider)}: use "
                          f"{' or '.join(SMS_PROVIDERS)} (or leave it unset: no SMS)")
    if provider == "kannel":
        if len(callback.token) < 16:
            raise ConfigError("RECOBRO_MESSAGE_CALLBACK_TOKEN (or its _FILE) is not set or "
                              "shorter than 16 characters: Kannel's delivery reports and "
                              "replies carry it (e.g. `openssl rand -hex 16`)")
        password = _secret(env, "RECOBRO_KANNEL_PASSWORD", "RECOBRO_KANNEL_PASSWORD_FILE")
        if not password:
            raise ConfigError("RECOBRO_KANNEL_PASSWORD is not set (or RECOBRO_KANNEL_PASSWORD_"
                              "FILE): the password of Kannel's sendsms-user")
        return KannelSettings(
            url=_http_url(env, "RECOBRO_KANNEL_URL", "http://127.0.0.1:13013",
                          "Kannel's sendsms interface (smsbox)"),
            user=_required(env, "RECOBRO_KANNEL_USER"), password=password,
            sender=_sender_id(env), timeout_s=_timeout(env))
    token = _secret(env, "RECOBRO_SMS_HTTP_TOKEN", "RECOBRO_SMS_HTTP_TOKEN_FILE")
    if not token:
        raise ConfigError("RECOBRO_SMS_HTTP_TOKEN is not set (or RECOBRO_SMS_HTTP_TOKEN_FILE): "
                          "the SMS provider's API token (sent as a Bearer token)")
    id_field = _value(env, "RECOBRO_SMS_HTTP_ID_FIELD", "id")
    if not _FIELD.fullmatch(id_field):
        raise ConfigError(f"RECOBRO_SMS_HTTP_ID_FIELD={_shown(id_field)}: a field of the "
                          "provider's JSON answer, dotted for a nested one (e.g. id, data.id)")
    status_field = _value(env, "RECOBRO_SMS_HTTP_STATUS_FIELD", "status")
    if not _FIELD.fullmatch(status_field):
        raise ConfigError(f"RECOBRO_SMS_HTTP_STATUS_FIELD={_shown(status_field)}: a field of "
                          "the provider's delivery reports, dotted for a nested one (e.g. "
                          "status, data.status)")
    return HttpSmsSettings(
        url=_http_url(env, "RECOBRO_SMS_HTTP_URL", "https://sms.example.com/v1/messages",
                      "the URL the HTTP SMS provider takes texts at"),
        token=token, sender=_sender_id(env), id_field=id_field, timeout_s=_timeout(env),
        status_field=status_field)


def _smtp_settings(env: Mapping[str, str]) -> SmtpSettings | None:
    if not _value(env, "RECOBRO_SMTP_HOST"):
        return None
    host = _host(env, "RECOBRO_SMTP_HOST", "")
    sender = _value(env, "RECOBRO_EMAIL_FROM")
    if not _EMAIL.fullmatch(sender):
        raise ConfigError(f"RECOBRO_EMAIL_FROM={_shown(sender)}: the address e-mails are from, "
                          "e.g. cobranza@example.com" if sender else
                          "RECOBRO_EMAIL_FROM is not set: the address e-mails are from, e.g. "
                          "cobranza@example.com")
    user = _value(env, "RECOBRO_SMTP_USER")
    password = _secret(env, "RECOBRO_SMTP_PASSWORD", "RECOBRO_SMTP_PASSWORD_FILE")
    if bool(user) != bool(password):
        raise ConfigError("RECOBRO_SMTP_USER and RECOBRO_SMTP_PASSWORD (or its _FILE) go "
                          "together: set both, or neither")
    starttls = _yes_no(env, "RECOBRO_SMTP_STARTTLS", "yes")
    if password and not starttls and host not in _LOOPBACK:
        raise ConfigError("RECOBRO_SMTP_STARTTLS=no with RECOBRO_SMTP_USER set: the password "
                          f"would cross the network to {host} in clear; use STARTTLS")
    return SmtpSettings(host=host, port=_port(env, "RECOBRO_SMTP_PORT", "587"), sender=sender,
                        user=user, password=password, starttls=starttls,
                        timeout_s=_timeout(env))


def load_message_channel_settings(env: Mapping[str, str] | None = None
                                  ) -> MessageChannelSettings:
    """The channels messages go by (SMS when RECOBRO_SMS_PROVIDER is set,
    e-mail when RECOBRO_SMTP_HOST is) and the callback listener's
    settings; ConfigError names what is wrong (and never quotes a secret)."""
    env = environment() if env is None else env
    callback = _callback_settings(env)
    return MessageChannelSettings(sms=_sms_settings(env, callback), email=_smtp_settings(env),
                                  callback=callback)


# Asterisk's own settings, what its configs (asterisk_conf/) are rendered
# with: by the lab from its LabConfig, by the Asterisk image at each start
# from these variables (dialer/asterisk_config.py, docs/configuration.md).
ASTERISK_METRICS_USER = "prometheus"  # res_prometheus's basic-auth user
LOOPBACK_ONLY = "127.0.0.1/255.255.255.255"  # AMI's permit unless set


@dataclass(frozen=True)
class SipAgent:
    """An agent's softphone endpoint: its name (the SIP user), the name its
    calls show, and its SIP password."""

    endpoint: str
    name: str
    secret: str = field(repr=False)


@dataclass(frozen=True)
class AsteriskSite:
    """What Recobro's Asterisk configs are rendered with: where Asterisk
    keeps its files, where each listener binds (loopback unless set), who
    may log in, the trunk, the agents' endpoints and the RTP ports."""

    run_dir: str  # as Asterisk sees it: etc/, spool/, log/... below it
    language: str
    ami_host: str
    ami_port: int
    ami_permit: str  # the addresses AMI takes logins from: ADDRESS/MASK
    ami_user: str
    ami_secret: str = field(repr=False)
    http_host: str  # Asterisk's HTTP server: ARI and res_prometheus
    http_port: int
    ari_user: str
    ari_password: str = field(repr=False)
    ari_app: str
    sip_host: str  # SIP and RTP bind here; SDP offers it unless external_address
    sip_port: int
    external_address: str  # '' unless Asterisk sits behind NAT (a container's published ports)
    local_net: str  # with external_address: the network reached without NAT
    trunk: str
    trunk_host: str
    trunk_port: int
    caller_id: str
    rtp_start: int
    rtp_end: int
    agents: tuple[SipAgent, ...]
    agi_host: str  # where the dialplan's FastAGI hooks reach `recobro agi`
    agi_port: int
    metrics_user: str
    metrics_password: str = field(repr=False)


def _network(env: Mapping[str, str], name: str, default: str) -> str:
    """ADDRESS/MASK or ADDRESS/PREFIX (Asterisk's permit and local_net)."""
    value = _value(env, name, default)
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ConfigError(f"{name}={_shown(value)}: a network, ADDRESS/MASK or ADDRESS/PREFIX "
                          "(e.g. 172.30.77.0/255.255.255.0)") from None
    return value


def _rtp_ports(env: Mapping[str, str]) -> tuple[int, int]:
    name = "RECOBRO_ASTERISK_RTP_PORTS"
    raw = _value(env, name, "10000-10999")
    first, dash, last = raw.partition("-")
    if not (dash and first.isdigit() and last.isdigit()
            and PORTS[0] <= int(first) < int(last) <= PORTS[1]):
        raise ConfigError(f"{name}={_shown(raw)}: FIRST-LAST, two ports with FIRST below LAST "
                          "(e.g. 10000-10999)")
    return int(first), int(last)


def _sip_agents(env: Mapping[str, str]) -> tuple[SipAgent, ...]:
    """RECOBRO_ASTERISK_AGENTS_FILE: one agent a line, `ENDPOINT SECRET
    [NAME...]` (blank lines and # comments skipped); unset: no agents."""
    name = "RECOBRO_ASTERISK_AGENTS_FILE"
    path = _value(env, name)
    if not path:
        return ()
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        why = getattr(error, "strerror", None) or "not UTF-8"
        raise ConfigError(f"{name}={_shown(path)}: cannot read it ({why})") from None
    agents: list[SipAgent] = []
    for number, line in enumerate(text.splitlines(), start=1):
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        where = f"{name}={_shown(path)} line {number}"
        if len(words) < 2 or not _NAME.fullmatch(words[0]) or ";" in words[1]:
            raise ConfigError(f"{where}: expected ENDPOINT SECRET [NAME], the endpoint "
                              "letters, digits, '.', '_' and '-', the secret without ';'")
        if _CONTROL.search(line) or any(c in '"<>;' for c in " ".join(words[2:])):
            raise ConfigError(f"{where}: the name holds a control character or one of \" < > ;")
        if words[0] in {agent.endpoint for agent in agents}:
            raise ConfigError(f"{where}: endpoint {words[0]} is listed twice")
        agents.append(SipAgent(endpoint=words[0], secret=words[1],
                               name=" ".join(words[2:]) or words[0]))
    return tuple(agents)


def _conf_secret(env: Mapping[str, str], name: str) -> str:
    """A secret written into Asterisk's configs, where ';' starts a comment."""
    value = _required_secret(env, name)
    if ";" in value:
        raise ConfigError(f"{name} (or {name}_FILE): the secret holds a ';', which Asterisk's "
                          "configs read as a comment's start")
    return value


def load_asterisk_site(env: Mapping[str, str] | None = None) -> AsteriskSite:
    """The Asterisk image's site from RECOBRO_ASTERISK_* and the settings it
    shares with Recobro (AMI and ARI users, trunk, caller ID, language);
    secrets from their _FILE. ConfigError names what is wrong."""
    env = environment() if env is None else env
    language = _value(env, "RECOBRO_LANGUAGE", "es")
    if language not in LANGUAGES:
        raise ConfigError(f"RECOBRO_LANGUAGE={language!r}: use {' or '.join(LANGUAGES)}")
    external = _value(env, "RECOBRO_ASTERISK_EXTERNAL_ADDRESS")
    if external:
        external = _host(env, "RECOBRO_ASTERISK_EXTERNAL_ADDRESS", "")
        if not _value(env, "RECOBRO_ASTERISK_LOCAL_NET"):
            raise ConfigError("RECOBRO_ASTERISK_LOCAL_NET is not set: with "
                              "RECOBRO_ASTERISK_EXTERNAL_ADDRESS, the network Asterisk reaches "
                              "without NAT (e.g. 172.30.77.0/24)")
    rtp_start, rtp_end = _rtp_ports(env)
    return AsteriskSite(
        run_dir=str(_directory(env, "RECOBRO_ASTERISK_RUN_DIR", Path("/srv/asterisk"))),
        language=language,
        ami_host=_host(env, "RECOBRO_ASTERISK_AMI_HOST", "127.0.0.1"),
        ami_port=_port(env, "RECOBRO_AMI_PORT", "5038"),
        ami_permit=_network(env, "RECOBRO_ASTERISK_AMI_PERMIT", LOOPBACK_ONLY),
        ami_user=_named(env, "RECOBRO_AMI_USER", _required(env, "RECOBRO_AMI_USER"), "the AMI user"),
        ami_secret=_conf_secret(env, "RECOBRO_AMI_SECRET"),
        http_host=_host(env, "RECOBRO_ASTERISK_HTTP_HOST", "127.0.0.1"),
        http_port=_port(env, "RECOBRO_ASTERISK_HTTP_PORT", "8088"),
        ari_user=_named(env, "RECOBRO_ARI_USER", _required(env, "RECOBRO_ARI_USER"), "the ARI user"),
        ari_password=_conf_secret(env, "RECOBRO_ARI_PASSWORD"),
        ari_app=_named(env, "RECOBRO_ARI_APP", "recobro", "a Stasis application's name"),
        sip_host=_host(env, "RECOBRO_ASTERISK_SIP_HOST", "127.0.0.1"),
        sip_port=_port(env, "RECOBRO_ASTERISK_SIP_PORT", "5060"),
        external_address=external,
        local_net=_network(env, "RECOBRO_ASTERISK_LOCAL_NET", "127.0.0.1/32") if external else "",
        trunk=_named(env, "RECOBRO_TRUNK", "recobro-trunk", "a PJSIP endpoint's name"),
        trunk_host=_host(env, "RECOBRO_ASTERISK_TRUNK_HOST",
                         _required(env, "RECOBRO_ASTERISK_TRUNK_HOST")),
        trunk_port=_port(env, "RECOBRO_ASTERISK_TRUNK_PORT", "5060"),
        caller_id=_phone(env, "RECOBRO_CALLER_ID", "+15550100000"),
        rtp_start=rtp_start, rtp_end=rtp_end,
        agents=_sip_agents(env),
        agi_host=_host(env, "RECOBRO_ASTERISK_AGI_HOST", "127.0.0.1"),
        agi_port=_port(env, "RECOBRO_ASTERISK_AGI_PORT", "4573"),
        metrics_user=_named(env, "RECOBRO_ASTERISK_METRICS_USER", ASTERISK_METRICS_USER,
                            "res_prometheus's user"),
        metrics_password=_conf_secret(env, "RECOBRO_ASTERISK_METRICS_PASSWORD"),
    )
