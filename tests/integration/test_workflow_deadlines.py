"""Real policy durations and deadlines (days, weeks, a month) on virtual time.

Each target's workflow runs on the Temporal dev server's per-workflow virtual clock
(time skipping V2): `fast_forward` moves it, timers fire at their virtual time, and
the events they make carry that time. Each test takes seconds of wall time.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from thidua.domain.values import SYSTEM
from tests.integration.conftest import (
    SECRETARIAT,
    STANDING_COMMITTEE,
    armed,
    eventually,
    new_id,
    unit_head,
)
from thidua.workflows.client import assign_request


def _today_in_vietnam() -> date:
    return datetime.now(timezone(timedelta(hours=7))).date()


async def _assign(ts, seed, *, deadline_in_days: int, **policy):  # type: ignore[no-untyped-def]
    campaign = seed.campaign(**policy)
    unit = seed.unit()
    result = await ts.gateway.assign(assign_request(
        SECRETARIAT, new_id("assign"), campaign, unit_id=unit, title="Hoàn thành GPMB khu đô thị Nam Vĩnh Yên",
        area="gpmb", deadline=_today_in_vietnam() + timedelta(days=deadline_in_days), points=10,
    ))
    return result.target["id"], unit


async def test_a_deadline_thirty_days_out_turns_the_target_overdue_and_completing_it_is_late(time_skipping, seed):
    ts = time_skipping
    # stale_after is longer than the deadline, so the only timer that can fire is the deadline's
    # (with P30D a stale reminder can legitimately fire first, depending on the hour of the day).
    tid, unit = await _assign(ts, seed, deadline_in_days=30, stale_after="P90D")
    head = unit_head(unit)
    await ts.gateway.command(tid, "start", head, new_id("start"))
    deadline_at = datetime.fromisoformat((await ts.gateway.command(tid, "report_progress", head, new_id("p"),
                                                                   {"percent": 50})).target["deadline_at"])

    await ts.fast_forward(tid, deadline_at - await ts.now(tid) - timedelta(hours=1))
    assert await ts.timers_fired(tid) == 0  # not a moment early
    assert "DeadlinePassed" not in seed.event_types(tid)

    await ts.fast_forward(tid, timedelta(hours=2))
    await eventually(lambda: "DeadlinePassed" in seed.event_types(tid), what="the deadline to pass")
    passed = seed.events(tid)[-1]
    assert passed.actor == SYSTEM
    assert deadline_at <= passed.occurred_at < deadline_at + timedelta(hours=1)  # the workflow's (virtual) time
    assert passed.occurred_at > datetime.now(timezone.utc) + timedelta(days=29)

    late = await ts.gateway.command(tid, "complete", head, new_id("complete"), {"result": "xong"})
    assert late.target["report_class"] == "completed_late"
    assert datetime.fromisoformat(late.target["completed_at"]) > deadline_at


async def test_an_overdue_target_is_reported_overdue(time_skipping, seed):
    ts = time_skipping
    tid, unit = await _assign(ts, seed, deadline_in_days=3)
    await ts.fast_forward(tid, timedelta(days=5))
    await eventually(lambda: "DeadlinePassed" in seed.event_types(tid), what="the deadline to pass")
    answer = await ts.gateway.command(tid, "report_progress", unit_head(unit), new_id("p"), {"note": "đang làm"})
    assert answer.target["overdue"] is True
    assert answer.target["report_class"] == "overdue"


async def test_an_extension_before_the_deadline_keeps_completion_on_time(time_skipping, seed):
    ts = time_skipping
    tid, unit = await _assign(ts, seed, deadline_in_days=5)
    head = unit_head(unit)
    await ts.gateway.command(tid, "start", head, new_id("start"))
    extended = await ts.gateway.command(
        tid, "extend_deadline", STANDING_COMMITTEE, new_id("extend"),
        {"new_deadline": _today_in_vietnam() + timedelta(days=20), "reason": "Quyết định 937",
         "decision": {"number": "937-QĐ/TU", "issued_on": "2022-02-21", "issuer": "BTV Thành ủy"}},
    )
    timers = await armed(ts.client, tid)
    assert [t.at.isoformat() for t in timers if t.command == "mark_overdue"] == [extended.target["deadline_at"]]

    await ts.fast_forward(tid, timedelta(days=10))  # past the old deadline, before the new one
    completed = await ts.gateway.command(tid, "complete", head, new_id("complete"))
    assert "DeadlinePassed" not in seed.event_types(tid)
    assert completed.target["report_class"] == "completed_on_time"
    assert datetime.fromisoformat(completed.target["completed_at"]) > datetime.now(timezone.utc) + timedelta(days=9)


async def test_a_blocked_target_is_escalated_after_three_virtual_days_and_not_before(time_skipping, seed):
    ts = time_skipping
    tid, unit = await _assign(ts, seed, deadline_in_days=60, escalate_after="P3D", resolution_sla="P7D")
    head = unit_head(unit)
    await ts.gateway.command(tid, "start", head, new_id("start"))
    blocked = await ts.gateway.command(tid, "block", head, new_id("block"), {"reason": "dân chưa đồng thuận"})
    blocked_at = datetime.fromisoformat(blocked.target["blocked_at"])

    await ts.fast_forward(tid, timedelta(days=3) - timedelta(minutes=5))
    assert await ts.timers_fired(tid) == 0  # three days minus five minutes: still waiting
    assert seed.event_types(tid)[-1] == "Blocked"

    await ts.fast_forward(tid, timedelta(minutes=10))
    await eventually(lambda: "Escalated" in seed.event_types(tid), what="the auto-escalation")
    escalated = seed.events(tid)[-1]
    assert escalated.actor == SYSTEM
    assert blocked_at + timedelta(days=3) <= escalated.occurred_at < blocked_at + timedelta(days=3, minutes=10)

    # Nobody resolves it for a week: the Standing Committee is reminded, at virtual time.
    await ts.fast_forward(tid, timedelta(days=7))
    await eventually(lambda: "EscalationReminded" in seed.event_types(tid), what="the escalation reminder")
    reminded = seed.events(tid)[-1]
    assert reminded.actor == SYSTEM
    assert escalated.occurred_at + timedelta(days=7) <= reminded.occurred_at
    assert reminded.occurred_at < escalated.occurred_at + timedelta(days=7, minutes=10)
