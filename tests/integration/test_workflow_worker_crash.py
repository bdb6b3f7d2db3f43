"""The worker as a process (`thidua worker`): killed in the middle of a command, stopped
politely, or missing altogether."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.integration.conftest import SECRETARIAT, eventually, new_id, unit_head
from thidua.workflows.client import TargetGateway, assign_request
from thidua.workflows.errors import ServiceUnavailable

REPO = Path(__file__).resolve().parents[2]


def start_worker_process(database_url: str, temporal_address: str, task_queue: str, *,
                         command: tuple[str, ...] = ("thidua.cli", "worker"), **env: str) -> subprocess.Popen:
    """`thidua worker` (or another `python -m` command) in its own process group, its log
    in a temporary file."""
    log = tempfile.NamedTemporaryFile(prefix="thidua-worker-", suffix=".log", delete=False)  # noqa: SIM115
    data_dir = tempfile.mkdtemp(prefix="thdw", dir="/tmp")
    process = subprocess.Popen(
        [sys.executable, "-m", *command],
        cwd=REPO,
        env={
            **os.environ,
            "DATABASE_URL": database_url,
            "TEMPORAL_ADDRESS": temporal_address,
            "THIDUA_TASK_QUEUE": task_queue,
            "THIDUA_DATA_DIR": data_dir,
            **env,
        },
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    process.log_path = log.name  # type: ignore[attr-defined]
    process.data_dir = data_dir  # type: ignore[attr-defined]
    return process


def discard(process: subprocess.Popen) -> None:
    """Kill the worker if it still runs; remove its log and its data directory."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    Path(process.log_path).unlink(missing_ok=True)  # type: ignore[attr-defined]
    shutil.rmtree(process.data_dir, ignore_errors=True)  # type: ignore[attr-defined]


def log_of(process: subprocess.Popen) -> str:
    return Path(process.log_path).read_text(errors="replace")  # type: ignore[attr-defined]


async def test_a_worker_killed_in_the_middle_of_a_command_applies_it_exactly_once(
    database_url, temporal_address, temporal_client, seed
):
    queue = f"wf-crash-{secrets.token_hex(3)}"
    campaign = seed.campaign()
    unit = seed.unit()
    head = unit_head(unit)
    gateway = TargetGateway(temporal_client, queue, answer_timeout=timedelta(seconds=60))
    # A worker whose activities pause 60 s after saving a start (tests/integration/pausing_worker.py).
    doomed = start_worker_process(database_url, temporal_address, queue,
                                  command=("tests.integration.pausing_worker", "start", "60"))
    successor = None
    try:
        assigned = await gateway.assign(assign_request(
            SECRETARIAT, new_id("assign"), campaign, unit_id=unit, title="Thu hồi đất dự án", area="land",
            deadline=date.today() + timedelta(days=30), points=5,
        ))
        tid = assigned.target["id"]
        command_id = new_id("start")
        answer = asyncio.create_task(gateway.command(tid, "start", head, command_id, {"note": "bắt đầu"}))

        # The event is saved; the activity has not answered yet: kill the worker there.
        await eventually(lambda: "Started" in seed.event_types(tid), what="the start to be saved")
        os.killpg(doomed.pid, signal.SIGKILL)
        doomed.wait(timeout=10)
        assert not answer.done()

        successor = start_worker_process(database_url, temporal_address, queue)
        result = await answer
        assert result.target["status"] == "in_progress"
        started = [e for e in seed.events(tid) if e.type == "Started"]
        assert len(started) == 1 and started[0].command_id == command_id
        assert result.position == started[0].position

        # The caller's retry (same command id) is answered the same, and stores nothing.
        again = await gateway.command(tid, "start", head, command_id, {"note": "bắt đầu"})
        assert again.position == result.position
        assert seed.event_types(tid) == ["Assigned", "Started"]

        # SIGTERM: the worker stops gracefully and exits cleanly.
        successor.send_signal(signal.SIGTERM)
        assert successor.wait(timeout=30) == 0, log_of(successor)
        assert "worker stopped" in log_of(successor)
    finally:
        for process in (doomed, successor):
            if process is not None:
                discard(process)


async def test_a_worker_runs_its_workflows_in_the_sandbox_only_when_asked(
    database_url, temporal_address, temporal_client, seed
):
    campaign, unit = seed.campaign(), seed.unit()
    for asked, queue in ((None, f"wf-plain-{secrets.token_hex(3)}"), ("true", f"wf-sandboxed-{secrets.token_hex(3)}")):
        env = {"THIDUA_WORKFLOW_SANDBOX": asked} if asked else {}
        process = start_worker_process(database_url, temporal_address, queue, **env)
        try:
            gateway = TargetGateway(temporal_client, queue, answer_timeout=timedelta(seconds=60))
            assigned = await gateway.assign(assign_request(
                SECRETARIAT, new_id("assign"), campaign, unit_id=unit, title="Cải cách hành chính", area="admin",
                deadline=date.today() + timedelta(days=30), points=3,
            ))
            started = await gateway.command(assigned.target["id"], "start", unit_head(unit), new_id("start"))
            assert started.target["status"] == "in_progress"
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0, log_of(process)
            polling = next(line for line in log_of(process).splitlines() if "worker polling task queue" in line)
            assert ("workflows sandboxed" in polling) == bool(asked), polling
        finally:
            discard(process)


async def test_without_a_worker_the_caller_gets_a_clear_retryable_error(temporal_client, seed):
    gateway = TargetGateway(temporal_client, f"wf-nobody-{secrets.token_hex(3)}", answer_timeout=timedelta(seconds=1))
    with pytest.raises(ServiceUnavailable) as refused:
        await gateway.assign(assign_request(
            SECRETARIAT, new_id("assign"), seed.campaign(), unit_id=seed.unit(), title="t", area="a",
            deadline=date.today(), points=1,
        ))
    assert refused.value.retryable
    assert "retry with the same command id" in str(refused.value)


async def test_an_unreachable_temporal_is_service_unavailable():
    from thidua.embedded import free_port
    from thidua.workflows.client import connect

    with pytest.raises(ServiceUnavailable) as refused:
        await connect(f"127.0.0.1:{free_port()}", "default")
    assert "cannot reach Temporal" in str(refused.value)
