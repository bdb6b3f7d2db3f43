"""thidua's processes for a run, and how far its projections have got.

- `Stack`: `thidua worker | projector | api` as child processes, readiness, the users the
  bench acts as (the first secretariat the operator's way, the others over HTTP);
- `projected_position`, `wait_projected`, `max_position`: the read models' lowest tracking
  position against the event store's head;
- `LagProbe`: live projection lag, from an event's commit to its projection.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.httpload import Connection, HttpError
from bench.services import Process, thidua_env
from bench.stats import percentile
from thidua.dburl import asyncpg_dsn


class PartMissing(Exception):
    """A part of thidua a stage drives is not in the tree (yet): its figures are skipped."""


def require(module: str) -> Any:
    """Import one of thidua's modules, or raise PartMissing."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise PartMissing(f"{module} is not importable yet ({exc})") from exc


# ------------------------------------------------------------------------------------ stack
@dataclass
class Stack:
    """thidua's processes for this run, and the tokens of the users the bench acts as."""

    database_url: str
    address: str
    work: Path
    logs: Path
    api_port: int = 0
    processes: dict[str, Process] = field(default_factory=dict)
    secretariat: str = ""
    inspector: str = ""
    inspector_cookie: str = ""  # the same inspector signed in as a person (the pages' benchmark)
    heads: dict[str, str] = field(default_factory=dict)  # unit id -> token
    api_ports: list[int] = field(default_factory=list)  # of the API processes started by start_copies
    without: tuple[str, ...] = ()

    def start(self) -> None:
        from thidua.embedded import free_port

        self.api_port = free_port()
        env = thidua_env(self.database_url, self.address, self.work / "thidua", api_port=self.api_port)
        for name in ("worker", "projector", "api"):
            if name in self.without:
                continue
            self.processes[name] = Process.thidua(name, name, env, self.logs).start()

    def check(self) -> None:
        for proc in self.processes.values():
            proc.check_alive()

    def start_copies(self, copy: int) -> list[str]:
        """One more worker, projector and API process (`<kind>-<copy>`; the API on a port of
        its own, in `api_ports`) against the same store and Temporal; returns their names."""
        from thidua.embedded import free_port

        port = free_port()
        env = thidua_env(self.database_url, self.address, self.work / "thidua", api_port=port)
        names = []
        for kind in ("worker", "projector", "api"):
            name = f"{kind}-{copy}"
            self.processes[name] = Process.thidua(name, kind, env, self.logs).start()
            names.append(name)
        self.api_ports.append(port)
        return names

    def stop_copies(self, names: list[str], port: int) -> None:
        for name in sorted(names, key=_stop_order):
            proc = self.processes.pop(name, None)
            if proc is not None:
                proc.stop()
        self.api_ports.remove(port)

    async def wait_ready(self, timeout: float = 90.0, port: int | None = None) -> None:
        deadline = time.monotonic() + timeout
        conn = Connection(port or self.api_port)
        last = ""
        try:
            while True:
                self.check()
                try:
                    res = await conn.request("GET", "/healthz")
                    if res.status == 200:
                        return
                    last = f"HTTP {res.status} {res.body[:200]!r}"
                except (OSError, HttpError) as exc:
                    last = str(exc)
                    await conn.close()
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the API did not become healthy within {timeout:.0f}s: {last}")
                await asyncio.sleep(0.2)
        finally:
            await conn.close()

    def connection(self, token: str | None, n: int = 0) -> Connection:
        """A connection to the API; with more than one API process, the `n`th goes to
        process n mod count (the harness's round-robin)."""
        ports = [self.api_port, *self.api_ports]
        return Connection(ports[n % len(ports)], token)

    async def bootstrap_users(self, unit_ids: list[str]) -> None:
        """The first secretariat the operator's way (`thidua users create`), the rest over HTTP."""
        bootstrap = require("thidua.bootstrap")
        from thidua.settings import Settings

        settings = Settings(database_url=self.database_url, temporal_address=self.address,
                            data_dir=self.work / "thidua")
        first = await asyncio.to_thread(bootstrap.create_user, settings, name="Bench Văn phòng", role="secretariat",
                                        unit_id=None)
        self.secretariat = first["token"]
        sec = self.connection(self.secretariat)
        try:
            for unit in unit_ids:
                (await sec.request("PUT", f"/v1/units/{unit}", json_body={
                    "name": f"Đơn vị {unit}", "kind": "phuong", "head_name": f"Trưởng {unit}"})).raise_for_status(
                    f"PUT unit {unit}")
            res = await sec.request("POST", "/v1/users", json_body={"name": "Bench UBKT", "role": "inspector",
                                                                    "login": "bench.inspector"})
            made = res.raise_for_status("create inspector").json()
            self.inspector = made["token"]
            self.inspector_cookie = await self._sign_in(sec, made["activation_url"], "bench.inspector")
            for unit in unit_ids:
                res = await sec.request("POST", "/v1/users", json_body={
                    "name": f"Trưởng {unit}", "role": "unit_head", "unit_id": unit})
                self.heads[unit] = res.raise_for_status(f"create head of {unit}").json()["token"]
        finally:
            await sec.close()

    async def _sign_in(self, conn: Connection, activation_url: str, login: str) -> str:
        """A person's way in (P7): set the password through the activation link, sign in,
        and keep the session cookie (`name=value`)."""
        password = "bench password 2022"
        token = activation_url.rsplit("/activate/", 1)[1]
        (await conn.request("POST", "/v1/activation", json_body={"token": token, "password": password})
         ).raise_for_status("activate")
        signed = (await conn.request("POST", "/v1/session", json_body={"login": login, "password": password})
                  ).raise_for_status("sign in")
        return signed.headers["set-cookie"].split(";", 1)[0]

    def stop(self) -> None:
        # The API first (no new commands), then the worker (finishes its activities), then the projector.
        for name in sorted(self.processes, key=_stop_order):
            self.processes[name].stop()

    def rss_mb(self, name: str) -> float | None:
        proc = self.processes.get(name)
        return None if proc is None or proc.popen is None else proc.peak_rss_mb


