"""Determinism: the current WebhookDeliveryWorkflow replays the histories recorded
earlier (`python -m tests.integration.workflow_histories.record_webhooks`): delivered at
once, delivered after retries, and given up after a 410 (no longer started, kept for the
workflows in flight); and WebhookBatchWorkflow its own
(`python -m tests.integration.workflow_histories.record_webhook_batches`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from thidua.workflows.converter import data_converter
from thidua.workflows.webhook_batch import DELIVER_BATCH, GIVE_UP_BATCH, WebhookBatchWorkflow
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


# --- WebhookBatchWorkflow (one workflow per batch of outbox rows; the one dispatched now)
BATCHES = Path(__file__).parent / "workflow_histories" / "webhook_batch"
BATCH_PATHS = {"delivered", "retried_then_delivered", "given_up", "local_first_delivered",
               "local_first_retried_then_delivered", "local_first_failed_over", "local_first_given_up"}


def test_the_stored_batch_paths_are_all_there():
    assert BATCH_PATHS <= {p.stem for p in BATCHES.glob("*.json")}


@pytest.mark.parametrize("sandboxed", [True, False], ids=["sandboxed", "unsandboxed"])
@pytest.mark.parametrize("path", sorted(BATCHES.glob("*.json")), ids=lambda p: p.stem)
async def test_the_batch_workflow_replays_a_stored_history(path: Path, sandboxed: bool):
    replayer = Replayer(workflows=[WebhookBatchWorkflow], data_converter=data_converter,
                        workflow_runner=workflow_runner(sandboxed=sandboxed))
    result = await replayer.replay_workflow(WorkflowHistory.from_json(f"batch-{path.stem}", path.read_text()))
    assert result.replay_failure is None


def _activities(path: str) -> list[str]:
    events = json.loads((BATCHES / f"{path}.json").read_text())["events"]
    return [e["activityTaskScheduledEventAttributes"]["activityType"]["name"]
            for e in events if e["eventType"] == "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED"]


def _markers(path: str) -> list[str]:
    events = json.loads((BATCHES / f"{path}.json").read_text())["events"]
    return [e["markerRecordedEventAttributes"]["markerName"]
            for e in events if e["eventType"] == "EVENT_TYPE_MARKER_RECORDED"]


def test_the_first_try_is_local_and_the_retries_are_activities():
    # the first try is a local activity in the workflow's first task (a marker, no activity
    # task to match); the rows it leaves wait on timers and are tried by ordinary activities
    assert _markers("local_first_delivered") == ["core_patch", "core_local_activity"]
    assert _activities("local_first_delivered") == []
    assert _activities("local_first_retried_then_delivered") == [DELIVER_BATCH] * 2
    assert _activities("local_first_given_up")[-1] == GIVE_UP_BATCH


def test_a_local_first_try_that_fails_is_run_again_as_an_activity():
    assert _markers("local_first_failed_over") == ["core_patch", "core_local_activity"]
    assert _activities("local_first_failed_over") == [DELIVER_BATCH]


def test_the_histories_from_before_the_local_first_try_have_no_local_activity():
    for path in ("delivered", "retried_then_delivered", "given_up"):
        assert "core_local_activity" not in _markers(path)
        assert _activities(path)[0] == DELIVER_BATCH


def test_a_batch_retries_only_its_failed_rows_until_they_are_delivered():
    # rows failing 0, 2 and 1 times, and one 410: three tries, the last with one row, no give-up
    assert _activities("retried_then_delivered") == [DELIVER_BATCH] * 3
    events = json.loads((BATCHES / "retried_then_delivered.json").read_text())["events"]
    timers = [e for e in events if e["eventType"] == "EVENT_TYPE_TIMER_STARTED"]
    assert len(timers) == 2


def test_a_batch_whose_window_ends_gives_its_remaining_rows_up():
    assert _activities("given_up")[-1] == GIVE_UP_BATCH
    assert set(_activities("given_up")[:-1]) == {DELIVER_BATCH}
