"""Where the lab lives, which ports it uses and its per-lab credentials."""

from __future__ import annotations

import hashlib
import os
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from dialer.errors import ConfigError
from dialer.settings import DEFAULT_ASTERISK_NAME, read_env_file

# The templates live in the repository's top-level asterisk_conf/;
# lab/asterisk_conf links to it so that the wheel carries them as package
# data (pyproject.toml) and an installed Recobro renders them outside a clone.
ASTERISK_CONF_DIR: Traversable = resources.files("lab") / "asterisk_conf"
SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"
AGENT_COUNT = 4  # the lab's agents unless RECOBRO_LAB_AGENTS says otherwise
MAX_AGENTS = 16
# The first four agents keep the ports the lab always gave them (docs/lab.md);
# more (RECOBRO_LAB_AGENTS, for `recobro bench pacing-live`) take a block of
# their own above the baresip phones' ports.
FIRST_BLOCK = 4
ARI_APP = "recobro"
TRUNK = "recobro-trunk"
CALLER_ID = "+15550100000"
DEFAULT_PORT_BASE = "15000"


@dataclass(frozen=True)
class LabAgent:
    endpoint: str
    name: str
    secret: str = field(repr=False)
    sip_port: int
    media_port: int


@dataclass(frozen=True)
class LabConfig:
    """One lab's directories, loopback ports and generated credentials."""

    lab_dir: Path
    cache_dir: Path
    port_base: int
    lab_id: str
    ami_user: str
    ami_secret: str = field(repr=False)
    ari_user: str
    ari_password: str = field(repr=False)
    api_token: str = field(repr=False)
    agents: tuple[LabAgent, ...]
    payment_gateway_key: str = field(default="sk_test_lab", repr=False)  # the mock's
    payment_link_key: str = field(default="", repr=False)  # signs payment links
    kannel_admin_password: str = field(default="", repr=False)
    kannel_sendsms_password: str = field(default="", repr=False)
    message_callback_token: str = field(default="", repr=False)  # Kannel -> Recobro
    # Prometheus -> Asterisk's res_prometheus (basic auth on Asterisk's HTTP server).
    asterisk_metrics_password: str = field(default="", repr=False)

    host: str = "127.0.0.1"

    @property
    def asterisk_root(self) -> Path:
        return self.cache_dir / "asterisk-root"

    @property
    def asterisk_run_in_root(self) -> str:
        """The run directory as Asterisk sees it, inside its root."""
        return f"/srv/recobro/{self.lab_id}"

    @property
    def asterisk_run_dir(self) -> Path:
        return self.asterisk_root / self.asterisk_run_in_root.lstrip("/")

    @property
    def pg_dir(self) -> Path:
        # Outside the clone: the postgres user must reach it, and a clone may
        # sit in a directory only root can enter.
        return Path("/var/tmp") / f"recobro-{self.lab_id}"

    @property
    def ami_port(self) -> int:
        return self.port_base + 38

    @property
    def ari_port(self) -> int:
        return self.port_base + 88

    @property
    def sip_port(self) -> int:
        return self.port_base + 60

    @property
    def pstn_port(self) -> int:
        return self.port_base + 70

    @property
    def pstn_media_port(self) -> int:
        return self.port_base + 2000

    @property
    def api_port(self) -> int:
        return self.port_base + 80

    @property
    def pg_port(self) -> int:
        return self.port_base + 432

    @property
    def stripe_mock_port(self) -> int:
        """The Stripe-compatible mock (localstripe), HTTP."""
        return self.port_base + 420

    # sipp's control sockets (a UDP port each process listens on for
    # commands such as "Q", quit): on loopback and on ports of the lab's own,
    # not sipp's default 8888 and up on every interface, shared by all labs.
    @property
    def pstn_control_port(self) -> int:
        return self.port_base + 110

    def agent_control_port(self, agent: LabAgent) -> int:
        """The control port of an agent's sipp phone: 111 to 114, then 344 on."""
        return self.port_base + agent_offsets(self.agents.index(agent)).control

    @property
    def call_in_control_port(self) -> int:
        """A debtor calling in (one-shot sipp, SIP port_base + 97)."""
        return self.port_base + 127

    @property
    def feature_code_control_port(self) -> int:
        """An agent dialing a feature code (one-shot sipp, SIP port_base + 98)."""
        return self.port_base + 128

    @property
    def keying_debtor_port(self) -> int:
        """A debtor who answers and keys a test's script (one-shot sipp UAS)."""
        return self.port_base + 96

    @property
    def keying_debtor_control_port(self) -> int:
        """Its control port."""
        return self.port_base + 126

    @property
    def keying_debtor_media_port(self) -> int:
        """Its RTP port (the payments bench's debtors share it)."""
        return self.port_base + 2070

    @property
    def register_control_port(self) -> int:
        """An agent's registration (one-shot sipp, SIP port_base + 99)."""
        return self.port_base + 129

    # Messages (docs/messages.md): Kannel with its fake SMSC, the SMTP
    # server, and where Recobro's callback listener takes Kannel's reports.
    @property
    def kannel_admin_port(self) -> int:
        """bearerbox's HTTP administration."""
        return self.port_base + 140

    @property
    def kannel_box_port(self) -> int:
        """bearerbox's port for its smsbox."""
        return self.port_base + 141

    @property
    def kannel_sendsms_port(self) -> int:
        """smsbox's sendsms HTTP interface (what Recobro sends through)."""
        return self.port_base + 142

    @property
    def fakesmsc_port(self) -> int:
        """bearerbox's fake SMSC, which fakesmsc connects to."""
        return self.port_base + 143

    @property
    def smtp_port(self) -> int:
        """The lab's SMTP server (aiosmtpd)."""
        return self.port_base + 144

    @property
    def message_callback_port(self) -> int:
        """Recobro's callback listener: Kannel's delivery reports and replies."""
        return self.port_base + 145

    @property
    def agi_port(self) -> int:
        """`recobro agi`, the FastAGI hooks the lab's dialplan calls (the lab
        starts none; a test does, docs/agi.md)."""
        return self.port_base + 146

    @property
    def prometheus_port(self) -> int:
        """The lab's Prometheus: its web UI and query API."""
        return self.port_base + 147

    @property
    def rtp_range(self) -> tuple[int, int]:
        """Asterisk's RTP ports: 1,500, one even port a call, so 750 calls
        at once (recobro bench load ramps to 700)."""
        return self.port_base + 500, self.port_base + 1999

    @property
    def env_file(self) -> Path:
        return self.lab_dir / "recobro.env"

    @property
    def asterisk_name(self) -> str:
        """The name of this lab's Asterisk (RECOBRO_ASTERISK_NAME)."""
        return DEFAULT_ASTERISK_NAME


