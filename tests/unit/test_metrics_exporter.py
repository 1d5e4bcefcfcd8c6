"""A process's /metrics: its settings, its listener, and the target file
it announces itself in (dialer.metrics.exporter)."""

from __future__ import annotations

import json
import os
import socket
from datetime import timedelta

import aiohttp
import pytest
from prometheus_client import generate_latest

from dialer.api.floor_metrics import FloorFigures
from dialer.errors import ConfigError
from dialer.metrics.definitions import AGENTS, CALLS, REGISTRY, window_label
from dialer.metrics.exporter import MetricsExporter
from dialer.settings import MetricsSettings, load_metrics_settings


def test_metrics_are_off_unless_a_port_is_set():
    assert load_metrics_settings({}).port is None
    assert load_metrics_settings({"RECOBRO_METRICS_PORT": "0"}).port == 0
    assert load_metrics_settings({"RECOBRO_METRICS_PORT": "9464"}).port == 9464
    assert load_metrics_settings({}).host == "127.0.0.1"


@pytest.mark.parametrize(("env", "named"), [
    ({"RECOBRO_METRICS_PORT": "http"}, "RECOBRO_METRICS_PORT"),
    ({"RECOBRO_METRICS_PORT": "70000"}, "RECOBRO_METRICS_PORT"),
    ({"RECOBRO_METRICS_HOST": "a b"}, "RECOBRO_METRICS_HOST"),
    ({"RECOBRO_METRICS_TARGETS": "/nowhere/at/all"}, "RECOBRO_METRICS_TARGETS"),
])
def test_a_bad_metrics_setting_is_named(env, named):
    with pytest.raises(ConfigError, match=named):
        load_metrics_settings(env)


def test_windows_are_labelled_as_people_say_them():
    assert window_label(timedelta(hours=24)) == "24h"
    assert window_label(timedelta(days=30)) == "30d"
    assert window_label(timedelta(minutes=15)) == "15m"
    assert window_label(timedelta(hours=1)) == "1h"


async def test_the_exporter_serves_the_registry_and_announces_itself(tmp_path):
    CALLS.labels("exporter-test", "busy").inc()
    settings = MetricsSettings(host="127.0.0.1", port=0, targets_dir=tmp_path)
    async with MetricsExporter(settings, "dialer") as exporter:
        assert exporter.port
        [target] = tmp_path.glob("*.json")
        assert target.name == f"recobro-dialer-{os.getpid()}.json"
        assert json.loads(target.read_text()) == [
            {"targets": [f"127.0.0.1:{exporter.port}"], "labels": {"process": "dialer"}}]
        async with aiohttp.ClientSession() as session, \
                session.get(f"http://127.0.0.1:{exporter.port}/metrics") as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain")
            text = await response.text()
    assert 'recobro_calls_total{campaign="exporter-test",outcome="busy"} 1.0' in text
    assert "process_resident_memory_bytes" in text
    assert not list(tmp_path.glob("*"))  # withdrawn at close


async def test_a_taken_port_is_named_with_its_settings():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        exporter = MetricsExporter(MetricsSettings("127.0.0.1", port, None), "api")
        with pytest.raises(ConfigError, match="RECOBRO_METRICS_PORT"):
            await exporter.start()


async def test_without_a_port_nothing_listens(tmp_path):
    async with MetricsExporter(MetricsSettings("127.0.0.1", None, tmp_path), "api") as exporter:
        assert exporter.port is None
        assert not list(tmp_path.glob("*"))


class _Unreachable:
    """A pool whose PostgreSQL went away."""

    async def fetch(self, *args):
        raise ConnectionRefusedError(111, "Connection refused")

    async def acquire(self):
        raise ConnectionRefusedError(111, "Connection refused")


async def test_the_floor_is_left_out_not_shown_stale_when_postgresql_is_gone():
    AGENTS.labels("ready").set(3)
    await FloorFigures(_Unreachable()).refresh()  # no error: the rest is still served
    assert "recobro_agents{" not in generate_latest(REGISTRY).decode()
