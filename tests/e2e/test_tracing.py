"""OpenTelemetry traces: with an exporter, one command is one trace, from the API's request
through the Temporal update to the activity that stores it (the API and the worker built
by the composition root, each with its own tracer provider, as in production). With none,
OpenTelemetry is not even imported."""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.e2e.conftest import Person, ServerThread, register_unit, unique
from thidua import bootstrap
from thidua.settings import Settings

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("sandboxed", [False, True], ids=["unsandboxed", "sandboxed"])
async def test_one_command_is_one_trace_from_the_api_to_the_activity(e2e_settings: Settings, secretariat: Person,
                                                                     sandboxed: bool) -> None:
    settings = e2e_settings.model_copy(update={"task_queue": f"thidua-traced-{secrets.token_hex(3)}",
                                               "workflow_sandbox": sandboxed})
    api_spans, worker_spans = InMemorySpanExporter(), InMemorySpanExporter()
    stop = asyncio.Event()
    worker = asyncio.create_task(bootstrap.run_worker(settings, stop, span_exporter=worker_spans))
    server = ServerThread(bootstrap.build_api(settings, span_exporter=api_spans)).start()
    try:
        unit = unique("traced-unit")
        await register_unit(secretariat, unit, "Phường Dấu Vết")
        cid = unique("traced")
        assert (await secretariat.post("/v1/campaigns", {"id": cid, "name": "Dấu vết", "starts_on": "2022-01-01",
                                                         "ends_on": "2030-12-31"})).status_code == 201
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as traced:
            assigned = await traced.post(f"/v1/campaigns/{cid}/targets", headers=secretariat.headers, json={
                "key": "k1", "unit_id": unit, "title": "Theo vết", "area": "KT-XH", "deadline": "2030-06-30",
                "points": 1})
            assert assigned.status_code == 201, assigned.text
            # a later command, on the workflow the assignment started
            cancelled = await traced.post(f"/v1/targets/{assigned.json()['target']['id']}/cancel",
                                          headers=secretariat.headers, json={"reason": "điều chỉnh"})
            assert cancelled.status_code == 200, cancelled.text
    finally:
        server.stop()
        stop.set()
        await worker

    def trace_of(route: str) -> tuple[set[str], set[str]]:
        """(span names, processes) of the trace of the request to `route`."""
        (request,) = [s for s in api_spans.get_finished_spans() if s.name == route]
        in_trace = [s for s in (*api_spans.get_finished_spans(), *worker_spans.get_finished_spans())
                    if s.context.trace_id == request.context.trace_id]
        return {s.name for s in in_trace}, {s.resource.attributes["service.name"] for s in in_trace}

    names, processes = trace_of("POST /v1/campaigns/{cid}/targets")
    assert {"StartUpdateWithStartWorkflow:TargetWorkflow", "HandleUpdate:assign",
            "StartActivity:thidua.assign_target", "RunActivity:thidua.assign_target"} <= names, names
    assert processes == {"thidua-api", "thidua-worker"}
    names, processes = trace_of("POST /v1/targets/{tid}/cancel")
    assert {"StartWorkflowUpdate:command", "HandleUpdate:command", "StartActivity:thidua.apply_target_command",
            "RunActivity:thidua.apply_target_command"} <= names, names
    assert "HandleUpdate:assign" not in names and processes == {"thidua-api", "thidua-worker"}


def test_with_no_exporter_no_tracing_is_loaded(e2e_settings: Settings) -> None:
    """The API and the worker's client built with traces off load neither OpenTelemetry's
    SDK nor Temporal's tracing interceptor (FastAPI imports OpenTelemetry's API by itself;
    its telemetry is switched off), and the client has no tracing interceptor."""
    probe = f"""
import asyncio, json, os, sys
from thidua import bootstrap
from thidua.settings import Settings
from thidua.workflows.client import connect
settings = Settings(database_url={e2e_settings.database_url!r}, temporal_address={e2e_settings.temporal_address!r})
bootstrap.build_api(settings)
client = asyncio.run(connect(settings.temporal_address))
loaded = [m for m in sys.modules if m.startswith(("opentelemetry.sdk", "opentelemetry.exporter",
                                                  "temporalio.contrib.opentelemetry"))]
print(json.dumps({{"loaded": loaded, "interceptors": [type(i).__name__ for i in client.config()["interceptors"]]}}), flush=True)
os._exit(0)  # (the Temporal runtime's threads outlive asyncio.run's loop: no teardown)
"""
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)}  # no OTEL_* variable
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120,
                          check=True)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"loaded": [], "interceptors": ["RequestIdInterceptor"]}
