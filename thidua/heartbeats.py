"""Heartbeats of the long-running processes (the worker, the projector), in PostgreSQL.

Each process writes one row every `interval` seconds: its kind, host and pid, when it
started and when it last beat. A worker also says whether its activity threads make
progress: each beat hands a trivial probe to the same thread pool the activities run in
(`ExecutorProbe`); a probe still waiting after `stuck_after` seconds means every thread is
held (e.g. blocked on a lock that will never be released), and the row says since when
(`stuck_since`). The process is alive, polls Temporal and accepts commands it can never
apply: only a restart helps, which is what `thidua up`'s supervisor does on seeing it
(`stuck_reason`).

Readers: `/healthz` (alive / stale / stuck per process, missing when there is none) and
the supervisor. A clean stop deletes the row; a killed process leaves it, seen as stale
until it is forgotten (`FORGET_AFTER`).

This module imports nothing of the project but the URL helper: the worker, the projector,
the API and `thidua up` all use it. A process forgets, at start and at every beat, the rows of
its host's processes that no longer exist, so a restarted worker is not reported beside its
killed predecessor.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import asyncpg
import psycopg

from thidua.dburl import asyncpg_dsn

log = logging.getLogger("thidua.heartbeats")

TABLE = "thidua_heartbeats"
WORKER, PROJECTOR = "worker", "projector"
KINDS = (WORKER, PROJECTOR)
DEFAULT_INTERVAL = 5.0  # seconds between beats (THIDUA_HEARTBEAT_SECONDS)
DEFAULT_STUCK_AFTER = 60.0  # seconds a probe may wait for an activity thread (THIDUA_WORKER_STUCK_SECONDS)
STALE_BEATS = 4  # a row not written for this many intervals is stale: its process hangs or died
FORGET_AFTER = timedelta(minutes=2)  # rows older than this are left out of reports and deleted

DDL = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    process_id  text PRIMARY KEY,
    kind        text NOT NULL,
    host        text NOT NULL,
    pid         integer NOT NULL,
    started_at  timestamptz NOT NULL,
    beat_at     timestamptz NOT NULL,
    stuck_since timestamptz
)"""
_UPSERT = f"""
INSERT INTO {TABLE} (process_id, kind, host, pid, started_at, beat_at, stuck_since)
VALUES (%s, %s, %s, %s, %s, now(), %s)
ON CONFLICT (process_id) DO UPDATE SET beat_at = now(), stuck_since = EXCLUDED.stuck_since"""
_SELECT = f"""
SELECT kind, process_id, host, pid, started_at, beat_at, stuck_since, now() AS now FROM {TABLE}
WHERE beat_at > now() - $1::interval ORDER BY kind, started_at"""


class ExecutorProbe:
    """Do the threads of `executor` make progress? A trivial task is handed to it; the
    next look finds it done (and hands another), or still waiting: since when."""

    def __init__(self, executor: concurrent.futures.Executor, stuck_after: float) -> None:
        self.executor = executor
        self.stuck_after = timedelta(seconds=stuck_after)
        self._pending: concurrent.futures.Future[None] | None = None
        self._handed_at: datetime | None = None

    def stuck_since(self) -> datetime | None:
        now = datetime.now(timezone.utc)
        if self._pending is None or self._pending.done():
            with contextlib.suppress(RuntimeError):  # the pool is shutting down
                self._pending, self._handed_at = self.executor.submit(_nothing), now
            return None
        assert self._handed_at is not None
        return self._handed_at if now - self._handed_at >= self.stuck_after else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def _nothing() -> None:
    """The probe: runs as soon as any activity thread is free."""


