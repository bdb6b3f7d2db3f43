"""The target lifecycle run by its Temporal workflow, on real time with second-scale
policies (real PostgreSQL, real Temporal dev server, the worker in this process)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from thidua.domain.values import SYSTEM, Role
from tests.integration.conftest import (
    SECRETARIAT,
    STANDING_COMMITTEE,
    armed,
    armed_commands,
    eventually,
    new_id,
    unit_head,
)
from thidua.workflows.client import assign_request

TODAY = date.today()


async def test_a_blocked_target_reaches_the_standing_committee_and_is_completed_on_time(gateway, seed):
    campaign = seed.campaign(escalate_after="PT2S", resolution_sla="PT3S", stale_after="P30D")
    unit = seed.unit()
    head = unit_head(unit)
    deadline = TODAY + timedelta(days=20)

    assigned = await gateway.assign(assign_request(
        SECRETARIAT, new_id("assign"), campaign, unit_id=unit, title="Giải phóng mặt bằng dự án đường Tôn Đức Thắng",
        area="gpmb", deadline=deadline, points=10,
    ))
    target_id = assigned.target["id"]
    assert assigned.target["status"] == "assigned"
    assert assigned.position > 0

    started = await gateway.command(target_id, "start", head, new_id("start"), {"note": "giao phòng TN-MT"})
    progress = await gateway.command(target_id, "report_progress", head, new_id("progress"), {"percent": 40})
    blocked = await gateway.command(
        target_id, "block", head, new_id("block"), {"reason": "thiếu kinh phí bồi thường", "help_needed": "vốn"}
    )
    assert [started.target["status"], progress.target["status"], blocked.target["status"]] == [
        "in_progress", "in_progress", "blocked"
    ]
    assert started.position < progress.position < blocked.position

    # Nobody acts: the workflow escalates, then reminds the Standing Committee.
    await eventually(lambda: "EscalationReminded" in seed.event_types(target_id), what="an escalation reminder")
    resolved = await gateway.command(
        target_id, "resolve", STANDING_COMMITTEE, new_id("resolve"),
        {"directive": "Ngân sách thành phố ứng trước", "new_deadline": deadline + timedelta(days=15)},
    )
    assert resolved.target["status"] == "in_progress"
    assert resolved.target["escalation"]["state"] == "resolved"
    assert resolved.target["deadline"] == (deadline + timedelta(days=15)).isoformat()
    completed = await gateway.command(target_id, "complete", head, new_id("complete"), {"result": "đã bàn giao mặt bằng"})
    assert completed.target["status"] == "completed"
    assert completed.target["report_class"] == "completed_on_time"

    events = seed.events(target_id)
    assert [e.type for e in events] == [
        "Assigned", "Started", "ProgressReported", "Blocked", "Escalated", "EscalationReminded", "Resolved", "Completed",
    ]
    by_type = {e.type: e for e in events}
    assert by_type["Assigned"].actor == SECRETARIAT
    for name in ("Started", "ProgressReported", "Blocked", "Completed"):
        assert by_type[name].actor == head
    assert by_type["Escalated"].actor == SYSTEM and by_type["EscalationReminded"].actor == SYSTEM
    assert by_type["Resolved"].actor == STANDING_COMMITTEE
    # Times: every event after the one before it; timers fire no earlier than the policy says.
    times = [e.occurred_at for e in events]
    assert times == sorted(times)
    assert by_type["Escalated"].occurred_at >= by_type["Blocked"].occurred_at + timedelta(seconds=2)
    assert by_type["EscalationReminded"].occurred_at >= by_type["Escalated"].occurred_at + timedelta(seconds=3)
    # Timer events carry deterministic command ids; user events the caller's ids.
    assert by_type["Escalated"].command_id == f"{target_id}:auto-escalate:1"
    assert by_type["EscalationReminded"].command_id == f"{target_id}:escalation-reminder:1:1"
    # The command answers carried the stored events' global positions.
    assert [started.position, progress.position, blocked.position, resolved.position, completed.position] == [
        by_type[n].position for n in ("Started", "ProgressReported", "Blocked", "Resolved", "Completed")
    ]
    assert completed.target["escalation"]["trigger"] == "auto"
    # Completed: no timer is left armed.
    assert await armed(gateway.client, target_id) == []


async def test_each_command_re_arms_or_disarms_the_right_timers(gateway, seed):
    campaign = seed.campaign(escalate_after="P3D", resolution_sla="P7D", stale_after="P14D")
    unit = seed.unit()
    head = unit_head(unit)
    result = await gateway.assign(assign_request(
        SECRETARIAT, new_id("assign"), campaign, unit_id=unit, title="Cải cách hành chính", area="admin",
        deadline=TODAY + timedelta(days=60), points=5,
    ))
    tid = result.target["id"]
    timers = await armed(gateway.client, tid)
    assert armed_commands(timers) == {"mark_overdue", "remind_stale"}
    deadline_timer = next(t for t in timers if t.command == "mark_overdue")
    assert deadline_timer.at.isoformat() == result.target["deadline_at"]  # end of that day, Asia/Ho_Chi_Minh

    await gateway.command(tid, "start", head, new_id("start"))
    await gateway.command(tid, "block", head, new_id("block"), {"reason": "chờ ý kiến sở"})
    timers = await armed(gateway.client, tid)
    assert armed_commands(timers) == {"mark_overdue", "auto_escalate"}  # blocked: no stale reminder

    await gateway.command(tid, "unblock", head, new_id("unblock"))
    assert armed_commands(await armed(gateway.client, tid)) == {"mark_overdue", "remind_stale"}

    await gateway.command(tid, "block", head, new_id("block"), {"reason": "lại vướng"})
    escalate_timer = next(t for t in await armed(gateway.client, tid) if t.command == "auto_escalate")
    assert escalate_timer.command_id.endswith(":auto-escalate:2")  # armed for the second block

    await gateway.command(tid, "escalate", head, new_id("escalate"), {"reason": "xin BTV tháo gỡ"})
    assert armed_commands(await armed(gateway.client, tid)) == {"mark_overdue", "remind_escalation"}

    new_deadline = TODAY + timedelta(days=90)
    resolved = await gateway.command(
        tid, "resolve", STANDING_COMMITTEE, new_id("resolve"), {"directive": "phối hợp", "new_deadline": new_deadline}
    )
    timers = await armed(gateway.client, tid)
    assert armed_commands(timers) == {"mark_overdue", "remind_stale"}
    assert next(t for t in timers if t.command == "mark_overdue").at.isoformat() == resolved.target["deadline_at"]

    extended = await gateway.command(
        tid, "extend_deadline", STANDING_COMMITTEE, new_id("extend"),
        {"new_deadline": new_deadline + timedelta(days=10), "reason": "bổ sung khối lượng"},
    )
    assert next(t for t in await armed(gateway.client, tid) if t.command == "mark_overdue").at.isoformat() == (
        extended.target["deadline_at"]
    )

    await gateway.command(tid, "complete", head, new_id("complete"))
    assert await armed(gateway.client, tid) == []
    await gateway.command(tid, "reopen", SECRETARIAT, new_id("reopen"), {"reason": "thiếu hồ sơ"})
    assert armed_commands(await armed(gateway.client, tid)) == {"mark_overdue", "remind_stale"}
    await gateway.command(tid, "cancel", SECRETARIAT, new_id("cancel"), {"reason": "không còn phù hợp"})
    assert await armed(gateway.client, tid) == []


async def test_a_target_without_progress_gets_a_stale_reminder_and_progress_re_arms_it(gateway, seed):
    campaign = seed.campaign(stale_after="PT2S")
    unit = seed.unit()
    result = await gateway.assign(assign_request(
        SECRETARIAT, new_id("assign"), campaign, unit_id=unit, title="Xử lý vi phạm đất đai", area="land",
        deadline=TODAY + timedelta(days=60), points=3,
    ))
    tid = result.target["id"]
    await eventually(lambda: "StaleReminded" in seed.event_types(tid), what="a stale reminder")
    reminder = seed.events(tid)[-1]
    assert reminder.actor == SYSTEM
    assert reminder.occurred_at >= seed.events(tid)[0].occurred_at + timedelta(seconds=2)
    # One reminder per quiet spell: nothing more is armed until somebody reports.
    assert "remind_stale" not in armed_commands(await armed(gateway.client, tid))
    progress = await gateway.command(tid, "report_progress", unit_head(unit), new_id("progress"), {"note": "đã khảo sát"})
    # The report starts a new quiet spell, and its own reminder in due time.
    await eventually(lambda: seed.event_types(tid).count("StaleReminded") == 2, what="a second stale reminder")
    second = seed.events(tid)[-1]
    assert second.actor == SYSTEM
    assert second.occurred_at >= datetime.fromisoformat(progress.target["last_activity_at"]) + timedelta(seconds=2)


class TestRefusalsComeBackAsDomainErrors:
    async def _target(self, gateway, seed):  # type: ignore[no-untyped-def]
        campaign = seed.campaign()
        unit = seed.unit()
        result = await gateway.assign(assign_request(
            SECRETARIAT, new_id("assign"), campaign, unit_id=unit, title="Chống lãng phí", area="thrift",
            deadline=TODAY + timedelta(days=30), points=2,
        ))
        return result.target["id"], unit

    async def test_not_allowed(self, gateway, seed):
        from thidua.domain.errors import NotAllowed

        tid, _ = await self._target(gateway, seed)
        with pytest.raises(NotAllowed) as refused:
            await gateway.command(tid, "start", unit_head("another-unit"), new_id("start"))
        assert refused.value.details["command"] == "start"
        campaign = seed.campaign()
        command_id = new_id("assign")
        with pytest.raises(NotAllowed):
            await gateway.assign(assign_request(
                unit_head("x"), command_id, campaign, unit_id="x", title="t", area="a", deadline=TODAY, points=1,
            ))
        # The workflow started for that assignment did not stay around without a target.
        from thidua.domain.target import target_id_for
        from thidua.workflows.client import workflow_id_for

        handle = gateway.client.get_workflow_handle(workflow_id_for(target_id_for(campaign, command_id)))
        assert (await handle.describe()).status.name == "COMPLETED"

    async def test_invalid_transition(self, gateway, seed):
        from temporalio.api.enums.v1 import EventType

        from thidua.domain.errors import InvalidTransition
        from thidua.workflows.client import workflow_id_for

        tid, unit = await self._target(gateway, seed)
        with pytest.raises(InvalidTransition) as refused:
            await gateway.command(tid, "unblock", unit_head(unit), new_id("unblock"))
        assert (refused.value.command, refused.value.state) == ("unblock", "assigned")
        # Refused by the update's validator: nothing reached the history or the store.
        history = await gateway.client.get_workflow_handle(workflow_id_for(tid)).fetch_history()
        accepted = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED]
        assert len(accepted) == 1  # the assignment only
        assert seed.event_types(tid) == ["Assigned"]

    async def test_bad_input_names_the_field(self, gateway, seed):
        from thidua.domain.errors import BadInput

        tid, unit = await self._target(gateway, seed)
        with pytest.raises(BadInput) as refused:
            await gateway.command(tid, "block", unit_head(unit), new_id("block"), {"reason": "  "})
        assert refused.value.field == "reason"
        with pytest.raises(BadInput) as refused:
            await gateway.command(
                tid, "reassign", SECRETARIAT, new_id("reassign"), {"unit_id": "nowhere", "reason": "r"}
            )
        assert refused.value.field == "unit_id"
        with pytest.raises(BadInput) as refused:
            await gateway.command(tid, "start", unit_head(unit), new_id("start"), {"colour": "red"})
        assert refused.value.field == "colour"
        with pytest.raises(BadInput) as refused:
            await gateway.assign(assign_request(
                SECRETARIAT, new_id("assign"), seed.campaign(), unit_id="not-registered", title="t", area="a",
                deadline=TODAY, points=1,
            ))
        assert refused.value.field == "unit_id"

    async def test_version_conflict_and_reused_command_id(self, gateway, seed):
        from thidua.domain.errors import CommandIdReused, VersionConflict

        tid, unit = await self._target(gateway, seed)
        head = unit_head(unit)
        started = await gateway.command(tid, "start", head, new_id("start"), expected_version=1)
        assert started.target["version"] == 2
        with pytest.raises(VersionConflict) as refused:
            await gateway.command(tid, "report_progress", head, new_id("p"), {"note": "x"}, expected_version=1)
        assert refused.value.details["current_version"] == 2
        cid = new_id("progress")
        await gateway.command(tid, "report_progress", head, cid, {"percent": 10})
        with pytest.raises(CommandIdReused):
            await gateway.command(tid, "report_progress", head, cid, {"percent": 20})

    async def test_not_found(self, gateway, seed):
        from thidua.domain.errors import NotFound

        with pytest.raises(NotFound):
            await gateway.command("8d3c1d2e-0000-4000-8000-000000000000", "start", SECRETARIAT, new_id("s"))
        with pytest.raises(NotFound):
            await gateway.command("not-a-target", "start", SECRETARIAT, new_id("s"))
        with pytest.raises(NotFound):
            await gateway.assign(assign_request(
                SECRETARIAT, new_id("assign"), "no-such-campaign", unit_id=seed.unit(), title="t", area="a",
                deadline=TODAY, points=1,
            ))


async def test_closing_a_campaign_finishes_its_workflows_and_refuses_their_commands(gateway, seed):
    from thidua.domain.errors import CampaignClosed, InvalidTransition
    from thidua.workflows.client import workflow_id_for

    campaign = seed.campaign()
    unit = seed.unit()
    head = unit_head(unit)
    targets = []
    for n in range(3):
        result = await gateway.assign(assign_request(
            SECRETARIAT, new_id("assign"), campaign, unit_id=unit, title=f"Chỉ tiêu {n}", area="econ",
            deadline=TODAY + timedelta(days=30), points=1,
        ))
        targets.append(result.target["id"])
    await gateway.command(targets[0], "start", head, new_id("start"))

    seed.close_campaign(campaign)
    assert await gateway.close_campaign(campaign, targets) == 3
    for tid in targets:
        description = await gateway.client.get_workflow_handle(workflow_id_for(tid)).describe()
        assert description.status.name == "COMPLETED"
    assert await gateway.close_campaign(campaign, targets) == 0  # nothing left running

    # A late report is refused naming the closure, and stores nothing; the workflow
    # started to take it ends again.
    with pytest.raises(CampaignClosed) as refused:
        await gateway.command(targets[0], "report_progress", head, new_id("progress"), {"percent": 100})
    assert refused.value.campaign_id == campaign
    assert seed.event_types(targets[0]) == ["Assigned", "Started"]
    handle = gateway.client.get_workflow_handle(workflow_id_for(targets[0]))
    assert await handle.result() == "campaign closed"
    with pytest.raises(InvalidTransition):
        await gateway.assign(assign_request(
            SECRETARIAT, new_id("assign"), campaign, unit_id=unit, title="Sau khi đóng", area="econ",
            deadline=TODAY, points=1,
        ))


async def test_a_target_whose_workflow_is_gone_gets_one_rebuilt_from_the_aggregate(gateway, seed):
    from thidua.workflows.client import workflow_id_for

    campaign = seed.campaign()
    unit = seed.unit()
    head = unit_head(unit)
    result = await gateway.assign(assign_request(
        SECRETARIAT, new_id("assign"), campaign, unit_id=unit, title="Chỉ tiêu thu ngân sách", area="econ",
        deadline=TODAY + timedelta(days=30), points=1,
    ))
    tid = result.target["id"]
    await gateway.command(tid, "start", head, new_id("start"))
    await gateway.command(tid, "block", head, new_id("block"), {"reason": "vướng thủ tục"})
    await gateway.client.get_workflow_handle(workflow_id_for(tid)).terminate("operator removed it")

    escalated = await gateway.command(tid, "escalate", head, new_id("escalate"))
    assert escalated.target["status"] == "escalated" and escalated.target["version"] == 4
    assert armed_commands(await armed(gateway.client, tid)) == {"mark_overdue", "remind_escalation"}
    assert escalated.target["escalation"]["trigger"] == "requested"
    assert Role(seed.events(tid)[-1].actor.role) == Role.UNIT_HEAD


async def test_a_policy_change_reaches_running_workflows_when_they_are_refreshed(gateway, seed):
    from thidua.domain.values import Command, Policy

    campaign_id = seed.campaign(escalate_after="P3D")
    unit = seed.unit()
    head = unit_head(unit)
    result = await gateway.assign(assign_request(
        SECRETARIAT, new_id("assign"), campaign_id, unit_id=unit, title="Môi trường", area="environment",
        deadline=TODAY + timedelta(days=30), points=1,
    ))
    tid = result.target["id"]
    await gateway.command(tid, "block", head, new_id("block"), {"reason": "chờ quy hoạch"})

    campaign = seed.app.get_campaign(campaign_id)
    campaign.change_policy(
        Command(new_id("policy"), SECRETARIAT, datetime.now(timezone.utc)),
        Policy(escalate_after="PT1S", resolution_sla="P7D", stale_after="P30D"),
    )
    seed.app.save_changes(campaign)
    assert await gateway.refresh([tid]) == 1
    await eventually(lambda: "Escalated" in seed.event_types(tid), what="escalation under the new policy")
