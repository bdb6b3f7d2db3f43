"""The cascade's commands on a parent's workflow (real PostgreSQL, real Temporal): sent
twice with the same id (the dispatcher after a crash, or while the read model lags) they
store one event; nobody but `system` may send them; a parent completed by its children
takes a child's reopening."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError

from tests.integration.conftest import SECRETARIAT, new_id, unit_head
from thidua.domain.errors import BadInput, NotAllowed
from thidua.workflows.cascade import completion_of, reopening_of
from thidua.workflows.client import assign_request, workflow_id_for
from thidua.workflows.messages import CommandRequest
from thidua.workflows.target_workflow import TargetWorkflow

TODAY = date.today()


async def test_the_cascade_is_idempotent_by_the_child_events_it_names(gateway, seed):
    campaign, city, ward = seed.campaign(), seed.unit(), seed.unit()
    parent = (await gateway.assign(assign_request(
        SECRETARIAT, new_id("assign"), campaign, unit_id=city, title="GPMB các dự án", area="GPMB",
        deadline=TODAY + timedelta(days=30), points=20))).target["id"]
    child = (await gateway.assign(assign_request(
        SECRETARIAT, new_id("assign"), campaign, unit_id=ward, title="GPMB phường", area="GPMB",
        deadline=TODAY + timedelta(days=30), points=10, parent_id=parent))).target["id"]
    done = await gateway.command(child, "complete", unit_head(ward), new_id("complete"))
    rows = [{"target_id": child, "closed_position": done.position, "report_class": "completed_on_time"}]
    command_id, args = completion_of(parent, rows)
    answers = [await gateway.cascade(parent, "complete_by_children", command_id, args) for _ in range(2)]
    assert seed.event_types(parent).count("CompletedByChildren") == 1
    assert answers[0].position == answers[1].position
    assert answers[1].target["status"] == "completed"

    with pytest.raises(BadInput):  # a person's command route never carries them
        await gateway.command(parent, "reopen_by_child", SECRETARIAT, new_id("x"), {"child_id": child, "position": 1})
    # ...and the workflow takes them from `system` only (the declaration's `who`).
    handle = gateway.client.get_workflow_handle(workflow_id_for(parent))
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(TargetWorkflow.command, CommandRequest(
            command="reopen_by_child", actor=SECRETARIAT.to_dict(), command_id=new_id("x"),
            args={"child_id": child, "position": 1}))
    assert refused.value.cause.type == NotAllowed.kind

    reopened = await gateway.command(child, "reopen", SECRETARIAT, new_id("reopen"), {"reason": "thiếu hồ sơ"})
    command_id, args = reopening_of(parent, child, reopened.position)
    again = await gateway.cascade(parent, "reopen_by_child", command_id, args)
    assert again.target["status"] == "in_progress"
    assert seed.event_types(parent)[-1] == "ReopenedByChild"


async def test_a_child_cannot_hang_under_a_closed_parent_or_another_campaigns(gateway, seed):
    campaign, other, unit = seed.campaign(), seed.campaign(), seed.unit()
    parent = (await gateway.assign(assign_request(
        SECRETARIAT, new_id("assign"), campaign, unit_id=unit, title="Cha", area="GPMB",
        deadline=TODAY + timedelta(days=30), points=1))).target["id"]
    for cid in (other,):
        with pytest.raises(BadInput, match="another campaign"):
            await gateway.assign(assign_request(SECRETARIAT, new_id("assign"), cid, unit_id=unit, title="Con",
                                                area="GPMB", deadline=TODAY + timedelta(days=30), points=1,
                                                parent_id=parent))
    await gateway.command(parent, "cancel", SECRETARIAT, new_id("cancel"), {"reason": "bỏ"})
    with pytest.raises(BadInput, match="cancelled"):
        await gateway.assign(assign_request(SECRETARIAT, new_id("assign"), campaign, unit_id=unit, title="Con",
                                            area="GPMB", deadline=TODAY + timedelta(days=30), points=1,
                                            parent_id=parent))
