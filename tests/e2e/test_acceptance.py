"""Acceptance (nghiệm thu) over HTTP: the secretariat turns `acceptance_required` on
through the campaign-operation path; a completion then waits, is counted apart on the
scoreboard ("completed, awaiting acceptance": not completed until accepted), and is
accepted (POST /v1/targets/{tid}/accept) or returned with a reason (POST .../return)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from tests.e2e.conftest import Person, make_person
from tests.e2e.test_campaign_changes import LONG_POLICY, Drive, eventually, new_drive
from tests.e2e.test_campaign_operations import operation_of

ACCEPTANCE_POLICY = {**LONG_POLICY, "acceptance_required": True, "acceptance_sla": "P5D"}


@pytest.fixture(scope="module")
async def committee(secretariat: Person) -> Person:
    return await make_person(secretariat, name="Ban Thường vụ", role="standing_committee")


async def _counts(d: Drive, unit: str, position: int) -> dict[str, int]:
    board = await d.secretariat.get(f"/v1/campaigns/{d.campaign}/scoreboard", params={"min_position": position})
    assert board.status_code == 200, board.text
    return next(u for c in board.json()["clusters"] for u in c["units"] if u["unit_id"] == unit)


async def _notices(person: Person, tid: str, position: int) -> list[str]:
    page = await person.get("/v1/me/notifications", params={"min_position": position, "limit": 500})
    assert page.status_code == 200, page.text
    return [n["kind"] for n in page.json()["items"] if n["target_id"] == tid]


async def test_a_policy_requiring_acceptance_holds_a_completion_apart_until_accepted(
        secretariat, committee, worker, projector):
    d = await new_drive(secretariat, committee)
    changed = await secretariat.put(f"/v1/campaigns/{d.campaign}/policy", ACCEPTANCE_POLICY)
    assert changed.status_code in (200, 202), changed.text
    if changed.status_code == 202:  # the operation goes on by itself: wait for it
        await eventually(lambda: operation_of(secretariat, changed.json()["href"], "succeeded"), "the policy change", timeout=120)
    shown = (await secretariat.get(f"/v1/campaigns/{d.campaign}")).json()
    assert shown["policy"]["acceptance_required"] is True and shown["policy"]["acceptance_sla"] == "P5D"

    unit = d.units[0]
    tid = await d.assign(unit, points=10)
    reported = await d.by_head(unit, tid, "complete", {"result": "Đã chỉnh trang 3 tuyến phố"})
    assert reported.status_code == 200, reported.text
    target = reported.json()["target"]
    assert (target["status"], target["report_class"]) == ("awaiting_acceptance", "awaiting_acceptance")
    assert target["acceptance"] == {"reports": 1, "waiting": True, "reminders": 0, "return_reason": None}
    row = await _counts(d, unit, reported.json()["position"])
    assert row["counts"]["awaiting_acceptance"] == 1 and row["counts"]["completed_on_time"] == 0
    # the secretariat is told a completion waits; the unit head is not
    assert await _notices(secretariat, tid, reported.json()["position"]) == ["target.awaiting_acceptance"]
    assert await _notices(d.heads[unit], tid, reported.json()["position"]) == []
    assert row["score"] == 0 and row["completion_rate"] == 0

    # The queue of completions waiting, for the secretariat (JSON face of the page).
    queue = await secretariat.get(f"/v1/campaigns/{d.campaign}/targets",
                                  params={"status": "awaiting_acceptance", "min_position": reported.json()["position"]})
    assert [t["id"] for t in queue.json()["items"]] == [tid]

    # The owner cannot accept its own completion; the Standing Committee does not either.
    assert (await d.by_head(unit, tid, "accept", {})).status_code == 403
    assert (await committee.post(f"/v1/targets/{tid}/accept", {})).status_code == 403
    # A return needs its reason: 422 naming it, nothing recorded.
    no_reason = await secretariat.post(f"/v1/targets/{tid}/return", {})
    assert no_reason.status_code == 422 and "reason" in no_reason.text
    assert (await secretariat.get(f"/v1/targets/{tid}")).json()["version"] == target["version"]

    accepted = await secretariat.post(f"/v1/targets/{tid}/accept", {"note": "Đạt yêu cầu"})
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["target"]["report_class"] == "completed_on_time"
    row = await _counts(d, unit, accepted.json()["position"])
    assert row["counts"]["awaiting_acceptance"] == 0 and row["counts"]["completed_on_time"] == 1
    assert row["score"] == 10

    history = await secretariat.get(f"/v1/targets/{tid}/history")
    assert [e["event_type"] for e in history.json()["items"]][-2:] == ["CompletionReported", "Accepted"]


async def test_a_returned_completion_goes_back_to_the_unit(secretariat, committee, worker, projector):
    d = await new_drive(secretariat, committee, ACCEPTANCE_POLICY)
    unit = d.units[1]
    tid = await d.assign(unit, deadline=date.today() + timedelta(days=30))
    await d.by_head(unit, tid, "complete", {"evidence": "Ảnh chụp"})
    returned = await secretariat.post(f"/v1/targets/{tid}/return", {"reason": "Thiếu biên bản nghiệm thu"})
    assert returned.status_code == 200, returned.text
    target = returned.json()["target"]
    assert target["status"] == "in_progress" and target["acceptance"]["return_reason"] == "Thiếu biên bản nghiệm thu"
    assert await _notices(d.heads[unit], tid, returned.json()["position"]) == ["target.returned"]
    # returned again: nothing waits
    assert (await secretariat.post(f"/v1/targets/{tid}/return", {"reason": "x"})).status_code == 409
