"""Record the WebhookDeliveryWorkflow histories that test_webhook_replay replays.

    .venv/bin/python -m tests.integration.workflow_histories.record_webhooks

Runs each path once against a fresh Temporal dev server, with activities that stand
in for the receiver (the history depends on the workflow's code and on what its
activities answered, not on how they got there), and writes
`webhook_delivery/<path>.json`. Re-record only on purpose (see record.py).
"""

from __future__ import annotations

import asyncio

from pathlib import Path

from temporalio import activity
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from thidua.embedded import temporal_binary
from thidua.workflows.webhook_workflow import DELIVER, GIVE_UP, Delivery, WebhookDeliveryWorkflow

HERE = Path(__file__).resolve().parent / "webhook_delivery"
QUEUE = "record-webhooks"
PATHS = {
    "delivered": 0,  # failures before the receiver takes it (-1: it answers 410)
    "retried_then_delivered": 2,
    "gone": -1,
}
_calls: dict[str, int] = {}


@activity.defn(name=DELIVER)
async def deliver(delivery: Delivery) -> None:
    path = delivery.notification_id
    _calls[path] = _calls.get(path, 0) + 1
    failures = PATHS[path]
    if failures < 0:
        raise ApplicationError("the receiver answered 410 Gone", type="WebhookGone", non_retryable=True)
    if _calls[path] <= failures:
        raise ApplicationError("the receiver answered 500", type="WebhookNotDelivered")


@activity.defn(name=GIVE_UP)
async def give_up(delivery: Delivery) -> None:
    return None


async def main() -> None:
    HERE.mkdir(exist_ok=True)
    async with await WorkflowEnvironment.start_local(dev_server_existing_path=temporal_binary(),
                                                     data_converter=pydantic_data_converter) as env:
        async with Worker(env.client, task_queue=QUEUE, workflows=[WebhookDeliveryWorkflow],
                          activities=[deliver, give_up]):
            for path in PATHS:
                handle = await env.client.start_workflow(
                    WebhookDeliveryWorkflow.run, Delivery(path, initial_interval_ms=100), id=f"webhook-{path}",
                    task_queue=QUEUE)
                await handle.result()
                history = await handle.fetch_history()
                (HERE / f"{path}.json").write_text(history.to_json())


if __name__ == "__main__":
    asyncio.run(main())
