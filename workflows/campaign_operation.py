"""CampaignOperationWorkflow: a change to a campaign that must reach all its targets.

Closing a campaign, changing its policy or scoring scale, reopening it: one workflow per
command, its id derived from the command id (`operation_id_for`), so the same command
sent again finds the same operation instead of doing anything twice.

1. Record the campaign change (one activity through `ThiduaApplication.change`; a
   replayed command id answers with what it stored the first time). A refusal (not
   allowed, already closed, ...) fails the operation with that refusal.
2. Reach every target of the campaign, a page at a time (finish its workflow on close,
   make it re-read the campaign on a policy change, start it again on reopen). The ids
   come from the `targets` read model once it has caught up with the campaign event;
   a second pass, once it has caught up with everything stored by the end of the
   first, takes the targets it did not know then (assigned by a command that read the
   campaign just before the change). Reaching a target twice changes nothing.

Progress (done, total, errors) is kept in the workflow's memo after each page.
Each page's activity heartbeats the last target it reached: a worker killed mid-page is
replaced and the retry resumes after it; the workflow keeps the cursor between pages.
Workflow code stays deterministic: all I/O is in the activities.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from thidua.workflows.campaign_operation_messages import (
        CHANGE_CAMPAIGN_ACTIVITY,
        COUNT_TARGETS_ACTIVITY,
        MAX_LISTED_ERRORS,
        REACH_TARGETS_ACTIVITY,
        REACHES_TARGETS,
        CampaignChanged,
        ChangeInput,
        Counted,
        CountInput,
        OperationInput,
        OperationProgress,
        Reached,
        ReachInput,
    )
    from thidua.workflows.errors import failure_of_activity

PAGE_SIZE = 200
# Database or Temporal trouble is retried until it heals (the operation shows as running
# meanwhile); a domain refusal is not retried.
RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=500), backoff_coefficient=2.0,
                    maximum_interval=timedelta(seconds=10), maximum_attempts=0)
CHANGE_TIMEOUT = timedelta(seconds=30)
# Counting waits for the read model to catch up (heartbeating meanwhile).
COUNT_TIMEOUT = timedelta(minutes=10)
# A page finishes (or refreshes) up to PAGE_SIZE workflows; each waits at most the
# gateway's answer timeout. A heartbeat at least every few seconds: a dead worker's page
# is handed to another one after HEARTBEAT_TIMEOUT.
PAGE_TIMEOUT = timedelta(minutes=10)
HEARTBEAT_TIMEOUT = timedelta(seconds=10)


@workflow.defn(name="CampaignOperationWorkflow")
class CampaignOperationWorkflow:
    # Its whole run serves the request that started it: its activities carry that
    # request's id (thidua.workflows.request_ids), and so do the events they store.
    RUNS_FOR_ITS_REQUEST = True

    @workflow.init
    def __init__(self, op: OperationInput) -> None:
        self._progress = OperationProgress(kind=op.kind, campaign_id=op.campaign_id)

    @workflow.run
    async def run(self, op: OperationInput) -> OperationProgress:
        changed: CampaignChanged = await self._activity(
            CHANGE_CAMPAIGN_ACTIVITY, ChangeInput(operation=op, at=workflow.now()), CampaignChanged,
            start_to_close_timeout=CHANGE_TIMEOUT,
        )
        self._progress.result = changed
        if op.kind in REACHES_TARGETS:
            first = await self._reach_all(op, CountInput(op.campaign_id, wait_for=changed.position))
            # Targets the first pass could not know: stored after the read model's position then.
            await self._reach_all(op, CountInput(op.campaign_id, after_position=first.projected_to))
        return self._progress

    @workflow.query(name="progress")
    def progress(self) -> OperationProgress:
        return self._progress

    def _publish(self) -> None:
        """Progress in the workflow's memo: readable with the workflow's description,
        even while no worker is running it."""
        p = self._progress
        workflow.upsert_memo({"done": p.done, "total": p.total, "errors": p.errors, "error_count": p.error_count})

    async def _reach_all(self, op: OperationInput, count: CountInput) -> Counted:
        counted: Counted = await self._activity(COUNT_TARGETS_ACTIVITY, count, Counted,
                                                start_to_close_timeout=COUNT_TIMEOUT,
                                                heartbeat_timeout=HEARTBEAT_TIMEOUT)
        progress = self._progress
        progress.total += counted.total
        self._publish()
        page = ReachInput(op.kind, op.campaign_id, after_position=count.after_position, limit=PAGE_SIZE)
        while True:
            reached: Reached = await self._activity(REACH_TARGETS_ACTIVITY, page, Reached,
                                                    start_to_close_timeout=PAGE_TIMEOUT,
                                                    heartbeat_timeout=HEARTBEAT_TIMEOUT)
            progress.done += reached.reached
            progress.total = max(progress.total, progress.done)  # targets assigned since the count
            progress.error_count += len(reached.errors)
            room = MAX_LISTED_ERRORS - len(progress.errors)
            progress.errors.extend(reached.errors[:max(room, 0)])
            self._publish()
            if not reached.more:
                return counted
            page = ReachInput(op.kind, op.campaign_id, after_id=reached.last_id,
                              after_position=count.after_position, limit=PAGE_SIZE)

    async def _activity(self, name: str, arg: object, result_type: type, **timeouts: timedelta) -> object:
        try:
            return await workflow.execute_activity(name, arg, result_type=result_type, retry_policy=RETRY, **timeouts)
        except ActivityError as error:
            raise failure_of_activity(error, f"the operation's step {name} failed") from None
