"""Grafana dashboards as code (grafana-foundation-sdk): the floor wallboard,
the campaign board and the engine board, over the metrics of
dialer.metrics.definitions and Asterisk's res_prometheus. `make dashboards`
writes them to docker/grafana/dashboards/; a test holds the committed JSON
to this generator, and the lab test runs every query against the lab's
Prometheus."""

from __future__ import annotations

import json
from pathlib import Path

from grafana_foundation_sdk.builders import dashboard, prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DataSourceRef, VariableRefresh

# The datasource the provisioning names (docker/grafana/provisioning/datasources/).
DATASOURCE = DataSourceRef(type_val="prometheus", uid="prometheus")
CAMPAIGNS = 'label_values(recobro_abandon_rate_target, campaign)'
TAGS = ["recobro"]
WIDTH = 24  # Grafana's grid
DASHBOARDS_DIR = Path(__file__).resolve().parents[2] / "docker" / "grafana" / "dashboards"


def _query(expr: str, legend: str = "") -> prometheus.Dataquery:
    query = prometheus.Dataquery().expr(expr).datasource(DATASOURCE)
    return query.legend_format(legend) if legend else query


def _series(title: str, unit: str, *queries: prometheus.Dataquery,
            width: int = 12) -> timeseries.Panel:
    panel = timeseries.Panel().title(title).unit(unit).datasource(DATASOURCE).span(width).height(8)
    for query in queries:
        panel = panel.with_target(query)
    return panel


def _stat(title: str, unit: str, query: prometheus.Dataquery, width: int = 6) -> stat.Panel:
    return (stat.Panel().title(title).unit(unit).datasource(DATASOURCE).span(width).height(5)
            .with_target(query))


def _board(title: str, uid: str) -> dashboard.Dashboard:
    return (dashboard.Dashboard(title).uid(uid).tags(TAGS).refresh("10s")
            .time("now-6h", "now").timezone("browser"))


def floor_wallboard() -> dashboard.Dashboard:
    """What the floor's supervisor watches on the wall: agents by state,
    their occupancy and wait between calls, calls in flight, the abandon
    rate against the cap over the regulators' windows, pacing and the dial
    level, the 2-second rule, AMD."""
    return (
        _board("Recobro: floor wallboard", "recobro-floor")
        .with_panel(_stat("Agents ready", "none",
                          _query('sum(recobro_agents{state="ready"})'), width=4))
        .with_panel(_stat("Agents on a call", "none",
                          _query('sum(recobro_agents{state=~"on_call|reserved"})'), width=4))
        .with_panel(_stat("Agents in wrap-up or paused", "none",
                          _query('sum(recobro_agents{state=~"wrap_up|paused"})'), width=4))
        .with_panel(_stat("Calls in flight", "none", _query("sum(recobro_calls_in_flight)"),
                          width=4))
        .with_panel(_stat("Occupancy (15 min)", "percentunit",
                          _query('recobro_agent_occupancy{window="15m"}'), width=4))
        .with_panel(_stat("Occupancy (1 h)", "percentunit",
                          _query('recobro_agent_occupancy{window="1h"}'), width=4))
        .with_panel(_stat("Agent wait between calls (15 min)", "s",
                          _query('recobro_agent_wait_seconds{window="15m"}'), width=4))
        .with_panel(_stat("Agent wait between calls (1 h)", "s",
                          _query('recobro_agent_wait_seconds{window="1h"}'), width=4))
        .with_panel(_stat("Answer to agent, p99 (1 h)", "s", _query(
            "histogram_quantile(0.99, sum by (le) "
            "(increase(recobro_answer_to_agent_seconds_bucket[1h])))"), width=8))
        .with_panel(_stat("Worst campaign's abandon rate (24 h)", "percentunit",
                          _query('max(recobro_abandon_rate{window="24h"})'), width=8))
        .with_panel(_series(
            "Abandon rate against the target (24 h and 30 days)", "percentunit",
            _query("recobro_abandon_rate", "{{campaign}} {{window}}"),
            _query("recobro_abandon_rate_target", "{{campaign}} target")))
        .with_panel(_series("Calls in flight and pacing's decision", "none",
                            _query("sum by (campaign) (recobro_calls_in_flight)",
                                   "{{campaign}} in flight"),
                            _query("sum by (campaign) (recobro_pacing_calls_decided)",
                                   "{{campaign}} decided")))
        .with_panel(_series("Agents by state", "none",
                            _query("sum by (state) (recobro_agents)", "{{state}}")))
        .with_panel(_series("Dial level (calls ringing per agent logged in)", "none",
                            _query("recobro_dial_level", "{{campaign}}")))
        .with_panel(_series("AMD verdicts per minute", "none",
                            _query("sum by (verdict) (rate(recobro_amd_verdicts_total[5m])) * 60",
                                   "{{verdict}}")))
    )


