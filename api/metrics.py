"""Prometheus metrics of one API instance.

Each app gets its own registry, so several apps in one process (tests) do not clash.
Requests are labelled by route *template* (`/v1/targets/{tid}`), never by concrete
path, so the number of series stays bounded whatever clients send.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from thidua.projections.schema import GROUPS

__all__ = ["ApiMetrics", "CONTENT_TYPE_LATEST"]


class OpenEscalations:
    """Open escalations and the age of the oldest, per campaign, as the escalations read
    model last said (read on each scrape, not counted per event: a restarted API, or one
    of several, reports the same). A campaign with none open has no series."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, int, datetime]] = []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        count = GaugeMetricFamily("thidua_open_escalations", "Open escalations per campaign", labels=["campaign"])
        age = GaugeMetricFamily("thidua_oldest_open_escalation_age_seconds",
                                "Seconds since the oldest open escalation of the campaign was opened",
                                labels=["campaign"])
        at = datetime.now(timezone.utc)
        for campaign_id, open_count, oldest in self.rows:
            count.add_metric([campaign_id], open_count)
            age.add_metric([campaign_id], max(0.0, (at - oldest).total_seconds()))
        yield count
        yield age


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "thidua_http_requests_total", "HTTP requests by method, route template and status",
            ["method", "route", "status"], registry=self.registry,
        )
        self.latency = Histogram(
            "thidua_http_request_duration_seconds", "HTTP request latency by method and route template",
            ["method", "route"], registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.commands = Counter(
            "thidua_commands_total", "Commands handled by the API, by command and outcome",
            ["command", "outcome"], registry=self.registry,
        )
        self.projection_lag = Gauge(
            "thidua_projection_lag_events",
            "Events in the store that a projection has not processed yet",
            ["projection"], registry=self.registry,
        )
        self.last_position = Gauge(
            "thidua_event_store_position", "Global position of the last stored event", registry=self.registry,
        )

        self.read_model_stopped = Gauge(
            "thidua_read_model_stopped",
            "1 while a read model is stopped at an event it cannot apply (see /healthz), else 0",
            ["projection"], registry=self.registry,
        )
        self.read_model_stopped_position = Gauge(
            "thidua_read_model_stopped_position", "Position of the event a stopped read model cannot apply",
            ["projection"], registry=self.registry,
        )

        self.open_escalations = OpenEscalations()
        self.registry.register(self.open_escalations)  # type: ignore[arg-type]

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def command(self, command: str, outcome: str) -> None:
        self.commands.labels(command, outcome).inc()

    def set_projection_positions(self, max_position: int, positions: dict[str, int]) -> None:
        self.last_position.set(max_position)
        for name, position in positions.items():
            self.projection_lag.labels(name).set(max(0, max_position - int(position or 0)))

    def set_stopped_read_models(self, stopped: dict[str, int]) -> None:
        for name in GROUPS:
            self.read_model_stopped.labels(name).set(1 if name in stopped else 0)
            self.read_model_stopped_position.labels(name).set(stopped.get(name, 0))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
