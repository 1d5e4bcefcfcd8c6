"""Prometheus metrics: what every long-running Recobro process exports
(definitions.py), the /metrics listener each serves (exporter.py), and the
figures that span processes, read from PostgreSQL by the API (dialer.api.floor_metrics)."""
