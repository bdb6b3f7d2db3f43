"""A batch of notifications (webhooks and e-mails), delivered at least once (DESIGN.md
"Notifications", issue 20).

The dispatcher (thidua.workflows.webhook_dispatch) claims up to `BATCH_SIZE` outbox rows,
records the batch's id (its first row's id) on them, and starts one of these with the
workflow id `webhook-batch-<batch id>`; a crash between the start and marking the rows
dispatched repeats the same start, which Temporal answers "already started". Temporal's
cost (a workflow start, its tasks, an activity) is thus paid per batch, not per
notification: one workflow per notification could not keep up with a busy outbox
(docs/benchmarks.md, N.*).

One activity delivers every row still pending at once (thidua.workflows.webhook_activities,
bounded per receiver and in all), logs each attempt, and answers the rows that failed and
may be tried again. Those wait on a durable timer that doubles from `initial_interval`
(at most an hour) and are tried again, all in one activity, until the window (a day)
ends; then they are marked failed. A 410 Gone or a refusal (no secret, disabled, an address
not allowed, no mail server) fails its row at once; every other row goes on. Runs on the
notifications' own task queue (`webhooks_queue`): a slow or dead receiver holds delivery
slots only, never the targets' commands.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

DELIVER_BATCH = "deliver_notification_batch"
GIVE_UP_BATCH = "give_up_notification_batch"
BATCH_SIZE = 100  # rows per workflow
MAX_INTERVAL = timedelta(hours=1)  # between two tries


def batch_workflow_id(batch_id: object) -> str:
    return f"webhook-batch-{batch_id}"


@dataclass
class Batch:
    notification_ids: list[str]
    initial_interval_ms: int = 1000  # first retry after this; doubling up to an hour
    window_s: int = 86_400  # then give up


@dataclass
class BatchAttempt:
    """One try at the rows still pending: its number (each row's attempt in the delivery
    log) and, for the log's `next_retry_at`, the wait before the next try and when the
    window ends (epoch seconds; a retry after it does not happen)."""

    notification_ids: list[str]
    attempt: int
    retry_in_ms: int
    window_ends_at: float


@dataclass
class BatchOutcome:
    retry: list[str] = field(default_factory=list)  # failed and may be tried again
    delivered: int = 0
    failed: int = 0  # refused or gone: given up at once


@workflow.defn(name="WebhookBatch")
class WebhookBatchWorkflow:
    @workflow.run
    async def run(self, batch: Batch) -> dict[str, int]:
        window_ends = workflow.now() + timedelta(seconds=batch.window_s)
        pending = list(batch.notification_ids)
        delivered = failed = 0
        attempt = 1
        while True:
            wait = min(timedelta(milliseconds=batch.initial_interval_ms) * 2 ** min(attempt - 1, 30), MAX_INTERVAL)
            outcome: BatchOutcome = await workflow.execute_activity(
                DELIVER_BATCH, BatchAttempt(pending, attempt, int(wait / timedelta(milliseconds=1)),
                                            window_ends.timestamp()),
                result_type=BatchOutcome,
                # each request has its own timeouts (webhook_activities.TIMEOUT, the mailer's);
                # the heartbeat notices a worker that died mid-batch within seconds
                start_to_close_timeout=timedelta(minutes=10), heartbeat_timeout=timedelta(seconds=20),
                retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)),
            )
            delivered += outcome.delivered
            failed += outcome.failed
            pending = outcome.retry
            if not pending:
                break
            if workflow.now() + wait > window_ends:
                await workflow.execute_activity(GIVE_UP_BATCH, pending, start_to_close_timeout=timedelta(seconds=60),
                                                retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)))
                failed += len(pending)
                break
            await workflow.sleep(wait)
            attempt += 1
        return {"delivered": delivered, "failed": failed}
