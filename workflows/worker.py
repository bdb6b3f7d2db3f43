"""The Temporal worker (`thidua worker`): TargetWorkflow, the campaign operations
(CampaignOperationWorkflow), the imports' AssignBatchWorkflow, and their activities.

One process per worker (the Temporal client is not thread-safe, and the event store's
application is created after fork). Activities are synchronous and run in a thread
pool. SIGTERM/SIGINT shut it down gracefully: polling stops, running activities get
`graceful_shutdown_timeout` to finish, then the process exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import py_compile
import signal
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from thidua import domain
from thidua import heap, heartbeats
from thidua.workflows import (
    assign_batch_workflow,
    campaign_operation_messages,
    commands,
    errors,
    evaluation_messages,
    messages,
    search_attributes,
    target_workflow,
)
from thidua.workflows.activities import TargetActivities
from thidua.workflows.assign_batch_workflow import AssignBatchWorkflow
from thidua.workflows.campaign_operation import CampaignOperationWorkflow
from thidua.workflows.campaign_operation_activities import CampaignOperationActivities
from thidua.workflows.client import TargetGateway
from thidua.workflows.evaluation_activities import EvaluationActivities
from thidua.workflows.evaluation_workflow import EvaluationWorkflow
from thidua.workflows.messages import DEFAULT_REMINDER_FLOOR, imports_queue
from thidua.workflows.target_workflow import TargetWorkflow
from thidua.workflows.webhook_worker import WebhookService

if TYPE_CHECKING:
    from thidua.domain.application import ThiduaApplication
    from thidua.settings import Settings

log = logging.getLogger("thidua.worker")

# Each cached workflow holds its state (and, sandboxed, its own sandbox: ~0.13 MB with the
# shared type-adapter cache of thidua.workflows.converter); an evicted one replays its history
# on its next task, which slows that command. The default covers the live targets of
# a large campaign while keeping the worker's memory bounded (docs/benchmarks.md has
# the figures). Setting: THIDUA_WORKER_MAX_CACHED_WORKFLOWS.
DEFAULT_MAX_CACHED_WORKFLOWS = 2500
# The worker's eventsourcing repository keeps recently used aggregates (targets, their
# campaign, units) and, on each get, fast-forwards the cached copy with the events stored
# after its version (one indexed SELECT, no replay of the whole history). Safe with
# several workers: what another worker saved is read by that fast-forward; a save from a
# stale copy still fails on the (id, version) key as before.
AGGREGATE_CACHE_ENV = {"AGGREGATE_CACHE_MAXSIZE": "2000", "AGGREGATE_CACHE_FASTFORWARD": "y"}
# eventsourcing's pool holds 5 + 10 connections by default; more threads would only queue.
DEFAULT_MAX_CONCURRENT_ACTIVITIES = 12
DEFAULT_GRACEFUL_SHUTDOWN = timedelta(seconds=15)

# The workflow sandbox re-imports the workflow module for every workflow it creates and
# enters and leaves its import guards on every activation, a large share of the worker's
# CPU per command (docs/benchmarks.md). It is a
# development-time net against non-deterministic workflow code, so it stays on where such
# code would first show up: every test that runs the workflows builds its worker with
# the default `sandboxed=True` (so does the replay of the stored histories). `thidua
# worker` runs without it unless THIDUA_WORKFLOW_SANDBOX=true.

# Modules the workflow sandbox may share with the worker instead of re-importing per run:
# pure, deterministic code (the domain's rules and value objects, our message types).
_PASSTHROUGH = (domain.__name__, messages.__name__, campaign_operation_messages.__name__, commands.__name__,
                errors.__name__, search_attributes.__name__, evaluation_messages.__name__, "isodate", "pydantic",
                "opentelemetry")  # (tracing's interceptor, when on: thidua.tracing)


def _bytecode_for_the_sandbox() -> None:
    """The sandbox imports the workflow's module afresh for every workflow it creates.
    Without bytecode on disk (PYTHONDONTWRITEBYTECODE, a read-only tree) that means
    compiling target_workflow.py each time (measured: ~40% of creating a workflow).
    Compile it once into a private bytecode directory; where that fails, it just costs
    what it cost before."""
    if not sys.dont_write_bytecode or sys.pycache_prefix:
        return  # the normal import wrote (or could not write) __pycache__: nothing to add
    try:
        sys.pycache_prefix = tempfile.mkdtemp(prefix="thidua-pyc-")
        for module in (target_workflow, assign_batch_workflow):
            py_compile.compile(module.__file__, doraise=True)
    except (OSError, py_compile.PyCompileError) as exc:
        log.warning("could not compile the workflow modules ahead (%s): each new workflow compiles them", exc)


# An import's batch workflows run two short workflow tasks each, and their activities
# save one at a time (TargetActivities' batch lock): a small cache and two activity
# slots are plenty.
IMPORT_CACHED_WORKFLOWS = 64
IMPORT_CONCURRENT_ACTIVITIES = 2


class ThiduaWorker:
    """The worker's two Temporal workers, run and shut down together: one on the targets'
    task queue (TargetWorkflow and its activities), one on the imports' queue
    (AssignBatchWorkflow, see `thidua.workflows.messages.imports_queue`). Used like a
    `temporalio.worker.Worker`: `run()`/`shutdown()`, or `async with`."""

    def __init__(self, targets: Worker, imports: Worker, closers: tuple[Any, ...] = ()) -> None:
        self.targets = targets
        self.imports = imports
        self.closers = closers  # async callables run once both workers have stopped (connection pools)
        self._running: asyncio.Task[None] | None = None

    async def run(self) -> None:
        """Run both until `shutdown()` (or until either fails: then the other is shut
        down too, and the failure raised)."""
        workers = (self.targets, self.imports)
        runs = [asyncio.create_task(w.run()) for w in workers]
        try:
            await asyncio.wait(runs, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await asyncio.gather(*(w.shutdown() for w in workers), return_exceptions=True)
            outcomes = await asyncio.gather(*runs, return_exceptions=True)
            await asyncio.gather(*(close() for close in self.closers), return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    async def shutdown(self) -> None:
        await asyncio.gather(self.targets.shutdown(), self.imports.shutdown())

    async def __aenter__(self) -> ThiduaWorker:
        if self._running is not None:
            raise RuntimeError("already started")
        self._running = asyncio.create_task(self.run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._running is not None
        await self.shutdown()
        await self._running


def build_worker(
    client: Client,
    app: ThiduaApplication,
    task_queue: str,
    *,
    max_cached_workflows: int = DEFAULT_MAX_CACHED_WORKFLOWS,
    max_concurrent_activities: int = DEFAULT_MAX_CONCURRENT_ACTIVITIES,
    graceful_shutdown_timeout: timedelta = DEFAULT_GRACEFUL_SHUTDOWN,
    activities: TargetActivities | None = None,
    sandboxed: bool = True,
    reminder_floor: timedelta = DEFAULT_REMINDER_FLOOR,
    **opts: Any,
) -> ThiduaWorker:
    """The worker of TargetWorkflow and CampaignOperationWorkflow on `task_queue` and of
    AssignBatchWorkflow on the imports' queue beside it, their activities bound to `app` (one thread pool).
    `sandboxed`: run the workflows in Temporal's sandbox (see above). Extra keyword
    arguments go to both `temporalio.worker.Worker`s."""
    executor = opts.pop("activity_executor", None) or ThreadPoolExecutor(
        max_workers=max_concurrent_activities, thread_name_prefix="thidua-activity"
    )
    activities = activities or TargetActivities(app, reminder_floor=reminder_floor)
    # The operations reach the targets' workflows through Temporal, like the API does.
    operations = CampaignOperationActivities(app, TargetGateway(client, task_queue))
    evaluations = EvaluationActivities(app)  # the evaluation rounds' deadlines run on the targets' queue
    common: dict[str, Any] = dict(activity_executor=executor, graceful_shutdown_timeout=graceful_shutdown_timeout,
                                  workflow_runner=workflow_runner(sandboxed), **opts)
    targets = Worker(
        client,
        task_queue=task_queue,
        # AssignBatchWorkflow here too: batches started on this queue by an API from
        # before the imports' queue still run.
        workflows=[TargetWorkflow, AssignBatchWorkflow, CampaignOperationWorkflow, EvaluationWorkflow],
        activities=[*activities.all(), *operations.all(), *evaluations.all()],
        max_concurrent_activities=max_concurrent_activities,
        max_cached_workflows=max_cached_workflows,
        **common,
    )
    imports = Worker(
        client,
        task_queue=imports_queue(task_queue),
        workflows=[AssignBatchWorkflow],
        activities=[activities.assign_targets],
        max_concurrent_activities=IMPORT_CONCURRENT_ACTIVITIES,
        max_cached_workflows=min(IMPORT_CACHED_WORKFLOWS, max_cached_workflows),
        **common,
    )
    return ThiduaWorker(targets, imports, closers=(evaluations.close,))


def workflow_runner(sandboxed: bool) -> WorkflowRunner:
    if sandboxed:
        return SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules(*_PASSTHROUGH))
    return UnsandboxedWorkflowRunner()


async def run_worker(settings: Settings, app: ThiduaApplication, client: Client,
                     stop: asyncio.Event | None = None, *, deliveries: WebhookService | None = None,
                     activities: TargetActivities | None = None, database_url: str | None = None) -> None:
    """Run the worker on `app` and `client` (built by `thidua.bootstrap.run_worker`) until
    `stop` is set (or SIGTERM/SIGINT), then shut down gracefully. `deliveries`: the
    notifications' delivery (webhooks, e-mail), run and stopped with it; `activities`:
    the target activities, when a test swaps them; `database_url`: where the worker's
    heartbeat goes (thidua.heartbeats), with a probe of the activity threads."""
    if settings.workflow_sandbox:
        _bytecode_for_the_sandbox()
    executor = ThreadPoolExecutor(max_workers=DEFAULT_MAX_CONCURRENT_ACTIVITIES, thread_name_prefix="thidua-activity")
    worker = build_worker(client, app, settings.task_queue, activity_executor=executor,
                          max_cached_workflows=settings.worker_max_cached_workflows,
                          sandboxed=settings.workflow_sandbox, activities=activities,
                          reminder_floor=settings.reminder_floor)
    # Before any workflow sets them: a namespace that does not know them fails their tasks.
    await search_attributes.ensure_registered(client, client.namespace)
    if deliveries is not None:
        await deliveries.__aenter__()

    heap.settle(thresholds=None)  # a long-running process whose garbage is cyclic: see thidua/heap.py
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("worker polling task queues %r and %r on %s (namespace %s%s)", settings.task_queue,
             imports_queue(settings.task_queue), client.service_client.config.target_host, client.namespace,
             ", workflows sandboxed" if settings.workflow_sandbox else "")
    beating = contextlib.AsyncExitStack()
    if database_url is not None:
        probe = heartbeats.ExecutorProbe(executor, settings.worker_stuck_seconds)
        await beating.enter_async_context(heartbeats.Heartbeat(
            database_url, heartbeats.WORKER, interval=settings.heartbeat_seconds, probe=probe.stuck_since))
    running = asyncio.create_task(worker.run())
    stopped = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({running, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if running.done():
            running.result()  # the worker died on its own: let the error out
        else:
            log.info("shutting down: finishing running activities (up to %s)", DEFAULT_GRACEFUL_SHUTDOWN)
            await worker.shutdown()
            await running
    finally:
        await beating.aclose()
        if deliveries is not None:
            await deliveries.shutdown()
        stopped.cancel()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        executor.shutdown(wait=True, cancel_futures=True)
    log.info("worker stopped")
