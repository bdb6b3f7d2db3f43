"""Coordinating units named at assignment (issue 18, item 3): their heads read the target
and comment on it from the start, every other write is refused; only registered units
are taken; an assignment sent again is still a replay."""

from __future__ import annotations

from datetime import date, timedelta

from tests.e2e.conftest import Person, make_person, register_unit, unique
from thidua.domain.target import target_id_for


async def _campaign(secretariat: Person) -> str:
    cid = unique("phoi-hop")
    created = await secretariat.post("/v1/campaigns", {"id": cid, "name": "Phối hợp", "starts_on": "2022-01-01",
                                                       "ends_on": (date.today() + timedelta(days=365)).isoformat()})
    assert created.status_code == 201, created.text
    return cid


async def _registered(secretariat: Person, *prefixes: str) -> list[str]:
    units = [unique(prefix) for prefix in prefixes]
    for unit in units:
        await register_unit(secretariat, unit, f"Đơn vị {unit}")
    return units


def _assignment(unit: str, **more: object) -> dict[str, object]:
    return {"key": unique("k"), "unit_id": unit, "title": "Giải phóng mặt bằng", "area": "GPMB",
            "deadline": (date.today() + timedelta(days=90)).isoformat(), "points": 5, **more}


async def test_a_unit_named_at_assignment_reads_and_comments_and_writes_nothing_else(
    secretariat: Person, worker: None, projector: None
) -> None:
    owner, helper = await _registered(secretariat, "phuong-dong-da", "phuong-tich-son")
    cid = await _campaign(secretariat)
    assigned = await secretariat.post(f"/v1/campaigns/{cid}/targets",
                                      _assignment(owner, coordinating_unit_ids=[helper, helper]))
    assert assigned.status_code == 201, assigned.text
    tid = assigned.json()["target"]["id"]
    assert assigned.json()["target"]["coordinating_unit_ids"] == [helper]

    helper_head = await make_person(secretariat, name="Bí thư Tích Sơn", role="unit_head", unit_id=helper)
    read = await helper_head.get(f"/v1/targets/{tid}")
    assert read.status_code == 200, read.text
    assert read.json()["coordinating_unit_ids"] == [helper]
    commented = await helper_head.post(f"/v1/targets/{tid}/comments", {"kind": "comment", "body": "Sẵn sàng hỗ trợ"})
    assert commented.status_code < 300, commented.text
    for segment, body in (("start", {}), ("block", {"reason": "Chưa rõ"}), ("progress", {"percent": 10})):
        refused = await helper_head.post(f"/v1/targets/{tid}/{segment}", body)
        assert refused.status_code == 403, (segment, refused.text)


async def test_an_unregistered_coordinating_unit_is_a_422_and_nothing_is_assigned(
    secretariat: Person, worker: None, projector: None
) -> None:
    [owner] = await _registered(secretariat, "phuong-lien-bao")
    cid = await _campaign(secretariat)
    body = _assignment(owner, coordinating_unit_ids=[unique("khong-co")])
    refused = await secretariat.post(f"/v1/campaigns/{cid}/targets", body)
    assert refused.status_code == 422, refused.text
    assert "coordinating_unit_ids" in refused.text
    missing = await secretariat.get(f"/v1/targets/{target_id_for(cid, str(body['key']))}")
    assert missing.status_code == 404, missing.text


async def test_an_assignment_without_coordinating_units_sent_again_is_a_replay(
    secretariat: Person, worker: None, projector: None
) -> None:
    owner, helper = await _registered(secretariat, "phuong-hoi-hop", "phuong-dinh-trung")
    cid = await _campaign(secretariat)
    body = _assignment(owner)
    first = await secretariat.post(f"/v1/campaigns/{cid}/targets", body)
    assert first.status_code == 201, first.text
    again = await secretariat.post(f"/v1/campaigns/{cid}/targets", {**body, "coordinating_unit_ids": []})
    assert again.status_code < 300, again.text
    assert again.json()["target"]["id"] == first.json()["target"]["id"]
    assert again.json()["target"]["version"] == first.json()["target"]["version"]
    other = await secretariat.post(f"/v1/campaigns/{cid}/targets", {**body, "coordinating_unit_ids": [helper]})
    assert other.status_code == 422, other.text  # the key names a target assigned with other details
    assert other.json()["kind"] == "command_id_reused"


async def test_a_csv_import_names_coordinating_units_separated_by_semicolons(
    secretariat: Person, worker: None, projector: None
) -> None:
    owner, first, second = await _registered(secretariat, "phuong-ngo-quyen", "phuong-dong-da", "xa-thanh-tru")
    cid = await _campaign(secretariat)
    deadline = (date.today() + timedelta(days=90)).isoformat()
    header = "key,unit_id,title,area,deadline,points,coordinating_unit_ids"
    ghost = unique("khong-co")
    bad = f"{header}\nc1,{owner},Chỉnh trang đô thị,Đô thị,{deadline},5,{first}; {ghost}\n".encode()
    refused = await secretariat.post(f"/v1/campaigns/{cid}/targets/import", content=bad,
                                     headers={"content-type": "text/csv"})
    assert refused.status_code == 422, refused.text
    assert [row["errors"] for row in refused.json()["rows"]] == [[{
        "field": "coordinating_unit_ids", "message": f"unit {ghost!r} is not registered", "type": "unknown_unit"}]]

    good = f"{header}\nc1,{owner},Chỉnh trang đô thị,Đô thị,{deadline},5,{first}; {second}\n".encode()
    created = await secretariat.post(f"/v1/campaigns/{cid}/targets/import", content=good,
                                     headers={"content-type": "text/csv"})
    assert created.status_code == 201, created.text
    target = await secretariat.get(f"/v1/targets/{target_id_for(cid, 'c1')}")
    assert target.json()["coordinating_unit_ids"] == [first, second]
