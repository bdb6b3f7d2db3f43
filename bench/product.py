"""P1-P6 and S: thidua's own figures, through its own parts.

- corpus: real domain events in one campaign (`bench-main`: units, clusters, targets with
  full lifecycles), saved many aggregates per transaction;
- P4 rebuild / P6 verify: `thidua.projections.rebuild` and `thidua.projections.audit` over that corpus;
- then the processes (`thidua worker`, `projector`, `api`) and users made the way an
  operator makes them (`thidua.bootstrap.create_user`, then `POST /v1/users`);
- P5: scoreboard GETs (now, and `as_of` the corpus's middle) at 32 connections;
- P3: `POST .../targets/import` of a JSON array into `bench-live`, timed until every
  target's workflow runs;
- P1: one unit head's commands one after the other; P2: 32 unit heads at once, each
  walking its own targets through start → progress → block → unblock → complete, while
  the lag probe watches the event store and the projector's position (P4 lag).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil

from bench import corpus as corpus_mod
from bench import groups
from bench.groups import GroupContext
from bench.httpload import Connection
from bench.services import TASK_QUEUE, Profiler, wait_idle
from bench.stack import LagProbe, Stack, max_position, require, wait_projected
from bench.stats import StopClient, closed_loop

if TYPE_CHECKING:
    from bench.run import Run

MAIN_CAMPAIGN = "bench-main"
LIVE_CAMPAIGN = "bench-live"
COMMAND_CYCLE = ("start", "progress", "block", "unblock", "complete")
COMMAND_BODIES: dict[str, dict[str, Any]] = {
    "start": {"note": "Bắt đầu triển khai"},
    "progress": {"percent": 50, "note": "Đã hoàn thành một nửa khối lượng"},
    "block": {"reason": "Hộ dân chưa đồng ý phương án bồi thường", "help_needed": "BTV chỉ đạo"},
    "unblock": {"note": "Đã thống nhất phương án"},
    "complete": {"result": "Hoàn thành", "evidence": "Biên bản nghiệm thu"},
}


def _ids(large: bool) -> dict[str, str]:
    """Figure ids of the stages for this mode (the scale run reports S figures)."""
    if large:
        return {"rebuild": "S4.rebuild_rate", "verify": "S6.verify_rate", "board_rate": "S5.scoreboard_rate",
                "board_p99": "S5.scoreboard_p99", "as_of_p99": "S5.as_of_p99", "lag_p99": "S4.lag_p99",
                "rss_api": "S.rss_api", "rss_worker": "S.rss_worker", "rss_projector": "S.rss_projector"}
    return {"rebuild": "P4.rebuild_rate", "verify": "P6.verify_rate", "board_rate": "P5.scoreboard_rate",
            "board_p99": "P5.scoreboard_p99", "as_of_p99": "P5.as_of_p99", "lag_p99": "P4.lag_p99",
            "lag_p50": "P4.lag_p50", "rss_api": "R.rss_api", "rss_worker": "R.rss_worker",
            "rss_projector": "R.rss_projector", "p1_p50": "P1.p50", "p1_p95": "P1.p95", "p1_p99": "P1.p99",
            "p2": "P2.rate", "p3": "P3.import_rate"}


# ------------------------------------------------------------------------------- stages
@dataclass
class Live:
    """The live campaign's targets: unit -> list of target ids, in import order."""

    by_unit: dict[str, list[str]] = field(default_factory=dict)
    cursor: dict[str, int] = field(default_factory=dict)  # unit -> next command index
    answered: list[tuple[str, str]] = field(default_factory=list)  # (unit, Idempotency-Key) of each 2xx


