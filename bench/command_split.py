"""Where a command's CPU goes, without HTTP: P2's command mix straight through
`TargetGateway`, beside B9's trivial update + local activity on the same Temporal server.

    PYTHONPATH=. .venv/bin/python -m bench.command_split [--rounds 2] [--profile /tmp/worker]

A scratch database and a fresh Temporal dev server (the histories recorder's `scratch`),
a `thidua worker` and bench.trivial's worker as processes of their own. Each round: 32
clients, each walking 5 targets of its own unit through P2's cycle (start → progress →
block → unblock → complete: 800 commands), then the same number of `ping_local` updates
on 32 trivial workflows; it prints the CPU per call of the Temporal server and of each
worker. Then the history of one target and of one trivial workflow, summed up per command
(events and bytes), which is what the server stores and indexes for each.
`--profile PREFIX` records a py-spy profile of the thidua worker per round (PREFIX-N.txt).
Numbers: docs/benchmarks.md, "Where a command's CPU goes".
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import signal
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psutil

from bench import trivial
from bench.services import thidua_env, wait_idle

CYCLE = [
    ("start", {"note": "Bắt đầu triển khai"}),
    ("report_progress", {"percent": 50, "note": "Đã hoàn thành một nửa khối lượng"}),
    ("block", {"reason": "Hộ dân chưa đồng ý phương án bồi thường", "help_needed": "BTV chỉ đạo"}),
    ("unblock", {"note": "Đã thống nhất phương án"}),
    ("complete", {"result": "Hoàn thành", "evidence": "Biên bản nghiệm thu"}),
]
UNITS, TARGETS_PER_ROUND = 32, 5
TASK_QUEUE, TRIVIAL_QUEUE = "command-split", "command-split-trivial"


def _cpu(p: psutil.Process) -> float:
    t = p.cpu_times()
    return t.user + t.system + t.children_user + t.children_system


def _per_command(history: Any) -> dict[str, float]:
    """Events and bytes of a history per update it completed."""
    from google.protobuf.json_format import MessageToDict

    kinds: collections.Counter[str] = collections.Counter()
    size = 0
    for event in history.events:
        kinds[MessageToDict(event)["eventType"].removeprefix("EVENT_TYPE_")] += 1
        size += event.ByteSize()
    updates = kinds["WORKFLOW_EXECUTION_UPDATE_COMPLETED"] or 1
    return {"events": len(history.events), "updates": updates, "bytes": size,
            **{k.lower(): n for k, n in kinds.items()}}


async def run(rounds: int, profile: str | None) -> None:
    import asyncpg
    from temporalio.client import Client

    from tests.integration.conftest import SECRETARIAT, Seed, new_id, unit_head
    from tests.integration.workflow_histories.record import scratch
    from thidua.projections.schema import ensure_schema
    from thidua.workflows.client import TargetGateway, assign_request, connect, workflow_id_for

    with scratch("postgresql://root@127.0.0.1:5432/postgres") as where:
        seed = Seed(where.app)
        campaign = seed.campaign(escalate_after="P3D", resolution_sla="P7D", stale_after="P14D")
        units = [seed.unit() for _ in range(UNITS)]
        conn = await asyncpg.connect(where.database_url)
        await ensure_schema(conn)  # the worker's listeners read the read models
        await conn.close()
        work = Path(tempfile.mkdtemp(prefix="command-split", dir="/tmp"))
        env = thidua_env(where.database_url, where.temporal_address, work, task_queue=TASK_QUEUE)
        worker = subprocess.Popen([sys.executable, "-m", "thidua.cli", "worker"], env=env,
                                  stdout=(work / "worker.log").open("wb"), stderr=subprocess.STDOUT)
        plain = subprocess.Popen(trivial.worker_argv(where.temporal_address, TRIVIAL_QUEUE), stdout=subprocess.PIPE)
        try:
            assert plain.stdout is not None
            plain.stdout.readline()  # "ready"
            port = where.temporal_address.rsplit(":", 1)[1]
            server = next(p for p in psutil.process_iter(["cmdline"])
                          if p.info["cmdline"] and "start-dev" in p.info["cmdline"] and port in p.info["cmdline"])
            thidua_worker, trivial_worker = psutil.Process(worker.pid), psutil.Process(plain.pid)
            gateway = TargetGateway(await connect(where.temporal_address, "default"), TASK_QUEUE)
            today = date.today()
            requests = [assign_request(SECRETARIAT, new_id("assign"), campaign, unit_id=u, title=f"{u} {i}",
                                       area="econ", deadline=today + timedelta(days=30 + i), points=10)
                        for u in units for i in range(TARGETS_PER_ROUND * rounds)]
            assigned = await gateway.assign_many(campaign, requests)
            by_unit: dict[str, list[str]] = {}
            for request, done in zip(requests, assigned, strict=True):
                by_unit.setdefault(request.unit_id, []).append(done.target_id)
            await asyncio.to_thread(wait_idle, worker.pid)  # the new workflows' first tasks
            raw = await Client.connect(where.temporal_address)
            pings = [await raw.start_workflow(trivial.Trivial.run, id=f"trivial-{i}", task_queue=TRIVIAL_QUEUE)
                     for i in range(UNITS)]
            for handle in pings:
                await handle.execute_update(trivial.Trivial.ping_local, 0)

            for rnd in range(rounds):
                await asyncio.sleep(2)
                spy = None
                if profile:
                    spy = subprocess.Popen(
                        [str(Path(sys.executable).with_name("py-spy")), "record", "--pid", str(worker.pid), "--rate",
                         "200", "--format", "raw", "--output", f"{profile}-{rnd}.txt", "--nonblocking"],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    await asyncio.sleep(1)
                commands = 0

                async def walk(unit: str) -> None:
                    nonlocal commands
                    for tid in by_unit[unit][rnd * TARGETS_PER_ROUND:(rnd + 1) * TARGETS_PER_ROUND]:
                        for name, args in CYCLE:
                            await gateway.command(tid, name, unit_head(unit), new_id(name), args)
                            commands += 1

                before, t0 = (_cpu(server), _cpu(thidua_worker)), time.perf_counter()
                await asyncio.gather(*(walk(u) for u in units))
                after, t1 = (_cpu(server), _cpu(thidua_worker)), time.perf_counter()
                if spy is not None:
                    spy.send_signal(signal.SIGINT)
                    spy.wait(30)
                print(f"P2 mix     {commands} commands, {commands / (t1 - t0):5.1f}/s; CPU ms per command: "
                      f"temporal {1000 * (after[0] - before[0]) / commands:5.2f}, "
                      f"worker {1000 * (after[1] - before[1]) / commands:5.2f}", flush=True)

                await asyncio.sleep(2)
                calls = 0

                async def ping(handle: Any) -> None:
                    nonlocal calls
                    for i in range(commands // len(pings)):
                        await handle.execute_update(trivial.Trivial.ping_local, i)
                        calls += 1

                before, t0 = (_cpu(server), _cpu(trivial_worker)), time.perf_counter()
                await asyncio.gather(*(ping(h) for h in pings))
                after, t1 = (_cpu(server), _cpu(trivial_worker)), time.perf_counter()
                print(f"B9 shape   {calls} updates,  {calls / (t1 - t0):5.1f}/s; CPU ms per update:  "
                      f"temporal {1000 * (after[0] - before[0]) / calls:5.2f}, "
                      f"worker {1000 * (after[1] - before[1]) / calls:5.2f}", flush=True)

            target = await gateway.client.get_workflow_handle(workflow_id_for(by_unit[units[0]][0])).fetch_history()
            print("a target's history (assign + one cycle):", _per_command(target))
            print("a trivial workflow's history:", _per_command(await pings[0].fetch_history()))
        finally:
            for proc in (worker, plain):
                proc.terminate()
            for proc in (worker, plain):
                proc.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--profile", help="py-spy profile of the thidua worker per round: PREFIX-N.txt")
    args = parser.parse_args()
    asyncio.run(run(args.rounds, args.profile))


if __name__ == "__main__":
    main()
