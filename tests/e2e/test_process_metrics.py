"""Each process serves its own Prometheus /metrics where it is told to, and logs JSON lines:
`thidua api`, `thidua worker` and `thidua projector` run as real processes (as in production)
on a fresh database and the test Temporal server."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.databases import fresh_database
from thidua.embedded import free_port

REPO = Path(__file__).resolve().parents[2]
READY_WITHIN = 120.0


@pytest.fixture(scope="module")
def processes(postgres_server_url: str, temporal_address: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    logs = tmp_path_factory.mktemp("process-logs")
    with fresh_database(postgres_server_url, "thidua_metrics") as database_url:
        ports = {name: free_port() for name in ("api", "api_metrics", "worker_metrics", "projector_metrics")}
        env = {k: v for k, v in os.environ.items() if not k.upper().startswith(("THIDUA_", "TEMPORAL_"))}
        env.update(
            DATABASE_URL=database_url, TEMPORAL_ADDRESS=temporal_address, PYTHONPATH=str(REPO),
            THIDUA_TASK_QUEUE=f"thidua-metrics-{secrets.token_hex(3)}", THIDUA_LOG_LEVEL="INFO",
            THIDUA_API_PORT=str(ports["api"]),
            THIDUA_API_METRICS_ADDRESS=f"127.0.0.1:{ports['api_metrics']}",
            THIDUA_WORKER_METRICS_ADDRESS=f"127.0.0.1:{ports['worker_metrics']}",
            THIDUA_PROJECTOR_METRICS_ADDRESS=f"127.0.0.1:{ports['projector_metrics']}",
        )
        started: dict[str, subprocess.Popen[bytes]] = {}
        try:
            # One after the other: three processes creating the same tables at once is not what this tests.
            for name in ("api", "worker", "projector"):
                with (logs / f"{name}.log").open("wb") as out:
                    started[name] = subprocess.Popen([sys.executable, "-m", "thidua.cli", name], cwd=REPO, env=env,
                                                     stdout=out, stderr=subprocess.STDOUT)
                if name == "api":
                    wait_for(f"http://127.0.0.1:{ports['api']}/healthz", started[name], logs / "api.log")
            yield {"ports": ports, "logs": logs, "processes": started}
        finally:
            for process in started.values():
                process.send_signal(signal.SIGTERM)
            for process in started.values():
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(10)


def wait_for(url: str, process: subprocess.Popen[bytes], log: Path) -> httpx.Response:
    deadline = time.monotonic() + READY_WITHIN
    while True:
        if process.poll() is not None:
            raise AssertionError(f"the process exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            response = httpx.get(url, timeout=5)
            if response.status_code == 200:
                return response
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} did not answer 200 within {READY_WITHIN:.0f} s:\n{log.read_text()[-3000:]}")
        time.sleep(0.3)


def metrics_of(processes: dict, name: str) -> str:
    url = f"http://127.0.0.1:{processes['ports'][f'{name}_metrics']}/metrics"
    return wait_for(url, processes["processes"][name], processes["logs"] / f"{name}.log").text


def test_the_api_serves_metrics_only_on_their_own_address(processes: dict) -> None:
    public = f"http://127.0.0.1:{processes['ports']['api']}"
    assert httpx.get(f"{public}/metrics", timeout=10).status_code == 404
    assert httpx.get(f"{public}/healthz", timeout=10).status_code == 200
    text = metrics_of(processes, "api")
    assert 'thidua_http_requests_total{method="GET",route="/healthz",status="200"}' in text
    elsewhere = httpx.get(f"http://127.0.0.1:{processes['ports']['api_metrics']}/healthz", timeout=10)
    assert elsewhere.status_code == 404


def test_the_worker_serves_the_temporal_sdk_metrics(processes: dict) -> None:
    text = metrics_of(processes, "worker")
    assert "# TYPE temporal_request counter" in text and 'service_name="temporal-core-sdk"' in text


def test_the_projector_serves_its_position_and_process_metrics(processes: dict) -> None:
    text = metrics_of(processes, "projector")
    assert "thidua_projector_position " in text
    assert "process_resident_memory_bytes " in text


def test_the_processes_log_json_lines_with_request_ids(processes: dict) -> None:
    public = f"http://127.0.0.1:{processes['ports']['api']}"
    assert httpx.get(f"{public}/v1/me", headers={"X-Request-ID": "probe-401"}, timeout=10).status_code == 401
    log = processes["logs"] / "api.log"
    deadline = time.monotonic() + 30
    while "probe-401" not in log.read_text():
        assert time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.2)
    records = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    refused = [r for r in records if r.get("request_id") == "probe-401"]
    assert [(r["level"], r["status"], r["path"]) for r in refused] == [("INFO", 401, "/v1/me")]
