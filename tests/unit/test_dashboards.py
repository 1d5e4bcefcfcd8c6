"""Grafana's dashboards as code: the committed JSON is the generator's,
Grafana's own models read it back unchanged, and every panel asks the
provisioned datasource (dialer.metrics.dashboards)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard

from dialer.metrics import dashboards
from dialer.metrics.definitions import REGISTRY

ROOT = Path(__file__).resolve().parents[2]
PROVISIONED = ROOT / "docker" / "grafana" / "provisioning" / "datasources" / "prometheus.yml"


@pytest.mark.parametrize("name", sorted(dashboards.BOARDS))
def test_the_committed_dashboard_is_the_generators(name):
    committed = (dashboards.DASHBOARDS_DIR / name).read_text()
    assert committed == dashboards.rendered()[name], f"run `make dashboards` ({name})"


@pytest.mark.parametrize("name", sorted(dashboards.BOARDS))
def test_grafanas_models_read_each_dashboard_back_unchanged(name):
    data = json.loads((dashboards.DASHBOARDS_DIR / name).read_text())
    again = JSONEncoder(sort_keys=True, indent=2).encode(Dashboard.from_json(data))
    assert json.loads(again) == data


def test_every_panel_asks_the_provisioned_prometheus():
    assert "uid: prometheus" in PROVISIONED.read_text()
    uids = set()
    for name, text in dashboards.rendered().items():
        board = json.loads(text)
        uids.add(board["uid"])
        for panel in board["panels"]:
            assert panel["datasource"] == {"type": "prometheus", "uid": "prometheus"}, name
            assert panel["targets"] and all(t["expr"] for t in panel["targets"]), panel["title"]
    assert len(uids) == len(dashboards.BOARDS)


def test_the_queries_name_only_exported_metrics():
    """A query naming a metric no process exports shows an empty panel forever."""
    exported = {family.name for family in REGISTRY.collect()}
    named = {word for text in dashboards.rendered().values()
             for expr in dashboards.queries(text)
             for word in re.findall(r"\b(?:recobro|process)_[a-z_]+", expr)}
    suffixes = ("_bucket", "_total", "_sum", "_count")
    bare = {next((w.removesuffix(s) for s in suffixes if w.endswith(s)), w) for w in named}
    assert bare and bare <= exported, bare - exported


@pytest.mark.parametrize("name", sorted(dashboards.BOARDS))
def test_every_panel_fits_grafanas_grid_and_none_overlaps(name):
    """A panel past the grid's 24 columns, or over another, is moved by
    Grafana wherever it finds room: not the wallboard that was designed."""
    taken: dict[tuple[int, int], str] = {}
    for panel in json.loads(dashboards.rendered()[name])["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= dashboards.WIDTH, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in taken, (panel["title"], taken.get((x, y)))
                taken[(x, y)] = panel["title"]
