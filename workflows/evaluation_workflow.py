"""EvaluationWorkflow: the deadlines of one evaluation round (sơ kết, tổng kết).

Its id comes from the evaluation id (`evaluation_workflow_id`), so a round is run once.
1. Create the round: freeze each unit's system score as of the period's end (the
   scoreboard's as-of computation, once the read models have caught up with everything
   stored when the round was asked for) and record it with the round's creation event.
   The API waits for this step through the `created` update (update-with-start).
2. For each stage (self-assessment, then the cluster's review): remind the unit and
   cluster heads `remind_before` ahead of the due time, and close the stage at its due
   time. The Standing Committee may extend a stage that has not closed (`extend`
   update): the timers are armed again for the new due time.
The round's other commands (self-assessment, review, proposal, approval, revocation)
are plain aggregate commands of the API: they need no timer. Workflow code stays
deterministic: every read and write is in the activities; refusals cross as
non-retryable ApplicationErrors (thidua.workflows.errors).
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from thidua.workflows.errors import failure_of_activity
    from thidua.workflows.evaluation_messages import (
        CLOSE_STAGE_ACTIVITY,
        CREATE_ROUND_ACTIVITY,
        EXTEND_ACTIVITY,
        REMIND_ACTIVITY,
        SELF_ASSESSMENT,
        STAGES,
        CreateInput,
        ExtendInput,
        RoundInput,
        RoundOutcome,
        RoundState,
        StageInput,
    )

# Database trouble is retried until it heals; a domain refusal is not retried.
RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=500), backoff_coefficient=2.0,
                    maximum_interval=timedelta(seconds=10), maximum_attempts=0)
STEP_TIMEOUT = timedelta(seconds=30)
# Freezing waits for the read models to catch up (heartbeating meanwhile).
CREATE_TIMEOUT = timedelta(minutes=10)
HEARTBEAT_TIMEOUT = timedelta(seconds=10)


def _due_times(state: dict) -> dict[str, datetime]:
    return {SELF_ASSESSMENT: datetime.fromisoformat(state["self_assessment_due"]),
            "review": datetime.fromisoformat(state["review_due"])}


@workflow.defn(name="EvaluationWorkflow")
class EvaluationWorkflow:
    @workflow.init
    def __init__(self, inp: RoundInput) -> None:
        self._lock = asyncio.Lock()  # one activity at a time: a timer's step never races an extension
        self._created: RoundState | None = None
        self._failure: ApplicationError | None = None
        self._due = {SELF_ASSESSMENT: inp.self_assessment_due, "review": inp.review_due}
        self._rearm = False
        self._closed: list[str] = []

    @workflow.run
    async def run(self, inp: RoundInput) -> RoundOutcome:
        try:
            async with self._lock:
                self._created = await self._activity(
                    CREATE_ROUND_ACTIVITY, CreateInput(round=inp, at=workflow.now()), RoundState,
                    start_to_close_timeout=CREATE_TIMEOUT, heartbeat_timeout=HEARTBEAT_TIMEOUT)
        except ApplicationError as refused:
            # The `created` update answers with the refusal before the run fails with it.
            self._failure = refused
            await workflow.wait_condition(workflow.all_handlers_finished)
            raise
        self._due = _due_times(self._created.state)
        remind_before = timedelta(seconds=inp.remind_before_seconds)
        for stage in STAGES:
            await self._run_stage(inp.evaluation_id, stage, remind_before)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return RoundOutcome(evaluation_id=inp.evaluation_id, closed_stages=list(self._closed))

    async def _run_stage(self, evaluation_id: str, stage: str, remind_before: timedelta) -> None:
        reminded_for: datetime | None = None
        while True:
            due = self._due[stage]
            if reminded_for != due and workflow.now() < due - remind_before:
                await self._sleep_until(due - remind_before, f"remind before the {stage} is due")
                continue
            if reminded_for != due:
                await self._step(REMIND_ACTIVITY, evaluation_id, stage, f"due_soon:{stage}:{due.isoformat()}")
                reminded_for = due
                continue
            if workflow.now() < due:
                await self._sleep_until(due, f"close the {stage}")
                continue
            await self._step(CLOSE_STAGE_ACTIVITY, evaluation_id, stage, f"close:{stage}")
            self._closed.append(stage)
            return

    async def _sleep_until(self, when: datetime, summary: str) -> None:
        """Until `when`, or until an extension moves the due times (then look again)."""
        self._rearm = False
        try:
            await workflow.wait_condition(lambda: self._rearm, timeout=when - workflow.now(), timeout_summary=summary)
        except asyncio.TimeoutError:
            pass

    async def _step(self, name: str, evaluation_id: str, stage: str, key: str) -> None:
        command_id = f"{workflow.info().workflow_id}:{key}"
        async with self._lock:
            await self._activity(name, StageInput(evaluation_id, stage, workflow.now(), command_id), RoundState,
                                 start_to_close_timeout=STEP_TIMEOUT)

    # ------------------------------------------------------------------ updates
    @workflow.update
    async def created(self) -> RoundState:
        """The round once created (the answer to the API's update-with-start)."""
        await workflow.wait_condition(lambda: self._created is not None or self._failure is not None)
        if self._failure is not None:
            raise self._failure
        assert self._created is not None
        return self._created

    @workflow.update
    async def extend(self, inp: ExtendInput) -> RoundState:
        await workflow.wait_condition(lambda: self._created is not None)
        async with self._lock:
            inp.at = workflow.now()
            extended: RoundState = await self._activity(EXTEND_ACTIVITY, inp, RoundState,
                                                        start_to_close_timeout=STEP_TIMEOUT)
        self._due = _due_times(extended.state)
        self._rearm = True
        return extended

    @extend.validator
    def _check_extend(self, inp: ExtendInput) -> None:
        if inp.stage not in STAGES:
            raise ApplicationError("stage is 'self_assessment' or 'review'", {"field": "stage"}, type="bad_input",
                                   non_retryable=True)
        if inp.stage in self._closed:
            raise ApplicationError(f"{inp.stage} closed at {self._due[inp.stage].isoformat()}",
                                   {"command": "extend", "state": f"{inp.stage}_closed"}, type="invalid_transition",
                                   non_retryable=True)

    @workflow.query
    def due_times(self) -> dict[str, str]:
        return {stage: due.isoformat() for stage, due in self._due.items()}

    async def _activity(self, name: str, arg: object, result_type: type, **timeouts: timedelta) -> RoundState:
        try:
            return await workflow.execute_activity(name, arg, result_type=result_type, retry_policy=RETRY,
                                                   summary=name.rpartition(".")[2], **timeouts)
        except ActivityError as error:
            raise failure_of_activity(error, f"the round's step {name} failed") from None
