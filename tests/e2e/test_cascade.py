"""Decisions and the cascade, end to end on real PostgreSQL and Temporal: registered
decisions, parent and child targets, the parent's rollup, and the parent that completes
by itself when its last child does (late if a child was late), reopens when a child
reopens, and cannot be completed or cancelled by hand while a child is open."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest

from tests.e2e.conftest import BackgroundLoop, Person, make_person, register_unit, unique
from thidua.domain.target import target_id_for
from thidua.settings import Settings

SOON = (date.today() + timedelta(days=90)).isoformat()
LATER = (date.today() + timedelta(days=180)).isoformat()
PAST = (date.today() - timedelta(days=2)).isoformat()


@pytest.fixture(scope="module")
def cascade(e2e_settings: Settings, worker: None, projector: None) -> Iterator[None]:
    """The cascade dispatcher, as `thidua worker` runs it beside the worker."""
    from thidua.dburl import asyncpg_dsn
    from thidua.workflows.cascade import CascadeDispatcher
    from thidua.workflows.client import TargetGateway, connect

    background = BackgroundLoop("thidua-cascade")

    async def start() -> tuple[CascadeDispatcher, asyncio.Task[None]]:
        client = await connect(e2e_settings.temporal_address, e2e_settings.temporal_namespace)
        dispatcher = CascadeDispatcher(TargetGateway(client, e2e_settings.task_queue),
                                       asyncpg_dsn(e2e_settings.database_url), poll_interval=0.5)
        return dispatcher, asyncio.create_task(dispatcher.run())

    async def stop(dispatcher: CascadeDispatcher, running: asyncio.Task[None]) -> None:
        dispatcher.stop()
        await asyncio.gather(running, return_exceptions=True)

    dispatcher, running = background.run(start())
    try:
        yield
    finally:
        background.run(stop(dispatcher, running))
        background.close()


async def eventually(check: Any, timeout: float = 60) -> Any:
    """Poll `check()` until it gives something truthy: the cascade acts on its own."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("the cascade did not happen in time")
        await asyncio.sleep(0.2)


async def drive(secretariat: Person) -> tuple[str, dict[str, str]]:
    """A campaign with decision 529 (the province's) and 934 (the city's, making 529
    concrete), a city body and two wards."""
    units = {"city": unique("thanh-uy"), "a": unique("phuong-ngo-quyen"), "b": unique("phuong-dong-da")}
    for unit_id, name in zip(units.values(), ("Thành ủy Vĩnh Yên", "Phường Ngô Quyền", "Phường Đống Đa")):
        await register_unit(secretariat, unit_id, name)
    cid = unique("cascade")
    created = await secretariat.post("/v1/campaigns", {"id": cid, "name": "Cụ thể hóa", "starts_on": "2022-01-01",
                                                       "ends_on": LATER})
    assert created.status_code == 201, created.text
    for body in (
        {"number": "529", "issued_on": "2022-01-11", "title": "Giao chỉ tiêu năm 2022",
         "issuer": {"level": "province", "name": "Ban Thường vụ Tỉnh ủy Vĩnh Phúc"}},
        {"number": "934", "issued_on": "2022-02-15", "title": "Cụ thể hóa Quyết định 529",
         "issuer": {"level": "city", "name": "Ban Thường vụ Thành ủy Vĩnh Yên"}, "parent_number": "529"},
    ):
        recorded = await secretariat.post(f"/v1/campaigns/{cid}/decisions", body)
        assert recorded.status_code == 201, recorded.text
    return cid, units


async def assign(secretariat: Person, cid: str, **body: Any) -> dict[str, Any]:
    response = await secretariat.post(f"/v1/campaigns/{cid}/targets", {"area": "GPMB", "deadline": SOON, **body})
    assert response.status_code == 201, response.text
    return response.json()


async def test_the_decisions_registry(secretariat: Person, worker: None, projector: None) -> None:
    cid, _ = await drive(secretariat)
    listed = await secretariat.get(f"/v1/campaigns/{cid}/decisions")
    assert listed.status_code == 200, listed.text
    assert listed.json()["items"] == [
        {"number": "529", "issued_on": "2022-01-11", "title": "Giao chỉ tiêu năm 2022", "parent_number": None,
         "issuer": {"level": "province", "name": "Ban Thường vụ Tỉnh ủy Vĩnh Phúc"}},
        {"number": "934", "issued_on": "2022-02-15", "title": "Cụ thể hóa Quyết định 529", "parent_number": "529",
         "issuer": {"level": "city", "name": "Ban Thường vụ Thành ủy Vĩnh Yên"}},
    ]
    for body, field in (
        ({"number": "937", "issued_on": "2022-02-21", "issuer": {"level": "district", "name": "X"}},
         "body.issuer"),
        ({"number": "937", "issued_on": "2022-02-21", "issuer": {"level": "city", "name": "X"},
          "parent_number": "999"}, "body.parent_number"),
    ):
        refused = await secretariat.post(f"/v1/campaigns/{cid}/decisions", body)
        assert refused.status_code == 422, refused.text
        assert any(e["field"].startswith(field) for e in refused.json()["errors"]), refused.text
    assert len((await secretariat.get(f"/v1/campaigns/{cid}/decisions")).json()["items"]) == 2
    # A number with a slash, as most are written, names its tree (sent as is or as %2F).
    slashed = await secretariat.post(f"/v1/campaigns/{cid}/decisions", {
        "number": "937-QĐ/TU", "issued_on": "2022-02-21", "issuer": {"level": "city", "name": "BTV Thành ủy"}})
    assert slashed.status_code == 201, slashed.text
    for path in ("/v1/decisions/937-QĐ/TU/targets", "/v1/decisions/937-Q%C4%90%2FTU/targets"):
        tree = await secretariat.get(path, params={"campaign_id": cid, "min_position": slashed.json()["position"]})
        assert tree.status_code == 200, tree.text
        assert tree.json()["decision"]["number"] == "937-QĐ/TU" and tree.json()["targets"] == []
    unknown = await secretariat.get("/v1/decisions/khong-co/targets")
    assert unknown.status_code == 404, unknown.text


