"""P8: more than one machine's worth — P2's load on two API processes, two workers and two
projectors against the same store and Temporal, beside P2's one of each.

Right after P2, a second worker, projector and API start (`Stack.start_copies`) and a
campaign of as many new targets as P3's is imported: a workflow stays on the worker that
ran its first task (Temporal's sticky queues), so the targets of P2, all started before the
second worker, would keep it idle; the new ones (16 per unit head, more than 20 s of
commands need) start on both. The 32 unit heads then walk
the new targets as in P2, client n talking to API process n mod 2 (the harness's
round-robin, as a load balancer would). Then, with every event projected:
- lost: commands answered 2xx whose event the store does not hold (by the command id
  the API derived from the Idempotency-Key, looked up in the audit trail);
- duplicated: a command's event stored more than once;
- the read models against a rebuild of the whole store into a scratch schema (rows in one
  and not the other, every table);
and the rate and CPU per command by process (P2's in its own detail).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from bench.stack import max_position, wait_projected
from bench.stats import closed_loop
from thidua.dburl import asyncpg_dsn

if TYPE_CHECKING:
    from bench.run import Run
    from bench.stack import Stack

COPY = 2
CAMPAIGN = "bench-scaleout"
CHECK_SCHEMA = "bench_scaleout_check"


async def stage_scaleout(run: Run, stack: Stack, units: list[str], targets: int, seconds: float,
                         database_url: str) -> None:
    from bench.product import Live, _command, stage_import

    names = stack.start_copies(COPY)
    port = stack.api_ports[-1]
    live = Live()
    try:
        await stack.wait_ready(port=port)
        await wait_polling(stack.address, stack.processes[f"worker-{COPY}"].pid, 90.0)
        run.processes.update({n: stack.processes[n] for n in names})
        await stage_import(run, stack, live, targets, units, None, campaign=CAMPAIGN)
        conns = [stack.connection(stack.heads[u], n=c) for c, u in enumerate(units)]
        first = len(live.answered)
        try:
            with run.cpu_meter() as cpu:
                load = await closed_loop(len(units), lambda c, i: _command(conns[c], live, units[c]),
                                         seconds=seconds, warmup_calls=1)
        finally:
            for conn in conns:
                await conn.close()
        if load.errors:
            run.notes.append(f"P8: {load.errors} errors, first: {load.first_error}")
        head = await max_position(database_url)
        await wait_projected(database_url, head, 120.0, stack)
        answered = live.answered[first:]
    finally:
        for name in names:
            run.processes.pop(name, None)
        await asyncio.to_thread(stack.stop_copies, names, port)
    per_call = cpu.per_call(load.calls)
    run.results.put("P8.rate", load.rate, clients=len(units), api_processes=2, workers=2, projectors=2,
                    cpu_ms_per_call=per_call, cpu_ms_per_call_by_kind=_by_kind(per_call), **load.summary())
    lost, duplicated = await _lost_and_duplicated(database_url, stack, answered)
    run.results.put("P8.lost", lost, commands=len(answered))
    run.results.put("P8.duplicated", duplicated, commands=len(answered))
    differing = await differs_from_rebuild(database_url)
    run.results.put("P8.rebuild_diff", sum(differing.values()), tables_differing=differing)


async def wait_polling(address: str, pid: int, timeout: float) -> None:
    """Wait until the worker `pid` polls thidua's task queue (a worker's identity is
    `<pid>@<host>`): targets imported before would all start on the first worker."""
    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
    from temporalio.client import Client

    from bench.services import TASK_QUEUE

    client = await Client.connect(address)
    request = DescribeTaskQueueRequest(namespace="default", task_queue=TaskQueue(name=TASK_QUEUE),
                                       task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW)
    async with asyncio.timeout(timeout):
        while True:
            pollers = (await client.workflow_service.describe_task_queue(request)).pollers
            if any(p.identity.startswith(f"{pid}@") for p in pollers):
                return
            await asyncio.sleep(0.2)


def _by_kind(per_call: dict[str, float]) -> dict[str, float]:
    """CPU ms per command summed over the copies of each kind of process."""
    out: dict[str, float] = {}
    for name, ms in per_call.items():
        kind = name.split("-", 1)[0] if name.split("-", 1)[-1].isdigit() else name
        out[kind] = round(out.get(kind, 0.0) + ms, 2)
    return out


async def _lost_and_duplicated(database_url: str, stack: Stack, answered: list[tuple[str, str]]) -> tuple[int, int]:
    import asyncpg

    from thidua.api.auth import user_id_of
    from thidua.api.idempotency import command_id_for

    ids = [command_id_for(user_id_of(stack.heads[unit]) or "", key) for unit, key in answered]
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        rows = await conn.fetch(
            "SELECT command_id, event_type, count(*) AS n FROM public.audit_log WHERE command_id = ANY($1) "
            "GROUP BY command_id, event_type", ids)
    finally:
        await conn.close()
    stored = {r["command_id"] for r in rows}
    lost = sum(1 for command_id in ids if command_id not in stored)
    duplicated = sum(r["n"] - 1 for r in rows if r["n"] > 1)
    return lost, duplicated


async def differs_from_rebuild(database_url: str) -> dict[str, int]:
    """Rows of each read model that a rebuild of the whole store into a scratch schema does
    not have, or has and the live table does not (only tables that differ are named)."""
    import asyncpg

    from thidua.projections.rebuild import build_into_schema
    from thidua.projections.schema import GROUPS, NEVER_REBUILT

    dsn = asyncpg_dsn(database_url)
    conn, side = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    groups = [g for g in GROUPS if g not in NEVER_REBUILT]
    try:
        await build_into_schema(conn, side, CHECK_SCHEMA, groups, dsn=dsn)
        differing: dict[str, int] = {}
        for group in groups:
            for table in GROUPS[group]:
                live, rebuilt = f"SELECT t::text FROM public.{table} t", f"SELECT t::text FROM {CHECK_SCHEMA}.{table} t"
                n = await conn.fetchval(  # rows as text: `json` columns have no equality
                    f"SELECT (SELECT count(*) FROM ({live} EXCEPT ALL {rebuilt}) a) "
                    f"+ (SELECT count(*) FROM ({rebuilt} EXCEPT ALL {live}) b)")
                if n:
                    differing[table] = int(n)
        return differing
    finally:
        await conn.execute(f"DROP SCHEMA IF EXISTS {CHECK_SCHEMA} CASCADE")
        await side.close()
        await conn.close()


def stage_ids() -> list[str]:
    return ["P8.rate", "P8.lost", "P8.duplicated", "P8.rebuild_diff"]


__all__ = ["stage_scaleout", "differs_from_rebuild", "stage_ids"]
