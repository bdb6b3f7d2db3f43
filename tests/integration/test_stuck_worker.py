"""A worker whose activity threads are all stuck is reported and restarted (issue 15, item 1;
issue 17, item 4).

Such a worker is alive, polls Temporal and takes commands it never applies: before, every
command answered 503 and /healthz said ok until someone killed the worker by hand. Now its
heartbeat says since when no activity thread has been free, /healthz reports it stuck, and
the supervisor `thidua up` runs it under kills it and starts it again; the commands held by
the stuck threads are then applied, once, and new ones succeed.

Real parts: the worker is a process (its activities block while a flag file exists), run by
the real Supervisor with the same health check `thidua up` gives it; /healthz is the API's.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import threading
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import SECRETARIAT, new_id, unit_head
from tests.integration.stuck_worker import FLAG
from tests.processes import gone
from thidua import heartbeats
from thidua.bootstrap import build_api
from thidua.settings import Settings
from thidua.supervisor import ChildSpec, Supervisor
from thidua.workflows.client import TargetGateway, assign_request
from thidua.workflows.errors import ServiceUnavailable
from thidua.workflows.worker import DEFAULT_MAX_CONCURRENT_ACTIVITIES

REPO = Path(__file__).resolve().parents[2]
BEAT = 0.5  # seconds between heartbeats in this test
STUCK_AFTER = 3.0  # seconds without a free activity thread before the worker is stuck
RECOVERY_BOUND = 90  # seconds within which every command succeeds after the restart


class SupervisorThread:
    """The Supervisor driven from one thread of its own, as `thidua up` drives it from its
    main thread (the children's parent-death signal is tied to the thread that forked them)."""

    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor
        self._stop = threading.Event()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name="supervisor", daemon=True)

    def _run(self) -> None:
        self.supervisor.start()
        self._started.set()
        while not self._stop.wait(0.2):
            self.supervisor.check()
        self.supervisor.stop()

    def __enter__(self) -> Supervisor:
        self._thread.start()
        self._started.wait(30)
        return self.supervisor

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(60)


@pytest.fixture
def flag(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "stuck"
    yield path
    path.unlink(missing_ok=True)


async def until(probe, what: str, timeout: float = 60.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not (value := await probe()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        await asyncio.sleep(0.25)
    return value


async def test_stuck_threads_make_healthz_say_so_and_the_supervisor_restarts_the_worker(
    database_url, temporal_address, temporal_client, seed, flag, tmp_path
):
    queue = f"wf-stuck-{secrets.token_hex(3)}"
    restart_allowed = threading.Event()  # the test first looks at /healthz, then lets the supervisor act

    def unhealthy(pid: int) -> str | None:  # what `thidua up` asks (thidua.up.Up._stuck_worker)
        return heartbeats.stuck_reason(database_url, heartbeats.WORKER, pid, BEAT) if restart_allowed.is_set() else None

    env = {**os.environ, "DATABASE_URL": database_url, "TEMPORAL_ADDRESS": temporal_address,
           "THIDUA_TASK_QUEUE": queue, "THIDUA_DATA_DIR": str(tmp_path / "data"), "THIDUA_LOG_FORMAT": "text",
           "THIDUA_HEARTBEAT_SECONDS": str(BEAT), "THIDUA_WORKER_STUCK_SECONDS": str(STUCK_AFTER), FLAG: str(flag)}
    spec = ChildSpec("worker", [sys.executable, "-m", "tests.integration.stuck_worker"], env, cwd=REPO,
                     unhealthy=unhealthy)
    supervisor = Supervisor([spec], log_dir=tmp_path / "logs", backoff_initial=0.5, health_every=1.0)
    api = build_api(Settings(database_url=database_url, temporal_address=temporal_address, log_level="WARNING",
                             heartbeat_seconds=BEAT), database_url=database_url, temporal_address=temporal_address)
    gateway = TargetGateway(temporal_client, queue, answer_timeout=timedelta(seconds=5))
    campaign, unit = seed.campaign(), seed.unit()
    head = unit_head(unit)

    with SupervisorThread(supervisor) as running:
        first_pid = running.pids()["worker"]
        async with api.router.lifespan_context(api), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=api), base_url="http://api") as http:

            async def health() -> dict:
                return (await http.get("/healthz")).json()

            def mine(body: dict, pid: int) -> dict | None:
                return next((p for p in body["processes"] if p["kind"] == "worker" and p["pid"] == pid), None)

            await until(lambda: _is(health(), lambda b: (mine(b, first_pid) or {}).get("state") == "alive"),
                        "the worker beating")
            # More targets than activity threads, each with a command that will hold one.
            targets = []
            for n in range(DEFAULT_MAX_CONCURRENT_ACTIVITIES + 1):
                assigned = await gateway.assign(assign_request(
                    SECRETARIAT, new_id("assign"), campaign, unit_id=unit, title=f"Chỉ tiêu {n}", area="admin",
                    deadline=date.today() + timedelta(days=30), points=1))
                targets.append(assigned.target["id"])

            flag.touch()
            held = {tid: new_id("held") for tid in targets}
            answers = await asyncio.gather(*(gateway.command(tid, "start", head, held[tid]) for tid in targets),
                                           return_exceptions=True)
            assert all(isinstance(a, ServiceUnavailable) for a in answers), answers

            # /healthz: degraded, the worker stuck, and since when.
            body = await until(lambda: _is(health(), lambda b: (mine(b, first_pid) or {}).get("state") == "stuck"),
                               "healthz to report the worker stuck")
            assert body["status"] == "degraded" and body["checks"]["workers"] == "stuck"
            assert mine(body, first_pid)["stuck_since"] is not None

            # The supervisor kills the stuck worker and starts another.
            flag.unlink()
            restart_allowed.set()
            await until(lambda: _true(running.restarts()["worker"] >= 1 and running.pids()["worker"] is not None),
                        "the supervisor to restart the worker")
            assert gone(first_pid, timeout=10)
            second_pid = running.pids()["worker"]
            assert second_pid != first_pid

            # Every command goes through again: the held ones (answered from the store if the
            # restarted worker already applied them), and new ones, within a bound.
            started = time.monotonic()
            patient = TargetGateway(temporal_client, queue, answer_timeout=timedelta(seconds=RECOVERY_BOUND))
            for tid in targets:
                again = await patient.command(tid, "start", head, held[tid])
                assert again.target["status"] == "in_progress"
                progressed = await patient.command(tid, "report_progress", head, new_id("after"), {"note": "đã chạy"})
                assert progressed.target["status"] == "in_progress"
            assert time.monotonic() - started < RECOVERY_BOUND
            for tid in targets:
                assert [e.command_id for e in seed.events(tid)].count(held[tid]) == 1

            body = await until(lambda: _is(health(), lambda b: (mine(b, second_pid) or {}).get("state") == "alive"),
                               "healthz to see the new worker alive")
            assert mine(body, first_pid) is None  # the new worker forgot its killed predecessor
            assert body["checks"]["workers"] in ("ok", "stale")  # stale: killed workers of other tests


async def _is(awaitable, check):  # type: ignore[no-untyped-def]
    value = await awaitable
    return value if check(value) else None


async def _true(value: bool) -> bool:
    return value
