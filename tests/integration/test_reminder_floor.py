"""Repeating reminders have a floor; one-shot timers keep their exact time (issue 15, item 6).

A policy of one second between SLA reminders once made a reminder event per second per
escalated target, without end. The worker's floor (THIDUA_REMINDER_FLOOR, PT1H by default,
which the time-skipping worker keeps) spaces them; the auto-escalation after a one-second
`escalate_after` still comes after one second. On virtual time: seconds of wall time.
"""

from __future__ import annotations

from datetime import date, timedelta

from tests.integration.conftest import SECRETARIAT, eventually, new_id, unit_head
from thidua.workflows.client import assign_request
from thidua.workflows.messages import DEFAULT_REMINDER_FLOOR


async def test_sla_reminders_of_one_second_fire_once_an_hour_and_escalation_keeps_its_second(time_skipping, seed):
    ts = time_skipping
    campaign = seed.campaign(escalate_after="PT1S", resolution_sla="PT1S", stale_after="P30D")
    unit = seed.unit()
    head = unit_head(unit)
    tid = (await ts.gateway.assign(assign_request(
        SECRETARIAT, new_id("assign"), campaign, unit_id=unit, title="GPMB đường vành đai", area="gpmb",
        deadline=date.today() + timedelta(days=60), points=5,
    ))).target["id"]
    await ts.gateway.command(tid, "start", head, new_id("start"))
    blocked = await ts.gateway.command(tid, "block", head, new_id("block"), {"reason": "chưa có vốn"})
    assert blocked.target["status"] == "blocked"

    # One-shot: escalated a second after the block (real time), not an hour later.
    await eventually(lambda: "Escalated" in seed.event_types(tid), what="the auto-escalation")
    escalated = seed.events(tid)[-1]

    # Repeating: ten virtual minutes of a one-second SLA make no reminder at all...
    await ts.fast_forward(tid, timedelta(minutes=10))
    assert "EscalationReminded" not in seed.event_types(tid)

    # ...and three hours make three, an hour apart.
    for n in range(1, 4):
        await ts.fast_forward(tid, DEFAULT_REMINDER_FLOOR)
        await eventually(lambda n=n: seed.event_types(tid).count("EscalationReminded") == n,
                         what=f"reminder {n}")
    reminders = [e for e in seed.events(tid) if e.type == "EscalationReminded"]
    assert len(reminders) == 3
    for n, reminder in enumerate(reminders, start=1):
        assert reminder.occurred_at >= escalated.occurred_at + n * DEFAULT_REMINDER_FLOOR
    gaps = [b.occurred_at - a.occurred_at for a, b in zip(reminders, reminders[1:])]
    assert all(gap >= DEFAULT_REMINDER_FLOOR - timedelta(seconds=1) for gap in gaps), gaps