def campaign_board() -> dashboard.Dashboard:
    """One campaign (chosen at the top): its results, contact rate,
    refusals by rule and leads."""
    match = 'campaign="$campaign"'
    return (
        _board("Recobro: campaign", "recobro-campaign")
        .with_variable(dashboard.QueryVariable("campaign").label("Campaign")
                       .datasource(DATASOURCE).query(CAMPAIGNS)
                       .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED))
        .with_panel(_stat("Abandon rate, 24 h", "percentunit",
                          _query(f'recobro_abandon_rate{{{match},window="24h"}}')))
        .with_panel(_stat("Abandon rate, 30 days", "percentunit",
                          _query(f'recobro_abandon_rate{{{match},window="30d"}}')))
        .with_panel(_stat("Leads callable now", "none",
                          _query(f'sum(recobro_leads{{{match},state="callable_now"}})')))
        .with_panel(_stat("Leads done", "none",
                          _query(f'sum(recobro_leads{{{match},state="done"}})')))
        .with_panel(_series("Calls by outcome per hour", "none", _query(
            f"sum by (outcome) (increase(recobro_calls_total{{{match}}}[1h]))", "{{outcome}}")))
        .with_panel(_series("Right-party contact rate (1 h)", "percentunit", _query(
            "sum(increase(recobro_calls_total"
            f'{{{match},outcome=~"conversation|self_served"}}[1h])) '
            f"/ sum(increase(recobro_calls_total{{{match}}}[1h]))", "contact rate")))
        .with_panel(_series("Refusals by rule (1 h)", "none", _query(
            f"sum by (rule, stage) (increase(recobro_compliance_refusals_total{{{match}}}[1h]))",
            "{{rule}} ({{stage}})")))
        .with_panel(_series("Leads by state", "none", _query(
            f"sum by (state) (recobro_leads{{{match}}})", "{{state}}")))
    )


def engine_board() -> dashboard.Dashboard:
    """The machinery: Asterisk's channels and endpoints, the links to it,
    each process's event loop, CPU and memory."""
    return (
        _board("Recobro: engine", "recobro-engine")
        .with_panel(_series("Asterisk channels and bridges", "none",
                            _query("asterisk_channels_count", "channels"),
                            _query("asterisk_bridges_count", "bridges")))
        .with_panel(_series("Endpoints online (2) or not", "none",
                            _query('asterisk_endpoints_state{tech="PJSIP"}', "{{resource}}")))
        .with_panel(_series("Links up (AMI, ARI, LISTEN)", "none",
                            _query("recobro_link_up", "{{process}} {{link}} {{instance}}")))
        .with_panel(_series("Reconnects per hour", "none", _query(
            "sum by (process, link) (increase(recobro_link_reconnects_total[1h]))",
            "{{process}} {{link}}")))
        .with_panel(_series("Event loop lag, p99 (5 min)", "s", _query(
            "histogram_quantile(0.99, sum by (le, process, instance) "
            "(rate(recobro_event_loop_lag_seconds_bucket[5m])))", "{{process}} {{instance}}")))
        .with_panel(_series("CPU (share of a core)", "percentunit", _query(
            'rate(process_cpu_seconds_total{job="recobro"}[1m])', "{{process}} {{instance}}")))
        .with_panel(_series("Resident memory", "bytes", _query(
            'process_resident_memory_bytes{job="recobro"}', "{{process}} {{instance}}")))
    )


BOARDS = {"floor.json": floor_wallboard, "campaign.json": campaign_board,
          "engine.json": engine_board}


def rendered() -> dict[str, str]:
    """Each dashboard's file name and its JSON, as committed."""
    encoder = JSONEncoder(sort_keys=True, indent=2)
    return {name: encoder.encode(build().build()) + "\n" for name, build in BOARDS.items()}


def queries(board: str) -> list[str]:
    """Every PromQL expression of a rendered dashboard's panels."""
    panels = json.loads(board).get("panels", [])
    return [target["expr"] for panel in panels for target in panel.get("targets", [])]


def main() -> None:
    """Write every dashboard into docker/grafana/dashboards/ (`make dashboards`)."""
    DASHBOARDS_DIR.mkdir(parents=True, exist_ok=True)
    for name, text in rendered().items():
        (DASHBOARDS_DIR / name).write_text(text)
        print(f"wrote {DASHBOARDS_DIR / name}")


if __name__ == "__main__":
    main()