def _stop_order(name: str) -> int:
    """api (and its copies) first, then worker, then projector."""
    return ("api", "worker", "projector").index(name.split("-", 1)[0])


# ------------------------------------------------------------------------------- projections
async def projected_position(conn: Any) -> int:
    """How far every read model has got: the smallest tracking position (0 before the
    projector has created its tables)."""
    schema = require("thidua.projections.schema")
    if not await conn.fetchval("SELECT to_regclass('public.projection_tracking') IS NOT NULL"):
        return 0
    low = await conn.fetchval("SELECT min(position) FROM public.projection_tracking WHERE name = ANY($1)",
                              list(schema.ALL_TRACKING))
    return int(low or 0)


async def building_position(conn: Any) -> int:
    """How far a bulk build (a rebuild, or the projector's own on empty read models) has
    got in its scratch schema (0 when none runs; the scoreboard's row moves only at its end)."""
    if not await conn.fetchval("SELECT to_regclass('thidua_rebuild.projection_tracking') IS NOT NULL"):
        return 0
    low = await conn.fetchval("SELECT min(position) FROM thidua_rebuild.projection_tracking WHERE name <> 'scoreboard'")
    return int(low or 0)


async def wait_projected(database_url: str, position: int, timeout: float, stack: Stack | None = None,
                         progress: Callable[[int], None] | None = None) -> float:
    """Wait until the projector has reached `position`; returns the seconds waited
    (`progress(position)` is called on every poll; a negative position is a bulk build's)."""
    import asyncpg

    t0 = time.perf_counter()
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        while True:
            if stack is not None:
                stack.check()
            got = await projected_position(conn)
            if got >= position:
                return time.perf_counter() - t0
            if progress is not None:
                progress(got or -await building_position(conn))
            if time.perf_counter() - t0 > timeout:
                got = await projected_position(conn)
                raise TimeoutError(f"the projector reached {got}, not {position}, within {timeout:.0f}s")
            await asyncio.sleep(0.1)
    finally:
        await conn.close()


class LagProbe:
    """Projection lag, from the moment an event is visible in the store to the moment the
    read models include it: polls max(notification_id) and the projected position."""

    def __init__(self, database_url: str, interval: float = 0.01) -> None:
        self.database_url = database_url
        self.interval = interval
        self.lags: list[float] = []
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self.polls = 0
        self.unprojected = 0

    async def __aenter__(self) -> LagProbe:
        import asyncpg

        from thidua.domain.application import EVENTS_TABLE

        self._conn = await asyncpg.connect(asyncpg_dsn(self.database_url))
        self._max_sql = f"SELECT max(notification_id) FROM {EVENTS_TABLE}"
        self._task = asyncio.create_task(self._run())
        return self

    async def _run(self) -> None:
        pending: deque[tuple[int, float]] = deque()
        seen = int(await self._conn.fetchval(self._max_sql) or 0)
        while not self._stop.is_set():
            latest = int(await self._conn.fetchval(self._max_sql) or 0)
            now = time.perf_counter()
            if latest > seen:
                pending.append((latest, now))
                seen = latest
            projected = await projected_position(self._conn)
            now = time.perf_counter()
            while pending and pending[0][0] <= projected:
                _, at = pending.popleft()
                self.lags.append(now - at)
            self.polls += 1
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.interval)
        # Events seen but not projected by the end count with the lag they had then.
        now = time.perf_counter()
        self.unprojected = len(pending)
        self.lags.extend(now - at for _, at in pending)

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task
        await self._conn.close()

    def ms(self, q: float) -> float | None:
        return percentile(self.lags, q) * 1000 if self.lags else None


async def max_position(database_url: str) -> int:
    import asyncpg

    from thidua.domain.application import EVENTS_TABLE

    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        return int(await conn.fetchval(f"SELECT coalesce(max(notification_id), 0) FROM {EVENTS_TABLE}") or 0)
    finally:
        await conn.close()
