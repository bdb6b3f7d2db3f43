"""The conventions every route keeps: problem+json, idempotent commands, bounded and
paginated lists, read-your-writes, metrics and docs."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.conftest import Person, make_person, register_unit, unique

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
async def target(secretariat: Person, worker: None, projector: None) -> dict[str, str]:
    unit = unique("dinh-trung")
    await register_unit(secretariat, unit, "Xã Định Trung", kind="commune")
    cid = unique("conv")
    assert (await secretariat.post("/v1/campaigns", {"id": cid, "name": "Quy ước", "starts_on": "2022-01-01",
                                                     "ends_on": "2030-12-31"})).status_code == 201
    assigned = await secretariat.post(f"/v1/campaigns/{cid}/targets", {
        "key": "k1", "unit_id": unit, "title": "Nông thôn mới nâng cao", "area": "KT-XH", "deadline": "2030-06-30",
        "points": 8})
    assert assigned.status_code == 201, assigned.text
    head = await make_person(secretariat, name="Chủ tịch xã", role="unit_head", unit_id=unit)
    return {"cid": cid, "unit": unit, "tid": assigned.json()["target"]["id"], "head": head.token, "head_id": head.id}


def _head(secretariat: Person, target: dict[str, str]) -> Person:
    return Person(secretariat.http, target["head_id"], "unit_head", target["head"], unit_id=target["unit"])


async def test_a_replayed_command_answers_the_same_and_records_nothing(secretariat: Person,
                                                                       target: dict[str, str]) -> None:
    head = _head(secretariat, target)
    key = {"Idempotency-Key": unique("start")}
    first = await head.post(f"/v1/targets/{target['tid']}/start", {"note": "Bắt đầu"}, headers=key)
    assert first.status_code == 200, first.text
    replay = await head.post(f"/v1/targets/{target['tid']}/start", {"note": "Bắt đầu"}, headers=key)
    assert (replay.status_code, replay.content) == (first.status_code, first.content)
    history = await head.get(f"/v1/targets/{target['tid']}/history",
                             params={"min_position": first.json()["position"]})
    assert [e["event_type"] for e in history.json()["items"]] == ["Assigned", "Started"]
    # the same key for another request is refused; the refusal of a transition is replayed too
    other = await head.post(f"/v1/targets/{target['tid']}/start", {"note": "Khác"}, headers=key)
    assert other.status_code == 422 and other.json()["errors"][0]["field"] == "header.Idempotency-Key"
    key2 = {"Idempotency-Key": unique("again")}
    refused = await head.post(f"/v1/targets/{target['tid']}/start", {}, headers=key2)
    assert refused.status_code == 409 and refused.json()["state"] == "in_progress"
    assert (await head.post(f"/v1/targets/{target['tid']}/start", {}, headers=key2)).content == refused.content


async def test_a_stale_expected_version_is_a_409(secretariat: Person, target: dict[str, str]) -> None:
    head = _head(secretariat, target)
    response = await head.post(f"/v1/targets/{target['tid']}/progress", {"percent": 10, "expected_version": 1})
    assert response.status_code == 409
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.json()["type"].endswith("version-conflict")


async def test_a_body_cannot_set_what_the_contract_does_not_name(secretariat: Person,
                                                                 target: dict[str, str]) -> None:
    head = _head(secretariat, target)
    for extra in ({"status": "completed"}, {"points": 100}, {"unit_id": "x"}, {"version": 9},
                  {"actor": {"id": "system"}}):
        response = await head.post(f"/v1/targets/{target['tid']}/progress", {"percent": 20, **extra})
        assert response.status_code == 422, extra
        assert response.json()["errors"][0]["field"] == f"body.{next(iter(extra))}"


async def test_lists_are_bounded_and_paginated_with_opaque_cursors(secretariat: Person,
                                                                   target: dict[str, str]) -> None:
    assert (await secretariat.get("/v1/units", params={"limit": 501})).status_code == 422
    assert (await secretariat.get("/v1/units", params={"limit": 0})).status_code == 422
    assert (await secretariat.get("/v1/units", params={"colour": "red"})).status_code == 422
    seen: list[str] = []
    cursor = None
    for _ in range(100):
        response = await secretariat.get("/v1/units", params={"limit": 2, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= 2
        seen += [u["id"] for u in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) and target["unit"] in seen
    bad = await secretariat.get("/v1/units", params={"cursor": "not-a-cursor"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "query.cursor"
    audit_cursor = (await secretariat.get("/v1/audit", params={"limit": 1})).json()["next_cursor"]
    crossed = await secretariat.get("/v1/units", params={"cursor": audit_cursor})
    assert crossed.status_code == 422


async def test_reads_wait_for_a_position_and_refuse_one_that_does_not_exist(secretariat: Person,
                                                                            target: dict[str, str]) -> None:
    head = _head(secretariat, target)
    blocked = await head.post(f"/v1/targets/{target['tid']}/block", {"reason": "Thiếu vốn"})
    assert blocked.status_code == 200, blocked.text
    position = blocked.json()["position"]
    listed = await secretariat.get(f"/v1/campaigns/{target['cid']}/targets",
                                   params={"status": "blocked", "min_position": position})
    assert [t["id"] for t in listed.json()["items"]] == [target["tid"]]
    beyond = await secretariat.get(f"/v1/campaigns/{target['cid']}/targets", params={"min_position": 10**12})
    assert beyond.status_code == 422 and beyond.json()["errors"][0]["field"] == "query.min_position"


async def test_times_need_an_offset(secretariat: Person, target: dict[str, str]) -> None:
    naive = await secretariat.get("/v1/audit", params={"since": "2022-01-01T00:00:00"})
    assert naive.status_code == 422 and naive.json()["errors"][0]["field"] == "query.since"
    aware = await secretariat.get("/v1/audit", params={"since": "2022-01-01T00:00:00+07:00", "limit": 1})
    assert aware.status_code == 200


async def test_metrics_count_requests_by_route_and_commands_by_type(http: httpx.AsyncClient,
                                                                    secretariat: Person,
                                                                    target: dict[str, str]) -> None:
    await secretariat.get(f"/v1/targets/{target['tid']}")
    text = (await http.get("/metrics")).text
    assert 'route="/v1/targets/{tid}"' in text
    assert target["tid"] not in text  # concrete ids never become labels
    assert 'thidua_commands_total{command="assign",outcome="ok"}' in text
    assert "thidua_http_request_duration_seconds_bucket" in text
    assert "thidua_projection_lag_events{" in text


async def test_the_docs_and_the_schema_are_served(http: httpx.AsyncClient) -> None:
    assert (await http.get("/docs")).status_code == 200
    schema = (await http.get("/openapi.json")).json()
    assign = schema["paths"]["/v1/campaigns/{cid}/targets"]["post"]
    assert "Idempotency-Key" in {p["name"] for p in assign["parameters"]}
    assert schema["components"]["schemas"]["AssignIn"]["examples"]
    assert "application/problem+json" in assign["responses"]["409"]["content"]
