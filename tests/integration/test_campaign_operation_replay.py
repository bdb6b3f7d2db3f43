"""Determinism: the current CampaignOperationWorkflow code replays histories recorded earlier.

A change that would break the operations already running (an activity or a memo update
added, removed or reordered without `workflow.patched`) fails here. The histories are
recorded by `python -m tests.integration.workflow_histories.record_operations`. No server
needed: the Replayer runs the workflow code against each stored history.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from thidua.workflows.campaign_operation import CampaignOperationWorkflow
from thidua.workflows.campaign_operation_messages import KINDS
from thidua.workflows.converter import data_converter
from thidua.workflows.worker import workflow_runner

HISTORIES = Path(__file__).parent / "workflow_histories" / "campaign_operation"


def test_a_history_of_every_kind_is_stored():
    assert set(KINDS) <= {p.stem for p in HISTORIES.glob("*.json")}


@pytest.mark.parametrize("path", sorted(HISTORIES.glob("*.json")), ids=lambda p: p.stem)
async def test_the_operation_replays_a_stored_history(path: Path):
    replayer = Replayer(workflows=[CampaignOperationWorkflow], data_converter=data_converter,
                        workflow_runner=workflow_runner(sandboxed=True))
    result = await replayer.replay_workflow(WorkflowHistory.from_json(f"op-replay-{path.stem}", path.read_text()))
    assert result.replay_failure is None


@pytest.mark.parametrize("path", sorted(HISTORIES.glob("*.json")), ids=lambda p: p.stem)
def test_the_stored_history_reached_the_targets_it_should(path: Path):
    """What the recordings are worth: every kind but scoring paged through its targets."""
    events = json.loads(path.read_text())["events"]
    activities = [e["activityTaskScheduledEventAttributes"]["activityType"]["name"]
                  for e in events if e["eventType"] == "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED"]
    assert activities[0] == "thidua.operation.change_campaign"
    reaches = activities.count("thidua.operation.reach_targets")
    assert reaches == (0 if path.stem == "scoring" else 2), activities  # two passes, one page each
    assert events[-1]["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED"
