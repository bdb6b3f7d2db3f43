"""What a signed-in user sees of other units' targets is one rule (thidua.domain.permissions):
the scoreboard's facts, never the block reason, the directive or the progress notes.
The list may not show what the detail refuses."""

from __future__ import annotations

from datetime import date, timedelta

from tests.e2e.conftest import Person, make_person, register_unit, unique

PRIVATE = ("block_reason", "blocked_at", "percent", "measure", "coordinating_unit_ids", "last_activity_at")


async def test_a_unit_head_lists_another_units_targets_without_what_their_detail_refuses(
    secretariat: Person, worker: None, projector: None
) -> None:
    owner, other = unique("phuong-lien-bao"), unique("phuong-khai-quang")
    await register_unit(secretariat, owner, "Phường Liên Bảo")
    await register_unit(secretariat, other, "Phường Khai Quang")
    cid = unique("hien-thi")
    created = await secretariat.post("/v1/campaigns", {"id": cid, "name": "Hiển thị", "starts_on": "2022-01-01",
                                                       "ends_on": (date.today() + timedelta(days=365)).isoformat()})
    assert created.status_code == 201, created.text
    assigned = await secretariat.post(f"/v1/campaigns/{cid}/targets", {
        "key": unique("k"), "unit_id": owner, "title": "Xử lý vi phạm đất đai", "area": "Đất đai",
        "deadline": (date.today() + timedelta(days=90)).isoformat(), "points": 5})
    assert assigned.status_code == 201, assigned.text
    tid = assigned.json()["target"]["id"]
    owner_head = await make_person(secretariat, name="Bí thư Liên Bảo", role="unit_head", unit_id=owner)
    other_head = await make_person(secretariat, name="Bí thư Khai Quang", role="unit_head", unit_id=other)
    blocked = await owner_head.post(f"/v1/targets/{tid}/block", {"reason": "Hộ dân khiếu nại kéo dài"})
    assert blocked.status_code == 200, blocked.text
    position = blocked.json()["position"]

    assert (await other_head.get(f"/v1/targets/{tid}")).status_code == 403
    listed = await other_head.get(f"/v1/campaigns/{cid}/targets",
                                  params={"unit_id": owner, "min_position": position})
    assert listed.status_code == 200, listed.text
    [seen] = listed.json()["items"]
    assert seen["id"] == tid and seen["status"] == "blocked" and seen["points"] == 5
    assert seen["restricted"] is True
    assert not any(seen.get(field) for field in PRIVATE), seen

    for reader in (owner_head, secretariat):
        [whole] = (await reader.get(f"/v1/campaigns/{cid}/targets", params={"unit_id": owner})).json()["items"]
        assert whole["block_reason"] == "Hộ dân khiếu nại kéo dài" and whole["restricted"] is False