async def test_bad_decisions_and_parents_are_refused_and_record_nothing(
    secretariat: Person, worker: None, projector: None
) -> None:
    cid, units = await drive(secretariat)
    other_cid, _ = await drive(secretariat)
    foreign = await assign(secretariat, other_cid, key="ngoai", unit_id=units["city"], title="Khác", points=1)
    base = {"unit_id": units["a"], "title": "Con", "area": "GPMB", "deadline": SOON, "points": 1}
    for extra, field in (
        ({"decision": {"number": "999"}}, "decision.number"),
        ({"decision": {"number": "934", "issued_on": "2022-03-01"}}, "decision.issued_on"),
        ({"decision": {"number": "934", "issuer": "Ai đó"}}, "decision.issuer"),
        ({"parent_id": str(target_id_for(cid, "khong-co"))}, "parent_id"),
        ({"parent_id": foreign["target"]["id"]}, "parent_id"),
        ({"key": "chinh-no", "parent_id": str(target_id_for(cid, "chinh-no"))}, "parent_id"),
    ):
        body = {"key": unique("xau"), **base, **extra}
        refused = await secretariat.post(f"/v1/campaigns/{cid}/targets", body)
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["field"].endswith(field), refused.text
        assert (await secretariat.get(f"/v1/targets/{target_id_for(cid, body['key'])}")).status_code == 404
    # A cycle in an import: nothing is created.
    csv = ("key,unit_id,title,area,deadline,points,parent_key\r\n"
           f"x,{units['a']},X,GPMB,{SOON},1,y\r\ny,{units['b']},Y,GPMB,{SOON},1,x\r\n")
    imported = await secretariat.post(f"/v1/campaigns/{cid}/targets/import", content=csv.encode(),
                                      headers={"Content-Type": "text/csv"})
    assert imported.status_code == 422, imported.text
    assert {e["field"] for e in imported.json()["errors"]} == {"line 2.parent_key", "line 3.parent_key"}
    for key in ("x", "y"):
        assert (await secretariat.get(f"/v1/targets/{target_id_for(cid, key)}")).status_code == 404


