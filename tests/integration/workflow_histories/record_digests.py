"""Record the DailyDigestWorkflow histories that test_digest_replay replays.

    .venv/bin/python -m tests.integration.workflow_histories.record_digests

Runs each path once against a fresh Temporal dev server, with an activity that stands in
for the digest's (the history depends on the workflow's code and on what its activity
answered), and writes `daily_digest/<path>.json`. Re-record only on purpose (see record.py).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from temporalio import activity
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from thidua.embedded import temporal_binary
from thidua.workflows.digest_workflow import RECORD_DIGEST, DailyDigestWorkflow, DigestRequest

HERE = Path(__file__).resolve().parent / "daily_digest"
QUEUE = "record-digests"
PATHS = {
    "scheduled": DigestRequest("vinh-yen-2022"),  # as the schedule starts it: the clock is the workflow's
    "as_of_given": DigestRequest("vinh-yen-2022", "2026-12-03T00:00:00+00:00"),
}


@activity.defn(name=RECORD_DIGEST)
async def record(request: DigestRequest) -> str:
    return f"recorded {request.as_of[:10] if request.as_of else ''}"


async def main() -> None:
    HERE.mkdir(exist_ok=True)
    async with await WorkflowEnvironment.start_local(dev_server_existing_path=temporal_binary(),
                                                     data_converter=pydantic_data_converter) as env:
        async with Worker(env.client, task_queue=QUEUE, workflows=[DailyDigestWorkflow], activities=[record]):
            for path, request in PATHS.items():
                handle = await env.client.start_workflow(DailyDigestWorkflow.run, request, id=f"digest-{path}",
                                                         task_queue=QUEUE)
                await handle.result()
                history = await handle.fetch_history()
                (HERE / f"{path}.json").write_text(history.to_json())


if __name__ == "__main__":
    asyncio.run(main())
