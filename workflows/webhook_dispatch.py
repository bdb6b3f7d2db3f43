"""Hands each webhook and e-mail row of the outbox to its own WebhookDeliveryWorkflow.

Runs beside the worker (`thidua worker`). Woken by the outbox projection's NOTIFY
(`thidua.projections.notifications.OUTBOX_CHANNEL`) and by a poll. For each row not yet
dispatched it starts a workflow whose id is the row's id, then marks the row
dispatched (a batch's starts side by side); after a crash between the two the start is
repeated and Temporal answers "already started", so each row gets one workflow. Nothing
here waits for a receiver.
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
from thidua.workflows.webhook_workflow import Delivery, WebhookDeliveryWorkflow, webhooks_queue

log = logging.getLogger("thidua.webhooks")

DISPATCH_CONCURRENCY = 32  # workflow starts in flight at once


def workflow_id(notification_id: Any) -> str:
    return f"webhook-{notification_id}"


class Dispatcher(Listener):
    channel = OUTBOX_CHANNEL
    what = "webhook dispatch"

    def __init__(self, client: Client, dsn: str, task_queue: str, *, poll_interval: float = 2.0,
                 initial_interval_ms: int = 1000, window_s: int = 86_400) -> None:
        super().__init__(dsn, poll_interval, log)
        self.client = client
        self.queue = webhooks_queue(task_queue)
        self.plan = (initial_interval_ms, window_s)

    async def dispatch_once(self, conn: asyncpg.Connection) -> int:
        rows = await conn.fetch(
            "SELECT notification_id FROM notifications WHERE channel <> 'inbox' AND dispatched_at IS NULL "
            "ORDER BY position LIMIT 200")
        # Started side by side (one start is a round trip to Temporal: one after the other
        # they were the whole delivery path's bottleneck); the rows whose start failed stay
        # undispatched and are tried again, and a repeated start is "already started".
        slots = asyncio.Semaphore(DISPATCH_CONCURRENCY)

        async def start(nid: Any) -> Any:
            async with slots:
                try:
                    await self.client.start_workflow(
                        WebhookDeliveryWorkflow.run, Delivery(str(nid), *self.plan), id=workflow_id(nid),
                        task_queue=self.queue, id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                        id_conflict_policy=WorkflowIDConflictPolicy.FAIL)
                except WorkflowAlreadyStartedError:
                    pass  # started before a crash: that workflow delivers it
            return nid

        outcomes = await asyncio.gather(*(start(r["notification_id"]) for r in rows), return_exceptions=True)
        started = [o for o in outcomes if not isinstance(o, BaseException)]
        if started:
            await conn.execute("UPDATE notifications SET dispatched_at = now() WHERE notification_id = ANY($1::uuid[])",
                               started)
        failed = next((o for o in outcomes if isinstance(o, BaseException)), None)
        if failed is not None:
            raise failed
        return len(rows)
