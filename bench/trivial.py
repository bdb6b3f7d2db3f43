"""The trivial workflow of the raw limits (B1, B2, B4), and its worker.

`Trivial` waits until told to finish; its update `ping` runs one activity that returns its
argument, `ping_local` the same activity as a local activity (as thidua's commands do). The worker is configured like thidua's (synchronous activities in a thread pool
of the same size, every live workflow cached), so the B figures measure Temporal and the
SDK, not a different setup. `worker_argv()` is its command line (the workflow must not live
in `__main__`: the sandbox re-imports the workflow's module).
"""

from __future__ import annotations

import asyncio
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from temporalio import activity, workflow


@activity.defn(name="bench_echo")
def echo(n: int) -> int:
    return n


@workflow.defn(name="BenchTrivial")
class Trivial:
    def __init__(self) -> None:
        self._done = False

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: self._done and workflow.all_handlers_finished())

    @workflow.update
    async def ping(self, n: int) -> int:
        return await workflow.execute_activity(echo, n, start_to_close_timeout=timedelta(seconds=10))

    @workflow.update
    async def ping_local(self, n: int) -> int:
        """The same as `ping` with a local activity: the shape of thidua's commands (an
        update whose handler runs its activity locally, in the workflow's own task)."""
        return await workflow.execute_local_activity(echo, n, start_to_close_timeout=timedelta(seconds=10))

    @workflow.signal
    def finish(self) -> None:
        self._done = True


async def _serve(address: str, task_queue: str) -> None:
    from temporalio.client import Client
    from temporalio.worker import Worker

    client = await Client.connect(address)
    worker = Worker(
        client,
        task_queue=task_queue,
        workflows=[Trivial],
        activities=[echo],
        activity_executor=ThreadPoolExecutor(max_workers=12),
        max_concurrent_activities=12,
        max_cached_workflows=5000,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with worker:
        print("ready", flush=True)
        await stop.wait()


def main() -> None:
    asyncio.run(_serve(sys.argv[1], sys.argv[2]))


def worker_argv(address: str, task_queue: str) -> list[str]:
    return [sys.executable, "-c", "from bench.trivial import main; main()", address, task_queue]
