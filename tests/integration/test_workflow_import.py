"""Importing many targets: each chunk saved in one transaction by the worker, then every
target's workflow started from what the batch answered (real PostgreSQL, real Temporal)."""

from __future__ import annotations

import secrets
from datetime import date, timedelta

import pytest
from temporalio.client import WorkflowExecutionStatus

from thidua.domain.errors import BadInput, CommandIdReused, InvalidTransition, NotAllowed
from thidua.domain.target import target_id_for
from tests.integration.conftest import SECRETARIAT, armed, armed_commands, new_id, unit_head
from thidua.workflows.assign_batch_workflow import AssignBatchWorkflow
from thidua.workflows.client import TargetGateway, assign_request, workflow_id_for
from thidua.workflows.messages import AssignBatchInput, BatchAssigned, imports_queue
from thidua.workflows.worker import build_worker

TODAY = date.today()


def _requests(campaign: str, unit: str, keys: list[str], *, title: str = "Thu ngân sách", actor=SECRETARIAT):  # type: ignore[no-untyped-def]
    return [
        assign_request(actor, new_id("imp"), campaign, unit_id=unit, title=f"{title} {key}", area="econ",
                       deadline=TODAY + timedelta(days=30), points=5, key=key)
        for key in keys
    ]


async def _status(gateway, target_id: str) -> WorkflowExecutionStatus | None:  # type: ignore[no-untyped-def]
    return (await gateway.client.get_workflow_handle(workflow_id_for(target_id)).describe()).status


async def test_an_import_assigns_every_row_and_each_target_runs_with_its_timers(gateway, seed):
    campaign, unit = seed.campaign(), seed.unit()
    keys = [new_id("qd-937") for _ in range(5)]
    assigned = await gateway.assign_many(campaign, _requests(campaign, unit, keys), chunk_size=2)

    assert [a.key for a in assigned] == keys  # in the order asked
    assert [a.target_id for a in assigned] == [str(target_id_for(campaign, k)) for k in keys]
    assert len({a.position for a in assigned}) == 5
    for a in assigned:
        assert seed.event_types(a.target_id) == ["Assigned"]
        assert seed.events(a.target_id)[0].position == a.position
        assert await _status(gateway, a.target_id) == WorkflowExecutionStatus.RUNNING
        assert "mark_overdue" in armed_commands(await armed(gateway.client, a.target_id))

    # The workflow started from the batch's facts takes commands like any other.
    tid = assigned[0].target_id
    await gateway.command(tid, "start", unit_head(unit), new_id("start"))
    blocked = await gateway.command(tid, "block", unit_head(unit), new_id("block"), {"reason": "chờ vốn"})
    assert blocked.target["status"] == "blocked"
    assert "auto_escalate" in armed_commands(await armed(gateway.client, tid))


async def test_a_retried_import_stores_nothing_new_and_restarts_a_workflow_that_is_not_running(gateway, seed):
    campaign, unit = seed.campaign(), seed.unit()
    requests = _requests(campaign, unit, [new_id("k") for _ in range(3)])
    first = await gateway.assign_many(campaign, requests)
    lost = first[1].target_id
    await gateway.client.get_workflow_handle(workflow_id_for(lost)).terminate("lost in an outage")
    assert await _status(gateway, lost) == WorkflowExecutionStatus.TERMINATED

    again = await gateway.assign_many(campaign, requests)

    assert [(a.target_id, a.position) for a in again] == [(a.target_id, a.position) for a in first]
    assert all(seed.event_types(a.target_id) == ["Assigned"] for a in again)
    assert await _status(gateway, lost) == WorkflowExecutionStatus.RUNNING
    await gateway.command(lost, "start", unit_head(unit), new_id("start"))
    assert seed.event_types(lost) == ["Assigned", "Started"]


async def test_one_refused_row_refuses_its_whole_chunk(gateway, seed):
    campaign, unit = seed.campaign(), seed.unit()
    taken = new_id("taken")
    await gateway.assign(assign_request(SECRETARIAT, new_id("assign"), campaign, unit_id=unit, title="Khác hẳn", area="econ",
                         deadline=TODAY + timedelta(days=30), points=1, key=taken))
    fresh = [new_id("fresh") for _ in range(3)]
    with pytest.raises(CommandIdReused):
        await gateway.assign_many(campaign, _requests(campaign, unit, [fresh[0], taken, *fresh[1:]]))
    for key in fresh:
        assert seed.event_types(str(target_id_for(campaign, key))) == []


async def test_a_batch_refuses_a_repeated_key_a_closed_campaign_and_a_unit_head(gateway, seed):
    campaign, unit = seed.campaign(), seed.unit()
    key = new_id("twice")
    with pytest.raises(BadInput):
        await gateway.assign_many(campaign, _requests(campaign, unit, [key, key]))
    with pytest.raises(NotAllowed):
        await gateway.assign_many(campaign, _requests(campaign, unit, [new_id("k")], actor=unit_head(unit)))
    seed.close_campaign(campaign)
    late = new_id("late")
    with pytest.raises(InvalidTransition):
        await gateway.assign_many(campaign, _requests(campaign, unit, [late]))
    assert seed.event_types(str(target_id_for(campaign, key))) == []
    assert seed.event_types(str(target_id_for(campaign, late))) == []


async def test_an_import_is_saved_while_the_targets_queue_has_nobody_to_serve_it(temporal_client, workflow_app, seed):
    """The batches run on the imports' own task queue: however long the targets' queue
    (the first tasks of the workflows the import itself starts), it never holds them up.
    Here nobody serves the targets' queue at all until the import has answered."""
    queue = f"wf-imports-{secrets.token_hex(3)}"
    worker = build_worker(temporal_client, workflow_app, queue, graceful_shutdown_timeout=timedelta(seconds=3))
    gateway = TargetGateway(temporal_client, queue, answer_timeout=timedelta(seconds=30))
    campaign, unit = seed.campaign(), seed.unit()
    keys = [new_id("qd") for _ in range(5)]

    async with worker.imports:
        assigned = await gateway.assign_many(campaign, _requests(campaign, unit, keys), chunk_size=2)

    assert [a.key for a in assigned] == keys
    assert all(seed.event_types(a.target_id) == ["Assigned"] for a in assigned)
    assert all([await _status(gateway, a.target_id) == WorkflowExecutionStatus.RUNNING for a in assigned])
    batches = [w async for w in temporal_client.list_workflows(f'TaskQueue="{imports_queue(queue)}"')]
    assert len(batches) == 3 and {w.workflow_type for w in batches} == {"AssignBatchWorkflow"}
    # The targets' workflows wait for their worker; once it serves them, they take commands.
    async with worker.targets:
        started = await gateway.command(assigned[0].target_id, "start", unit_head(unit), new_id("start"))
    assert started.target["status"] == "in_progress"


async def test_a_batch_started_on_the_targets_queue_by_an_older_api_still_runs(gateway, seed):
    """Before the imports' queue, the API started its batches on the targets' queue; the
    worker still serves them there (an API and a worker upgraded one after the other)."""
    campaign, unit = seed.campaign(), seed.unit()
    keys = [new_id("old-api") for _ in range(2)]
    assigned = await gateway.client.execute_workflow(
        AssignBatchWorkflow.run, AssignBatchInput(campaign_id=campaign, requests=_requests(campaign, unit, keys)),
        id=new_id("assign-batch-old"), task_queue=gateway.task_queue, result_type=list[BatchAssigned],
        execution_timeout=timedelta(seconds=30),
    )
    assert [a.key for a in assigned] == keys
    assert all(seed.event_types(a.target_id) == ["Assigned"] for a in assigned)
