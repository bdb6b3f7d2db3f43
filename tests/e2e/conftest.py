"""The whole system for HTTP tests: a fresh database, a real Temporal dev server, a real
worker and projector, and the API served by uvicorn on a free port.

All session-scoped and started lazily. The API runs in its own thread with its own
event loop (as in production, its asyncpg pool and Temporal client are made in the
lifespan on that loop); the worker and the projector run as tasks on the test loop.
Tests talk to the API over real HTTP with httpx.
"""

from __future__ import annotations

import asyncio
import secrets
from concurrent.futures import ThreadPoolExecutor
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn

from tests.databases import fresh_database
from thidua.embedded import free_port
from thidua.heartbeats import WORKER, ExecutorProbe, Heartbeat
from thidua.settings import Settings


# ------------------------------------------------------------------ infrastructure
@pytest.fixture(scope="session")
def api_database_url(postgres_server_url: str) -> Iterator[str]:
    """A database of its own: the projector reads every event in it."""
    with fresh_database(postgres_server_url, "thidua_e2e") as url:
        yield url


@pytest.fixture(scope="session")
def e2e_settings(api_database_url: str, temporal_address: str) -> Settings:
    return Settings(
        database_url=api_database_url,
        temporal_address=temporal_address,
        task_queue=f"thidua-e2e-{secrets.token_hex(4)}",
        log_level="WARNING",
        webhooks_allow_private=True,  # the tests' webhook receivers listen on 127.0.0.1
        # Every test comes from 127.0.0.1 and many send bad tokens on purpose (schemathesis
        # too): the throttle of failed tokens is tested on its own (test_token_throttle.py).
        auth_failures_per_minute=100_000,
    )


class BackgroundLoop:
    """An event loop in a daemon thread: the worker and the projector live there, so a
    synchronous test (schemathesis) blocking the test loop does not stall them."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self.thread.start()

    def run(self, coro: Any, timeout: float = 120) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


@pytest.fixture(scope="session")
def worker(e2e_settings: Settings) -> Iterator[None]:
    """A real worker (TargetWorkflow and its activities) on the session's task queue."""
    from thidua.event_store import domain_application
    from thidua.workflows.client import connect
    from thidua.workflows.worker import DEFAULT_MAX_CONCURRENT_ACTIVITIES, build_worker

    background = BackgroundLoop("thidua-worker")
    domain_app = domain_application(e2e_settings.database_url)

    executor = ThreadPoolExecutor(max_workers=DEFAULT_MAX_CONCURRENT_ACTIVITIES, thread_name_prefix="thidua-activity")
    # Beating as `thidua worker` does, so /healthz sees a live worker.
    heartbeat = Heartbeat(e2e_settings.database_url, WORKER, interval=e2e_settings.heartbeat_seconds,
                          probe=ExecutorProbe(executor, e2e_settings.worker_stuck_seconds).stuck_since)

    async def start() -> tuple[Any, asyncio.Task[None]]:
        client = await connect(e2e_settings.temporal_address, e2e_settings.temporal_namespace)
        worker = build_worker(client, domain_app, e2e_settings.task_queue, activity_executor=executor)
        await heartbeat.__aenter__()
        return worker, asyncio.create_task(worker.run())

    async def stop(worker: Any, running: asyncio.Task[None]) -> None:
        await heartbeat.__aexit__(None, None, None)
        await worker.shutdown()
        await asyncio.gather(running, return_exceptions=True)

    worker, running = background.run(start())
    try:
        yield
    finally:
        background.run(stop(worker, running))
        executor.shutdown(wait=False, cancel_futures=True)
        background.close()
        domain_app.close()


@pytest.fixture(scope="session")
def projector(e2e_settings: Settings) -> Iterator[None]:
    """The real projector, keeping every read model up to date."""
    from tests.e2e.stack import start_projector

    background = BackgroundLoop("thidua-projector")
    stop = background.run(start_projector(e2e_settings))
    try:
        yield
    finally:
        background.run(stop())
        background.close()


class ServerThread:
    """uvicorn serving an app on a free port, in a thread with its own event loop."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # A long keep-alive: the tests' clients pause between steps, and a connection the
        # server closes at the moment a client reuses it is a "disconnected" error, not a finding.
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    lifespan="on", timeout_keep_alive=120))
        self.thread = threading.Thread(target=self.server.run, name="thidua-api", daemon=True)

    def start(self, timeout: float = 60) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("the API server stopped during startup (see the log above)")
            if time.monotonic() > deadline:
                raise RuntimeError("the API server did not start in time")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture(scope="session")
def api_server(e2e_settings: Settings) -> Iterator[ServerThread]:
    from thidua.bootstrap import build_api

    server = ServerThread(build_api(e2e_settings, position_wait_seconds=20)).start()
    try:
        yield server
    finally:
        server.stop()


# ------------------------------------------------------------------ clients and people
@pytest.fixture(scope="session")
async def http(api_server: ServerThread) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=api_server.url, timeout=60) as client:
        yield client


@dataclass
class Person:
    """A signed-in user of the API, as the tests drive it."""

    http: httpx.AsyncClient
    id: str
    role: str
    token: str
    unit_id: str | None = None
    name: str = ""
    headers: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.headers = {"Authorization": f"Bearer {self.token}"}

    async def get(self, url: str, **kw: Any) -> httpx.Response:
        return await self.http.get(url, headers={**self.headers, **kw.pop("headers", {})}, **kw)

    async def post(self, url: str, json: Any = None, **kw: Any) -> httpx.Response:
        return await self.http.post(url, json=json, headers={**self.headers, **kw.pop("headers", {})}, **kw)

    async def put(self, url: str, json: Any = None, **kw: Any) -> httpx.Response:
        return await self.http.put(url, json=json, headers={**self.headers, **kw.pop("headers", {})}, **kw)

    async def delete(self, url: str, **kw: Any) -> httpx.Response:
        return await self.http.delete(url, headers={**self.headers, **kw.pop("headers", {})}, **kw)

    async def request(self, method: str, url: str, **kw: Any) -> httpx.Response:
        return await self.http.request(method, url, headers={**self.headers, **kw.pop("headers", {})}, **kw)


@pytest.fixture(scope="session")
async def secretariat(http: httpx.AsyncClient, e2e_settings: Settings) -> Person:
    """The first user, made the way an operator makes it: `thidua users create`."""
    from thidua.bootstrap import create_user

    made = await asyncio.to_thread(create_user, e2e_settings, name="Văn phòng Thành ủy", role="secretariat",
                                   unit_id=None)
    return Person(http, made["id"], made["role"], made["token"], name=made["name"])


async def make_person(creator: Person, *, name: str, role: str, unit_id: str | None = None) -> Person:
    response = await creator.post("/v1/users", {"name": name, "role": role, "unit_id": unit_id})
    assert response.status_code == 201, response.text
    body = response.json()
    return Person(creator.http, body["id"], body["role"], body["token"], unit_id=body["unit_id"], name=body["name"])


async def register_unit(secretariat: Person, unit_id: str, name: str, kind: str = "ward") -> None:
    response = await secretariat.put(f"/v1/units/{unit_id}", {"name": name, "kind": kind})
    assert response.status_code in (200, 201), response.text


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"