def _import_rows(n: int, unit_ids: list[str], today: date) -> list[dict[str, Any]]:
    areas = corpus_mod.AREAS
    return [
        {"key": f"live-{i:05d}", "unit_id": unit_ids[i % len(unit_ids)],
         "title": f"Chỉ tiêu {i}: {areas[i % len(areas)]}", "area": areas[i % len(areas)],
         "deadline": (today + timedelta(days=30 + i % 90)).isoformat(), "points": 10,
         "decision": {"number": "937-QĐ/TU", "issued_on": today.isoformat(), "issuer": "BTV Thành ủy"}}
        for i in range(n)
    ]


async def _count_running(client: Any, task_queue: str) -> int:
    count = await client.count_workflows(
        f'WorkflowType="TargetWorkflow" AND ExecutionStatus="Running" AND TaskQueue="{task_queue}"')
    return int(count.count)


async def stage_import(run: Run, stack: Stack, live: Live, n: int, unit_ids: list[str], figure: str | None,
                       campaign: str = LIVE_CAMPAIGN) -> None:
    """P3: import → every workflow running (into `campaign`, created here)."""
    from temporalio.client import Client

    sec = stack.connection(stack.secretariat)
    try:
        today = datetime.now(timezone.utc).date()
        res = await sec.request("POST", "/v1/campaigns", json_body={
            "id": campaign, "name": "Đợt thi đua (bench)", "starts_on": (today - timedelta(days=30)).isoformat(),
            "ends_on": (today + timedelta(days=180)).isoformat(),
            "policy": {"escalate_after": "P3D", "resolution_sla": "P7D", "stale_after": "P14D"}})
        res.raise_for_status(f"create the campaign {campaign}")
        rows = _import_rows(n, unit_ids, today)
        # A row cites a decision the campaign has registered (the import refuses others).
        (await sec.request("POST", f"/v1/campaigns/{campaign}/decisions", json_body=rows[0]["decision"],
                           headers={"Idempotency-Key": f"bench-decision-{uuid.uuid4().hex}"})
         ).raise_for_status("register the import's decision")
        client = await Client.connect(stack.address)
        before = await _count_running(client, TASK_QUEUE)
        with run.cpu_meter() as meter:
            t0 = time.perf_counter()
            async with asyncio.timeout(900):
                res = await sec.request("POST", f"/v1/campaigns/{campaign}/targets/import", json_body=rows,
                                        headers={"Idempotency-Key": f"bench-import-{uuid.uuid4().hex}"})
            answered = time.perf_counter() - t0
            body = res.raise_for_status("import").json()
            running = before
            while running - before < n:  # visibility may trail the answers a little
                running = await _count_running(client, TASK_QUEUE)
                if time.perf_counter() - t0 > answered + 60:
                    raise RuntimeError(f"only {running - before} of {n} workflows running a minute after the import")
                if running - before < n:
                    await asyncio.sleep(0.05)
            elapsed = time.perf_counter() - t0
    finally:
        await sec.close()
    # The workflows run their first tasks after they count as running: let the worker
    # finish them here, not inside the next stage's measurement.
    worker = stack.processes.get("worker")
    settled_after = await asyncio.to_thread(wait_idle, worker.pid) if worker is not None else None
    units_of = {row["key"]: row["unit_id"] for row in rows}
    for item in body["items"]:
        live.by_unit.setdefault(units_of[item["key"]], []).append(item["target_id"])
    if figure:
        run.results.put(figure, n / elapsed, targets=n, seconds=round(elapsed, 2),
                        answered_after_s=round(answered, 2), workflows_running=running - before,
                        worker_settled_after_s=settled_after,
                        cpu_ms_per_call=meter.per_call(n))


