"""Prometheus /metrics for the processes that serve no HTTP of their own.

- The projector: its own registry (the process, the garbage collector, and the position of
  the last event it applied), served by prometheus_client on THIDUA_PROJECTOR_METRICS_ADDRESS.
- The worker: the Temporal SDK's own metrics (workflow and activity task latencies, slots,
  polls...), served by the SDK's Prometheus exporter on THIDUA_WORKER_METRICS_ADDRESS.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector, start_http_server
from prometheus_client.core import GaugeMetricFamily

from thidua.settings import split_address


class _Position:
    """A gauge read when scraped (the projector's position, owned by its event loop)."""

    def __init__(self, name: str, documentation: str, read: Callable[[], int]) -> None:
        self.name, self.documentation, self.read = name, documentation, read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(self.name, self.documentation, value=self.read())


def process_registry() -> CollectorRegistry:
    """A registry with the process's own metrics (CPU, memory, file descriptors, GC)."""
    registry = CollectorRegistry(auto_describe=True)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


def serve_projector_metrics(address: str, position: Callable[[], int]) -> Any:
    """Serve the projector's /metrics on `address` (host:port); returns the HTTP server
    (call `shutdown()` to stop it)."""
    registry = process_registry()
    registry.register(_Position("thidua_projector_position",  # type: ignore[arg-type]
                                "Global position of the last event the projector applied", position))
    host, port = split_address(address)
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server


def temporal_runtime(address: str | None) -> Any:
    """A Temporal runtime whose Prometheus exporter serves the SDK's metrics on `address`,
    or None (the default runtime, no exporter) when `address` is None."""
    if address is None:
        return None
    from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

    host, port = split_address(address)
    bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=bind)))
