"""Determinism: the current TargetWorkflow code replays histories recorded earlier.

A change to the workflow that would break the workflows already running (a timer or
an activity added, removed or reordered without `workflow.patched`) fails here.
The histories are recorded by `python -m tests.integration.workflow_histories.record`.
No server needed: the Replayer runs the workflow code against each stored history.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from thidua.workflows.target_workflow import TargetWorkflow
from tests.integration.changed_workflow import ChangedTargetWorkflow
from thidua.workflows.worker import workflow_runner

HISTORIES = Path(__file__).parent / "workflow_histories"
PATHS = {
    "happy_path", "auto_escalation", "cancel", "continue_as_new_first_run", "continue_as_new_next_run",
    "rebuilt_from_the_aggregate",
}
# Recorded before commands ran as local activities (ordinary activities), and after.
LOCAL = "_local_activities"
# Paths recorded once, after a patched change: the floor on repeating reminders
# (record_reminder_floor.py: patch reminder-floor) and the acceptance timer
# (record_acceptance.py: patch acceptance-sla-timer).
PATCHED_PATHS = {"reminder_floor", "acceptance"}
# Runs whose input settles those patches (`Carried.patch_level`: an imported target and the
# run it continued as new; record_imported.py).
SETTLED_PATHS = {"imported_first_run", "imported_next_run"}
REQUIRED = PATHS | {path + LOCAL for path in PATHS} | PATCHED_PATHS | SETTLED_PATHS


def _history(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(f"target-replay-{path.stem}", path.read_text())


def _replayer(*workflows: type) -> Replayer:
    return Replayer(
        workflows=list(workflows),
        data_converter=pydantic_data_converter,
        workflow_runner=workflow_runner(sandboxed=True),
    )


def test_the_stored_paths_are_all_there():
    assert REQUIRED <= {p.stem for p in HISTORIES.glob("*.json")}


@pytest.mark.parametrize("path", sorted(HISTORIES.glob("*.json")), ids=lambda p: p.stem)
async def test_the_workflow_replays_a_stored_history(path: Path):
    result = await _replayer(TargetWorkflow).replay_workflow(_history(path))
    assert result.replay_failure is None


def _event_types(path: Path) -> list[str]:
    return [event["eventType"] for event in json.loads(path.read_text())["events"]]


@pytest.mark.parametrize("path", sorted(PATHS), ids=str)
def test_each_path_is_stored_from_before_and_after_local_activities(path: str):
    before, after = _event_types(HISTORIES / f"{path}.json"), _event_types(HISTORIES / f"{path}{LOCAL}.json")
    assert "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED" in before and "EVENT_TYPE_MARKER_RECORDED" not in before
    assert "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED" not in after and "EVENT_TYPE_MARKER_RECORDED" in after


async def test_a_nondeterministic_change_is_caught():
    with pytest.raises(Exception, match="[Nn]ondeterminism|TMPRL1100"):
        await _replayer(ChangedTargetWorkflow).replay_workflow(_history(HISTORIES / "happy_path.json"))


# Recorded after the workflow published its search attributes (workflow.patched("search-attributes")).
SEARCH_ATTRIBUTES = "_search_attributes"


def _upserted(path: Path) -> set[str]:
    """The search attributes a history's workflow upserted (patches upsert TemporalChangeVersion)."""
    return {name for event in json.loads(path.read_text())["events"]
            for name in event.get("upsertWorkflowSearchAttributesEventAttributes", {})
            .get("searchAttributes", {}).get("indexedFields", {})}


@pytest.mark.parametrize("path", sorted(PATHS), ids=str)
def test_each_path_is_stored_from_before_and_after_search_attributes(path: str):
    before = _upserted(HISTORIES / f"{path}{LOCAL}.json")
    after = _upserted(HISTORIES / f"{path}{SEARCH_ATTRIBUTES}.json")
    assert not any(name.startswith("thidua") for name in before)
    # a run continued as new keeps the attributes of the run before: it upserts what changes only
    expected = {"thiduaStatus"} if path == "continue_as_new_next_run" else {
        "thiduaCampaign", "thiduaUnit", "thiduaStatus", "thiduaOverdue", "thiduaDeadline"}
    assert expected <= after


def _markers(path: Path) -> list[str]:
    return [event["markerRecordedEventAttributes"]["markerName"] for event in json.loads(path.read_text())["events"]
            if event["eventType"] == "EVENT_TYPE_MARKER_RECORDED"]


@pytest.mark.parametrize("path", sorted(SETTLED_PATHS), ids=str)
def test_a_run_whose_input_settles_the_patches_asks_for_none(path: str):
    """The patched behaviour (local activities, search attributes, timers) without a patch
    marker or a TemporalChangeVersion upsert."""
    stored = HISTORIES / f"{path}.json"
    events = _event_types(stored)
    assert "core_patch" not in _markers(stored) and "core_local_activity" in _markers(stored)
    assert "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED" not in events and "EVENT_TYPE_TIMER_FIRED" in events
    assert "TemporalChangeVersion" not in _upserted(stored) and "thiduaStatus" in _upserted(stored)


def test_worker_code_stamps_the_highest_settled_level():
    """A run made by this code takes every settled patch as given; one settled later gets a
    level of its own (see target_workflow.SETTLED_AT)."""
    from thidua.workflows.messages import PATCH_LEVEL
    from thidua.workflows.target_workflow import SETTLED_AT

    assert PATCH_LEVEL == max(SETTLED_AT.values())
