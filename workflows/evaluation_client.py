"""Starting an evaluation round's workflow and extending its stages (for the API).

`create` starts EvaluationWorkflow (its id from the evaluation id) with the `created`
update, which answers once the round is frozen and recorded; `extend` sends the
Standing Committee's extension to the running workflow, which re-arms its timers. The
answers, and the refusals, come back in the domain's terms (thidua.workflows.errors).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from thidua.domain.errors import InvalidTransition
from thidua.workflows.client import _quiet_start_outcome, _raise_failure, _reachable, _unavailable
from thidua.workflows.errors import ServiceUnavailable
from thidua.workflows.evaluation_messages import ExtendInput, RoundInput, RoundState, evaluation_workflow_id
from thidua.workflows.evaluation_workflow import EvaluationWorkflow

# Freezing a large campaign reads every target's history once; the API waits this long.
DEFAULT_ANSWER_SECONDS = 60.0


class EvaluationRounds:
    def __init__(self, client: Client, task_queue: str, answer_seconds: float = DEFAULT_ANSWER_SECONDS) -> None:
        self.client = client
        self.task_queue = task_queue
        self.answer_seconds = answer_seconds

    async def create(self, inp: RoundInput) -> RoundState:
        start = WithStartWorkflowOperation(
            EvaluationWorkflow.run, inp, id=evaluation_workflow_id(inp.evaluation_id), task_queue=self.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            # A round refused at its creation (the workflow failed) may be asked for again.
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
            static_summary=f"evaluation round {inp.evaluation_id}",
        )
        _quiet_start_outcome(start)
        with self._answer():
            async with asyncio.timeout(self.answer_seconds):
                return await self.client.execute_update_with_start_workflow(
                    EvaluationWorkflow.created, start_workflow_operation=start, id=f"create-{inp.command_id}",
                    result_type=RoundState)

    async def extend(self, inp: ExtendInput) -> RoundState:
        handle = self.client.get_workflow_handle(evaluation_workflow_id(inp.evaluation_id))
        with self._answer():
            try:
                return await handle.execute_update(EvaluationWorkflow.extend, inp, id=inp.command_id,
                                                   result_type=RoundState)
            except RPCError as exc:
                if exc.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
                    raise InvalidTransition("extend", "closed", "the round's stages have all closed") from exc
                raise

    @contextlib.contextmanager
    def _answer(self) -> Iterator[None]:
        try:
            with _reachable():
                yield
        except WorkflowUpdateFailedError as exc:
            _raise_failure(exc, "the evaluation round")
        except (TimeoutError, asyncio.TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError) as exc:
            raise ServiceUnavailable("the round's workflow did not answer in time (is a worker running?); "
                                     "retry with the same command id") from exc
        except RPCError as exc:
            raise _unavailable(exc) from exc
