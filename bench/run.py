"""One run: start what it needs, measure B and P (or S), report.

Stages run in an order that lets each use what the previous built:
database raw limits (B3, B5, B6) → corpus of real events → rebuild (P4) → verify (P6) →
thidua's processes → scoreboard (P5) → raw starts (B4) → import (P3) → raw latency (B1) →
single client (P1) → raw rate (B2, B7) → 32 clients with the lag probe (P2, P4 lag).
Each Temporal raw figure is taken right before the thidua figure judged against it.
A stage whose part is missing or fails is reported (its figures carry a note) and the run
goes on with the next one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import os
import time
import traceback
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path

from rich.console import Console

from bench import raw, report
from bench.figures import Figure, Results
from bench.profile import PROFILES, Profile
from bench.services import (
    CpuMeter,
    Process,
    database_backends,
    fresh_database,
    postgres_server,
    temporal_server,
    work_directory,
)
from bench.stack import PartMissing

console = Console(stderr=True)
log = logging.getLogger("bench")


class Run:
    def __init__(self, profile: Profile, *, only: set[str] | None, keep: bool, profile_dir: Path | None) -> None:
        self.profile = profile
        self.results = Results(profile.mode)
        self.notes: list[str] = []
        self.only = only
        self.keep = keep
        self.profile_dir = profile_dir
        self.processes: dict[str, Process] = {}  # children whose CPU the meters count
        self.database_url = ""
        self.temporal_pid: int | None = None

    def cpu_meter(self) -> CpuMeter:
        """CPU per process during a stage: Temporal, this database's backends, the children,
        the harness itself."""
        def pids() -> dict[str, list[int]]:
            named = {"temporal": [self.temporal_pid] if self.temporal_pid else [],
                     "postgres": database_backends(self.database_url), "harness": [os.getpid()]}
            for name, proc in self.processes.items():
                if proc.alive():
                    named[name] = [proc.pid]
            return named

        return CpuMeter(pids)

    async def measure_raw(self, group: str, *, again: bool = False) -> None:
        """A group of Temporal raw figures (B1, B2, B4), once per run, right before the thidua
        figure judged against it (`again`: one more round after it, see B4)."""
        trivial = getattr(self, "trivial", None)
        if trivial is None or (group in trivial.done) != again:
            return
        await self.stage(f"{group} Temporal raw" + (" (again)" if again else ""), raw.TrivialBench.GROUPS[group],
                         lambda: trivial.measure(group, again=again))

    def wanted(self, group: str) -> bool:
        return self.only is None or group in self.only

    async def stage(self, name: str, ids: Sequence[str], body: Callable[[], Awaitable[None]]) -> str | None:
        """Run one stage; on failure its figures are marked, the reason is returned and the
        run goes on."""
        failure = None
        console.log(f"[bold]{name}[/]")
        t0 = time.perf_counter()
        try:
            await body()
        except PartMissing as exc:
            failure = one_line(str(exc))
            self.results.skip(ids, failure)
            console.log(f"[yellow]{name}: skipped: {exc}[/]")
        except Exception as exc:  # noqa: BLE001 - one broken stage must not lose the others
            failure = f"{name} failed: {type(exc).__name__}: {one_line(str(exc))}"
            self.results.skip(ids, failure)
            self.notes.append(failure)
            console.log(f"[red]{name} failed[/]\n{traceback.format_exc()}")
        console.log(f"{name}: {time.perf_counter() - t0:.1f} s")
        return failure

    async def execute(self) -> list[Figure]:
        p = self.profile
        with work_directory(self.keep) as work, postgres_server(work) as server_url, \
                fresh_database(server_url, keep=self.keep) as database_url, temporal_server(work) as temporal:
            address = temporal.address
            self.database_url, self.temporal_pid = database_url, temporal.pid
            console.log(f"work dir {work}, database {database_url}, Temporal {address}")
            logs = work / "logs"
            logs.mkdir(exist_ok=True)
            async with contextlib.AsyncExitStack() as stack:
                trivial = None
                if self.wanted("B"):
                    await self.stage("B3 eventsourcing raw", ["B3.es_save_rate"],
                                     lambda: asyncio.to_thread(raw.measure_eventsourcing, self.results, p, database_url))
                    await self.stage("B5/B6 asyncpg raw", ["B5.select_rate", "B6.copy_rate"],
                                     lambda: raw.measure_asyncpg(self.results, p, database_url))

                    async def start_trivial() -> None:
                        nonlocal trivial
                        trivial = await stack.enter_async_context(
                            raw.TrivialBench(self.results, p, address, logs, self.cpu_meter))
                        self.processes["trivial-worker"] = trivial.worker

                    await self.stage("trivial worker", [i for g in raw.TrivialBench.GROUPS.values() for i in g],
                                     start_trivial)
                self.trivial = trivial
                from bench import product

                await product.run_stages(self, database_url=database_url, address=address, work=work, logs=logs)
                if trivial is not None:  # the raw figures no thidua figure asked for
                    for group in raw.TrivialBench.GROUPS:
                        await self.measure_raw(group)
        return self.results.judge()


def one_line(message: str, limit: int = 300) -> str:
    """A message for a table cell or a note: its first line, and its last one when it has
    more (a child's log tail ends with the exception that ended it)."""
    lines = [line.strip(" │") for line in message.splitlines() if line.strip(" │")]
    if not lines:
        return ""
    text = lines[0] if len(lines) == 1 else f"{lines[0]} … {lines[-1]}"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--smoke", action="store_true", help="tiny sizes, seconds (the test suite's check)")
    size.add_argument("--large", action="store_true", help="scale: 1M events / 100k targets, peak RSS")
    parser.add_argument("--out", type=Path, default=report.RESULTS_PATH, help="results.json to write")
    parser.add_argument("--docs", type=Path, default=None,
                        help="page whose generated table is rewritten from the results (default "
                             "docs/benchmarks.md; a smoke run writes none unless given)")
    parser.add_argument("--history", type=Path, default=None,
                        help="markdown file to append the run's dated section to (default "
                             "docs/benchmarks-history.md; a smoke run appends nowhere unless given)")
    parser.add_argument("--no-docs", action="store_true", help="write neither the table nor the history")
    parser.add_argument("--only", default=None,
                        help="comma-separated groups to run: B,P1,P2,P3,P4,P5,P6,P7,P8,S and the "
                             "figure groups of bench.groups by name (default all)")
    parser.add_argument("--provinces", type=int, default=None,
                        help="with --large: how many provinces the country's store holds (default 34; fewer for a "
                             "reduced check of the same code)")
    parser.add_argument("--keep", action="store_true", help="keep the database and the work directory")
    parser.add_argument("--profile-dir", type=Path, default=None,
                        help="record py-spy flame graphs of api/worker/projector under load into this directory")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    mode = "smoke" if args.smoke else "large" if args.large else "default"
    profile = PROFILES[mode]
    if args.provinces is not None:
        if mode != "large":
            raise SystemExit("--provinces goes with --large")
        profile = dataclasses.replace(profile, provinces=max(1, args.provinces))
    only = {g.strip() for g in args.only.split(",")} if args.only else None
    started = datetime.now(timezone.utc)
    t0 = time.perf_counter()
    run = Run(profile, only=only, keep=args.keep, profile_dir=args.profile_dir)
    figures = _event_loop_run(run.execute())
    info = report.run_info(mode, started, time.perf_counter() - t0)
    report.print_table(figures, info, Console(width=max(Console().width, 150)))
    document = report.write_results(figures, info, args.out)
    docs = None if args.no_docs else args.docs or (None if args.smoke else report.DOCS_PATH)
    history = None if args.no_docs else args.history or (None if args.smoke else report.HISTORY_PATH)
    if docs is not None:
        report.write_table(document, docs)
    if history is not None:
        report.append_markdown(report.markdown_section(figures, info, run.notes), history)
    console.log(f"wrote {args.out}" + (f", the table of {docs}" if docs else "")
                + (f", a section of {history}" if history else ""))
    return 0


def _event_loop_run(coro):  # type: ignore[no-untyped-def]
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        return asyncio.run(coro)
    return uvloop.run(coro)
