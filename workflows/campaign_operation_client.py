"""Starting campaign operations and reading their progress (for the API).

`start` starts the operation's workflow or finds the one already started for the same
command (running or finished: a finished one is never run again); `wait` waits a
bounded time for its answer; `status` describes it for `GET /v1/operations/{id}`, from
Temporal alone (the workflow keeps its progress in its memo), so it answers even while
no worker runs the operation.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from thidua.workflows.campaign_operation import CampaignOperationWorkflow
from thidua.workflows.campaign_operation_messages import (
    CampaignChanged,
    OperationInput,
    OperationProgress,
    operation_id_for,
)
from thidua.workflows.client import _raise_failure, _reachable, _unavailable

RUNNING, SUCCEEDED, FAILED = "running", "succeeded", "failed"


@dataclass
class OperationStatus:
    id: str
    kind: str
    campaign_id: str
    state: str  # running | succeeded | failed
    done: int
    total: int
    errors: list[str]
    started_at: datetime
    finished_at: datetime | None = None
    result: CampaignChanged | None = None
    error_count: int = 0
    failure: dict[str, Any] | None = field(default=None)  # why it failed (the refusal's details)


class CampaignOperations:
    """Campaign operations on the targets' task queue (the worker runs them there)."""

    def __init__(self, client: Client, task_queue: str) -> None:
        self.client = client
        self.task_queue = task_queue

    async def start(self, op: OperationInput) -> str:
        """The operation's id, its workflow started unless this command already has one."""
        operation_id = operation_id_for(op.command_id, op.kind, op.campaign_id, op.args)
        with _reachable():
            try:
                await self.client.start_workflow(
                    CampaignOperationWorkflow.run, op, id=operation_id, task_queue=self.task_queue,
                    id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    memo={"kind": op.kind, "campaign_id": op.campaign_id},
                )
            except WorkflowAlreadyStartedError:
                pass  # it ran (and finished) before: its outcome is the answer
            except RPCError as exc:
                raise _unavailable(exc) from exc
        return operation_id

    async def wait(self, operation_id: str, seconds: float) -> CampaignChanged | None:
        """The campaign change once the operation has finished; None when it is still
        running after `seconds`. A refused command raises the domain's refusal."""
        handle = self.client.get_workflow_handle(operation_id, result_type=OperationProgress)
        with _reachable():
            try:
                async with asyncio.timeout(seconds):
                    outcome = await handle.result()
            except TimeoutError:
                return None
            except WorkflowFailureError as exc:
                _raise_failure(exc, "the campaign operation")
            except RPCError as exc:
                raise _unavailable(exc) from exc
        return outcome.result

    async def status(self, operation_id: str) -> OperationStatus | None:
        """Where the operation stands (None: no such operation)."""
        handle = self.client.get_workflow_handle(operation_id, result_type=OperationProgress)
        with _reachable():
            try:
                described = await handle.describe()
                memo = await described.memo()
            except RPCError as exc:
                if exc.status == RPCStatusCode.NOT_FOUND:
                    return None
                raise _unavailable(exc) from exc
            if described.workflow_type != "CampaignOperationWorkflow":
                return None  # a target's workflow, not an operation
            status = OperationStatus(
                id=operation_id, kind=str(memo.get("kind", "")), campaign_id=str(memo.get("campaign_id", "")),
                state=RUNNING, done=int(memo.get("done", 0)), total=int(memo.get("total", 0)),
                errors=list(memo.get("errors", [])), error_count=int(memo.get("error_count", 0)),
                started_at=described.start_time, finished_at=described.close_time,
            )
            if described.status == WorkflowExecutionStatus.RUNNING:
                return status
            try:
                outcome = await handle.result()
            except WorkflowFailureError as exc:
                status.state = FAILED
                status.failure = _failure_details(exc)
                status.errors = [*status.errors, str(status.failure.get("message"))]
                return status
            except RPCError as exc:
                raise _unavailable(exc) from exc
        status.state = SUCCEEDED
        status.done, status.total, status.errors = outcome.done, outcome.total, outcome.errors
        status.error_count, status.result = outcome.error_count, outcome.result
        return status


def _failure_details(exc: WorkflowFailureError) -> dict[str, Any]:
    cause = exc.cause
    if isinstance(cause, ApplicationError):
        details = dict(cause.details[0]) if cause.details and isinstance(cause.details[0], dict) else {}
        return {"kind": cause.type or "error", **details, "message": details.get("message") or cause.message}
    return {"kind": "error", "message": str(cause or exc)}
