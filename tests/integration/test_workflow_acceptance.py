"""Acceptance (nghiệm thu) on real Temporal (virtual time) and PostgreSQL.

Under a campaign policy with `acceptance_required`, a completion the unit reports waits
for the secretariat; its wait is reminded every `acceptance_sla` by the target's
workflow; no deadline timer runs while it waits; once accepted, timeliness is judged at
the unit's report time; a return puts the target back in progress.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from thidua.domain.errors import InvalidTransition, NotAllowed
from thidua.domain.values import SYSTEM
from tests.integration.conftest import SECRETARIAT, STANDING_COMMITTEE, eventually, new_id, unit_head
from thidua.workflows.client import assign_request


def _today_in_vietnam() -> date:
    return datetime.now(timezone(timedelta(hours=7))).date()


async def _assign(ts, seed, *, deadline_in_days: int, acceptance_sla: str = "P5D"):  # type: ignore[no-untyped-def]
    campaign = seed.campaign(acceptance_required=True, acceptance_sla=acceptance_sla, stale_after="P90D")
    unit = seed.unit()
    result = await ts.gateway.assign(assign_request(
        SECRETARIAT, new_id("assign"), campaign, unit_id=unit, title="Chỉnh trang đô thị phường Ngô Quyền",
        area="urban", deadline=_today_in_vietnam() + timedelta(days=deadline_in_days), points=10,
    ))
    return result.target["id"], unit


async def test_a_completion_waits_is_reminded_after_its_sla_and_counts_on_time_as_reported(time_skipping, seed):
    ts = time_skipping
    tid, unit = await _assign(ts, seed, deadline_in_days=3)
    head = unit_head(unit)
    await ts.gateway.command(tid, "start", head, new_id("start"))
    reported = await ts.gateway.command(tid, "complete", head, new_id("complete"), {"result": "xong"})
    assert reported.target["status"] == "awaiting_acceptance"
    assert reported.target["report_class"] == "awaiting_acceptance"
    assert seed.event_types(tid)[-1] == "CompletionReported"
    reported_at = datetime.fromisoformat(reported.target["completed_at"])

    await ts.fast_forward(tid, timedelta(days=5) - timedelta(minutes=5))
    assert "AcceptanceReminded" not in seed.event_types(tid)  # not a moment early
    await ts.fast_forward(tid, timedelta(minutes=10))  # past the SLA, and past the deadline
    await eventually(lambda: "AcceptanceReminded" in seed.event_types(tid), what="the acceptance reminder")
    reminded = seed.events(tid)[-1]
    assert reminded.actor == SYSTEM
    assert reported_at + timedelta(days=5) <= reminded.occurred_at < reported_at + timedelta(days=5, minutes=10)
    assert "DeadlinePassed" not in seed.event_types(tid)  # reported: no deadline timer while it waits

    accepted = await ts.gateway.command(tid, "accept", SECRETARIAT, new_id("accept"), {"note": "đạt"})
    assert accepted.target["status"] == "completed"
    # accepted after the deadline, judged at the report (before it): on time
    assert accepted.target["report_class"] == "completed_on_time"
    assert datetime.fromisoformat(accepted.target["completed_at"]) == reported_at
    assert accepted.target["acceptance"] == {"reports": 1, "waiting": False, "reminders": 1, "return_reason": None}


async def test_a_returned_completion_is_back_in_progress_and_a_late_report_counts_late(time_skipping, seed):
    ts = time_skipping
    tid, unit = await _assign(ts, seed, deadline_in_days=2)
    head = unit_head(unit)
    await ts.gateway.command(tid, "complete", head, new_id("complete"), {"result": "xong"})
    returned = await ts.gateway.command(tid, "return_completion", SECRETARIAT, new_id("return"),
                                        {"reason": "Thiếu minh chứng"})
    assert returned.target["status"] == "in_progress"
    assert returned.target["completed_at"] is None
    assert returned.target["acceptance"]["return_reason"] == "Thiếu minh chứng"

    await ts.fast_forward(tid, timedelta(days=4))  # the deadline passes while it is back in progress
    await eventually(lambda: "DeadlinePassed" in seed.event_types(tid), what="the deadline to pass")
    await ts.gateway.command(tid, "complete", head, new_id("complete"), {"evidence": "biên bản"})
    accepted = await ts.gateway.command(tid, "accept", SECRETARIAT, new_id("accept"))
    assert accepted.target["report_class"] == "completed_late"
    assert accepted.target["acceptance"]["reports"] == 2


@pytest.mark.parametrize("actor_name", ["unit_head", "standing_committee"])
async def test_only_the_secretariat_accepts_or_returns(time_skipping, seed, actor_name):
    ts = time_skipping
    tid, unit = await _assign(ts, seed, deadline_in_days=10)
    await ts.gateway.command(tid, "complete", unit_head(unit), new_id("complete"))
    actor = unit_head(unit) if actor_name == "unit_head" else STANDING_COMMITTEE
    for command, args in (("accept", {}), ("return_completion", {"reason": "x"})):
        with pytest.raises(NotAllowed):
            await ts.gateway.command(tid, command, actor, new_id(command), args)
    assert seed.event_types(tid)[-1] == "CompletionReported"


async def test_accept_or_return_of_a_target_not_waiting_is_refused(time_skipping, seed):
    ts = time_skipping
    tid, unit = await _assign(ts, seed, deadline_in_days=10)
    await ts.gateway.command(tid, "start", unit_head(unit), new_id("start"))
    with pytest.raises(InvalidTransition):
        await ts.gateway.command(tid, "accept", SECRETARIAT, new_id("accept"))
    with pytest.raises(InvalidTransition):
        await ts.gateway.command(tid, "return_completion", SECRETARIAT, new_id("return"), {"reason": "x"})
    assert seed.event_types(tid)[-1] == "Started"


async def test_without_acceptance_in_the_policy_a_completion_counts_at_once(time_skipping, seed):
    ts = time_skipping
    campaign = seed.campaign()
    unit = seed.unit()
    tid = (await ts.gateway.assign(assign_request(
        SECRETARIAT, new_id("assign"), campaign, unit_id=unit, title="Thu ngân sách", area="econ",
        deadline=_today_in_vietnam() + timedelta(days=10), points=3,
    ))).target["id"]
    done = await ts.gateway.command(tid, "complete", unit_head(unit), new_id("complete"))
    assert done.target["status"] == "completed" and done.target["acceptance"] is None
