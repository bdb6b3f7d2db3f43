"""The standard OTLP settings are enough: with OTEL_EXPORTER_OTLP_ENDPOINT set, a process's
spans reach an OTLP/HTTP receiver (a real HTTP server here, decoding what it gets)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from thidua import tracing
from thidua.settings import Settings


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[str, bytes]] = []

    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.received.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_spans_go_to_the_otlp_endpoint_of_the_standard_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
        monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
        provider = tracing.tracer_provider(Settings(), "worker")
        assert provider is not None
        with provider.get_tracer("test").start_as_current_span("a command"):
            pass
        tracing.shutdown(provider)  # sends what is buffered
    finally:
        server.shutdown()
    (path, body), = _Receiver.received
    assert path == "/v1/traces"
    request = ExportTraceServiceRequest.FromString(body)
    (resource_spans,) = request.resource_spans
    service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}["service.name"]
    spans = [s.name for scope in resource_spans.scope_spans for s in scope.spans]
    assert (service, spans) == ("thidua-worker", ["a command"])
