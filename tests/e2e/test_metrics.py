"""Metrics end to end: a campaign dialed through the lab while the lab's
real Prometheus scrapes the dialer and a `recobro api` (which exports the
figures that span processes); what Prometheus stored is held to what the
database says happened."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from dialer.agents.occupancy import floor_time
from dialer.agents.store import AgentStore
from dialer.compliance.abandon import LIVE_ANSWERS
from dialer.metrics import dashboards
from lab import prometheus
from lab.dashboard_pictures import draw_dashboards
from lab.demo import ZONES
from lab.number_plan import Behaviour, lab_number
from tests.e2e.cli import cli_env, run_cli
from tests.e2e.scraped import scraped, value
from tests.e2e.test_agents import run, start_api

pytestmark = pytest.mark.lab

# The label names Recobro's series may carry, beside Prometheus's own
# (instance, job), the target's (process) and a histogram's buckets (le):
# bounded sets only, never an account, a number or a call.
ALLOWED_LABELS = {"__name__", "instance", "job", "process", "le", "campaign", "outcome",
                  "rule", "stage", "state", "link", "window", "verdict", "answered_to",
                  "option", "currency", "channel"}
# People who greet (to agents, after AMD), a machine, and the rest of the
# number plan's answers; the last one's account is paid.
DEBTORS = [(Behaviour.HUMAN_GREETING, "06"), (Behaviour.HUMAN_GREETING, "05"),
           (Behaviour.MACHINE_GREETING, "08"), (Behaviour.ANSWER_AND_HANG_UP, "00"),
           (Behaviour.BUSY, "00"), (Behaviour.NO_ANSWER, "00"), (Behaviour.CONGESTION, "00"),
           (Behaviour.HUMAN_GREETING, "05")]
ALERTS = prometheus.ALERT_RULES
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
PHONE = re.compile(r"\+?[0-9]{7,15}")
NEW_YORK = ZONES["America/New_York"] + "00"  # numbers of a real area code, as imports want


def instance_of(cfg, process: str, pid: int) -> str:
    """The address a process announced in its target file."""
    target = prometheus.targets_dir(cfg) / f"recobro-{process}-{pid}.json"
    return json.loads(target.read_text())[0]["targets"][0]


async def test_prometheus_holds_each_call_refusal_and_the_floor(lab_config, fresh_database,
                                                                 tmp_path: Path):
    started = time.time()
    env = cli_env(RECOBRO_ENV_FILE=str(lab_config.env_file), DATABASE_URL=fresh_database)
    name = f"metrics-{uuid.uuid4().hex[:8]}"  # Prometheus keeps earlier runs' series
    rows = ["reference,debtor_name,balance,days_past_due,risk_score,language,phone1"]
    rows += [f"P{i},Debtor {i},{100 + i},30,0.5,es,"
             f"{lab_number(behaviour, seconds, serial=i, prefix=NEW_YORK)}"
             for i, (behaviour, seconds) in enumerate(DEBTORS)]
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("\n".join(rows) + "\n")
    imported = await run(env, "accounts", "import", str(accounts))
    assert f"imported {len(DEBTORS)} account(s)" in imported, imported
    for agent in lab_config.agents:
        await run(env, "agent", "login", agent.endpoint)
    await run(env, "campaign", "create", name, "--mode", "progressive", "--amd", "--window",
              "00:00-24:00", "--ring-timeout", "5", "--wrap-up", "0")
    # Paid once its lead was made: the gate refuses it when it is claimed.
    await run(env, "accounts", "status", "--reference", f"P{len(DEBTORS) - 1}",
              "--status", "paid")
    await run(env, "campaign", "start", name)
    api = await start_api(lab_config, env)
    try:
        floor = instance_of(lab_config, "api", api.pid)
        # Every call is over well before the dialer stops: its last
        # figures are scraped while it still runs.
        await run(env, "campaign", "run", name, "--for", "15", timeout=240)

        connection = await asyncpg.connect(fresh_database)
        try:
            results = dict(await connection.fetch(
                "SELECT result, count(*) FROM attempts GROUP BY 1"))
            refusals = dict(await connection.fetch(
                "SELECT rule, count(*) FROM compliance_refusals GROUP BY 1"))
            live = await connection.fetchval(
                "SELECT count(*) FROM attempts WHERE result = ANY ($1::text[])",
                [result.value for result in LIVE_ANSWERS])
        finally:
            await connection.close()
        assert sum(results.values()) == len(DEBTORS) - 1, results
        assert refusals == {"account_status": 1}, refusals

        # The dialer's counters, as Prometheus last scraped them.
        calls = scraped(lab_config, f'max_over_time(recobro_calls_total{{campaign="{name}"}}[10m])',
                        wanted=len(results))
        assert {s["metric"]["outcome"]: value(s) for s in calls} == results
        [dialer] = {s["metric"]["instance"] for s in calls}
        assert {s["metric"]["process"] for s in calls} == {"dialer"}
        refused = scraped(lab_config, "max_over_time(recobro_compliance_refusals_total"
                                      f'{{campaign="{name}"}}[10m])')
        assert {(s["metric"]["rule"], s["metric"]["stage"]): value(s) for s in refused} \
            == {("account_status", "claim"): 1.0}
        # This run's dialer only: its port may have been an earlier process's.
        ran = int(time.time() - started) + 2
        links = scraped(lab_config, "max_over_time(recobro_link_up"
                                    f'{{instance="{dialer}",process="dialer"}}[{ran}s])', wanted=3)
        assert {s["metric"]["link"]: value(s) for s in links} == {"ami": 1.0, "ari": 1.0,
                                                                   "agents_freed": 1.0}
        lag = scraped(lab_config, "max_over_time(recobro_event_loop_lag_seconds_count"
                                  f'{{instance="{dialer}",process="dialer"}}[{ran}s])')
        assert lag and value(lag[0]) > 0

        # The floor, from PostgreSQL, by the API's one exporter.
        target = scraped(lab_config, f'recobro_abandon_rate_target{{campaign="{name}"}}')
        assert [value(s) for s in target] == [0.03]
        answers = scraped(lab_config, f'recobro_live_answers{{campaign="{name}",window="24h"}}')
        assert [value(s) for s in answers] == [live]
        agents = scraped(lab_config, f'recobro_agents{{instance="{floor}"}}', wanted=6)
        by_state = {s["metric"]["state"]: value(s) for s in agents}
        assert by_state["ready"] == len(lab_config.agents), by_state
        assert sum(by_state.values()) == len(lab_config.agents), by_state
        await _occupancy_is_the_databases(lab_config, fresh_database, floor)
        level = scraped(lab_config, f'recobro_dial_level{{campaign="{name}"}}')
        assert [value(s) for s in level] == [0.0]  # every call over, agents logged in

        # Every panel of every Grafana dashboard shows data for this run.
        for board, text in dashboards.rendered().items():
            for expr in dashboards.queries(text):
                promql = expr.replace("$campaign", name)
                assert prometheus.query_range(lab_config, promql, started, time.time()), \
                    (board, promql)
        # Every alert rule is loaded and evaluated without error, and each
        # series it watches held data during the run.
        rules = prometheus.alert_rules(lab_config)
        assert {r["name"] for r in rules} == set(re.findall(r"alert: (\w+)", ALERTS.read_text()))
        for rule in rules:
            assert rule["health"] == "ok" and not rule.get("lastError"), rule
            for metric in set(re.findall(r"\b(?:recobro_\w+|up)(?=[{)\s])", rule["query"])):
                assert prometheus.query_range(lab_config, metric, started, time.time()), \
                    (rule["name"], metric)
        # And drawn as a reader without Grafana sees them (the README's pictures).
        pictures, drawn = await asyncio.to_thread(
            draw_dashboards, lab_config, started, time.time(), name, tmp_path)
        assert [p.name for p in pictures] == [f"dashboard-{b.removesuffix('.json')}.png"
                                              for b in dashboards.BOARDS]
        assert all(p.stat().st_size > 10_000 for p in pictures)
        assert [d.title for d in drawn if not d.series] == []
    finally:
        api.terminate()
        await api.wait()

    # No series of Recobro's carries a label that could name a debtor.
    series = await asyncio.to_thread(prometheus.series, lab_config, '{__name__=~"recobro_.+"}')
    assert series and {label for s in series for label in s} <= ALLOWED_LABELS
    # Nor a value: no number, call id or account of this run's debtors.
    attempts = [str(r["id"]) for r in await _fetch(fresh_database, "SELECT id FROM attempts")]
    named = {*attempts, *(lab_number(b, s, serial=i, prefix=NEW_YORK)
                          for i, (b, s) in enumerate(DEBTORS)),
             *(f"P{i}" for i in range(len(DEBTORS)))}
    values = {v for s in series for k, v in s.items() if k != "__name__"}
    assert not {v for v in values if any(n in v for n in named) or UUID.search(v)
                or PHONE.fullmatch(v)}, values


async def _occupancy_is_the_databases(cfg, database: str, floor: str) -> None:
    """Occupancy and wait as last scraped equal what the agents' state log
    gives for the window ending at that scrape (the API's clock read a few
    milliseconds after the scrape began: hence approx)."""
    pool = await asyncpg.create_pool(database, min_size=1, max_size=1)
    try:
        for metric, figure in (("recobro_agent_occupancy", "occupancy"),
                               ("recobro_agent_wait_seconds", "wait_s")):
            for window, length in (("15m", timedelta(minutes=15)), ("1h", timedelta(hours=1))):
                # The raw samples (a range selector): each value with its scrape's time.
                query = f'{metric}{{instance="{floor}",window="{window}"}}[10s]'
                [series] = scraped(cfg, query)
                stamp, scraped_value = series["values"][-1]
                end = datetime.fromtimestamp(float(stamp), UTC)
                changes = await AgentStore(pool).state_changes(end - length, end)
                expected = getattr(floor_time(changes, end - length, end), figure)
                assert float(scraped_value) == pytest.approx(expected, rel=1e-2), \
                    (query, expected)
    finally:
        await pool.close()


def test_prometheus_scrapes_asterisk_behind_its_password(lab_config):
    """res_prometheus on Asterisk's HTTP server: scraped with the lab's
    password, refused without it, and no per-channel series (each would
    be labelled with a call's id) kept."""
    [up] = scraped(lab_config, 'up{job="asterisk"}')
    assert value(up) == 1.0
    endpoints = scraped(lab_config, 'asterisk_endpoints_state{tech="PJSIP"}',
                        wanted=len(lab_config.agents))
    assert {a.endpoint for a in lab_config.agents} <= {s["metric"]["resource"] for s in endpoints}
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"http://{lab_config.host}:{lab_config.ari_port}/metrics",
                               timeout=10)
    assert refused.value.code == 401
    # A call up while Prometheus scrapes: its channel is counted, and has no series of its own.
    since = time.time()
    call = threading.Thread(target=run_cli, args=(
        "call", lab_number(Behaviour.ANSWER_AND_STAY, "04", prefix=NEW_YORK)),
        kwargs={"RECOBRO_ENV_FILE": str(lab_config.env_file)})
    call.start()
    try:
        channels = scraped(lab_config, 'max_over_time(asterisk_channels_count[15s]) > 0')
        assert channels, "Prometheus saw no channel up during the call"
    finally:
        call.join(timeout=60)
    assert prometheus.series(lab_config, f'{{__name__=~"{prometheus.PER_CHANNEL}"}}',
                             since=since) == []


