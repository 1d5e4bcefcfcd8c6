"""`recobro lab up|down|status`: the whole lab, idempotent both ways."""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
from dataclasses import dataclass

import psycopg

from dialer.errors import LabError
from dialer.messages.kannel import DLR_PATH
from dialer.settings import load_settings, read_env_file
from dialer.sounds_check import missing_sounds, require
from dialer.store.migrate import apply_migrations
from lab import (
    api,
    asterisk,
    kannel,
    postgres,
    process,
    prometheus,
    prompts,
    provision,
    second_asterisk,
    sipp,
    smtp,
    stripe_mock,
)
from lab.config import ARI_APP, CALLER_ID, TRUNK, LabConfig, second_asterisk_config
from lab.prompts import callback_number

LAB_EMAIL_FROM = "cobranza@recobro.test"  # .test: a domain that never exists


@dataclass(frozen=True)
class Part:
    """One running (or stopped) part of the lab, as `lab status` shows it."""

    name: str
    pid: int | None
    where: str


def _external_database() -> str | None:
    return os.environ.get("DATABASE_URL") or None


def write_env_file(cfg: LabConfig, database_url: str) -> None:
    """The settings the engine needs to use this lab (read by the CLI)."""
    lines = {
        "RECOBRO_AMI_HOST": cfg.host, "RECOBRO_AMI_PORT": str(cfg.ami_port),
        "RECOBRO_AMI_USER": cfg.ami_user, "RECOBRO_AMI_SECRET": cfg.ami_secret,
        "RECOBRO_ARI_URL": f"http://{cfg.host}:{cfg.ari_port}",
        "RECOBRO_ARI_USER": cfg.ari_user, "RECOBRO_ARI_PASSWORD": cfg.ari_password,
        "RECOBRO_ARI_APP": ARI_APP, "RECOBRO_TRUNK": TRUNK, "RECOBRO_CALLER_ID": CALLER_ID,
        "RECOBRO_ASTERISK_NAME": cfg.asterisk_name,
        "DATABASE_URL": database_url,
        "RECOBRO_API_HOST": cfg.host, "RECOBRO_API_PORT": str(cfg.api_port),
        "RECOBRO_API_TOKEN": cfg.api_token,
        # Where the lab's Asterisk writes recordings (astspooldir/monitor).
        "RECOBRO_RECORDINGS_DIR": str(cfg.asterisk_run_dir / "spool" / "monitor"),
        # What the lab's recordings say (prompts.py), and the fallback too.
        "RECOBRO_CALLBACK_NUMBER": callback_number(),
        # The card gateway: the lab's Stripe mock (docs/payments.md).
        "RECOBRO_PAYMENT_GATEWAY_URL": stripe_mock.url(cfg),
        "RECOBRO_PAYMENT_GATEWAY_KEY": cfg.payment_gateway_key,
        # Payment links (docs/messages.md): the page behind them is to come,
        # on the API's port.
        "RECOBRO_PAYMENT_LINK_URL": f"http://{cfg.host}:{cfg.api_port}/pay",
        "RECOBRO_PAYMENT_LINK_KEY": cfg.payment_link_key,
        # Messages (docs/messages.md): SMS through the lab's Kannel, e-mail
        # to its SMTP server, and Kannel's reports to the callback listener.
        "RECOBRO_SMS_PROVIDER": "kannel",
        "RECOBRO_KANNEL_URL": kannel.sendsms_url(cfg),
        "RECOBRO_KANNEL_USER": kannel.SENDSMS_USER,
        "RECOBRO_KANNEL_PASSWORD": cfg.kannel_sendsms_password,
        "RECOBRO_SMS_SENDER": CALLER_ID,
        "RECOBRO_MESSAGE_CALLBACK_HOST": cfg.host,
        "RECOBRO_MESSAGE_CALLBACK_PORT": str(cfg.message_callback_port),
        "RECOBRO_MESSAGE_CALLBACK_URL": kannel.callback_url(cfg),
        "RECOBRO_MESSAGE_CALLBACK_TOKEN": cfg.message_callback_token,
        "RECOBRO_SMTP_HOST": cfg.host,
        "RECOBRO_SMTP_PORT": str(cfg.smtp_port),
        "RECOBRO_SMTP_STARTTLS": "no",  # loopback, no credentials
        "RECOBRO_EMAIL_FROM": LAB_EMAIL_FROM,
        # The FastAGI hooks (docs/agi.md), which the lab-agi context calls.
        "RECOBRO_AGI_HOST": cfg.host, "RECOBRO_AGI_PORT": str(cfg.agi_port),
        # Metrics (docs/metrics.md): each process on a free loopback port,
        # announced to the lab's Prometheus by a target file.
        "RECOBRO_METRICS_PORT": "0",
        "RECOBRO_METRICS_TARGETS": str(prometheus.targets_dir(cfg)),
    }
    prometheus.targets_dir(cfg).mkdir(parents=True, exist_ok=True)
    cfg.env_file.parent.mkdir(parents=True, exist_ok=True)
    cfg.env_file.touch(mode=0o600)
    cfg.env_file.write_text("# Written by `recobro lab up`.\n"
                            + "".join(f"{k}={v}\n" for k, v in lines.items()))


