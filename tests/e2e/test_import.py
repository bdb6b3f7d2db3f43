"""Importing a decision's targets: every bad row reported, nothing created unless all are good."""

from __future__ import annotations

import pytest

from thidua.domain.target import target_id_for
from tests.e2e.conftest import Person, make_person, register_unit, unique

HEADER = "key,unit_id,title,area,deadline,points,decision_number,decision_issued_on,decision_issuer,note"


@pytest.fixture(scope="module")
async def setting(secretariat: Person, worker: None) -> tuple[str, str]:
    unit = unique("phuong-lien-bao")
    await register_unit(secretariat, unit, "Phường Liên Bảo")
    cid = unique("nhap")
    created = await secretariat.post("/v1/campaigns", {"id": cid, "name": "Nhập chỉ tiêu", "starts_on": "2022-01-01",
                                                       "ends_on": "2022-12-31"})
    assert created.status_code == 201
    # A target's decision is one registered in its campaign (named by its number).
    recorded = await secretariat.post(f"/v1/campaigns/{cid}/decisions", {
        "number": "934-QĐ/TU", "issued_on": "2022-02-15", "issuer": "BTV Thành ủy Vĩnh Yên", "title": "Giao chỉ tiêu"})
    assert recorded.status_code == 201, recorded.text
    return cid, unit


async def _exists(person: Person, cid: str, key: str) -> bool:
    response = await person.get(f"/v1/targets/{target_id_for(cid, key)}")
    assert response.status_code in (200, 404), response.text
    return response.status_code == 200


async def test_a_csv_with_bad_rows_creates_nothing_and_names_every_bad_line(
    secretariat: Person, setting: tuple[str, str]
) -> None:
    cid, unit = setting
    csv_text = "\n".join([
        HEADER,
        f"a1,{unit},Giải phóng mặt bằng dự án A,GPMB,2022-09-30,10,934-QĐ/TU,2022-02-15,BTV Thành ủy Vĩnh Yên,",
        f"a2,{unit},Cải cách hành chính,CCHC,30/09/2022,10,,,,",
        "a3,ghost-unit,Chống lãng phí,Tiết kiệm,2022-09-30,5,,,,",
        f"a1,{unit},Trùng khóa,GPMB,2022-09-30,1,,,,",
        f"a5,{unit},Thiếu điểm,GPMB,2022-09-30,,,,,",
        f"a6,{unit},Quyết định thiếu,GPMB,2022-09-30,3,937-QĐ/TU,,,",
    ]).encode()
    response = await secretariat.post(f"/v1/campaigns/{cid}/targets/import", content=csv_text,
                                      headers={"content-type": "text/csv"})
    assert response.status_code == 422, response.text
    problem = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    bad = {row["line"]: {e["field"] for e in row["errors"]} for row in problem["rows"]}
    assert bad == {3: {"deadline"}, 4: {"unit_id"}, 5: {"key"}, 6: {"points"},
                   7: {"decision.number"}}  # 937 is not registered in this campaign
    assert not await _exists(secretariat, cid, "a1")


async def test_a_good_csv_with_a_bom_creates_every_target_once(secretariat: Person, setting: tuple[str, str]) -> None:
    cid, unit = setting
    csv_text = ("\ufeff" + "\r\n".join([
        HEADER,
        f"b1,{unit},\"Hoàn thành GPMB, đường Nguyễn Tất Thành\",GPMB,2022-09-30,10,934-QĐ/TU,2022-02-15,"
        "BTV Thành ủy Vĩnh Yên,Ưu tiên",
        f"b2,{unit},Xử lý vi phạm đất đai,Tài nguyên môi trường,2022-11-30,7.5,,,,",
    ]) + "\r\n").encode("utf-8")
    first = await secretariat.post(f"/v1/campaigns/{cid}/targets/import", content=csv_text,
                                   headers={"content-type": "text/csv; charset=utf-8"})
    assert first.status_code == 201, first.text
    assert first.json()["created"] == 2
    assert {item["key"] for item in first.json()["items"]} == {"b1", "b2"}
    target = await secretariat.get(f"/v1/targets/{target_id_for(cid, 'b1')}")
    assert target.json()["title"] == "Hoàn thành GPMB, đường Nguyễn Tất Thành"
    again = await secretariat.post(f"/v1/campaigns/{cid}/targets/import", content=csv_text,
                                   headers={"content-type": "text/csv"})
    assert again.status_code == 201
    assert {i["position"] for i in again.json()["items"]} == {i["position"] for i in first.json()["items"]}


async def test_a_json_import_refuses_a_key_already_used_for_other_details(
    secretariat: Person, setting: tuple[str, str]
) -> None:
    cid, unit = setting
    rows = [{"key": "c1", "unit_id": unit, "title": "Kế hoạch", "area": "KT-XH", "deadline": "2022-10-31",
             "points": 4}]
    assert (await secretariat.post(f"/v1/campaigns/{cid}/targets/import", rows)).status_code == 201
    changed = [{**rows[0], "points": 40}, {**rows[0], "key": "c2"}]
    response = await secretariat.post(f"/v1/campaigns/{cid}/targets/import", changed)
    assert response.status_code == 422
    assert [(r["line"], r["errors"][0]["type"]) for r in response.json()["rows"]] == [(1, "key_taken")]
    assert not await _exists(secretariat, cid, "c2")


async def test_whole_file_problems(secretariat: Person, setting: tuple[str, str]) -> None:
    cid, _ = setting
    url = f"/v1/campaigns/{cid}/targets/import"
    wrong_header = await secretariat.post(url, content=b"key,unit,title\n", headers={"content-type": "text/csv"})
    assert wrong_header.status_code == 422 and wrong_header.json()["errors"][0]["field"] == "header"
    latin1 = await secretariat.post(url, content=(HEADER + "\nx,u,Café,a,2022-01-01,1,,,,").encode("cp1252"),
                                    headers={"content-type": "text/csv"})
    assert latin1.status_code == 422
    xml = await secretariat.post(url, content=b"<targets/>", headers={"content-type": "application/xml"})
    assert xml.status_code == 415
    not_a_list = await secretariat.post(url, {"key": "x"})
    assert not_a_list.status_code == 422


async def test_only_assigners_import(secretariat: Person, setting: tuple[str, str]) -> None:
    cid, unit = setting
    inspector = await make_person(secretariat, name="UBKT", role="inspector")
    response = await inspector.post(f"/v1/campaigns/{cid}/targets/import", [])
    assert response.status_code == 403


async def test_imports_may_be_large_but_not_unbounded(secretariat: Person, setting: tuple[str, str]) -> None:
    cid, unit = setting
    url = f"/v1/campaigns/{cid}/targets/import"
    # 2 MiB would be a 413 anywhere else; here it is read, and judged on its content.
    padding = "x" * (2 * 1024 * 1024)
    two_mib = (HEADER + "\n" + f"d1,{unit},Lớn,GPMB,2022-09-30,1,,,,{padding}\n").encode()
    judged = await secretariat.post(url, content=two_mib, headers={"content-type": "text/csv"})
    assert judged.status_code == 422 and judged.json()["rows"][0]["line"] == 2
    too_big = b"x" * (20 * 1024 * 1024 + 1)
    assert (await secretariat.post(url, content=too_big, headers={"content-type": "text/csv"})).status_code == 413
