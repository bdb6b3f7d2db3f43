"""OpenTelemetry traces across the API, Temporal and the activities; off unless an
exporter is configured.

On (THIDUA_TRACES_EXPORTER=otlp|console, or an OTLP endpoint in the standard
OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_TRACES_ENDPOINT), each process gets its
own tracer provider (service name `thidua-api`, `thidua-worker`, or OTEL_SERVICE_NAME):

- the API: a server span per request, and spans of its dependencies, endpoint and
  serialisation (FastAPI's own telemetry, given the provider: thidua.api.app);
- the API's and the worker's Temporal client: temporalio's `TracingInterceptor`, which
  carries the span context in Temporal headers, so the update-with-start or update sent
  for a request, the workflow's update handler and the activity it runs are spans of
  the same trace (each update in its own caller's trace: thidua.workflows.tracing).

Off: nothing of OpenTelemetry is imported or installed in the app or the clients.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from thidua.settings import Settings

OTLP_ENDPOINTS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")


def exporter_name(settings: Settings) -> str | None:
    """"otlp", "console", or None (traces off)."""
    if settings.traces_exporter is not None:
        return None if settings.traces_exporter == "none" else settings.traces_exporter
    return "otlp" if any(os.environ.get(name, "").strip() for name in OTLP_ENDPOINTS) else None


def tracer_provider(settings: Settings, service: str, exporter: Any = None) -> Any:
    """A tracer provider for the process `service` (api, worker), or None when traces are
    off. `exporter`: a span exporter to use instead of the configured one (a test's
    in-memory exporter: its spans are handed over as each ends)."""
    name = exporter_name(settings)
    if exporter is None and name is None:
        return None
    # Here, not at the top: with traces off, OpenTelemetry is never imported.
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME") or f"thidua-{service}"})
    provider = TracerProvider(resource=resource)
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        provider.add_span_processor(BatchSpanProcessor(_configured_exporter(name)))
    return provider


def _configured_exporter(name: str | None) -> Any:
    # Here, not at the top: only the chosen exporter's package is loaded.
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()  # endpoint, headers, timeout from the standard OTEL_EXPORTER_OTLP_* variables


def temporal_interceptors(provider: Any) -> list[Any]:
    """The Temporal client's (and so the worker's) tracing interceptor; none when off."""
    if provider is None:
        return []
    # Here, not at the top: see tracer_provider.
    from thidua.workflows.tracing import ThiduaTracingInterceptor

    return [ThiduaTracingInterceptor(provider.get_tracer("thidua.temporal"))]


def shutdown(provider: Any) -> None:
    """Send the spans still buffered and stop (at the process's end)."""
    if provider is not None:
        provider.shutdown()
