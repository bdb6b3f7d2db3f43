"""Hands the outbox's webhook and e-mail rows to Temporal, a batch per workflow
(thidua.workflows.webhook_batch.WebhookBatchWorkflow).

Runs beside the worker (`thidua worker`). Woken by the outbox projection's NOTIFY
(`thidua.projections.notifications.OUTBOX_CHANNEL`) and by a poll. It claims up to
`BATCH_SIZE` rows not yet dispatched by writing the batch's id (its first row's id) on
them, in one statement (`FOR UPDATE SKIP LOCKED`: two dispatchers never claim a row
twice); then starts one workflow per claimed batch, whose id is the batch's, and marks
its rows dispatched. The next claim does not wait for those starts (`Dispatcher.run`): a
row that comes meanwhile is started beside them. After a crash between the start and the mark, the batch's rows are
still claimed and undispatched: the same start is repeated with the same rows and
Temporal answers "already started", so each row is in one workflow. Nothing here waits
for a receiver.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import asyncpg
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from thidua.projections.notifications import OUTBOX_CHANNEL
from thidua.workflows.listening import Listener
from thidua.workflows.webhook_batch import BATCH_SIZE, Batch, WebhookBatchWorkflow, batch_workflow_id
from thidua.workflows.webhook_workflow import webhooks_queue

log = logging.getLogger("thidua.webhooks")

DISPATCH_CONCURRENCY = 8  # workflow starts in flight at once


def workflow_id(notification_id: Any) -> str:
    """The id of the per-notification workflow of earlier versions (WebhookDeliveryWorkflow)."""
    return f"webhook-{notification_id}"


class Dispatcher(Listener):
    channel = OUTBOX_CHANNEL
    what = "webhook dispatch"

    def __init__(self, client: Client, dsn: str, task_queue: str, *, poll_interval: float = 2.0,
                 initial_interval_ms: int = 1000, window_s: int = 86_400, batch_size: int = BATCH_SIZE) -> None:
        super().__init__(dsn, poll_interval, log)
        self.client = client
        self.queue = webhooks_queue(task_queue)
        self.plan = (initial_interval_ms, window_s)
        self.batch_size = batch_size
        self._slots = asyncio.Semaphore(DISPATCH_CONCURRENCY)
        self._in_flight: dict[Any, asyncio.Task[Any]] = {}  # batch id -> its start (and mark)
        self._failure: BaseException | None = None  # a start that failed, raised by the next dispatch
        self._marks: asyncpg.Pool | None = None  # marks batches dispatched beside the claims (run())
        self._running = False

    async def run(self) -> None:
        """Claims do not wait for the starts of earlier batches: a row that comes while
        batches are being started is claimed at once and its workflow started beside them
        (up to `DISPATCH_CONCURRENCY` starts in flight; when all are busy the next claim
        waits for one, so rows pile up into a bigger batch instead of more workflows)."""
        self._running = True
        try:
            await super().run()
        finally:
            self._running = False
            await asyncio.gather(*self._in_flight.values(), return_exceptions=True)
            if self._marks is not None:
                await self._marks.close()
                self._marks = None

    async def dispatch_once(self, conn: asyncpg.Connection) -> int:
        """Claims a batch and starts its workflow, and those of batches claimed earlier but
        not marked dispatched (a crash between the start and the mark). Called by `run()`,
        it answers once the starts are under way; called directly, once they are done."""
        if self._failure is not None:  # Temporal or the database away: the listener backs off
            failure, self._failure = self._failure, None
            raise failure
        await self._slots.acquire()  # a start free before claiming (see run())
        self._slots.release()
        claimed = await conn.fetchval(
            "WITH claim AS (SELECT notification_id, position FROM notifications WHERE channel <> 'inbox' "
            "AND dispatched_at IS NULL AND batch_id IS NULL ORDER BY position, notification_id LIMIT $1 "
            "FOR UPDATE SKIP LOCKED), "
            "first AS (SELECT notification_id FROM claim ORDER BY position, notification_id LIMIT 1), "
            "done AS (UPDATE notifications n SET batch_id = (SELECT notification_id FROM first) FROM claim "
            "WHERE n.notification_id = claim.notification_id RETURNING 1) SELECT count(*) FROM done",
            self.batch_size)
        # this batch, and any a crash left claimed but not marked (not those being started)
        batches = await conn.fetch(
            "SELECT batch_id, array_agg(notification_id::text ORDER BY position, notification_id) AS ids "
            "FROM notifications WHERE channel <> 'inbox' AND dispatched_at IS NULL AND batch_id IS NOT NULL "
            "AND NOT batch_id = ANY($1::uuid[]) GROUP BY batch_id", list(self._in_flight))
        if self._running:
            if batches and self._marks is None:
                self._marks = await asyncpg.create_pool(self.dsn, min_size=1, max_size=2)
            for b in batches:
                self._in_flight[b["batch_id"]] = asyncio.create_task(self._start_and_mark(b["batch_id"], b["ids"]))
            return int(claimed)
        outcomes = await asyncio.gather(*(self._start(b["batch_id"], b["ids"]) for b in batches),
                                        return_exceptions=True)
        started = [o for o in outcomes if not isinstance(o, BaseException)]
        if started:
            await self._mark(conn, started)
        failed = next((o for o in outcomes if isinstance(o, BaseException)), None)
        if failed is not None:
            raise failed
        return int(claimed)

    async def _start(self, batch_id: Any, ids: list[str]) -> Any:
        async with self._slots:
            try:
                await self.client.start_workflow(
                    WebhookBatchWorkflow.run, Batch(ids, *self.plan), id=batch_workflow_id(batch_id),
                    task_queue=self.queue, id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    id_conflict_policy=WorkflowIDConflictPolicy.FAIL, request_eager_start=True)
            except WorkflowAlreadyStartedError:
                pass  # started before a crash: that workflow delivers them
        return batch_id

    async def _start_and_mark(self, batch_id: Any, ids: list[str]) -> None:
        try:
            await self._start(batch_id, ids)
            assert self._marks is not None
            await self._mark(self._marks, [batch_id])
        except Exception as exc:  # noqa: BLE001 - left claimed, unmarked: started again by a later dispatch
            self._failure = exc
            self._wake.set()
        finally:
            self._in_flight.pop(batch_id, None)

    @staticmethod
    async def _mark(db: asyncpg.Connection | asyncpg.Pool, batch_ids: list[Any]) -> None:
        await db.execute("UPDATE notifications SET dispatched_at = now() WHERE channel <> 'inbox' "
                         "AND batch_id = ANY($1::uuid[]) AND dispatched_at IS NULL", batch_ids)
