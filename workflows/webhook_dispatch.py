"""Hands the outbox's webhook and e-mail rows to Temporal, a batch per workflow
(thidua.workflows.webhook_batch.WebhookBatchWorkflow).

Runs beside the worker (`thidua worker`). Woken by the outbox projection's NOTIFY
(`thidua.projections.notifications.OUTBOX_CHANNEL`) and by a poll. It claims up to
`BATCH_SIZE` rows not yet dispatched by writing the batch's id (its first row's id) on
them, in one statement (`FOR UPDATE SKIP LOCKED`: two dispatchers never claim a row
twice); then starts one workflow per claimed batch, whose id is the batch's, and marks
its rows dispatched. After a crash between the start and the mark, the batch's rows are
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

    async def dispatch_once(self, conn: asyncpg.Connection) -> int:
        claimed = await conn.fetchval(
            "WITH claim AS (SELECT notification_id, position FROM notifications WHERE channel <> 'inbox' "
            "AND dispatched_at IS NULL AND batch_id IS NULL ORDER BY position, notification_id LIMIT $1 "
            "FOR UPDATE SKIP LOCKED), "
            "first AS (SELECT notification_id FROM claim ORDER BY position, notification_id LIMIT 1), "
            "done AS (UPDATE notifications n SET batch_id = (SELECT notification_id FROM first) FROM claim "
            "WHERE n.notification_id = claim.notification_id RETURNING 1) SELECT count(*) FROM done",
            self.batch_size)
        # this batch, and any a crash left claimed but not marked
        batches = await conn.fetch(
            "SELECT batch_id, array_agg(notification_id::text ORDER BY position, notification_id) AS ids "
            "FROM notifications WHERE channel <> 'inbox' AND dispatched_at IS NULL AND batch_id IS NOT NULL "
            "GROUP BY batch_id")
        slots = asyncio.Semaphore(DISPATCH_CONCURRENCY)

        async def start(batch_id: Any, ids: list[str]) -> Any:
            async with slots:
                try:
                    await self.client.start_workflow(
                        WebhookBatchWorkflow.run, Batch(ids, *self.plan), id=batch_workflow_id(batch_id),
                        task_queue=self.queue, id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                        id_conflict_policy=WorkflowIDConflictPolicy.FAIL, request_eager_start=True)
                except WorkflowAlreadyStartedError:
                    pass  # started before a crash: that workflow delivers them
            return batch_id

        outcomes = await asyncio.gather(*(start(b["batch_id"], b["ids"]) for b in batches), return_exceptions=True)
        started = [o for o in outcomes if not isinstance(o, BaseException)]
        if started:
            await conn.execute("UPDATE notifications SET dispatched_at = now() WHERE channel <> 'inbox' AND batch_id = ANY($1::uuid[]) "
                               "AND dispatched_at IS NULL", started)
        failed = next((o for o in outcomes if isinstance(o, BaseException)), None)
        if failed is not None:
            raise failed
        return int(claimed)
