"""Hands each webhook and e-mail row of the outbox to its own WebhookDeliveryWorkflow.

Runs beside the worker (`thidua worker`). Woken by the outbox projection's NOTIFY
(`thidua.projections.notifications.OUTBOX_CHANNEL`) and by a poll. For each row not yet
dispatched it starts a workflow whose id is the row's id, then marks the row
dispatched; after a crash between the two the start is repeated and Temporal answers
"already started", so each row gets one workflow. Nothing here waits for a receiver.
"""

from __future__ import annotations

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
        for r in rows:
            nid = r["notification_id"]
            try:
                await self.client.start_workflow(
                    WebhookDeliveryWorkflow.run, Delivery(str(nid), *self.plan), id=workflow_id(nid),
                    task_queue=self.queue, id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    id_conflict_policy=WorkflowIDConflictPolicy.FAIL)
            except WorkflowAlreadyStartedError:
                pass  # started before a crash: that workflow delivers it
            await conn.execute("UPDATE notifications SET dispatched_at = now() WHERE notification_id = $1", nid)
        return len(rows)
