"""A command is applied at most once per command id, and concurrent commands are all
applied, one after the other (real PostgreSQL, real Temporal)."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

from tests.integration.conftest import SECRETARIAT, armed_commands, armed, new_id, unit_head
from thidua.workflows.client import assign_request, workflow_id_for
from thidua.workflows.target_workflow import TargetWorkflow

TODAY = date.today()


async def _assigned_and_started(gateway, seed):  # type: ignore[no-untyped-def]
    campaign = seed.campaign()
    unit = seed.unit()
    result = await gateway.assign(assign_request(
        SECRETARIAT, new_id("assign"), campaign, unit_id=unit, title="Thu ngân sách", area="econ",
        deadline=TODAY + timedelta(days=30), points=4,
    ))
    tid = result.target["id"]
    await gateway.command(tid, "start", unit_head(unit), new_id("start"))
    return tid, unit


async def test_the_same_command_id_three_times_stores_one_event(gateway, seed):
    tid, unit = await _assigned_and_started(gateway, seed)
    cid = new_id("progress")
    answers = [
        await gateway.command(tid, "report_progress", unit_head(unit), cid, {"percent": 30, "note": "xong 30%"})
        for _ in range(3)
    ]
    assert seed.event_types(tid).count("ProgressReported") == 1
    assert len({a.position for a in answers}) == 1
    assert {a.target["version"] for a in answers} == {3}


async def test_a_retry_after_the_workflow_moved_to_a_new_run_is_still_a_replay(gateway, seed):
    tid, unit = await _assigned_and_started(gateway, seed)
    cid = new_id("block")
    first = await gateway.command(tid, "block", unit_head(unit), cid, {"reason": "chờ vốn"})
    # A new run forgets Temporal's update ids; the aggregate's command log still knows.
    await gateway.client.get_workflow_handle(workflow_id_for(tid)).signal(TargetWorkflow.continue_as_new_now)
    again = await gateway.command(tid, "block", unit_head(unit), cid, {"reason": "chờ vốn"})
    assert again.position == first.position
    assert seed.event_types(tid).count("Blocked") == 1


async def test_assigning_the_same_key_three_times_makes_one_target(gateway, seed):
    campaign = seed.campaign()
    unit = seed.unit()
    key = new_id("qd-934-muc-3")
    answers = await asyncio.gather(*(
        gateway.assign(assign_request(
            SECRETARIAT, new_id("assign"), campaign, unit_id=unit, title="Xây dựng Đảng", area="party",
            deadline=TODAY + timedelta(days=30), points=2, key=key,
        ))
        for _ in range(3)
    ))
    assert len({a.target["id"] for a in answers}) == 1
    assert len({a.position for a in answers}) == 1
    assert seed.event_types(answers[0].target["id"]) == ["Assigned"]


async def test_twenty_concurrent_commands_are_all_applied_with_contiguous_versions(gateway, seed):
    tid, unit = await _assigned_and_started(gateway, seed)
    head = unit_head(unit)
    ids = [new_id(f"progress-{n}") for n in range(20)]
    answers = await asyncio.gather(*(
        gateway.command(tid, "report_progress", head, cid, {"value": n, "note": f"báo cáo {n}"})
        for n, cid in enumerate(ids)
    ))
    events = seed.events(tid)
    assert [e.version for e in events] == list(range(1, 23))
    assert sorted(e.command_id for e in events if e.type == "ProgressReported") == sorted(ids)
    assert sorted(a.target["version"] for a in answers) == list(range(3, 23))
    assert sorted(a.position for a in answers) == [e.position for e in events[2:]]


async def test_a_forced_continue_as_new_under_concurrent_commands_loses_none(gateway, seed):
    tid, unit = await _assigned_and_started(gateway, seed)
    head = unit_head(unit)
    handle = gateway.client.get_workflow_handle(workflow_id_for(tid))
    first_run = (await handle.describe()).run_id
    ids = [new_id(f"progress-{n}") for n in range(12)]

    async def report(n: int, cid: str):  # type: ignore[no-untyped-def]
        return await gateway.command(tid, "report_progress", head, cid, {"percent": n})

    tasks = [asyncio.create_task(report(n, cid)) for n, cid in enumerate(ids[:6])]
    await asyncio.sleep(0.05)
    await handle.signal(TargetWorkflow.continue_as_new_now)
    tasks += [asyncio.create_task(report(n + 6, cid)) for n, cid in enumerate(ids[6:])]
    await asyncio.gather(*tasks)

    assert (await handle.describe()).run_id != first_run
    events = seed.events(tid)
    assert sorted(e.command_id for e in events if e.type == "ProgressReported") == sorted(ids)
    assert [e.version for e in events] == list(range(1, len(events) + 1))
    # The new run carried the facts: its timers match the target.
    assert armed_commands(await armed(gateway.client, tid)) == {"mark_overdue", "remind_stale"}
    facts = await handle.query(TargetWorkflow.facts)
    assert facts.version == len(events)
