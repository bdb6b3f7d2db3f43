"""AssignBatchWorkflow: many assignments saved together (a chunk of an import).

Targets are saved only by activities (DESIGN.md); an import of thousands of targets
through one update and one activity per target would spend most of its time on
Temporal round trips. This short workflow runs ONE activity that assigns a whole chunk
in one transaction and answers, per target, what its TargetWorkflow starts from
(`MODE_CARRY`): the caller then starts those workflows with plain starts, no activity
at start. Replays (a retried import) are answered by the aggregates' command logs.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from thidua.workflows.errors import failure_of_activity
    from thidua.workflows.messages import ASSIGN_BATCH_ACTIVITY, AssignBatchInput, BatchAssigned
    from thidua.workflows.target_workflow import ACTIVITY_RETRY

# A chunk of a few hundred targets is saved in well under a second; leave room for a
# busy database.
BATCH_ACTIVITY_TIMEOUT = timedelta(seconds=60)


@workflow.defn(name="AssignBatchWorkflow")
class AssignBatchWorkflow:
    # Its whole run serves the import that started it: its activity carries that request's
    # id (thidua.workflows.request_ids), and so do the events it stores.
    RUNS_FOR_ITS_REQUEST = True

    @workflow.run
    async def run(self, batch: AssignBatchInput) -> list[BatchAssigned]:
        batch.at = workflow.now()
        try:
            return await workflow.execute_activity(
                ASSIGN_BATCH_ACTIVITY,
                batch,
                result_type=list[BatchAssigned],
                start_to_close_timeout=BATCH_ACTIVITY_TIMEOUT,
                retry_policy=ACTIVITY_RETRY,
            )
        except ActivityError as error:
            raise failure_of_activity(error, "the assignments could not be saved") from None
