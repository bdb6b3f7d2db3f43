"""Freezing an evaluation round, beside the scoreboard as-of query it is made of.

`measure_freeze(database_url, units=100, targets=5000)` writes a corpus (bench/corpus.py:
one campaign, its clusters, targets with real lifecycles), projects it, and times, on the
same instant and the same read models:
- `as_of_ms`: the scoreboard as of that instant (projections.queries.scoreboard, as
  `GET /v1/campaigns/{cid}/scoreboard?as_of=` runs it);
- `freeze_ms`: what a round freezes (projections.evaluation_freeze.freeze_round: the same
  boards plus each target's points and system score then);
and returns both with their ratio (the goal: freeze <= 1.5 x as_of). Each is the median of
`repeats` runs after warm-ups past the prepared statements' first plans, the two taken in
turn (as_of, freeze, then freeze, as_of, ...) so that the machine's drift falls on both
alike; beside them the CPU of each call (`cpu_ms`: this process and, on a local server, its
PostgreSQL backend). Beside them (in the figures' detail) what recording the
frozen round costs: `record_ms`, building the Evaluation aggregate from the frozen units and
saving its events through the domain application (encoding, the audit chain, the insert),
median of `repeats` rounds; `record_bytes`, the size of one round's stored events; and
`project_ms`, the projector catching up on those rounds, per round (standalone runs only:
in a run of the whole stack its own projector does it).

    .venv/bin/python -m bench.evaluation [--units 100 --targets 5000] [--repeats 9]
    .venv/bin/python -m bench.evaluation --units 3321 --targets 170000   # every commune of the country
(on $DATABASE_URL's server, else 127.0.0.1:5432, else an embedded PostgreSQL; a fresh
database, dropped afterwards).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import asyncpg
import psutil

from bench.corpus import SECRETARIAT, build
from bench.services import fresh_database, postgres_server, work_directory
from bench.spec import ALL, Goal, Spec
from thidua.dburl import asyncpg_dsn, eventsourcing_env
from thidua.domain.application import new_application
from thidua.domain.evaluation import Evaluation, evaluation_uuid
from thidua.domain.values import Command
from thidua.projections import queries
from thidua.projections.evaluation_freeze import freeze_round
from thidua.projections.projector import Projector


SPECS: tuple[Spec, ...] = (
    Spec("V.as_of_ms", "scoreboard as_of query of the run's corpus (100 units, 5,000 targets), median", "ms",
         modes=ALL),
    Spec("V.freeze_ms", "freezing an evaluation round of the same campaign at the same instant, median", "ms",
         "V.as_of_ms", Goal("<=", 1.5, on_ratio=True), modes=ALL),
)


async def measure(ctx: Any) -> None:
    """The group's figures in a run: the round is frozen over the run's stored corpus (in
    `make bench` 100 units and 5,000 targets; at scale a province's campaign while the
    store holds the country), whose read models the projector has caught up on."""
    corpus = ctx.corpus
    if corpus is None:
        raise RuntimeError("the run wrote no corpus to freeze a round of")
    figures = await time_freeze(ctx.database_url, corpus.campaign_id, corpus.last_at or corpus.middle)
    detail = {k: figures[k] for k in ("frozen_units", "frozen_targets", "as_of", "repeats", "cpu_ms", "record_ms",
                                      "record_bytes", "record_events", "project_ms")}
    ctx.run.results.put("V.as_of_ms", figures["as_of_ms"], **detail)
    ctx.run.results.put("V.freeze_ms", figures["freeze_ms"], **detail)


# Warm-up calls of each: caches, and PostgreSQL's choice between custom and generic plans of
# the prepared statements, made at their sixth execution.
WARMUP_CALLS = 6


async def _interleaved_ms(calls: dict[str, Any], repeats: int, backend_pid: int | None
                          ) -> tuple[dict[str, float], dict[str, dict[str, float | None]]]:
    """Median ms of each call, and its mean CPU ms (this process; the PostgreSQL backend's,
    read in the kernel's 10 ms ticks, so only its mean over the rounds means anything, None
    when it cannot be read), the calls taken in turn, their order reversed every round.

    Taken one after the other in blocks (all as_of, then all freezes, five each), a busy
    second on a shared machine fell on one figure only: the country's-size run of 16:22
    measured the freeze at 1.86x its as_of while the CPU of the two differed by 1.2x."""
    for call in calls.values():
        for _ in range(WARMUP_CALLS):
            await call()
    backend = _process(backend_pid)
    wall: dict[str, list[float]] = {name: [] for name in calls}
    client: dict[str, list[float]] = {name: [] for name in calls}
    server: dict[str, list[float]] = {name: [] for name in calls}
    order = list(calls)
    for _ in range(repeats):
        for name in order:
            s0, c0, t0 = _cpu(backend), time.process_time(), time.perf_counter()
            await calls[name]()
            wall[name].append((time.perf_counter() - t0) * 1000)
            client[name].append((time.process_time() - c0) * 1000)
            if backend is not None:
                server[name].append((_cpu(backend) - s0) * 1000)
        order.reverse()
    cpu = {name: {"client": round(statistics.mean(client[name]), 1),
                  "postgres": round(statistics.mean(server[name]), 1) if server[name] else None}
           for name in calls}
    return {name: statistics.median(wall[name]) for name in calls}, cpu


def _process(pid: int | None) -> Any:
    try:
        process = psutil.Process(pid) if pid is not None else None
        if process is not None:
            _cpu(process)
        return process
    except (psutil.Error, OSError):  # a remote server, or another user's process
        return None


def _cpu(process: Any) -> float:
    if process is None:
        return 0.0
    times = process.cpu_times()
    return float(times.user + times.system)


async def measure_freeze(database_url: str, *, units: int = 100, targets: int = 5000, repeats: int = 9,
                         campaign_id: str = "bench-evaluation") -> dict[str, Any]:
    app = new_application(eventsourcing_env(database_url))
    try:
        corpus = await asyncio.to_thread(build, app, campaign_id, units=units, targets=targets, events=targets * 4)
    finally:
        app.close()
    projector = Projector(database_url)
    await projector.catch_up()
    await projector.close()
    figures = await time_freeze(database_url, campaign_id, corpus.last_at or corpus.middle, repeats,
                                own_projector=True)
    return {"units": units, "targets": targets, **figures, "goal_ratio": 1.5}


async def time_freeze(database_url: str, campaign_id: str, at: Any, repeats: int = 9, *,
                      own_projector: bool = False) -> dict[str, Any]:
    """Median ms of the as_of scoreboard and of freezing the round, on projected read models."""
    # One connection: both calls run on the same backend, whose CPU is read per call.
    pool = await asyncpg.create_pool(asyncpg_dsn(database_url), min_size=1, max_size=1)
    try:
        backend_pid = await pool.fetchval("SELECT pg_backend_pid()")
        medians, cpu = await _interleaved_ms({"as_of": lambda: queries.scoreboard(pool, campaign_id, as_of=at),
                                              "freeze": lambda: freeze_round(pool, campaign_id, at)},
                                             repeats, backend_pid)
        as_of_ms, freeze_ms = medians["as_of"], medians["freeze"]
        frozen = await freeze_round(pool, campaign_id, at)
    finally:
        await pool.close()
    recorded = await asyncio.to_thread(_time_record, database_url, campaign_id, at, frozen, repeats)
    # In a run of the whole stack its projector catches up on the rounds (a second one would race it).
    projected = await _time_projection(database_url, len(recorded["ids"])) if own_projector else None
    return {"frozen_units": len(frozen.units), "frozen_targets": sum(len(u.target_points) for u in frozen.units),
            "as_of": at.isoformat(), "repeats": repeats, "as_of_ms": round(as_of_ms, 2),
            "freeze_ms": round(freeze_ms, 2), "ratio": round(freeze_ms / as_of_ms, 3) if as_of_ms else None,
            "cpu_ms": cpu,
            "record_ms": recorded["record_ms"], "record_bytes": recorded["record_bytes"],
            "record_events": recorded["record_events"], "project_ms": projected}


def _time_record(database_url: str, campaign_id: str, at: Any, frozen: Any, repeats: int) -> dict[str, Any]:
    """Median ms of creating and saving a round of the frozen units (one warm-up), and the
    size of one round's stored events."""
    app = new_application(eventsourcing_env(database_url))
    try:
        times, ids = [], []
        for n in range(repeats + 1):
            evaluation_id = f"bench-round-{uuid.uuid4().hex[:12]}"
            cmd = Command(f"bench-create-{evaluation_id}", SECRETARIAT, datetime.now(timezone.utc))
            t0 = time.perf_counter()
            evaluation = Evaluation.create(
                cmd, evaluation_id=evaluation_id, campaign_id=campaign_id, name="Bench round", period_end=at,
                self_assessment_due=at + timedelta(days=30), review_due=at + timedelta(days=40),
                units=frozen.units, clusters=frozen.clusters, rules=frozen.rules)
            app.save_changes(evaluation)
            if n:
                times.append((time.perf_counter() - t0) * 1000)
            ids.append(evaluation_id)
        recorder = app.recorder
        with recorder.datastore.transaction(commit=False) as curs:  # type: ignore[attr-defined]
            curs.execute(f"SELECT count(*), sum(length(state)) FROM {recorder.events_table_name} "  # type: ignore[attr-defined]
                         "WHERE originator_id = %s", (evaluation_uuid(ids[-1]),))
            row = curs.fetchone()
            count, size = row.values() if isinstance(row, dict) else row
    finally:
        app.close()
    return {"ids": ids, "record_ms": round(statistics.median(times), 2), "record_events": int(count),
            "record_bytes": int(size or 0)}


async def _time_projection(database_url: str, rounds: int) -> float:
    """Ms per round of the projector catching up on the rounds just recorded."""
    projector = Projector(database_url)
    try:
        t0 = time.perf_counter()
        await projector.catch_up()
        return round((time.perf_counter() - t0) * 1000 / max(rounds, 1), 2)
    finally:
        await projector.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=100)
    parser.add_argument("--targets", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--out", type=Path, help="also write the figures here (JSON)")
    args = parser.parse_args(argv)
    with work_directory() as work, postgres_server(work) as server, fresh_database(server) as database_url:
        figures = asyncio.run(measure_freeze(database_url, units=args.units, targets=args.targets,
                                             repeats=args.repeats))
    text = json.dumps(figures, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
