"""The lab's second Asterisk server (issue 20, item 2), which
lab.lab.up_second_asterisk starts. It runs beside the first in the
same root, with ports of its own (lab.config.SecondAsteriskConfig), two
sipp agents registered to it alone, and a trunk to the same sipp PSTN; the
first's PostgreSQL holds both servers' calls and agents. Each agent names
its server (agents.asterisk), so a dialer reaches only its own server's
agents: per-server agent pools (docs/lab.md)."""

from __future__ import annotations

import psycopg

from lab import asterisk, sipp
from lab.config import SECOND_ASTERISK, LabConfig, second_asterisk_config


def _ever_started(cfg: LabConfig) -> bool:
    return (cfg.lab_dir / SECOND_ASTERISK).is_dir()


def running(cfg: LabConfig) -> int | None:
    """The second Asterisk's PID, when it runs."""
    return asterisk.running_pid(second_asterisk_config(cfg)) if _ever_started(cfg) else None


def start(cfg: LabConfig) -> None:
    """Start the second Asterisk and its agents' softphones unless they
    run, and register the softphones."""
    second = second_asterisk_config(cfg)
    for agent in second.agents:
        sipp.start_agent(second, agent)
    asterisk.start(second)
    for agent in second.agents:
        sipp.register_agent(second, agent)


def name_servers(database_url: str, servers: dict[str, LabConfig]) -> None:
    """Each lab agent's server: the one its softphone registers to."""
    with psycopg.connect(database_url) as connection:
        connection.cursor().executemany(
            "UPDATE agents SET asterisk = %s WHERE endpoint = %s",
            [(name, agent.endpoint) for name, server in servers.items()
             for agent in server.agents])


def down(cfg: LabConfig) -> bool:
    """Stop the second Asterisk and its agents' softphones by their PID
    files; whether its Asterisk was running."""
    if not _ever_started(cfg):
        return False
    second = second_asterisk_config(cfg)
    stopped = asterisk.stop(second)
    for agent in second.agents:
        sipp.stop_agent(second, agent)
    return stopped
