"""One webhook notification, delivered at least once (DESIGN.md "Notifications").

The dispatcher (thidua.workflows.webhook_dispatch) starts one of these per outbox row, with
the row's id as workflow id, so a row is never handed to two workflows. The delivery
activity is retried with exponential backoff for `window` (a day by default); when it
gives up, or the receiver answered 410 Gone (the webhook is then disabled), the row
is marked failed. Runs on its own task queue (`webhooks_queue`), so a slow or dead
receiver holds only delivery slots, never the targets' commands.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

DELIVER = "deliver_webhook"
GIVE_UP = "give_up_webhook"
NON_RETRYABLE = ("WebhookGone", "WebhookRefused")


def webhooks_queue(task_queue: str) -> str:
    return f"{task_queue}-webhooks"


@dataclass
class Delivery:
    notification_id: str
    initial_interval_ms: int = 1000  # first retry after this; doubling up to an hour
    window_s: int = 86_400  # then give up


@workflow.defn(name="WebhookDelivery")
class WebhookDeliveryWorkflow:
    @workflow.run
    async def run(self, delivery: Delivery) -> str:
        try:
            await workflow.execute_activity(
                DELIVER, delivery,
                start_to_close_timeout=timedelta(seconds=30),
                schedule_to_close_timeout=timedelta(seconds=delivery.window_s),
                retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=delivery.initial_interval_ms),
                                         backoff_coefficient=2.0, maximum_interval=timedelta(hours=1),
                                         non_retryable_error_types=list(NON_RETRYABLE)),
            )
            return "delivered"
        except ActivityError:
            await workflow.execute_activity(GIVE_UP, delivery, start_to_close_timeout=timedelta(seconds=30),
                                            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)))
            return "failed"