class Heartbeat:
    """Beat for this process until closed (`async with Heartbeat(url, WORKER, probe=...)`).
    A failed beat (PostgreSQL down) is logged and tried again on the next interval."""

    def __init__(self, database_url: str, kind: str, *, interval: float = DEFAULT_INTERVAL,
                 probe: Callable[[], datetime | None] | None = None) -> None:
        self.dsn = asyncpg_dsn(database_url)
        self.kind = kind
        self.interval = interval
        self.probe = probe
        self.host, self.pid = socket.gethostname(), os.getpid()
        self.started_at = datetime.now(timezone.utc)
        self.process_id = f"{kind}:{self.host}:{self.pid}:{self.started_at.timestamp():.3f}"
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    async def __aenter__(self) -> Heartbeat:
        await self.beat()
        self._task = asyncio.create_task(self._loop(), name=f"thidua-heartbeat-{self.kind}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):  # a clean stop leaves no row behind
            conn = await self._connection()
            await conn.execute(f"DELETE FROM {TABLE} WHERE process_id = %s", (self.process_id,))
        if self._conn is not None:
            await self._conn.close()

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.beat()

    async def beat(self) -> None:
        stuck_since = self.probe() if self.probe is not None else None
        if stuck_since is not None:
            log.error("%s: no activity thread has been free since %s: every thread is held", self.kind,
                      stuck_since.isoformat())
        try:
            conn = await self._connection()
            await conn.execute(_UPSERT, (self.process_id, self.kind, self.host, self.pid, self.started_at,
                                         stuck_since))
            # A process of this host killed since (its pid gone) is no longer reported
            # beside the living: on one machine, a dead pid is known, not merely silent.
            await self._forget_the_dead_of_this_host(conn)
            if self._failing:
                log.info("%s heartbeat written again", self.kind)
            self._failing = False
        except Exception as exc:  # noqa: BLE001 - the next beat tries again
            if not self._failing:
                log.warning("%s heartbeat not written: %r", self.kind, exc)
            self._failing = True
            if self._conn is not None:
                with contextlib.suppress(Exception):
                    await self._conn.close()
            self._conn = None

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = await psycopg.AsyncConnection.connect(
                self.dsn, autocommit=True, connect_timeout=5, options="-c statement_timeout=5000")
            await self._conn.execute(DDL)
            await self._conn.execute(f"DELETE FROM {TABLE} WHERE beat_at < now() - %s::interval", (FORGET_AFTER,))
            await self._forget_the_dead_of_this_host(self._conn)
        return self._conn

    async def _forget_the_dead_of_this_host(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Rows this host's killed processes left (their pid gone, or reused by this very
        process): a restarted worker is not reported beside its dead predecessor."""
        rows = await (await conn.execute(
            f"SELECT process_id, pid, kind, started_at FROM {TABLE} WHERE host = %s AND process_id <> %s",
            (self.host, self.process_id))).fetchall()
        # Our own pid on an older row of our kind: this process's previous life (a container
        # restarted with the same pid). Another kind with our pid lives in this very process.
        dead = [process_id for process_id, pid, kind, started_at in rows
                if (pid == self.pid and kind == self.kind and started_at < self.started_at)
                or (pid != self.pid and not _alive(pid))]
        if dead:
            await conn.execute(f"DELETE FROM {TABLE} WHERE process_id = ANY(%s)", (dead,))


# ------------------------------------------------------------------------------ reading
@dataclass(frozen=True)
class ProcessHealth:
    kind: str
    process_id: str
    host: str
    pid: int
    state: str  # alive | stale | stuck
    started_at: datetime
    beat_at: datetime
    stuck_since: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.process_id, "host": self.host, "pid": self.pid, "state": self.state,
                "started_at": self.started_at.isoformat(), "beat_at": self.beat_at.isoformat(),
                "stuck_since": None if self.stuck_since is None else self.stuck_since.isoformat()}


def state_of(beat_at: datetime, stuck_since: datetime | None, now: datetime, interval: float) -> str:
    if now - beat_at > timedelta(seconds=STALE_BEATS * interval):
        return "stale"
    return "stuck" if stuck_since is not None else "alive"


async def processes(pool: Any, interval: float = DEFAULT_INTERVAL) -> list[ProcessHealth]:
    """Every process that beat recently, with its state (asyncpg pool; [] before any beat)."""
    try:
        rows = await pool.fetch(_SELECT, FORGET_AFTER)
    except asyncpg.UndefinedTableError:
        return []
    return [ProcessHealth(r["kind"], r["process_id"], r["host"], r["pid"],
                          state_of(r["beat_at"], r["stuck_since"], r["now"], interval),
                          r["started_at"], r["beat_at"], r["stuck_since"]) for r in rows]


def verdict(found: list[ProcessHealth], kind: str) -> str:
    """One word per kind for /healthz: ok (every one alive), missing (none), else the worst state."""
    states = {p.state for p in found if p.kind == kind}
    if not states:
        return "missing"
    for worst in ("stuck", "stale"):
        if worst in states:
            return worst
    return "ok"


def stuck_reason(database_url: str, kind: str, pid: int, interval: float = DEFAULT_INTERVAL) -> str | None:
    """Why the process `pid` of this host must be restarted, else None: its heartbeat says
    every activity thread is held. (A stale beat alone is no reason: PostgreSQL may just
    have been unreachable.) For a supervisor: synchronous, one short query; a database it
    cannot reach says nothing."""
    try:
        with psycopg.connect(asyncpg_dsn(database_url), connect_timeout=3, autocommit=True,
                             options="-c statement_timeout=3000") as conn:
            row = conn.execute(f"SELECT beat_at, stuck_since, now() FROM {TABLE} WHERE kind = %s AND host = %s"
                               f" AND pid = %s ORDER BY started_at DESC LIMIT 1",
                               (kind, socket.gethostname(), pid)).fetchone()
    except Exception as exc:  # noqa: BLE001 - PostgreSQL down: not this process's fault
        log.debug("heartbeat of %s %s not read: %r", kind, pid, exc)
        return None
    if row is None:
        return None  # not beating yet (starting), or no table yet
    beat_at, stuck_since, now = row
    if state_of(beat_at, stuck_since, now, interval) == "stuck":
        return f"every activity thread has been held since {stuck_since.isoformat()}"
    return None
