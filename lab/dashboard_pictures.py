"""Pictures of the Grafana dashboards from the lab's data, for people who
have no Grafana at hand (the README, a demo's output): each panel of each
committed dashboard laid out on Grafana's grid, its queries run against the
lab's Prometheus over a stretch and drawn with matplotlib. Each picture
says so: it is matplotlib drawing the panels' queries, not Grafana."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import matplotlib
import matplotlib.dates
import matplotlib.pyplot as plt
import matplotlib.ticker
from matplotlib.axes import Axes

from dialer.metrics import dashboards
from lab import prometheus
from lab.config import LabConfig

GRID_W = dashboards.WIDTH
ROW_INCHES = 0.42  # one of Grafana's grid rows
STEPS = 120  # points per series over the stretch
LEGEND_ENTRIES = 8
LEGEND = re.compile(r"\{\{\s*(\w+)\s*\}\}")


@dataclass(frozen=True)
class DrawnPanel:
    """A panel drawn: its title and how many series its queries returned."""

    board: str
    title: str
    series: int


def _legend(template: str, labels: dict[str, str]) -> str:
    if not template:
        return ", ".join(f"{k}={v}" for k, v in sorted(labels.items()) if k != "__name__") \
            or "value"
    return LEGEND.sub(lambda m: labels.get(m.group(1), ""), template).strip()


def _shown(value: float, unit: str) -> str:
    """A value as Grafana shows it in a stat panel of that unit."""
    if unit == "percentunit":
        return f"{value:.1%}"
    if unit == "s":
        return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f} s"
    if unit == "bytes":
        return f"{value / 2**20:.0f} MiB"
    return f"{value:g}"


def _draw_stat(axes: Axes, unit: str, results: list[list[dict]]) -> None:
    values = [float(series["values"][-1][1]) for result in results for series in result
              if series["values"]]
    text = "No data" if not values else " / ".join(_shown(v, unit) for v in values[:3])
    axes.text(0.5, 0.42, text, ha="center", va="center", fontsize=16 if values else 11,
              color="#2a7d2e" if values else "#999999", transform=axes.transAxes)
    axes.set_xticks([])
    axes.set_yticks([])


def _draw_series(axes: Axes, unit: str, legends: list[str], results: list[list[dict]],
                 time_format: str) -> None:
    for template, result in zip(legends, results, strict=True):
        for series in result:
            points = [(datetime.fromtimestamp(float(t), UTC), float(v))
                      for t, v in series["values"] if v not in ("NaN", "+Inf", "-Inf")]
            if points:
                times, values = zip(*points, strict=True)
                axes.plot(times, values, linewidth=1.2,
                          label=_legend(template, series["metric"])[:40])
    if axes.lines:
        handles, labels = axes.get_legend_handles_labels()
        more = len(handles) - LEGEND_ENTRIES
        if more > 0:  # the lab keeps every earlier run's campaigns
            handles, labels = handles[:LEGEND_ENTRIES], [*labels[:LEGEND_ENTRIES - 1],
                                                         f"... and {more + 1} more"]
        axes.legend(handles, labels, fontsize=6, loc="upper left", frameon=False)
    else:
        axes.text(0.5, 0.5, "No data", ha="center", va="center", color="#999999",
                  transform=axes.transAxes)
    if unit in ("percentunit", "bytes", "s"):
        axes.yaxis.set_major_formatter(
            matplotlib.ticker.FuncFormatter(lambda value, _: _shown(value, unit)))
    axes.tick_params(labelsize=6)
    axes.xaxis.set_major_formatter(matplotlib.dates.DateFormatter(time_format))


def draw_board(cfg: LabConfig, name: str, text: str, start: float, end: float,
               campaign: str, out: Path) -> list[DrawnPanel]:
    """One dashboard's picture over [start, end] (Unix times), its
    $campaign variable set to campaign; what each panel got."""
    matplotlib.use("Agg")  # no screen: files only
    board = json.loads(text)
    panels = board.get("panels", [])
    rows = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels)
    figure = plt.figure(figsize=(16, rows * ROW_INCHES + 1.0))
    figure.suptitle(f"{board['title']} (campaign {campaign}): matplotlib drawing the "
                    "dashboard's queries against the lab's Prometheus, not Grafana",
                    fontsize=10)
    top = 1.0 - 0.8 / (rows * ROW_INCHES + 1.0)
    step = max((end - start) / STEPS, 1.0)
    drawn = []
    for panel in panels:
        grid = panel["gridPos"]
        left, width = grid["x"] / GRID_W, grid["w"] / GRID_W
        height = grid["h"] / rows * top
        bottom = top - (grid["y"] + grid["h"]) / rows * top
        # Room on the left for the y axis's labels, as Grafana leaves it.
        pad = 0.006 if panel["type"] == "stat" else 0.03
        axes = figure.add_axes((left + pad, bottom + 0.02 * top, width - pad - 0.006,
                                height - 0.06 * top))
        axes.set_title(panel["title"], fontsize=8, loc="left")
        unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit", "none")
        targets = panel.get("targets", [])
        results = [prometheus.query_range(cfg, t["expr"].replace("$campaign", campaign),
                                          start, end, step) for t in targets]
        if panel["type"] == "stat":
            _draw_stat(axes, unit, results)
        else:
            _draw_series(axes, unit, [t.get("legendFormat", "") for t in targets], results,
                         "%H:%M:%S" if end - start < 1200 else "%H:%M")
        drawn.append(DrawnPanel(name, panel["title"], sum(len(r) for r in results)))
    figure.savefig(out, dpi=90)
    plt.close(figure)
    return drawn


def draw_dashboards(cfg: LabConfig, start: float, end: float, campaign: str,
                    out_dir: Path) -> tuple[list[Path], list[DrawnPanel]]:
    """Every committed dashboard's picture in out_dir (dashboard-<name>.png)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    pictures, drawn = [], []
    for file_name, text in dashboards.rendered().items():
        name = file_name.removesuffix(".json")
        picture = out_dir / f"dashboard-{name}.png"
        drawn += draw_board(cfg, name, text, start, end, campaign, picture)
        pictures.append(picture)
    return pictures, drawn
