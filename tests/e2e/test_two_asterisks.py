"""A campaign spread over two Asterisk servers (issue 20, item 2): the
lab's own and a second one (lab.second_asterisk) with two agents of its
own, both trunked to the one sipp PSTN, sharing the lab's PostgreSQL. A
dialer bound to each server (RECOBRO_ASTERISK_NAME) runs the same
campaign: the leads are shared through PostgreSQL, and each dialer paces
to, and routes to, the agents whose softphones register to its server."""

from __future__ import annotations

import asyncio
import csv

import asyncpg
import psycopg
import pytest

from dialer.settings import read_env_file
from lab import asterisk, second_asterisk
from lab.asterisk_log import AsteriskLog, describe
from lab.config import second_asterisk_config
from lab.lab import enrol_agents
from lab.number_plan import Behaviour, lab_number
from tests.e2e.cli import cli_env, run_cli
from tests.e2e.test_agents import run

pytestmark = pytest.mark.lab

DEBTORS = 12  # two rounds for the six agents of both servers


@pytest.fixture
def second_server(lab_config, fresh_database):
    """The second Asterisk, up (and stopped afterwards), its agents
    enrolled in the test's database."""
    second = second_asterisk_config(lab_config)
    second_asterisk.start(lab_config)
    try:
        enrol_agents(second, fresh_database)
        yield second
    finally:
        second_asterisk.down(lab_config)


def test_lab_up_with_two_asterisks_starts_the_second_and_names_every_agents_server(
        lab_config):
    """`recobro lab up --asterisks 2` on the running lab: the second server
    runs, its agents registered to it and enrolled on it, and the lab's
    agents named on the lab's server; its settings file names it. The
    lab is left as it was (one server, its agents naming none)."""
    second = second_asterisk_config(lab_config)
    env = {"RECOBRO_LAB_DIR": str(lab_config.lab_dir),
           "RECOBRO_LAB_PORT_BASE": str(lab_config.port_base)}
    try:
        up = run_cli("lab", "up", "--asterisks", "2", timeout=300, **env)
        assert up.returncode == 0, up.stderr
        assert f"{second.asterisk_name} (second asterisk) running" in up.stdout, up.stdout
        listed = run_cli("agent", "list", RECOBRO_ENV_FILE=str(lab_config.env_file))
        assert listed.returncode == 0, listed.stderr
        for server in (lab_config, second):
            for agent in server.agents:
                line = next(row for row in listed.stdout.splitlines()
                            if row.startswith(agent.endpoint))
                assert line.endswith(f"(on {server.asterisk_name})"), line
        assert read_env_file(second.env_file)["RECOBRO_ASTERISK_NAME"] == second.asterisk_name
        contacts = asterisk.cli_output(second, "pjsip show contacts")
        assert all(f"{agent.endpoint}/sip:" in contacts for agent in second.agents), contacts
    finally:
        second_asterisk.down(lab_config)
        with psycopg.connect(read_env_file(lab_config.env_file)["DATABASE_URL"]) as db:
            db.execute("DELETE FROM agents WHERE endpoint = ANY (%s)",
                       ([agent.endpoint for agent in second.agents],))
            db.execute("UPDATE agents SET asterisk = NULL")
    assert second_asterisk.running(lab_config) is None


def _cdrs(cfg):
    return cfg.asterisk_run_dir / "log" / "cdr-csv" / "Master.csv"


def _cdr_offset(cfg) -> int:
    """Where the server's CDR file ends now."""
    return _cdrs(cfg).stat().st_size if _cdrs(cfg).is_file() else 0


def _agent_legs_answered(cfg, start: int) -> set[str]:
    """The agents whose phone answered a call of this server since the CDR
    file's offset start (a CDR's channel PJSIP/<agent>-..., ANSWERED)."""
    with _cdrs(cfg).open("rb") as records:
        records.seek(start)
        text = records.read().decode(errors="replace")
    return {field.removeprefix("PJSIP/").rsplit("-", 1)[0]
            for row in csv.reader(text.splitlines()) if "ANSWERED" in row
            for field in row if field.startswith("PJSIP/agent")}


