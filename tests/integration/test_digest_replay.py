"""Determinism: the current DailyDigestWorkflow replays the histories recorded earlier
(`python -m tests.integration.workflow_histories.record_digests`): started by its schedule
(the digest as of the workflow's clock) and with an instant given."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from thidua.workflows.digest_workflow import DailyDigestWorkflow
from thidua.workflows.worker import workflow_runner

HISTORIES = Path(__file__).parent / "workflow_histories" / "daily_digest"
REQUIRED = {"scheduled", "as_of_given"}


def test_the_stored_paths_are_all_there():
    assert REQUIRED <= {p.stem for p in HISTORIES.glob("*.json")}


@pytest.mark.parametrize("path", sorted(HISTORIES.glob("*.json")), ids=lambda p: p.stem)
async def test_the_workflow_replays_a_stored_history(path: Path):
    replayer = Replayer(workflows=[DailyDigestWorkflow], data_converter=pydantic_data_converter,
                        workflow_runner=workflow_runner(sandboxed=True))
    result = await replayer.replay_workflow(WorkflowHistory.from_json(f"digest-{path.stem}", path.read_text()))
    assert result.replay_failure is None