SECOND_ASTERISK = "asterisk-b"
SECOND_AGENTS = 2


@dataclass(frozen=True)
class SecondAsteriskConfig(LabConfig):
    """The lab's second Asterisk server (issue 20): AMI, ARI, SIP and RTP
    ports, a run directory, a directory beside the lab's (its PID file,
    logs, settings and agents' sipp) and two agents of its own
    (agent2001, agent2002); the first's PostgreSQL and PSTN (its trunk is
    the same sipp), secrets and everything else."""

    @property
    def ami_port(self) -> int:
        return self.port_base + 233

    @property
    def ari_port(self) -> int:
        return self.port_base + 234

    @property
    def sip_port(self) -> int:
        return self.port_base + 235

    @property
    def rtp_range(self) -> tuple[int, int]:
        """20 calls at once."""
        return self.port_base + 2920, self.port_base + 2959

    def agent_control_port(self, agent: LabAgent) -> int:
        return self.port_base + 238 + self.agents.index(agent)

    @property
    def asterisk_name(self) -> str:
        return SECOND_ASTERISK


def second_asterisk_config(cfg: LabConfig) -> SecondAsteriskConfig:
    """The second Asterisk of the lab cfg, its agents' secrets generated once."""
    lab_dir = cfg.lab_dir / SECOND_ASTERISK
    stored = _load_or_create_secrets(lab_dir / "secrets.env", SECOND_AGENTS, agents_only=True)
    agents = tuple(LabAgent(endpoint=f"agent{2001 + i}", name=f"Agent {2001 + i}",
                            secret=stored[f"AGENT_{i}_SECRET"],
                            sip_port=cfg.port_base + 236 + i,
                            media_port=cfg.port_base + 2960 + 10 * i)
                   for i in range(SECOND_AGENTS))
    values = {f.name: getattr(cfg, f.name) for f in fields(cfg)}
    values.update(lab_dir=lab_dir, lab_id=f"{cfg.lab_id}-b", agents=agents)
    return SecondAsteriskConfig(**values)


@dataclass(frozen=True)
class AgentOffsets:
    """An agent's ports, as offsets from the lab's port base."""

    sip: int
    media: int  # sipp also takes media + 1 to + 3
    control: int


def agent_endpoint(index: int) -> str:
    """The endpoint of the agent at index: agent1001, agent1002..."""
    return f"agent{1001 + index}"


def agent_offsets(index: int) -> AgentOffsets:
    """The ports of the agent at index (0: agent1001)."""
    if index < FIRST_BLOCK:
        return AgentOffsets(sip=101 + index, media=2100 + 10 * index, control=111 + index)
    return AgentOffsets(sip=300 + index, media=2600 + 10 * (index - FIRST_BLOCK),
                        control=340 + index)


# Every port of a lab's plan lies below port_base + PORT_SPAN (docs/lab.md),
# so labs PORT_SPAN apart never share one.
PORT_SPAN = 3000


