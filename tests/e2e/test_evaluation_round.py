"""An evaluation round over HTTP, as a story on the real stack (PostgreSQL, Temporal,
projector): create (scores frozen as of the period's end) -> self-assessment -> the
cluster's review with adjusted scores -> a proposal refused by the rules, then accepted ->
the Standing Committee's decision -> revocation; bad input and the wrong people get 4xx
problems that record nothing, and nothing is taken once the round has closed."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta, timezone
from typing import Any

import openpyxl

from tests.e2e.conftest import Person, make_person, register_unit, unique
from tests.e2e.test_campaign_changes import committee, new_drive  # noqa: F401  (fixture)
from tests.e2e.test_reward_rules import FLAG, MERIT, PERSON

def units_of(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {u["unit_id"]: u for u in body["units"]}


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return response.json()


async def test_a_round_from_creation_to_revocation(secretariat: Person, committee: Person, worker: None,
                                                   projector: None) -> None:
    d = await new_drive(secretariat, committee)
    head_unit, deputy_unit = d.units
    head, deputy = d.heads[head_unit], d.heads[deputy_unit]
    rules = await secretariat.put(f"/v1/campaigns/{d.campaign}/rules", {
        "forms": [FLAG, MERIT, PERSON], "effective_at": "2022-01-01T00:00:00+07:00"})
    assert rules.status_code == 200, rules.text
    t1 = await d.assign(head_unit, points=10)
    t2 = await d.assign(deputy_unit, points=10)
    t3 = await d.assign(deputy_unit, points=10)
    for unit, tid in ((head_unit, t1), (deputy_unit, t2)):
        done = await d.by_head(unit, tid, "complete", {"result": "Đã hoàn thành"})
        assert done.status_code == 200, done.text

    now = datetime.now(timezone.utc)
    round_id = unique("tong-ket")
    body = {"id": round_id, "name": "Tổng kết năm 2022", "period_end": now.isoformat(),
            "self_assessment_due": (now + timedelta(days=5)).isoformat(),
            "review_due": (now + timedelta(days=10)).isoformat()}
    problem(await head.post(f"/v1/campaigns/{d.campaign}/evaluations", body), 403)
    problem(await secretariat.post(f"/v1/campaigns/{d.campaign}/evaluations",
                                   {**body, "review_due": (now + timedelta(days=1)).isoformat()}), 422)
    created = await secretariat.post(f"/v1/campaigns/{d.campaign}/evaluations", body,
                                     headers={"Idempotency-Key": "create-" + round_id})
    assert created.status_code == 201, created.text
    frozen = units_of(created.json()["evaluation"])
    assert (frozen[head_unit]["system_score"], frozen[head_unit]["max_score"]) == (10.0, 10.0)
    assert (frozen[deputy_unit]["system_score"], frozen[deputy_unit]["max_score"]) == (10.0, 20.0)
    again = await secretariat.post(f"/v1/campaigns/{d.campaign}/evaluations", body,
                                   headers={"Idempotency-Key": "create-" + round_id})
    assert again.json() == created.json()
    problem(await secretariat.post(f"/v1/campaigns/{d.campaign}/evaluations", body), 409)  # another command

    # A completion recorded after the freeze moves the live board, not the round.
    late = await d.by_head(deputy_unit, t3, "complete", {"result": "Hoàn thành sau kỳ"})
    assert late.status_code == 200, late.text
    url = f"/v1/evaluations/{round_id}"
    read = await committee.get(url, params={"min_position": late.json()["position"]})
    assert units_of(read.json())[deputy_unit]["system_score"] == 10.0
    assert [(f["id"], f["for"]) for f in read.json()["rules"]] == [  # the rules frozen with the round
        ("co-thi-dua", "collective"), ("giay-khen", "collective"), ("giay-khen-ca-nhan", "individual")]

    # Self-assessment: bad input and the wrong people record nothing.
    own = f"{url}/units/{deputy_unit}/self-assessment"
    bad = problem(await deputy.put(own, {"items": [{"target_id": t2, "score": 11}]}), 422)
    assert "points" in bad["detail"]
    problem(await deputy.put(own, {"items": [{"target_id": t2, "score": -1}]}), 422)
    problem(await deputy.put(own, {"items": [{"target_id": t1, "score": 5}]}), 422)  # another unit's target
    problem(await head.put(own, {"items": [{"target_id": t2, "score": 5}]}), 403)
    assessed = await deputy.put(own, {"items": [{"target_id": t2, "score": 10, "note": "Có biên bản"},
                                                {"target_id": t3, "score": 9}],
                                      "initiatives": [{"title": "Số hóa hồ sơ", "points_claimed": 1}],
                                      "summary": "Hoàn thành cơ bản"})
    assert assessed.status_code == 200, assessed.text
    assert units_of(assessed.json()["evaluation"])[deputy_unit]["self_score"] == 20.0
    assert assessed.json()["evaluation"]["version"] == created.json()["evaluation"]["version"] + 1  # the refusals stored nothing
    mine = await head.put(f"{url}/units/{head_unit}/self-assessment", {"items": [{"target_id": t1, "score": 10}]})
    assert mine.status_code == 200, mine.text

    # The cluster's review: the head reviews the deputy's unit, the deputy the head's; nobody their own.
    problem(await head.put(f"{url}/units/{head_unit}/review", {"items": [{"target_id": t1, "score": 10}]}), 403)
    elsewhere = unique("ward")
    await register_unit(secretariat, elsewhere, "Xã Thanh Trù")
    outsider = await make_person(secretariat, name="Bí thư khác", role="unit_head", unit_id=elsewhere)
    problem(await outsider.put(f"{url}/units/{deputy_unit}/review", {"items": []}), 403)
    review = f"{url}/units/{deputy_unit}/review"
    reasonless = problem(await head.put(review, {"items": [{"target_id": t3, "score": 0}]}), 422)
    assert "reason" in reasonless["detail"]
    reviewed = await head.put(review, {"items": [{"target_id": t3, "score": 0,
                                                  "reason": "Hoàn thành sau thời điểm chốt"}],
                                       "initiatives": [{"title": "Số hóa hồ sơ", "points": 0}]})
    assert reviewed.status_code == 200, reviewed.text
    unit = units_of(reviewed.json()["evaluation"])[deputy_unit]
    assert (unit["self_score"], unit["reviewed_score"], unit["reviewed_minus_self"]) == (20.0, 10.0, -10.0)
    assert (await deputy.put(f"{url}/units/{head_unit}/review", {"items": []})).status_code == 200

    # The proposal: refused with the failed criterion and its figures, then accepted.
    proposal = f"{url}/clusters/cum-1/proposal"
    refused = problem(await head.post(proposal, {"collectives": [{"unit_id": deputy_unit, "form_id": "co-thi-dua"}]}),
                      422)
    assert "score 50 % < 95 % required for Cờ thi đua" in refused["detail"], refused
    problem(await deputy.post(proposal, {"collectives": [{"unit_id": head_unit, "form_id": "co-thi-dua"}]}), 403)
    accepted = await head.post(proposal, {
        "collectives": [{"unit_id": head_unit, "form_id": "co-thi-dua", "reason": "Dẫn đầu cụm"},
                        {"unit_id": deputy_unit, "form_id": "giay-khen"}],
        "individuals": [{"name": "Nguyễn Văn An", "unit_id": deputy_unit, "position": "Chủ tịch UBND phường",
                         "form_id": "giay-khen-ca-nhan", "achievements": "Chỉ đạo giải phóng mặt bằng"}]})
    assert accepted.status_code == 200, accepted.text
    assert len(accepted.json()["evaluation"]["proposals"]) == 3

    # The Standing Committee's decision: only what was proposed; then the round is closed.
    approve = f"{url}/approve"
    decision = {"number": "1205-QĐ/TU", "issued_on": date.today().isoformat()}
    problem(await head.post(approve, {"decision": decision}), 403)
    problem(await committee.post(approve, {"decision": decision,
                                           "awards": [{"unit_id": deputy_unit, "form_id": "co-thi-dua"}]}), 422)
    approved = await committee.post(approve, {"decision": decision, "awards": [
        {"unit_id": head_unit, "form_id": "co-thi-dua"}, {"unit_id": deputy_unit, "form_id": "giay-khen"},
        {"unit_id": deputy_unit, "form_id": "giay-khen-ca-nhan", "name": "Nguyễn Văn An"}]})
    assert approved.status_code == 200, approved.text
    result = approved.json()["evaluation"]
    assert result["state"] == "closed" and result["decision"]["number"] == "1205-QĐ/TU"
    awards = {a["award_id"]: a for a in result["awards"]}
    assert len(awards) == 3
    problem(await deputy.put(own, {"items": [{"target_id": t2, "score": 10}]}), 409)
    problem(await head.post(proposal, {"collectives": []}), 409)
    problem(await committee.post(f"{url}/extend", {"stage": "review", "due": (now + timedelta(days=20)).isoformat(),
                                                   "reason": "Thêm thời gian"}), 409)

    # The heads were told the round opened; the awarded unit's head of its award.
    told = await head.get("/v1/me/notifications", params={"min_position": approved.json()["position"]})
    kinds = [n["kind"] for n in told.json()["items"]]
    assert "evaluation.opened" in kinds and "award.approved" in kinds, kinds

    # Revocation shows wherever the award shows.
    flag = next(a for a in awards.values() if a["form_id"] == "co-thi-dua")
    problem(await committee.post(f"/v1/awards/{flag['award_id']}/revoke", {"reason": " "}), 422)
    revoked = await committee.post(f"/v1/awards/{flag['award_id']}/revoke",
                                   {"reason": "Hồ sơ minh chứng không trung thực"})
    assert revoked.status_code == 200, revoked.text
    read = await committee.get(url, params={"min_position": revoked.json()["position"]})
    shown = {a["award_id"]: a for a in read.json()["awards"]}
    assert shown[flag["award_id"]]["revoked"]["reason"] == "Hồ sơ minh chứng không trung thực"
    problem(await committee.post(f"/v1/awards/{flag['award_id']}/revoke", {"reason": "lại"}), 409)

    exported = await committee.get(url, params={"format": "csv"})
    table = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert table[0][:4] == ["Mã cụm", "Mã đơn vị", "Tên đơn vị", "Điểm hệ thống"]
    by_unit = {row[1]: row for row in table[1:]}
    assert "Cờ thi đua (đã thu hồi: Hồ sơ minh chứng không trung thực)" in by_unit[head_unit][-1]
    sheet = openpyxl.load_workbook(io.BytesIO((await committee.get(url, params={"format": "xlsx"})).content)).active
    assert sheet.cell(1, 7).value == "Điểm cụm chấm"

    trail = await committee.get(f"/v1/awards/{flag['award_id']}/trail")
    assert trail.status_code == 200, trail.text
    steps = trail.json()
    assert [t["target_id"] for t in steps["targets"]] == [t1]
    assert "Completed" in [e["event_type"] for e in steps["targets"][0]["events"]]
    assert {"Created", "TargetsFrozen", "SelfAssessed", "Reviewed", "Proposed", "Approved", "AwardRevoked"} <= {
        e["event_type"] for e in steps["round_events"]}

    listed = await committee.get(f"/v1/campaigns/{d.campaign}/evaluations")
    assert [r["id"] for r in listed.json()["items"]] == [round_id]