async def _fetch(url: str, query: str) -> list:
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetch(query)
    finally:
        await connection.close()


def _exports_the_floor(cfg, api: asyncio.subprocess.Process) -> bool:
    """Whether the API's /metrics holds the floor's agents (it is the
    floor's exporter)."""
    with urllib.request.urlopen(f"http://{instance_of(cfg, 'api', api.pid)}/metrics",
                                timeout=10) as answer:
        return "recobro_agents{" in answer.read().decode()


async def test_two_apis_on_one_database_export_the_floor_once(lab_config, fresh_database):
    """One API per Asterisk server, both on one PostgreSQL: the floor's
    figures come from one of them, so a dashboard's sum counts them once;
    when that one stops, the other exports them at its next scrape."""
    env = cli_env(RECOBRO_ENV_FILE=str(lab_config.env_file), DATABASE_URL=fresh_database)
    apis = []
    for index in range(2):  # ports the OS has free (its /metrics: the OS chooses)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        api = await asyncio.create_subprocess_exec(
            "recobro", "api", stdin=asyncio.subprocess.DEVNULL,
            env={**env, "RECOBRO_API_PORT": str(port),
                 "RECOBRO_ARI_APP": f"recobro-floor-{index}",
                 "RECOBRO_ASTERISK_NAME": f"floor-{index}"},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        apis.append(api)
    try:
        for api in apis:
            line = await asyncio.wait_for(api.stdout.readline(), 30)
            assert b"recobro api on" in line, (line, await api.stderr.read())
        exporting = [await asyncio.to_thread(_exports_the_floor, lab_config, api)
                     for api in apis]
        assert sorted(exporting) == [False, True], exporting
        # Scraped again: still the same one.
        assert [await asyncio.to_thread(_exports_the_floor, lab_config, api)
                for api in apis] == exporting
        first = apis[exporting.index(True)]
        other = apis[exporting.index(False)]
        first.terminate()
        await asyncio.wait_for(first.wait(), 30)
        assert await asyncio.to_thread(_exports_the_floor, lab_config, other)
    finally:
        for api in apis:
            if api.returncode is None:
                api.terminate()
                await api.wait()