def worker_lab_environment(worker: str, environ: Mapping[str, str]) -> dict[str, str]:
    """The lab settings of a pytest-xdist worker (gw0, gw1, ...): gw0 uses
    the checkout's lab; gwN its own beside it (directory `<lab dir>-gwN`,
    ports N * PORT_SPAN above), so the workers' calls never meet."""
    index = int(worker.removeprefix("gw"))
    if index == 0:
        return {}
    lab_dir = Path(environ.get("RECOBRO_LAB_DIR", ".lab")).resolve()
    base = int(environ.get("RECOBRO_LAB_PORT_BASE", DEFAULT_PORT_BASE)) + index * PORT_SPAN
    return {"RECOBRO_LAB_DIR": str(lab_dir.with_name(f"{lab_dir.name}-{worker}")),
            "RECOBRO_LAB_PORT_BASE": str(base)}


def _port_base() -> int:
    raw = os.environ.get("RECOBRO_LAB_PORT_BASE", DEFAULT_PORT_BASE)
    try:
        base = int(raw)
    except ValueError:
        raise ConfigError(f"RECOBRO_LAB_PORT_BASE={raw!r} is not a number") from None
    if not 1024 <= base <= 60000:
        raise ConfigError(f"RECOBRO_LAB_PORT_BASE={base} must be between 1024 and 60000")
    return base


def agent_count(environ: Mapping[str, str]) -> int:
    """How many agents the lab runs: RECOBRO_LAB_AGENTS, 1 to MAX_AGENTS
    (default AGENT_COUNT)."""
    raw = environ.get("RECOBRO_LAB_AGENTS", str(AGENT_COUNT))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_AGENTS:
        raise ConfigError(f"RECOBRO_LAB_AGENTS={raw!r}: a whole number from 1 to {MAX_AGENTS}")
    return int(raw)


def _secret(length: int) -> str:
    """Letters and digits only: sipp's digest authentication cannot take
    a password with a '-' in it, and no config file needs quoting."""
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _load_or_create_secrets(path: Path, agents: int,
                            agents_only: bool = False) -> dict[str, str]:
    """The lab's secrets, generated once (and any a newer Recobro, or more
    agents, added); agents_only: the agents' alone."""
    wanted = {} if agents_only else {
        "AMI_SECRET": 24, "ARI_PASSWORD": 24, "API_TOKEN": 32, "PAYMENT_GATEWAY_KEY": 24,
        "PAYMENT_LINK_KEY": 43, "KANNEL_ADMIN_PASSWORD": 24, "KANNEL_SENDSMS_PASSWORD": 24,
        "MESSAGE_CALLBACK_TOKEN": 32, "ASTERISK_METRICS_PASSWORD": 24}
    wanted.update({f"AGENT_{index}_SECRET": 16 for index in range(agents)})
    values = read_env_file(path) if path.is_file() else {}
    missing = {key: _secret(size) for key, size in wanted.items() if key not in values}
    if missing:
        values.update(missing)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return values


def load_lab_config() -> LabConfig:
    """The lab of RECOBRO_LAB_DIR (default ./.lab), creating its secrets once."""
    lab_dir = Path(os.environ.get("RECOBRO_LAB_DIR", ".lab")).resolve()
    cache_home = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    cache_dir = Path(os.environ.get("RECOBRO_CACHE_DIR", cache_home / "recobro"))
    port_base = _port_base()
    count = agent_count(os.environ)
    stored = _load_or_create_secrets(lab_dir / "secrets.env", count)
    agents = tuple(
        LabAgent(endpoint=agent_endpoint(i), name=f"Agent {1001 + i}",
                 secret=stored[f"AGENT_{i}_SECRET"],
                 sip_port=port_base + agent_offsets(i).sip,
                 media_port=port_base + agent_offsets(i).media)
        for i in range(count)
    )
    lab_id = hashlib.sha1(str(lab_dir).encode()).hexdigest()[:10]
    return LabConfig(lab_dir=lab_dir, cache_dir=cache_dir, port_base=port_base,
                     lab_id=lab_id, ami_user="recobro", ami_secret=stored["AMI_SECRET"],
                     ari_user="recobro", ari_password=stored["ARI_PASSWORD"],
                     api_token=stored["API_TOKEN"], agents=agents,
                     # A Stripe secret key's form: localstripe takes any sk_...
                     payment_gateway_key=f"sk_test_{stored['PAYMENT_GATEWAY_KEY']}",
                     payment_link_key=stored["PAYMENT_LINK_KEY"],
                     kannel_admin_password=stored["KANNEL_ADMIN_PASSWORD"],
                     kannel_sendsms_password=stored["KANNEL_SENDSMS_PASSWORD"],
                     message_callback_token=stored["MESSAGE_CALLBACK_TOKEN"],
                     asterisk_metrics_password=stored["ASTERISK_METRICS_PASSWORD"])