async def test_the_cascade_story(secretariat: Person, cascade: None) -> None:
    cid, units = await drive(secretariat)
    parent = (await assign(secretariat, cid, key="529-01", unit_id=units["city"], title="GPMB các dự án",
                           points=20, decision={"number": "529"}))["target"]
    pid = parent["id"]
    assert parent["parent_id"] is None and parent["decision"]["issuer_level"] == "province"
    first = (await assign(secretariat, cid, key="934-01", unit_id=units["a"], title="GPMB Ngô Quyền", points=10,
                          decision={"number": "934", "issued_on": "2022-02-15"}, parent_id=pid))["target"]
    # The import takes the parent by its key.
    csv = ("key,unit_id,title,area,deadline,points,decision_number,parent_key\r\n"
           f"934-02,{units['b']},GPMB Đống Đa,GPMB,{SOON},30,934,529-01\r\n")
    imported = await secretariat.post(f"/v1/campaigns/{cid}/targets/import", content=csv.encode(),
                                      headers={"Content-Type": "text/csv"})
    assert imported.status_code == 201, imported.text
    second_id = imported.json()["items"][0]["target_id"]
    position = imported.json()["position"]

    seen = (await secretariat.get(f"/v1/targets/{pid}", params={"min_position": position})).json()
    assert seen["rollup"] == {"children": 2, "completed_on_time": 0, "completed_late": 0,
                              "in_progress_within_deadline": 2, "overdue": 0, "cancelled": 0, "open": 2,
                              "percent": 0.0}
    children = (await secretariat.get(f"/v1/targets/{pid}/children")).json()["items"]
    assert {c["id"] for c in children} == {first["id"], second_id}
    assert all(c["parent_id"] == pid for c in children)

    # By hand, a parent with open children is neither completed nor cancelled.
    city_head = await make_person(secretariat, name="Chánh Văn phòng", role="unit_head", unit_id=units["city"])
    for person, segment, body in ((city_head, "complete", {}), (secretariat, "cancel", {"reason": "Thôi"})):
        refused = await person.post(f"/v1/targets/{pid}/{segment}", body)
        assert refused.status_code == 409, refused.text
        assert "children" in refused.json()["detail"]

    head_a = await make_person(secretariat, name="Bí thư Ngô Quyền", role="unit_head", unit_id=units["a"])
    head_b = await make_person(secretariat, name="Bí thư Đống Đa", role="unit_head", unit_id=units["b"])
    await head_b.post(f"/v1/targets/{second_id}/progress", {"percent": 50})
    done = await head_a.post(f"/v1/targets/{first['id']}/complete", {"result": "Xong"})
    assert done.status_code == 200, done.text
    seen = (await secretariat.get(f"/v1/targets/{pid}", params={"min_position": done.json()["position"]})).json()
    assert seen["status"] == "assigned"
    assert seen["rollup"]["completed_on_time"] == 1 and seen["rollup"]["open"] == 1
    assert seen["rollup"]["percent"] == 62.5  # (10 x 100 + 30 x 50) / 40

    last = await head_b.post(f"/v1/targets/{second_id}/complete", {"result": "Xong"})
    assert last.status_code == 200, last.text

    async def parent_is(status: str) -> dict[str, Any] | None:
        target = (await secretariat.get(f"/v1/targets/{pid}")).json()
        return target if target["status"] == status else None

    completed = await eventually(lambda: parent_is("completed"))
    assert completed["report_class"] == "completed_on_time" and completed["rollup"]["percent"] == 100.0
    history = (await secretariat.get(f"/v1/targets/{pid}/history")).json()["items"]
    [by_children] = [h for h in history if h["event_type"] == "CompletedByChildren"]
    assert by_children["actor"]["role"] == "system"
    named = {c["target_id"]: c["position"] for c in by_children["changes"]["children"]}
    assert named == {first["id"]: done.json()["position"], second_id: last.json()["position"]}

    # A child reopens: so does its parent.
    reopened = await secretariat.post(f"/v1/targets/{first['id']}/reopen", {"reason": "Thiếu hồ sơ"})
    assert reopened.status_code == 200, reopened.text
    back = await eventually(lambda: parent_is("in_progress"))
    assert back["rollup"]["open"] == 1
    # ...and completes again when the child does: the same command ids are not replays of the first.
    again = await head_a.post(f"/v1/targets/{first['id']}/complete", {"result": "Đủ hồ sơ"})
    assert again.status_code == 200, again.text
    await eventually(lambda: parent_is("completed"))

    tree = await secretariat.get("/v1/decisions/529/targets", params={"campaign_id": cid})
    assert tree.status_code == 200, tree.text
    [node] = tree.json()["targets"]
    assert node["id"] == pid and node["rollup"]["children"] == 2
    assert {c["id"] for c in node["children"]} == {first["id"], second_id}
    city = (await secretariat.get(f"/v1/campaigns/{cid}/city-targets")).json()["items"]
    assert [t["id"] for t in city] == [pid]


async def test_a_late_child_makes_a_late_parent(secretariat: Person, cascade: None) -> None:
    cid, units = await drive(secretariat)
    pid = (await assign(secretariat, cid, key="p", unit_id=units["city"], title="Cha", points=5))["target"]["id"]
    child = (await assign(secretariat, cid, key="c", unit_id=units["a"], title="Con", points=5, deadline=PAST,
                          parent_id=pid))["target"]
    head = await make_person(secretariat, name="Bí thư", role="unit_head", unit_id=units["a"])
    done = await head.post(f"/v1/targets/{child['id']}/complete", {})
    assert done.status_code == 200 and done.json()["target"]["report_class"] == "completed_late", done.text

    async def late_parent() -> dict[str, Any] | None:
        target = (await secretariat.get(f"/v1/targets/{pid}")).json()
        return target if target["status"] == "completed" else None

    parent = await eventually(late_parent)
    assert parent["report_class"] == "completed_late"

    # Scoreboards count unit targets only: the parent (the city's own) is in no unit's board.
    clustered = await secretariat.put(f"/v1/campaigns/{cid}/clusters/cum", {
        "name": "Cụm", "head_unit_id": units["city"], "deputy_unit_id": units["a"]})
    assert clustered.status_code == 200, clustered.text
    board = (await secretariat.get(f"/v1/campaigns/{cid}/scoreboard",
                                   params={"min_position": clustered.json()["position"]})).json()
    by_unit = {u["unit_id"]: u for c in board["clusters"] for u in c["units"]}
    assert by_unit[units["city"]]["max_score"] == 0 and by_unit[units["city"]]["counts"]["completed_late"] == 0
    assert by_unit[units["a"]]["counts"]["completed_late"] == 1
