"""Record the WebhookBatchWorkflow histories that test_webhook_replay replays.

    .venv/bin/python -m tests.integration.workflow_histories.record_webhook_batches

Runs each path whose file is missing once against a fresh Temporal dev server, with
activities that stand in for the receivers (the history depends on the workflow's code and
on what its activities answered), and writes `webhook_batch/<path>.json`. Re-record only on
purpose (see record.py): delete a file to record it again.

The first three were recorded before the first try became a local activity (workflow.patched
`webhook-batch-local-first`): they are the workflows of that version still in flight. The
`local_first_*` ones are recorded by the code since.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from thidua.embedded import temporal_binary
from thidua.workflows.converter import data_converter
from thidua.workflows.webhook_batch import (
    DELIVER_BATCH, GIVE_UP_BATCH, Batch, BatchAttempt, BatchOutcome, WebhookBatchWorkflow, batch_workflow_id,
)

HERE = Path(__file__).resolve().parent / "webhook_batch"
QUEUE = "record-webhook-batches"
# Each path's rows: how many tries each fails before its receiver takes it (-1: 410 Gone at
# once; 99: never, so the window ends and the rest is given up).
PATHS = {
    "delivered": [0, 0, 0],
    "retried_then_delivered": [0, 2, 1, -1],
    "given_up": [0, 99, 99],
    "local_first_delivered": [0, 0, 0],
    "local_first_retried_then_delivered": [0, 2, 1, -1],
    "local_first_failed_over": [0, 0],  # the local try fails (a worker error): the same try as an activity
    "local_first_given_up": [0, 99, 99],
}
WINDOWS = {"given_up": 2, "local_first_given_up": 2}  # seconds; the others a day


def _path_and_failures(nid: str) -> tuple[str, int]:
    path, index = nid.rsplit("-", 1)
    return path, PATHS[path][int(index)]


@activity.defn(name=DELIVER_BATCH)
async def deliver_batch(attempt: BatchAttempt) -> BatchOutcome:
    if activity.info().is_local and attempt.notification_ids[0].startswith("local_first_failed_over"):
        raise ApplicationError("the database is away")
    outcome = BatchOutcome()
    for nid in attempt.notification_ids:
        _, failures = _path_and_failures(nid)
        if failures < 0:
            outcome.failed += 1
        elif attempt.attempt > failures:
            outcome.delivered += 1
        else:
            outcome.retry.append(nid)
    return outcome


@activity.defn(name=GIVE_UP_BATCH)
async def give_up_batch(notification_ids: list[str]) -> None:
    return None


async def main() -> None:
    HERE.mkdir(exist_ok=True)
    async with await WorkflowEnvironment.start_local(dev_server_existing_path=temporal_binary(),
                                                     data_converter=data_converter) as env:
        async with Worker(env.client, task_queue=QUEUE, workflows=[WebhookBatchWorkflow],
                          activities=[deliver_batch, give_up_batch]):
            for path, rows in PATHS.items():
                if (HERE / f"{path}.json").exists():
                    continue
                ids = [f"{path}-{i}" for i in range(len(rows))]
                handle = await env.client.start_workflow(
                    WebhookBatchWorkflow.run, Batch(ids, initial_interval_ms=200, window_s=WINDOWS.get(path, 86_400)),
                    id=batch_workflow_id(path), task_queue=QUEUE)
                print(path, await handle.result())
                history = await handle.fetch_history()
                (HERE / f"{path}.json").write_text(history.to_json())


if __name__ == "__main__":
    asyncio.run(main())