async def _command(conn: Connection, live: Live, unit: str) -> int:
    """The unit head's next command: targets in turn, each through COMMAND_CYCLE."""
    targets = live.by_unit[unit]
    i = live.cursor.get(unit, 0)
    live.cursor[unit] = i + 1
    target = targets[(i // len(COMMAND_CYCLE)) % len(targets)]
    name = COMMAND_CYCLE[i % len(COMMAND_CYCLE)]
    if i // len(COMMAND_CYCLE) >= len(targets):
        raise StopClient(f"unit {unit} ran out of targets")
    key = f"bench-{unit}-{i}"
    res = await conn.request("POST", f"/v1/targets/{target}/{name}", json_body=COMMAND_BODIES[name],
                             headers={"Idempotency-Key": key})
    res.raise_for_status(f"{name} {target}")
    live.answered.append((unit, key))
    return int(res.json()["position"])


async def stage_single_client(run: Run, stack: Stack, live: Live, unit: str, commands: int, ids: dict[str, str]) -> None:
    """P1: one client, one command after the other."""
    conn = stack.connection(stack.heads[unit])
    try:
        load = await closed_loop(1, lambda c, i: _command(conn, live, unit), calls_per_client=commands,
                                 warmup_calls=5)
    finally:
        await conn.close()
    if load.errors:
        run.notes.append(f"P1: {load.errors} errors, first: {load.first_error}")
    summary = load.summary()
    run.results.put(ids["p1_p50"], load.ms(50), **summary)
    run.results.put(ids["p1_p95"], load.ms(95), **summary)
    run.results.put(ids["p1_p99"], load.ms(99), **summary)


async def stage_concurrent(run: Run, stack: Stack, live: Live, units: list[str], seconds: float,
                           ids: dict[str, str], database_url: str) -> None:
    """P2 (and P4's live lag): `len(units)` clients at once, each its own unit's targets."""
    conns = [stack.connection(stack.heads[u]) for u in units]
    probe: LagProbe | None = LagProbe(database_url)
    lag_missing = None
    if "projector" not in stack.processes:
        probe, lag_missing = None, "no projector running"
    try:
        async with probe if probe is not None else contextlib.nullcontext():  # type: ignore[attr-defined]
            with run.cpu_meter() as cpu:
                load = await closed_loop(len(units), lambda c, i: _command(conns[c], live, units[c]),
                                         seconds=seconds, warmup_calls=1)
            if probe is not None:
                await asyncio.sleep(1.0)  # let the probe see the last events projected
    finally:
        for conn in conns:
            await conn.close()
    if load.errors:
        run.notes.append(f"P2: {load.errors} errors, first: {load.first_error}")
    if "p2" in ids:
        run.results.put(ids["p2"], load.rate, clients=len(units), cpu_ms_per_call=cpu.per_call(load.calls),
                        **load.summary())
    if probe is None:
        run.results.skip([ids[k] for k in ("lag_p50", "lag_p99") if k in ids], str(lag_missing))
        return
    lag_detail = {"events": len(probe.lags), "polls": probe.polls, "unprojected_at_end": probe.unprojected,
                  "max_ms": round(max(probe.lags) * 1000, 1) if probe.lags else None}
    if "lag_p50" in ids:
        run.results.put(ids["lag_p50"], probe.ms(50), **lag_detail)
    run.results.put(ids["lag_p99"], probe.ms(99), **lag_detail)


async def stage_scoreboard(run: Run, stack: Stack, clients: int, seconds: float, as_of: datetime,
                           ids: dict[str, str], campaign: str = MAIN_CAMPAIGN) -> None:
    """P5: scoreboard GETs at `clients` connections; then `as_of` a past instant."""
    conns = [stack.connection(stack.inspector) for _ in range(clients)]
    try:
        first = await conns[0].request("GET", f"/v1/campaigns/{campaign}/scoreboard")
        board = first.raise_for_status("scoreboard").json()
        units = sum(len(c["units"]) for c in board["clusters"])

        async def now_board(c: int, i: int) -> None:
            (await conns[c].request("GET", f"/v1/campaigns/{campaign}/scoreboard")).raise_for_status(
                "scoreboard")

        with run.cpu_meter() as cpu:
            load = await closed_loop(clients, now_board, seconds=seconds, warmup_calls=3)
        params = {"as_of": as_of.isoformat()}

        async def past_board(c: int, i: int) -> None:
            (await conns[c].request("GET", f"/v1/campaigns/{campaign}/scoreboard", params=params)
             ).raise_for_status("scoreboard as_of")

        past = await closed_loop(clients, past_board, seconds=max(seconds / 2, 0.5), warmup_calls=2)
    finally:
        for conn in conns:
            await conn.close()
    for name, result in (("scoreboard", load), ("as_of", past)):
        if result.errors:
            run.notes.append(f"P5 {name}: {result.errors} errors, first: {result.first_error}")
    detail = {"clients": clients, "units": units, "bytes": len(first.body)}
    run.results.put(ids["board_rate"], load.rate if not load.errors else None, **detail,
                    cpu_ms_per_call=cpu.per_call(load.calls), **load.summary())
    run.results.put(ids["board_p99"], load.ms(99) if load.latencies else None, **detail, **load.summary())
    run.results.put(ids["as_of_p99"], past.ms(99) if past.latencies else None, as_of=as_of.isoformat(),
                    **detail, **past.summary())


async def stage_pages(run: Run, stack: Stack, clients: int, seconds: float, target_id: str) -> None:
    """P7: the scoreboard page and a target's page, each beside the JSON route it reads, at
    `clients` connections signed in with the same session cookie (so both pay the same
    authentication)."""
    pairs = (("scoreboard", f"/campaigns/{MAIN_CAMPAIGN}/scoreboard", f"/v1/campaigns/{MAIN_CAMPAIGN}/scoreboard"),
             ("target", f"/targets/{target_id}", f"/v1/targets/{target_id}"))
    headers = {"Cookie": stack.inspector_cookie}
    for name, page, json_route in pairs:
        for kind, path in (("json", json_route), ("page", page)):
            conns = [stack.connection(None) for _ in range(clients)]

            async def get(c: int, i: int, path: str = path) -> None:
                (await conns[c].request("GET", path, headers=headers)).raise_for_status(f"GET {path}")

            try:
                # One profile per route (`--profile-dir`): P7-<name>-<kind>-api.txt.
                with Profiler(run.profile_dir, f"P7-{name}-{kind}", stack.processes), run.cpu_meter() as cpu:
                    load = await closed_loop(clients, get, seconds=seconds, warmup_calls=3)
            finally:
                for conn in conns:
                    await conn.close()
            if load.errors:
                run.notes.append(f"P7 {name} {kind}: {load.errors} errors, first: {load.first_error}")
            run.results.put(f"P7.{name}_{kind}_p99", load.ms(99) if load.latencies and not load.errors else None,
                            clients=clients, path=path, cpu_ms_per_call=cpu.per_call(load.calls), **load.summary())


async def stage_rebuild(run: Run, database_url: str, figure: str) -> None:
    """P4: rebuild every read model from the event store (`thidua projections rebuild`)."""
    rebuild = require("thidua.projections.rebuild")
    head = await max_position(database_url)
    with in_process_profile(run, "P4-rebuild"):
        t0, cpu0 = time.perf_counter(), machine_cpu_seconds()
        result = await rebuild.rebuild(database_url)
        elapsed, cpu = time.perf_counter() - t0, machine_cpu_seconds() - cpu0
    run.results.put(figure, head / elapsed, events=head, seconds=round(elapsed, 2), position=result.get("position"),
                    tables=result.get("tables"), **cpu_detail(run, figure, cpu, elapsed, head))


async def stage_verify(run: Run, database_url: str, figure: str) -> None:
    """P6: recompute the audit hash chain from the event store (`thidua audit verify`)."""
    audit = require("thidua.projections.audit")
    with in_process_profile(run, "P6-verify"):
        t0, cpu0 = time.perf_counter(), machine_cpu_seconds()
        result = await audit.verify(database_url)
        elapsed, cpu = time.perf_counter() - t0, machine_cpu_seconds() - cpu0
    if not result.get("ok"):
        raise RuntimeError(f"the audit chain did not verify: {result}")
    checked = int(result["checked"])
    run.results.put(figure, checked / elapsed, events=checked, seconds=round(elapsed, 2),
                    **cpu_detail(run, figure, cpu, elapsed, checked))


def every(seconds: float, message: str, negative: str | None = None) -> Callable[[int], None]:
    """A progress callback that logs `message.format(n)` (`negative.format(-n)` for n < 0)
    at most once per `seconds` (a country-size stage runs for minutes)."""
    from bench.run import console

    last = [time.monotonic()]

    def report(n: int) -> None:
        now = time.monotonic()
        if now - last[0] >= seconds:
            last[0] = now
            console.log(negative.format(-n) if negative is not None and n < 0 else message.format(n))

    return report


def machine_cpu_seconds() -> float:
    """CPU time used by the whole machine so far (every process: the stage's own, its
    second processes, PostgreSQL's backends, whatever else runs)."""
    times = psutil.cpu_times()
    return times.user + times.nice + times.system + getattr(times, "irq", 0.0) + getattr(times, "softirq", 0.0)


def cpu_detail(run: Run, figure: str, cpu: float, elapsed: float, events: int) -> dict[str, float]:
    """The machine's CPU seconds over a stage and per 1,000 events (also noted in the
    run's section): steadier than the rate from run to run on a machine whose speed
    varies (the rate on 2 cores is bounded by about 2 / (CPU seconds per event))."""
    per_1k = round(cpu * 1e6 / max(events, 1), 1)
    run.notes.append(f"{figure}: {cpu:.1f} s of machine CPU over {elapsed:.1f} s ({per_1k} ms per 1,000 events)")
    return {"machine_cpu_s": round(cpu, 2), "cpu_ms_per_1k_events": per_1k}


@contextlib.contextmanager
def in_process_profile(run: Run, name: str) -> Any:
    """pyinstrument over a stage that runs in the harness's own process (`--profile-dir`)."""
    if run.profile_dir is None:
        yield
        return
    from pyinstrument import Profiler as Instrument

    profiler = Instrument(interval=0.001, async_mode="enabled")
    profiler.start()
    try:
        yield
    finally:
        profiler.stop()
        run.profile_dir.mkdir(parents=True, exist_ok=True)
        (run.profile_dir / f"{name}.txt").write_text(profiler.output_text(unicode=False, color=False, show_all=False))


async def run_groups(run: Run, ctx: GroupContext) -> None:
    """The figure groups of bench.groups, each as a stage of its own."""
    for module in groups.modules():
        name = groups.name_of(module.__name__)
        if not run.wanted(name):
            continue
        ids = [spec.id for spec in module.SPECS if run.profile.mode in spec.modes]
        await run.stage(name, ids, profiled(run, ctx.stack, name, lambda module=module: module.measure(ctx)))


# ------------------------------------------------------------------------------- the order
def profiled(run: Run, stack: Stack, name: str, body: Any) -> Any:
    """`body`, with py-spy recording thidua's processes when the run asks for it."""
    async def wrapped() -> None:
        with Profiler(run.profile_dir, name, stack.processes):
            await body()

    return wrapped


async def store_at_rest(database_url: str) -> None:
    """VACUUM ANALYZE the freshly written store, as autovacuum does to a table after
    inserts (it is off on this machine's server). A rebuild or verification runs on a
    store at rest; without this the first reader of every row also sets its hint bits
    (writing each page back), a cost a real store paid long before."""
    import asyncpg

    from thidua.domain.application import EVENTS_TABLE
    from thidua.dburl import asyncpg_dsn

    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await conn.execute(f"VACUUM (ANALYZE) public.{EVENTS_TABLE}")
    finally:
        await conn.close()


async def run_stages(run: Run, *, database_url: str, address: str, work: Path, logs: Path) -> None:
    p = run.profile
    large = p.mode == "large"
    ids = _ids(large)
    group_names = [groups.name_of(m) for m in groups.GROUPS]
    wanted = {g for g in ("P1", "P2", "P3", "P4", "P5", "P6", "P7", "P8", "S", *group_names) if run.wanted(g)}
    if not wanted:
        return
    state: dict[str, Any] = {}

    # --- the corpus, rebuilt and verified before any process runs
    if wanted & {"P4", "P5", "P6", "P7", "S", *group_names}:
        async def corpus() -> None:
            from thidua.dburl import eventsourcing_env

            from thidua.domain.application import new_application

            def build() -> corpus_mod.Corpus:
                app = new_application(eventsourcing_env(database_url))
                try:
                    if p.provinces > 1:
                        from bench import country

                        return country.build(app, provinces=p.provinces, units=p.units, targets=p.targets,
                                             events=p.events, progress=every(30.0, "corpus: {:,} events written"))
                    return corpus_mod.build(app, MAIN_CAMPAIGN, units=p.units, targets=p.targets, events=p.events)
                finally:
                    app.close()

            state["corpus"] = await asyncio.to_thread(build)
            await store_at_rest(database_url)
            c = state["corpus"]
            where = f" in each of {p.provinces} campaigns (one read: {c.campaign_id})" if p.provinces > 1 else ""
            steps = "".join(f", {k} {v:.1f}" for k, v in c.stages.items())
            run.notes.append(f"corpus: {c.events:,} events, {len(c.target_ids):,} targets, {len(c.unit_ids)} units"
                             f"{where} written in {c.seconds:.1f} s ({c.events / c.seconds:,.0f} events/s{steps})")

        await run.stage("corpus", [], corpus)

    async def rebuild_and_verify(rebuild: bool = True) -> None:
        if rebuild and wanted & {"P4", "S"}:
            await run.stage("P4 rebuild", [ids["rebuild"]], lambda: stage_rebuild(run, database_url, ids["rebuild"]))
        if wanted & {"P6", "S"}:
            await run.stage("P6 verify", [ids["verify"]], lambda: stage_verify(run, database_url, ids["verify"]))

    # Default: rebuild and verify the corpus before any process runs, so the projector starts
    # from the rebuilt position. Scale: the projector process starts on empty read models and
    # builds them itself, the way a rebuild does (projections/projector.py, bulk build): that
    # pass over the 3.4 M events is S4 (a second rebuild by the harness would double the
    # longest stage of the run), and its peak RSS is S.rss_projector's; then the verification.
    if not large:
        await rebuild_and_verify()

    process_ids = [ids[k] for k in ("board_rate", "board_p99", "as_of_p99", "lag_p99", "lag_p50", "p1_p50",
                                    "p1_p95", "p1_p99", "p2", "p3", "rss_api", "rss_worker", "rss_projector")
                   if k in ids]
    page_ids = [] if large else ["P7.scoreboard_json_p99", "P7.scoreboard_page_p99", "P7.target_json_p99",
                                 "P7.target_page_p99"]
    process_ids += page_ids + ([] if large else ["P8.rate", "P8.lost", "P8.duplicated", "P8.rebuild_diff"])
    if not wanted & {"P1", "P2", "P3", "P5", "P7", "P8", "S", *group_names}:
        return
    stack = Stack(database_url, address, work, logs)
    live_units = [corpus_mod.unit_id(n) for n in range(p.clients)]

    async def start() -> None:
        require("thidua.bootstrap")
        require("thidua.workflows.worker")
        try:
            require("thidua.projections.projector")
        except Exception as exc:  # noqa: BLE001 - commands run without it; reads and lag cannot
            run.notes.append(f"no projector: {exc}")
            stack.without = ("projector",)
        t0, cpu0 = time.perf_counter(), machine_cpu_seconds()
        stack.start()  # in the loop thread: PR_SET_PDEATHSIG is tied to the thread that forks
        run.processes.update(stack.processes)
        await stack.wait_ready()
        await stack.bootstrap_users(live_units)
        if "corpus" in state and "projector" in stack.processes:
            head = await max_position(database_url)
            waited = await wait_projected(database_url, head, max(600.0, head / 1000), stack,
                                          progress=every(30.0, "the projector is at position {:,}",
                                                         "the projector's bulk build is at position {:,}")
                                          if large else None)
            elapsed, cpu = time.perf_counter() - t0, machine_cpu_seconds() - cpu0
            run.notes.append(f"the projector was at the head of the store ({head:,} events) {waited:.1f} s after "
                             "the users were created" + (f", {elapsed:.1f} s after it started" if large else ""))
            if large and "S" in wanted:
                state["built_by_projector"] = True
                run.results.put(ids["rebuild"], head / elapsed, events=head, seconds=round(elapsed, 2),
                                how="the projector process building empty read models in bulk "
                                    "(thidua.projections.rebuild.rebuild, two processes), timed from its start",
                                **cpu_detail(run, ids["rebuild"], cpu, elapsed, head))
        state["stack"] = True

    try:
        failure = await run.stage("start thidua", [], start)
        if "stack" not in state:
            run.results.skip(process_ids, f"thidua's processes did not start: {failure}")
            if large:
                await rebuild_and_verify()
            return
        if large:
            await rebuild_and_verify(rebuild="built_by_projector" not in state)
        if wanted & {"P5", "S"} and "corpus" in state:
            await run.stage("P5 scoreboard", [ids["board_rate"], ids["board_p99"], ids["as_of_p99"]],
                            profiled(run, stack, "P5", lambda: stage_scoreboard(
                                run, stack, p.clients, p.p5_seconds, state["corpus"].middle, ids,
                                state["corpus"].campaign_id)))
        if "P7" in wanted and page_ids and "corpus" in state:
            await run.stage("P7 pages", page_ids, lambda: stage_pages(
                run, stack, p.clients, p.p5_seconds, state["corpus"].target_ids[0]))
        live = Live()
        if wanted & {"P1", "P2", "P3", "P8", "S", *group_names}:
            if "P3" in wanted:
                await run.measure_raw("B4")
            await run.stage("P3 import", [ids.get("p3", "P3.import_rate")] if "p3" in ids else [],
                            profiled(run, stack, "P3", lambda: stage_import(
                                run, stack, live, p.p3_targets, live_units, ids.get("p3"))))
            if "P3" in wanted:
                await run.measure_raw("B4", again=True)  # the second round bracketing P3
        if live.by_unit and "P1" in wanted and p.p1_commands and not large:
            await run.measure_raw("B1")
            await run.stage("P1 one client", [ids["p1_p50"], ids["p1_p95"], ids["p1_p99"]],
                            lambda: stage_single_client(run, stack, live, live_units[0], p.p1_commands, ids))
        if live.by_unit and wanted & {"P2", "P4", "S"}:
            lag_ids = [ids[k] for k in ("p2", "lag_p50", "lag_p99") if k in ids]
            if "P2" in wanted:
                await run.measure_raw("B2")
            await run.stage("P2 32 clients + P4 lag", lag_ids,
                            profiled(run, stack, "P2", lambda: stage_concurrent(
                                run, stack, live, live_units, p.load_seconds, ids, database_url)))
        if live.by_unit and "P8" in wanted and not large:
            from bench import scaleout

            await run.stage("P8 two of each process", scaleout.stage_ids(), lambda: scaleout.stage_scaleout(
                run, stack, live_units, min(p.p3_targets, 16 * len(live_units)), p.load_seconds, database_url))
        await run_groups(run, GroupContext(run, stack, database_url, stack.address, work, logs,
                                           state.get("corpus"), live))
    finally:
        await asyncio.to_thread(stack.stop)
        if "stack" in state:  # a process that died at start tells nothing about memory
            for name in ("api", "worker", "projector"):
                rss = stack.rss_mb(name)
                if rss is not None:
                    run.results.put(ids[f"rss_{name}"], rss)
        run.results.skip(process_ids, "not reached")
