"""A workflow that would break running TargetWorkflows: it sleeps where the real one acts.

In a module of its own with nothing but Temporal and the messages to import, because the
sandbox re-imports a workflow's module to validate it (the test module imports the worker
and with it libraries the sandbox restricts)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from thidua.workflows.messages import WorkflowStart


@workflow.defn(name="TargetWorkflow")
class ChangedTargetWorkflow:
    @workflow.run
    async def run(self, start: WorkflowStart) -> str:
        await asyncio.sleep(timedelta(hours=1).total_seconds())
        return start.target_id
