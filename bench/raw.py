"""B: the raw limits of the parts thidua is built on, measured in the same run.

- B1/B2: a Temporal update whose handler runs one trivial activity, on a trivial workflow
  (`bench.trivial`): one client in sequence (latency), then 32 clients (rate). Measured
  right before P1/P2 (see `TrivialBench`).
- B7: B2 sent as update-with-start to the running workflows (what thidua's gateway sends).
- B8/B9: B1/B2 with the same trivial activity run as a *local* activity, the shape of
  thidua's commands (P1 and P2 are judged against these; B1/B2 stay as detail).
- B3: eventsourcing, one new aggregate saved per call (the table lock serialises writers).
- B4: Temporal workflow starts, 32 in flight, with the trivial worker running them (right
  before P3).
- B5: asyncpg single-row SELECT by primary key from a pool, 32 in flight.
- B6: asyncpg COPY (`copy_records_to_table`) into an indexed table.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from bench.figures import Results
from bench.profile import Profile
from bench.services import CpuMeter, Process, wait_idle, wait_until
from bench.stats import LoadResult, closed_loop
from thidua.dburl import asyncpg_dsn, eventsourcing_env

TASK_QUEUE = "bench-trivial"


class RawRecord(Aggregate):
    """The smallest aggregate: one event with one field."""

    @event("Created")
    def __init__(self, n: int) -> None:
        self.n = n


class RawApplication(Application[uuid.UUID]):
    """Its own table (`benchraw_events`), so the raw figures touch nothing of thidua's."""

    name = "benchraw"