# The lab's agents all speak both languages, at different levels, so any
# of them can take any lab call; a test may give them other skills.
LAB_SKILLS = (
    {"language:es": 5, "language:en": 2, "segment:early": 4, "negotiation": 2},
    {"language:es": 2, "language:en": 5, "segment:mid": 4, "negotiation": 3},
    {"language:es": 4, "language:en": 4, "segment:late": 5, "tier:high": 3, "negotiation": 5},
    {"language:es": 3, "language:en": 3, "tier:mid": 3, "negotiation": 1},
)


def enrol_agents(cfg: LabConfig, database_url: str) -> None:
    """The lab's agents exist in the agents table (logged out when new),
    with their skills when they have none."""
    with psycopg.connect(database_url) as connection:
        cursor = connection.cursor()
        cursor.executemany(
            "INSERT INTO agents (endpoint, name) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            [(a.endpoint, a.name) for a in cfg.agents])
        for agent, skills in zip(cfg.agents, itertools.cycle(LAB_SKILLS)):
            cursor.execute("SELECT count(*) FROM agent_skills WHERE endpoint = %s",
                           (agent.endpoint,))
            if cursor.fetchone()[0] == 0:
                cursor.executemany(
                    "INSERT INTO agent_skills (endpoint, skill, level) VALUES (%s, %s, %s)",
                    [(agent.endpoint, skill, level) for skill, level in skills.items()])


def _check_ports_free(cfg: LabConfig) -> None:
    """Refuse to start over ports another program (or another lab) holds."""
    wanted: list[tuple[str, int, int]] = []
    if asterisk.running_pid(cfg) is None:
        wanted += [("AMI", cfg.ami_port, socket.SOCK_STREAM),
                   ("ARI", cfg.ari_port, socket.SOCK_STREAM),
                   ("SIP", cfg.sip_port, socket.SOCK_DGRAM)]
    if sipp.pstn_pid(cfg) is None:
        wanted.append(("the sipp PSTN", cfg.pstn_port, socket.SOCK_DGRAM))
    wanted += [(f"{a.endpoint}'s softphone", a.sip_port, socket.SOCK_DGRAM)
               for a in cfg.agents if sipp.agent_pid(cfg, a) is None]
    if _external_database() is None and postgres.running_pid(cfg) is None:
        wanted.append(("PostgreSQL", cfg.pg_port, socket.SOCK_STREAM))
    if api.running_pid(cfg) is None:
        wanted.append(("recobro api", cfg.api_port, socket.SOCK_STREAM))
    if stripe_mock.running_pid(cfg) is None:
        wanted.append(("the Stripe mock", cfg.stripe_mock_port, socket.SOCK_STREAM))
    if kannel.running(cfg, "bearerbox") is None:
        wanted += [("Kannel's admin", cfg.kannel_admin_port, socket.SOCK_STREAM),
                   ("Kannel's box port", cfg.kannel_box_port, socket.SOCK_STREAM),
                   ("Kannel's fake SMSC", cfg.fakesmsc_port, socket.SOCK_STREAM)]
    if kannel.running(cfg, "smsbox") is None:
        wanted.append(("Kannel's sendsms", cfg.kannel_sendsms_port, socket.SOCK_STREAM))
    if smtp.running_pid(cfg) is None:
        wanted.append(("the SMTP server", cfg.smtp_port, socket.SOCK_STREAM))
    if prometheus.running_pid(cfg) is None:
        wanted.append(("Prometheus", cfg.prometheus_port, socket.SOCK_STREAM))
    for what, port, kind in wanted:
        if process.port_in_use(cfg.host, port, kind):
            raise LabError(f"port {port} for {what} is already in use on {cfg.host}: stop "
                           "what holds it, or set RECOBRO_LAB_PORT_BASE (now "
                           f"{cfg.port_base}) to move the whole lab")


def up(cfg: LabConfig) -> list[Part]:
    """Provision what is missing and start every part that is not running."""
    _check_ports_free(cfg)
    with provision.one_lab_at_a_time(cfg.cache_dir):
        provision.ensure_host_packages()
        provision.ensure_asterisk_root(cfg.asterisk_root)
        prompts.render_recordings(cfg)
    database_url = _external_database()
    if database_url is None:
        postgres.start(cfg)
        database_url = postgres.database_url(cfg)
    apply_migrations(database_url)
    enrol_agents(cfg, database_url)
    write_env_file(cfg, database_url)
    sipp.start_pstn(cfg)
    for agent in cfg.agents:
        sipp.start_agent(cfg, agent)
    asterisk.start(cfg)
    for agent in cfg.agents:
        sipp.register_agent(cfg, agent)
    check_sounds(cfg)
    stripe_mock.start(cfg)
    kannel.start(cfg)
    smtp.start(cfg)
    prometheus.start(cfg)
    api.start(cfg)
    return status(cfg)


def up_second_asterisk(cfg: LabConfig) -> LabConfig:
    """The lab's second Asterisk (lab.second_asterisk) started unless it
    runs, its agents enrolled on it and the first's on the first (every
    agent of a lab with two servers names its own), and its settings file
    (RECOBRO_ASTERISK_NAME, its AMI and ARI) written in its directory;
    its config. The lab itself must be up."""
    database_url = read_env_file(cfg.env_file)["DATABASE_URL"]
    second = second_asterisk_config(cfg)
    second_asterisk.start(cfg)
    enrol_agents(second, database_url)
    second_asterisk.name_servers(database_url, {cfg.asterisk_name: cfg,
                                                second.asterisk_name: second})
    write_env_file(second, database_url)
    return second


def check_sounds(cfg: LabConfig) -> None:
    """Fail naming every sound a flow plays that the lab's Asterisk lacks."""
    settings = load_settings(read_env_file(cfg.env_file))
    require(asyncio.run(missing_sounds(settings.ari)))


def down(cfg: LabConfig) -> list[Part]:
    """Stop every part the lab started, each by its own PID file."""
    api.stop(cfg)
    second_asterisk.down(cfg)
    prometheus.stop(cfg)
    smtp.stop(cfg)
    kannel.stop(cfg)
    stripe_mock.stop(cfg)
    asterisk.stop(cfg)
    sipp.stop_all(cfg)
    if _external_database() is None:
        postgres.stop(cfg)
    return status(cfg)


def status(cfg: LabConfig) -> list[Part]:
    """What runs, where, and its PID."""
    parts = [
        Part("asterisk", asterisk.running_pid(cfg),
             f"AMI {cfg.host}:{cfg.ami_port}, ARI http://{cfg.host}:{cfg.ari_port}/ari, "
             f"SIP udp {cfg.host}:{cfg.sip_port}"),
        Part("pstn (sipp)", sipp.pstn_pid(cfg), f"udp {cfg.host}:{cfg.pstn_port}"),
    ]
    if (second := second_asterisk.running(cfg)) is not None:
        b = second_asterisk_config(cfg)
        parts.append(Part(f"{b.asterisk_name} (second asterisk)", second,
                          f"AMI {b.host}:{b.ami_port}, ARI http://{b.host}:{b.ari_port}/ari, "
                          f"SIP udp {b.host}:{b.sip_port}, agents "
                          + ", ".join(a.endpoint for a in b.agents)
                          + f"; settings {b.env_file}"))
    parts += [Part(f"{a.endpoint} (sipp)", sipp.agent_pid(cfg, a), f"udp {cfg.host}:{a.sip_port}")
              for a in cfg.agents]
    parts.append(Part("recobro api", api.running_pid(cfg),
                      f"http://{cfg.host}:{cfg.api_port}, agents' feature codes *81-*84"))
    parts.append(Part("stripe mock", stripe_mock.running_pid(cfg),
                      f"{stripe_mock.url(cfg)}, localstripe (Stripe's API)"))
    parts += [
        Part("kannel bearerbox", kannel.running(cfg, "bearerbox"),
             f"admin http://{cfg.host}:{cfg.kannel_admin_port}, fake SMSC tcp "
             f"{cfg.host}:{cfg.fakesmsc_port}"),
        Part("kannel smsbox", kannel.running(cfg, "smsbox"),
             f"sendsms {kannel.sendsms_url(cfg)}, reports to {kannel.callback_url(cfg)}"
             f"{DLR_PATH}"),
        Part("fakesmsc", kannel.running(cfg, "fakesmsc"),
             f"received: {kannel.received_file(cfg)}, replies: {kannel.reply_fifo(cfg)}"),
        Part("smtp (aiosmtpd)", smtp.running_pid(cfg),
             f"smtp {cfg.host}:{cfg.smtp_port}, received: {smtp.maildir(cfg)}"),
        Part("prometheus", prometheus.running_pid(cfg),
             f"{prometheus.url(cfg)}, scraping the targets in {prometheus.targets_dir(cfg)}"),
    ]
    if _external_database() is None:
        parts.append(Part("postgresql", postgres.running_pid(cfg),
                          f"tcp {cfg.host}:{cfg.pg_port}"))
    else:
        parts.append(Part("postgresql", None, "external (DATABASE_URL)"))
    return parts
