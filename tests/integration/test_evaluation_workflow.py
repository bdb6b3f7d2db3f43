"""EvaluationWorkflow on virtual time (the time-skipping dev server), real PostgreSQL and
the projector: the round reminds the heads before each due time, closes each stage at
its due time and not before, an extension by the Standing Committee moves the timers,
and a closed stage cannot be extended. The stored histories of the round replay with
the current workflow code (determinism).

Record the stored history again (on purpose only, as record.py says):
    THIDUA_RECORD_EVALUATION_HISTORY=1 .venv/bin/pytest tests/integration/test_evaluation_workflow.py
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from tests.integration.conftest import SECRETARIAT, STANDING_COMMITTEE, Seed, eventually, new_id
from thidua.domain.errors import InvalidTransition
from thidua.domain.evaluation import evaluation_uuid
from thidua.domain.values import Cluster, Command
from thidua.workflows.converter import data_converter
from thidua.workflows.evaluation_client import EvaluationRounds
from thidua.workflows.evaluation_messages import ExtendInput, RoundInput, RoundOutcome, evaluation_workflow_id
from thidua.workflows.evaluation_workflow import EvaluationWorkflow
from thidua.workflows.worker import workflow_runner

HISTORIES = Path(__file__).parent / "workflow_histories" / "evaluation"


def round_events(seed: Seed, evaluation_id: str) -> list[str]:
    return [type(e).__name__ for e in seed.app.repository.event_store.get(evaluation_uuid(evaluation_id))]


def drive_with_a_cluster(seed: Seed) -> tuple[str, list[str]]:
    campaign_id = seed.campaign()
    units = [seed.unit(new_id("ward"), "Phường Đống Đa"), seed.unit(new_id("ward"), "Phường Liên Bảo")]
    campaign = seed.app.get_campaign(campaign_id)
    campaign.set_cluster(Command(new_id("cluster"), SECRETARIAT, datetime.now(timezone.utc)), Cluster(
        cluster_id="cum-1", name="Cụm phường", head_unit_id=units[0], deputy_unit_id=units[1],
        member_unit_ids=tuple(units)))
    seed.app.save_changes(campaign)
    return campaign_id, units


async def test_reminders_closing_and_extension_run_on_time(time_skipping, seed, database_url):
    from thidua.projections.projector import Projector

    ts = time_skipping
    rounds = EvaluationRounds(ts.client, ts.gateway.task_queue)
    campaign_id, units = drive_with_a_cluster(seed)
    now = datetime.now(timezone.utc)
    eid = new_id("so-ket")
    async with Projector(database_url, poll_interval=0.2):
        created = await rounds.create(RoundInput(
            evaluation_id=eid, campaign_id=campaign_id, command_id=new_id("create"), actor=SECRETARIAT.to_dict(),
            name="Sơ kết 6 tháng", period_end=now + timedelta(minutes=1), self_assessment_due=now + timedelta(days=3),
            review_due=now + timedelta(days=6), remind_before_seconds=24 * 3600))
    assert sorted(u["unit_id"] for u in created.state["units"]) == sorted(units)
    assert created.state["state"] == "self_assessment"
    handle = ts.client.get_workflow_handle(evaluation_workflow_id(eid), result_type=RoundOutcome)

    await ts.skipper.fast_forward(handle, timedelta(days=2, hours=1))  # past the reminder, before the due time
    await eventually(lambda: "DueSoon" in round_events(seed, eid), what="the self-assessment reminder")
    assert "StageClosed" not in round_events(seed, eid)

    virtual_now = await ts.skipper.get_current_time(handle)
    extended = await rounds.extend(ExtendInput(
        evaluation_id=eid, command_id=new_id("extend"), actor=STANDING_COMMITTEE.to_dict(), stage="self_assessment",
        due=virtual_now + timedelta(days=2), reason="Đơn vị đề nghị thêm thời gian"))
    assert datetime.fromisoformat(extended.state["self_assessment_due"]) == virtual_now + timedelta(days=2)

    await ts.skipper.fast_forward(handle, timedelta(days=1, hours=12))  # past the old due time, a new reminder
    await eventually(lambda: round_events(seed, eid).count("DueSoon") == 2, what="the reminder of the new due time")
    assert "StageClosed" not in round_events(seed, eid)

    await ts.skipper.fast_forward(handle, timedelta(hours=13))
    await eventually(lambda: "StageClosed" in round_events(seed, eid), what="the self-assessment to close")
    with pytest.raises(InvalidTransition):
        await rounds.extend(ExtendInput(
            evaluation_id=eid, command_id=new_id("extend"), actor=STANDING_COMMITTEE.to_dict(),
            stage="self_assessment", due=virtual_now + timedelta(days=9), reason="quá muộn"))

    await ts.skipper.fast_forward(handle, timedelta(days=5))
    outcome = await handle.result()
    assert outcome.closed_stages == ["self_assessment", "review"]
    events = round_events(seed, eid)
    assert events.count("StageClosed") == 2 and events.count("DueSoon") == 3
    evaluation = seed.app.repository.get(evaluation_uuid(eid))
    assert evaluation.stage == "proposal"
    if os.environ.get("THIDUA_RECORD_EVALUATION_HISTORY"):
        HISTORIES.mkdir(exist_ok=True)
        history = await handle.fetch_history()
        (HISTORIES / "evaluation_round_extended.json").write_text(history.to_json() + "\n")


def test_a_history_is_stored():
    assert (HISTORIES / "evaluation_round_extended.json").exists()


@pytest.mark.parametrize("path", sorted(HISTORIES.glob("evaluation*.json")), ids=lambda p: p.stem)
async def test_the_round_replays_a_stored_history(path: Path):
    replayer = Replayer(workflows=[EvaluationWorkflow], data_converter=data_converter,
                        workflow_runner=workflow_runner(sandboxed=True))
    result = await replayer.replay_workflow(WorkflowHistory.from_json(f"evaluation-replay-{path.stem}",
                                                                      path.read_text()))
    assert result.replay_failure is None
