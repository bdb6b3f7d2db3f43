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

The first try is a local activity (since `LOCAL_FIRST`): the dispatcher starts the workflow
eagerly from the worker's own process, so the worker has the workflow's first task in the
start's answer and posts at once, without Temporal first recording an activity task and
matching it to a poller (under the commands' load that hop was half of commit -> receiver,
docs/benchmarks.md N). It is bounded (`LOCAL_TIMEOUT`) and tried once: when it fails or
times out (a slow receiver holding its slots, the database away), the same try runs as an
ordinary activity with its heartbeat; the rows it delivered are not sent again. A worker
that dies during it loses the workflow task: the next worker runs the try from the start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as TimedOut

DELIVER_BATCH = "deliver_notification_batch"
GIVE_UP_BATCH = "give_up_notification_batch"
BATCH_SIZE = 100  # rows per workflow
MAX_INTERVAL = timedelta(hours=1)  # between two tries
LOCAL_FIRST = "webhook-batch-local-first"  # workflow.patched: the first try is a local activity
# The local first try: a few waves of requests with their 10 s timeouts
# (webhook_activities.TIMEOUT); beyond, it goes on as an ordinary activity.
LOCAL_TIMEOUT = timedelta(seconds=30)


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
            this_try = BatchAttempt(pending, attempt, int(wait / timedelta(milliseconds=1)), window_ends.timestamp())
            outcome = None
            if attempt == 1 and workflow.patched(LOCAL_FIRST):
                outcome = await self._locally(this_try)
            if outcome is None:
                outcome = await workflow.execute_activity(
                    DELIVER_BATCH, this_try, result_type=BatchOutcome,
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

    @staticmethod
    async def _locally(this_try: BatchAttempt) -> BatchOutcome | None:
        """The try as a local activity, once; None when it did not finish (then the caller
        runs it as an ordinary activity). A worker that dies meanwhile loses its workflow
        task: the next worker runs the workflow, and this try, from the start."""
        try:
            return await workflow.execute_local_activity(
                DELIVER_BATCH, this_try, result_type=BatchOutcome, start_to_close_timeout=LOCAL_TIMEOUT,
                retry_policy=RetryPolicy(maximum_attempts=1))
        except (ActivityError, ApplicationError, TimedOut):  # a local activity's failure comes unwrapped
            return None