class TrivialBench:
    """B1, B2/B7 and B4 against a trivial worker in its own process.

    Started once per run and kept running (idle) beside thidua's processes, so each raw
    figure can be measured right before the thidua figure that is judged against it (B4
    before P3, B1 before P1, B2/B7 before P2): on a noisy machine the ratio then compares
    numbers taken under the same conditions and the same server state.
    """

    GROUPS: dict[str, tuple[str, ...]] = {
        "B1": ("B1.update_p50", "B1.update_p99", "B8.local_update_p50", "B8.local_update_p99"),
        "B2": ("B2.update_rate", "B7.uws_rate", "B9.local_update_rate"),
        "B4": ("B4.start_rate",),
    }

    def __init__(self, results: Results, profile: Profile, address: str, log_dir: Path,
                 cpu_meter: Callable[[], CpuMeter] | None = None) -> None:
        self.results = results
        self.cpu_meter = cpu_meter or (lambda: CpuMeter(dict))
        self.profile = profile
        self.address = address
        self.log_dir = log_dir
        self.done: set[str] = set()
        self._b4_rounds: list[tuple[LoadResult, dict[str, float]]] = []
        self.worker: Process | None = None
        self.handles: list[Any] = []
        self.client: Any = None
        self.run_id = uuid.uuid4().hex[:8]

    async def __aenter__(self) -> TrivialBench:
        from temporalio.client import Client

        from bench.trivial import Trivial, worker_argv

        self.worker = Process("trivial-worker", worker_argv(self.address, TASK_QUEUE), dict(os.environ),
                              self.log_dir).start()
        worker = self.worker
        await asyncio.to_thread(
            wait_until, lambda: "ready" in worker.tail(), 60, "trivial worker", check=worker.check_alive
        )
        self.client = await Client.connect(self.address)
        for c in range(self.profile.clients):
            self.handles.append(await self.client.start_workflow(
                Trivial.run, id=f"trivial-{self.run_id}-{c}", task_queue=TASK_QUEUE))
        return self

    async def __aexit__(self, *exc: object) -> None:
        from bench.trivial import Trivial

        try:
            for handle in self.handles:
                await handle.signal(Trivial.finish)
        finally:
            if self.worker is not None:
                await asyncio.to_thread(self.worker.stop)

    async def measure(self, group: str, *, again: bool = False) -> None:
        """Measure one group of figures (once per run; `again`: one more round, see B4)."""
        if group in self.done and not again:
            return
        self.done.add(group)
        await {"B1": self._latency, "B2": self._rate, "B4": self._starts}[group]()

    async def _ping(self, c: int, i: int) -> None:
        from bench.trivial import Trivial

        await self.handles[c].execute_update(Trivial.ping, i)

    async def _ping_local(self, c: int, i: int) -> None:
        from bench.trivial import Trivial

        await self.handles[c].execute_update(Trivial.ping_local, i)

    async def _latency(self) -> None:
        """B1 (ordinary activity) and B8 (local activity): one client, one update after the other."""
        for ping, p50, p99 in ((self._ping, "B1.update_p50", "B1.update_p99"),
                               (self._ping_local, "B8.local_update_p50", "B8.local_update_p99")):
            one = await closed_loop(1, ping, calls_per_client=self.profile.b1_calls, warmup_calls=5)
            self.results.put(p50, one.ms(50), **one.summary())
            self.results.put(p99, one.ms(99), **one.summary())

    async def _rate(self) -> None:
        """B2: `clients` clients, each on its own workflow; B7: the same as update-with-start
        (what thidua's gateway sends for every command)."""
        from temporalio.client import WithStartWorkflowOperation
        from temporalio.common import WorkflowIDConflictPolicy

        from bench.trivial import Trivial

        clients, p = self.profile.clients, self.profile
        with self.cpu_meter() as cpu:
            many = await closed_loop(clients, self._ping, seconds=p.load_seconds, warmup_calls=2)
        self.results.put("B2.update_rate", many.rate, clients=clients, cpu_ms_per_call=cpu.per_call(many.calls),
                         **many.summary())
        with self.cpu_meter() as cpu:
            local = await closed_loop(clients, self._ping_local, seconds=p.load_seconds, warmup_calls=2)
        self.results.put("B9.local_update_rate", local.rate, clients=clients,
                         cpu_ms_per_call=cpu.per_call(local.calls), **local.summary())

        async def ping_with_start(c: int, i: int) -> None:
            start = WithStartWorkflowOperation(
                Trivial.run, id=self.handles[c].id, id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                task_queue=TASK_QUEUE,
            )
            await self.client.execute_update_with_start_workflow(Trivial.ping, i, start_workflow_operation=start)

        with self.cpu_meter() as cpu:
            uws = await closed_loop(clients, ping_with_start, seconds=p.load_seconds, warmup_calls=2)
        self.results.put("B7.uws_rate", uws.rate, clients=clients, cpu_ms_per_call=cpu.per_call(uws.calls),
                         **uws.summary())

    async def _starts(self) -> None:
        """B4: workflow starts, `clients` in flight (the worker runs their first tasks).

        Measured right before P3 and again right after it, and the figure pools both
        rounds (all starts over all their seconds). Temporal's start rate falls as its store
        fills (the dev server: 298, 275 and 230 starts/s over three consecutive thousands),
        so one round before P3 would judge P3's starts, made on a store 1,000–3,000
        workflows full, against starts made on one 0–1,000 full; the two rounds bracket P3
        (and the machine's drift). Each round is in the detail (`rounds`)."""
        from bench.trivial import Trivial

        clients = self.profile.clients
        first = len(self._b4_rounds) * self.profile.b4_starts
        next_id = iter(range(first, first + self.profile.b4_starts))

        async def start(c: int, i: int) -> None:
            n = next(next_id)
            await self.client.start_workflow(Trivial.run, id=f"start-{self.run_id}-{n}", task_queue=TASK_QUEUE)

        with self.cpu_meter() as cpu:
            starts = await closed_loop(clients, start, calls_per_client=self.profile.b4_starts // clients)
        # A start is counted when the server accepts it; the worker runs the workflows'
        # first tasks afterwards. Let it finish them here, so that backlog does not run
        # inside the next stage (P3, judged against this figure).
        settled_after = await asyncio.to_thread(self._settle)
        self._b4_rounds.append((starts, cpu.per_call(starts.calls)))
        rounds = [{"rate": round(r.rate, 1), "cpu_ms_per_call": c, **r.summary()} for r, c in self._b4_rounds]
        calls = sum(r.calls for r, _ in self._b4_rounds)
        seconds = sum(r.elapsed for r, _ in self._b4_rounds)
        self.results.put("B4.start_rate", calls / seconds if seconds else None, clients=clients,
                         cpu_ms_per_call=_pooled_per_call(self._b4_rounds), worker_settled_after_s=settled_after,
                         calls=calls, seconds=round(seconds, 3), rounds=rounds)

    def _settle(self) -> float:
        assert self.worker is not None
        return wait_idle(self.worker.pid)


def _pooled_per_call(rounds: list[tuple[LoadResult, dict[str, float]]]) -> dict[str, float]:
    """CPU ms per call of each process over several rounds, weighted by their calls."""
    calls = sum(r.calls for r, _ in rounds) or 1
    names = {name for _, per_call in rounds for name in per_call}
    return {name: round(sum(per_call.get(name, 0.0) * r.calls for r, per_call in rounds) / calls, 2)
            for name in sorted(names)}


def measure_eventsourcing(results: Results, profile: Profile, database_url: str) -> None:
    """B3: one new aggregate per save, one caller after the other."""
    app = RawApplication(env=eventsourcing_env(database_url))
    try:
        for n in range(20):  # warm the pool and the statement caches
            app.save(RawRecord(n))
        t0 = time.perf_counter()
        for n in range(profile.b3_saves):
            app.save(RawRecord(n))
        elapsed = time.perf_counter() - t0
    finally:
        app.close()
    results.put("B3.es_save_rate", profile.b3_saves / elapsed, saves=profile.b3_saves, seconds=round(elapsed, 3))


async def measure_asyncpg(results: Results, profile: Profile, database_url: str) -> None:
    """B5 (single-row SELECT) and B6 (COPY)."""
    import asyncpg

    dsn = asyncpg_dsn(database_url)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_rows (id int PRIMARY KEY, name text NOT NULL, score numeric NOT NULL)"
        )
        await conn.execute("TRUNCATE bench_rows")
        await conn.copy_records_to_table(
            "bench_rows", records=[(i, f"unit-{i}", i * 1.5) for i in range(1000)], columns=["id", "name", "score"]
        )
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_copy (position bigint PRIMARY KEY, aggregate_id uuid NOT NULL, "
            "occurred_at timestamptz NOT NULL, event_type text NOT NULL, payload text NOT NULL)"
        )
        await conn.execute("TRUNCATE bench_copy")
        at = datetime.now(timezone.utc)
        aggregate = uuid.uuid4()
        rows = [(i, aggregate, at, "Target.ProgressReported", f"{{\"percent\": {i % 100}}}")
                for i in range(1, profile.b6_rows + 1)]
        t0 = time.perf_counter()
        await conn.copy_records_to_table(
            "bench_copy", records=rows, columns=["position", "aggregate_id", "occurred_at", "event_type", "payload"]
        )
        elapsed = time.perf_counter() - t0
        results.put("B6.copy_rate", profile.b6_rows / elapsed, rows=profile.b6_rows, seconds=round(elapsed, 3),
                    table="5 columns, primary key")
        await conn.execute("DROP TABLE bench_copy")
    finally:
        await conn.close()

    pool = await asyncpg.create_pool(dsn, min_size=profile.clients // 2, max_size=profile.clients // 2)
    try:
        async def select(c: int, i: int) -> None:
            await pool.fetchrow("SELECT id, name, score FROM bench_rows WHERE id = $1", (c * 7919 + i) % 1000)

        load = await closed_loop(profile.clients, select, seconds=profile.b5_seconds, warmup_calls=20)
        results.put("B5.select_rate", load.rate, clients=profile.clients, pool=profile.clients // 2, **load.summary())
    finally:
        await pool.close()
