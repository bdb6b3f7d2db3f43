"""Determinism: the current WebhookDeliveryWorkflow replays the histories recorded
earlier (`python -m tests.integration.workflow_histories.record_webhooks`): delivered at
once, delivered after retries, and given up after a 410."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from thidua.workflows.webhook_workflow import WebhookDeliveryWorkflow
from thidua.workflows.worker import workflow_runner

HISTORIES = Path(__file__).parent / "workflow_histories" / "webhook_delivery"
REQUIRED = {"delivered", "retried_then_delivered", "gone"}


def test_the_stored_paths_are_all_there():
    assert REQUIRED <= {p.stem for p in HISTORIES.glob("*.json")}


@pytest.mark.parametrize("path", sorted(HISTORIES.glob("*.json")), ids=lambda p: p.stem)
async def test_the_workflow_replays_a_stored_history(path: Path):
    replayer = Replayer(workflows=[WebhookDeliveryWorkflow], data_converter=pydantic_data_converter,
                        workflow_runner=workflow_runner(sandboxed=True))
    result = await replayer.replay_workflow(WorkflowHistory.from_json(f"webhook-{path.stem}", path.read_text()))
    assert result.replay_failure is None


def test_a_receiver_that_is_gone_ends_in_giving_up():
    events = json.loads((HISTORIES / "gone.json").read_text())["events"]
    scheduled = [e["activityTaskScheduledEventAttributes"]["activityType"]["name"]
                 for e in events if e["eventType"] == "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED"]
    assert scheduled == ["deliver_webhook", "give_up_webhook"]
