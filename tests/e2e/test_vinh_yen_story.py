"""The Vĩnh Yên 2022 peak emulation drive, end to end, through HTTP only.

The city's secretariat sets the drive up and assigns the targets of Decision 934; the
wards work on them; one is blocked and, left blocked, reaches the Standing Committee
by itself (policy `escalate_after = PT2S`), which removes the obstacle; one ward
finishes late, a target is cancelled, an initiative earns a bonus; the scoreboard
ranks the wards (now and as of earlier), and an inspector reads and verifies the
audit trail.
"""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import date, datetime, timedelta, timezone
from typing import Any

import openpyxl
import pytest

from tests.e2e.conftest import Person, make_person, register_unit, unique

WARDS = {
    "ngo-quyen": "Phường Ngô Quyền",
    "dong-da": "Phường Đống Đa",
    "lien-bao": "Phường Liên Bảo",
    "tich-son": "Phường Tích Sơn",
}


class Drive:
    """The people and places of the story, and a few moves they make over HTTP."""

    def __init__(self, secretariat: Person) -> None:
        self.secretariat = secretariat
        self.suffix = unique("vy")
        self.campaign = f"vinh-yen-2022-{self.suffix}"
        self.unit = {key: f"{key}-{self.suffix}" for key in WARDS}
        self.heads: dict[str, Person] = {}
        self.committee: Person
        self.inspector: Person
        self.last_position = 0

    def saw(self, response: Any) -> dict[str, Any]:
        assert response.status_code in (200, 201), response.text
        body = response.json()
        self.last_position = max(self.last_position, int(body.get("position") or 0))
        return body

    async def assign(self, ward: str, key: str, title: str, deadline: date, points: float) -> str:
        body = self.saw(await self.secretariat.post(f"/v1/campaigns/{self.campaign}/targets", {
            "key": key, "unit_id": self.unit[ward], "title": title, "area": "GPMB", "deadline": deadline.isoformat(),
            "points": points,
            "decision": {"number": "934-QĐ/TU", "issued_on": "2022-02-15", "issuer": "BTV Thành ủy Vĩnh Yên"},
        }))
        assert body["target"]["status"] == "assigned"
        return body["target"]["id"]

    async def by(self, person: Person, tid: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return self.saw(await person.post(f"/v1/targets/{tid}/{action}", payload))["target"]

    async def read(self, person: Person, url: str, **params: Any) -> Any:
        response = await person.get(url, params={"min_position": self.last_position, **params})
        assert response.status_code == 200, response.text
        return response


async def _wait_for_status(person: Person, tid: str, status: str, timeout: float = 60) -> dict[str, Any]:
    """The timers work on their own: look until the target got there (bounded)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        target = (await person.get(f"/v1/targets/{tid}")).json()
        if target.get("status") == status:
            return target
        assert asyncio.get_running_loop().time() < deadline, f"target stayed {target.get('status')}"
        await asyncio.sleep(0.25)


@pytest.fixture(scope="module")
async def drive(secretariat: Person, worker: None, projector: None) -> Drive:
    d = Drive(secretariat)
    for key, name in WARDS.items():
        await register_unit(secretariat, d.unit[key], name)
    d.committee = await make_person(secretariat, name="Nguyễn Hoài Nam", role="standing_committee")
    d.inspector = await make_person(secretariat, name="Ủy ban Kiểm tra Thành ủy", role="inspector")
    for key in ("ngo-quyen", "dong-da", "lien-bao"):
        d.heads[key] = await make_person(secretariat, name=f"Bí thư {WARDS[key]}", role="unit_head",
                                         unit_id=d.unit[key])
    d.saw(await secretariat.post("/v1/campaigns", {
        "id": d.campaign, "name": "Đợt cao điểm thi đua năm 2022", "starts_on": "2022-02-15", "ends_on": "2030-12-31",
        "policy": {"escalate_after": "PT2S", "resolution_sla": "P7D", "stale_after": "P14D"},
        "scoring": {"on_time": 1.0, "late": 0.5, "reward_slots": 1},
    }))
    d.saw(await secretariat.put(f"/v1/campaigns/{d.campaign}/clusters/cum-phuong", {
        "name": "Cụm thi đua các phường", "head_unit_id": d.unit["ngo-quyen"], "deputy_unit_id": d.unit["dong-da"],
        "member_unit_ids": [d.unit["lien-bao"], d.unit["tich-son"]],
    }))
    d.saw(await secretariat.post(f"/v1/campaigns/{d.campaign}/decisions", {
        "number": "934-QĐ/TU", "issued_on": "2022-02-15", "issuer": "BTV Thành ủy Vĩnh Yên",
        "title": "Giao chỉ tiêu, nhiệm vụ năm 2022"}))
    return d


async def test_the_peak_drive(drive: Drive) -> None:
    d = drive
    future = date.today() + timedelta(days=365)
    past = date.today() - timedelta(days=3)

    # --- Decision 934 assigns the targets
    gpmb = await d.assign("ngo-quyen", "934-01", "Hoàn thành GPMB dự án đường Nguyễn Tất Thành", future, 10)
    land = await d.assign("dong-da", "934-02", "Xử lý dứt điểm vi phạm đất đai", past, 10)
    site = await d.assign("lien-bao", "934-03", "Bàn giao mặt bằng khu đô thị mới", future, 10)
    waste = await d.assign("tich-son", "934-04", "Tiết kiệm, chống lãng phí", future, 5)
    appeal = await d.assign("ngo-quyen", "934-05", "Giải quyết khiếu nại, tố cáo tồn đọng", future, 5)
    before_any_completion = datetime.now(timezone.utc)

    # --- Ngô Quyền works and finishes on time
    ngo_quyen = d.heads["ngo-quyen"]
    await d.by(ngo_quyen, gpmb, "start", {"note": "Thành lập tổ công tác"})
    progressed = await d.by(ngo_quyen, gpmb, "progress", {"percent": 60, "note": "Đã chi trả 60% hộ dân"})
    assert progressed["status"] == "in_progress"
    done = await d.by(ngo_quyen, gpmb, "complete", {"result": "Bàn giao 100% mặt bằng", "evidence": "BB-12/2022"})
    assert (done["status"], done["report_class"]) == ("completed", "completed_on_time")

    # --- Đống Đa's deadline has passed: the timer marks it overdue; it finishes late
    overdue = await _until(d, land, lambda t: t["overdue"])
    assert overdue["report_class"] == "overdue"
    late = await d.by(d.heads["dong-da"], land, "complete", {"result": "Đã xử lý 12/12 trường hợp"})
    assert late["report_class"] == "completed_late"

    # --- Liên Bảo is blocked; left blocked, it reaches the Standing Committee by itself
    blocked = await d.by(d.heads["lien-bao"], site, "block", {
        "reason": "Hộ dân chưa đồng ý phương án bồi thường", "help_needed": "BTV chỉ đạo phối hợp"})
    assert blocked["status"] == "blocked"
    escalated = await _wait_for_status(d.committee, site, "escalated")
    assert escalated["escalation"]["trigger"] == "auto"
    assert escalated["escalation"]["state"] == "open"
    # The Standing Committee removes the obstacle, with a directive and more time
    resolved = await d.by(d.committee, site, "resolve", {
        "directive": "Trung tâm Phát triển quỹ đất phối hợp vận động, hoàn thành trong quý III",
        "new_deadline": (future + timedelta(days=30)).isoformat()})
    assert resolved["status"] == "in_progress" and resolved["escalation"]["state"] == "resolved"
    finished = await d.by(d.heads["lien-bao"], site, "complete", {"result": "Đã bàn giao mặt bằng"})
    assert finished["report_class"] == "completed_on_time"

    # --- Ngô Quyền asks for help on another target: it waits in the queue
    await d.by(ngo_quyen, appeal, "block", {"reason": "Hồ sơ phức tạp, liên quan nhiều cấp"})
    asked = await d.by(ngo_quyen, appeal, "escalate", {"reason": "Đề nghị BTV chỉ đạo"})
    assert asked["status"] == "escalated" and asked["escalation"]["trigger"] == "requested"

    # --- a target no longer relevant is cancelled; an initiative earns a bonus
    cancelled = await d.by(d.secretariat, waste, "cancel", {"reason": "Đã lồng ghép vào chỉ tiêu khác"})
    assert cancelled["report_class"] == "cancelled"
    d.saw(await d.committee.post(f"/v1/campaigns/{d.campaign}/bonuses", {
        "unit_id": d.unit["lien-bao"], "points": 2, "reason": "Sáng kiến vận động hộ dân bàn giao mặt bằng"}))

    # --- the scoreboard ranks the wards
    board = (await d.read(d.heads["dong-da"], f"/v1/campaigns/{d.campaign}/scoreboard")).json()
    units = {u["unit_id"]: u for u in board["clusters"][0]["units"]}
    score = {key: units[d.unit[key]]["score"] for key in WARDS}
    assert score == {"lien-bao": 12.0, "ngo-quyen": 10.0, "dong-da": 5.0, "tich-son": 0.0}
    assert [u["unit_id"] for u in sorted(units.values(), key=lambda u: u["rank"])] == [
        d.unit["lien-bao"], d.unit["ngo-quyen"], d.unit["dong-da"], d.unit["tich-son"]]
    assert units[d.unit["lien-bao"]]["reward_candidate"] is True
    assert units[d.unit["ngo-quyen"]]["counts"]["escalated"] == 1
    assert units[d.unit["dong-da"]]["counts"]["completed_late"] == 1
    assert units[d.unit["tich-son"]]["counts"]["cancelled"] == 1
    assert units[d.unit["ngo-quyen"]]["max_score"] == 15.0

    # --- ...and as it stood before anything was completed
    then = (await d.read(d.committee, f"/v1/campaigns/{d.campaign}/scoreboard",
                         as_of=before_any_completion.isoformat())).json()
    assert all(u["counts"]["completed_on_time"] == 0 and u["counts"]["completed_late"] == 0
               for u in then["clusters"][0]["units"])
    naive = await d.committee.get(f"/v1/campaigns/{d.campaign}/scoreboard", params={"as_of": "2022-06-30T00:00:00"})
    assert naive.status_code == 422

    # --- exports keep the Vietnamese names
    exported = await d.read(d.secretariat, f"/v1/campaigns/{d.campaign}/scoreboard", format="csv")
    rows = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert {r["unit_name"] for r in rows} == set(WARDS.values())
    assert rows[0]["cluster_name"] == "Cụm thi đua các phường"
    workbook = await d.read(d.secretariat, f"/v1/campaigns/{d.campaign}/scoreboard", format="xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(workbook.content)).active
    assert {row[4] for row in sheet.iter_rows(min_row=2, values_only=True)} == set(WARDS.values())

    # --- the Standing Committee's queue
    queue = (await d.read(d.committee, f"/v1/campaigns/{d.campaign}/escalations", state="open")).json()
    assert [e["target_id"] for e in queue["items"]] == [appeal]
    assert queue["items"][0]["trigger"] == "requested"
    handled = (await d.read(d.committee, f"/v1/campaigns/{d.campaign}/escalations", state="resolved")).json()
    assert [(e["target_id"], e["trigger"]) for e in handled["items"]] == [(site, "auto")]
    assert handled["items"][0]["directive"].startswith("Trung tâm Phát triển quỹ đất")

    # --- an inspector reads who did what, and checks nobody rewrote it
    trail = (await d.read(d.inspector, "/v1/audit", target_id=site)).json()["items"]
    events = [(e["event_type"], e["actor"]["role"]) for e in trail]
    assert events[:2] == [("Assigned", "secretariat"), ("Blocked", "unit_head")]
    assert ("Escalated", "system") in events and ("Resolved", "standing_committee") in events
    assert all(e["prev_hash"] and e["hash"] for e in trail)
    by_committee = (await d.read(d.inspector, "/v1/audit", actor_id=d.committee.id)).json()["items"]
    assert {"BonusAwarded", "Resolved"} <= {e["event_type"] for e in by_committee}
    users_made = (await d.read(d.inspector, "/v1/audit", actor_id=d.secretariat.id, limit=500)).json()["items"]
    assert any(e["aggregate_type"] == "user" and e["event_type"] == "Created" for e in users_made)
    verified = (await d.read(d.inspector, "/v1/audit/verify")).json()
    assert verified["ok"] is True and verified["first_bad_position"] is None and verified["checked"] > 20

    # --- taking a token away is recorded too
    # (since: the secretariat of the session has done more than a page of other work)
    just_before = (datetime.now(timezone.utc) - timedelta(seconds=5)).isoformat()
    d.saw(await d.secretariat.delete(f"/v1/users/{d.heads['dong-da'].id}"))
    revoked = (await d.read(d.inspector, "/v1/audit", actor_id=d.secretariat.id, since=just_before,
                            limit=500)).json()["items"]
    assert ("user", "Revoked", d.heads["dong-da"].id) in {
        (e["aggregate_type"], e["event_type"], e["aggregate_id"]) for e in revoked}
    assert (await d.heads["dong-da"].get("/v1/me")).status_code == 401

    # --- a unit head sees its own history, not another ward's
    assert (await d.heads["lien-bao"].get(f"/v1/targets/{site}/history")).status_code == 200
    assert (await d.heads["lien-bao"].get(f"/v1/targets/{gpmb}/history")).status_code == 403


async def _until(d: Drive, tid: str, condition: Any, timeout: float = 60) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        target = (await d.secretariat.get(f"/v1/targets/{tid}")).json()
        if condition(target):
            return target
        assert loop.time() < deadline, f"the target never got there: {target}"
        await asyncio.sleep(0.25)