async def test_a_campaign_over_two_asterisks_reaches_each_servers_own_agents(
        lab_config, fresh_database, second_server, tmp_path):
    """Twelve debtors who answer and talk 8 s, a progressive campaign, one
    dialer on each server, the four agents of the first and the two of the
    second logged in: every debtor is dialed once, by one server, and talks
    to an agent of that server (nobody abandoned: each dialer paced to its
    own server's agents, not the six); both servers answered calls, and
    the phones of agents on both answered their server's calls (Asterisk's
    CDRs)."""
    url, second = fresh_database, second_server
    first_log, second_log = AsteriskLog(lab_config), AsteriskLog(second)
    cdrs_from = {lab_config.asterisk_name: _cdr_offset(lab_config),
                 second.asterisk_name: _cdr_offset(second)}
    env = cli_env(RECOBRO_ENV_FILE=str(lab_config.env_file), DATABASE_URL=url)
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("reference,debtor_name,balance,days_past_due,phone1\n" + "".join(
        f"T{i},Debtor {i},100,10,"
        f"{lab_number(Behaviour.ANSWER_AND_STAY, '08', i % 10, f'+121255{5 + i // 10}')}\n"
        for i in range(DEBTORS)))
    await run(env, "accounts", "import", str(accounts))
    for server in (lab_config, second):
        for agent in server.agents:
            # Where its softphone registers, as an engineer says it.
            await run(env, "agent", "server", agent.endpoint, "--asterisk",
                      server.asterisk_name)
            await run(env, "agent", "login", agent.endpoint)
    await run(env, "campaign", "create", "spread", "--mode", "progressive", "--window",
              "00:00-24:00", "--wrap-up", "0")
    await run(env, "campaign", "start", "spread")
    dialers = [await asyncio.create_subprocess_exec(
        "recobro", "campaign", "run", "spread", "--until-idle",
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**env, "RECOBRO_ENV_FILE": str(server.env_file)})
        for server in (lab_config, second)]
    try:
        ran = await asyncio.wait_for(asyncio.gather(*(d.communicate() for d in dialers)), 240)
    finally:
        for dialer in dialers:
            if dialer.returncode is None:
                dialer.kill()
    for dialer, (_, stderr) in zip(dialers, ran, strict=True):
        assert dialer.returncode == 0, stderr.decode()[-3000:]

    connection = await asyncpg.connect(url)
    try:
        attempts = await connection.fetch(
            "SELECT c.reference, a.result, a.agent, d.asterisk FROM attempts a "
            "JOIN accounts c ON c.id = a.account_id JOIN dialers d ON d.id = a.dialer_id")
    finally:
        await connection.close()
    assert sorted(a["reference"] for a in attempts) == sorted(f"T{i}" for i in range(DEBTORS))
    assert {a["result"] for a in attempts} == {"conversation"}, attempts
    by_server = {name: {a["agent"] for a in attempts if a["asterisk"] == name}
                 for name in (lab_config.asterisk_name, second.asterisk_name)}
    first_agents = {a.endpoint for a in lab_config.agents}
    second_agents = {a.endpoint for a in second.agents}
    assert by_server[lab_config.asterisk_name] and \
        by_server[lab_config.asterisk_name] <= first_agents, by_server
    assert by_server[second.asterisk_name] == second_agents, by_server
    # What the servers saw: the phones of each server's agents answered
    # that server's calls, and no other agent's phone answered any.
    for server in (lab_config, second):
        answered = _agent_legs_answered(server, cdrs_from[server.asterisk_name])
        assert answered == by_server[server.asterisk_name], (server.asterisk_name, answered)
    for log in (first_log, second_log):
        assert not log.unplayable(), describe(log.failures())
