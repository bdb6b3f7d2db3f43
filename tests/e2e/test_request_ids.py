"""Every answer carries a request id (the client's `X-Request-ID` when it is a short token,
else a new one), and every request is logged once with it: refusals at INFO, without a
traceback (in the worker too). The id follows a command through Temporal into the events
it stores."""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from tests.e2e.conftest import Person, make_person, register_unit, unique

REQUEST_LOG = "thidua.api.request"


async def test_the_clients_request_id_is_echoed(http: httpx.AsyncClient) -> None:
    response = await http.get("/healthz", headers={"X-Request-ID": "client-7f3a.01"})
    assert response.headers["x-request-id"] == "client-7f3a.01"


@pytest.mark.parametrize("given", [None, "two words", "x" * 200, "-starts-with-a-dash"])
async def test_a_missing_or_unfit_request_id_is_replaced_by_a_new_one(http: httpx.AsyncClient,
                                                                      given: str | None) -> None:
    headers = {"X-Request-ID": given} if given is not None else {}
    first = (await http.get("/healthz", headers=headers)).headers["x-request-id"]
    second = (await http.get("/healthz", headers=headers)).headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", first) and first != second


async def test_refusals_are_logged_at_info_with_their_request_id_and_no_traceback(
    secretariat: Person, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=REQUEST_LOG)
    cid = unique("rid")
    body = {"id": cid, "name": "Mã yêu cầu", "starts_on": "2022-01-01", "ends_on": "2030-12-31"}
    assert (await secretariat.post("/v1/campaigns", body)).status_code == 201
    other = {**body, "name": "Một đợt khác"}  # the same id for another campaign
    conflict = await secretariat.post("/v1/campaigns", other, headers={"X-Request-ID": f"{cid}-again"})
    invalid = await secretariat.post("/v1/campaigns", {"id": cid}, headers={"X-Request-ID": f"{cid}-invalid"})
    assert (conflict.status_code, invalid.status_code) == (409, 422)
    for response in (conflict, invalid):
        request_id = response.headers["x-request-id"]
        assert request_id.startswith(cid)
        mine = [r for r in caplog.records if getattr(r, "request_id", None) == request_id]
        logged = [r for r in mine if r.name == REQUEST_LOG]
        assert len(logged) == 1, [r.getMessage() for r in mine]
        assert (logged[0].levelno, logged[0].status, logged[0].method) == (logging.INFO, response.status_code, "POST")
        assert logged[0].path == "/v1/campaigns"
        assert all(r.exc_info is None and r.levelno < logging.WARNING for r in mine)


async def test_the_request_id_follows_a_command_into_the_workflow_update_the_activity_and_the_event(
    secretariat: Person, worker: None, projector: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    unit = unique("rid-unit")
    registered = await secretariat.put(f"/v1/units/{unit}", {"name": "Phường Mã", "kind": "ward"},
                                       headers={"X-Request-ID": f"{unit}-register"})
    assert registered.status_code == 201, registered.text
    cid = unique("rid-c")
    body = {"id": cid, "name": "Theo dấu", "starts_on": "2022-01-01", "ends_on": "2030-12-31"}
    assert (await secretariat.post("/v1/campaigns", body)).status_code == 201
    request_id = f"{cid}-assign"
    assigned = await secretariat.post(f"/v1/campaigns/{cid}/targets", {
        "key": "k1", "unit_id": unit, "title": "Theo dấu một lệnh", "area": "KT-XH", "deadline": "2030-06-30",
        "points": 1}, headers={"X-Request-ID": request_id})
    assert assigned.status_code == 201, assigned.text
    assert assigned.headers["x-request-id"] == request_id
    mine = [r for r in caplog.records if getattr(r, "request_id", None) == request_id]
    update = [r for r in mine if r.name == "temporalio.workflow" and "update" in r.getMessage()]
    activities = [r for r in mine if r.name == "thidua.request_ids" and "activity" in r.getMessage()]
    assert update, [(r.name, r.getMessage()) for r in mine]
    # logged in the activity's own thread, where the activity's code logs too
    assert activities and all(r.threadName.startswith("thidua-activity") for r in activities), [
        (r.name, r.threadName) for r in activities]
    assert [r.status for r in mine if r.name == REQUEST_LOG] == [201]  # the API's line
    # ... and it is stored with the event, as the target's history and the audit trail show
    target, position = assigned.json()["target"], assigned.json()["position"]
    history = await secretariat.get(f"/v1/targets/{target['id']}/history", params={"min_position": position})
    assert [(e["event_type"], e["request_id"]) for e in history.json()["items"]] == [("Assigned", request_id)]
    audit = await secretariat.get("/v1/audit", params={"target_id": target["id"], "min_position": position})
    assert [e["request_id"] for e in audit.json()["items"]] == [request_id]
    # a change the API stores itself (no workflow) carries its request id too
    audit = await secretariat.get("/v1/audit", params={"unit_id": unit, "min_position": position})
    registered = [e for e in audit.json()["items"] if e["aggregate_type"] == "unit"]
    assert [e["request_id"] for e in registered] == [f"{unit}-register"]


async def test_a_refusal_decided_in_the_worker_is_logged_without_a_warning_or_a_traceback(
    secretariat: Person, worker: None, caplog: pytest.LogCaptureFixture
) -> None:
    """The aggregate refuses in the activity (a deadline that is not later: only the stored
    target knows): the answer is a 422, and neither the API nor the worker (Temporal's SDK
    included) logs it as trouble."""
    unit = unique("rid-ref-unit")
    await register_unit(secretariat, unit, "Phường Từ Chối")
    cid = unique("rid-refused")
    body = {"id": cid, "name": "Từ chối", "starts_on": "2022-01-01", "ends_on": "2030-12-31"}
    assert (await secretariat.post("/v1/campaigns", body)).status_code == 201
    assigned = await secretariat.post(f"/v1/campaigns/{cid}/targets", {
        "key": "k1", "unit_id": unit, "title": "Gia hạn lùi", "area": "KT-XH", "deadline": "2030-06-30",
        "points": 1})
    assert assigned.status_code == 201, assigned.text
    committee = await make_person(secretariat, name="Thường trực", role="standing_committee")
    caplog.set_level(logging.DEBUG)
    request_id = f"{cid}-extend"
    refused = await committee.post(f"/v1/targets/{assigned.json()['target']['id']}/extend-deadline",
                                   {"new_deadline": "2030-01-31", "reason": "lùi hạn"},
                                   headers={"X-Request-ID": request_id})
    assert refused.status_code == 422, refused.text
    # ... and one the workflow's validator refuses (the target is not escalated): a 409
    not_now = await committee.post(f"/v1/targets/{assigned.json()['target']['id']}/resolve",
                                   {"directive": "chưa có gì để chỉ đạo"}, headers={"X-Request-ID": f"{cid}-resolve"})
    assert not_now.status_code == 409, not_now.text
    mine = [r for r in caplog.records if getattr(r, "request_id", None) == request_id]
    assert any(r.name == "thidua.request_ids" for r in mine)  # the activity did run, and refused
    # (the SDK logs outside the activity's context: every record logged meanwhile counts)
    loud = [(r.name, r.levelname, r.getMessage()) for r in caplog.records
            if r.levelno >= logging.WARNING or (r.exc_info and r.levelno >= logging.INFO)]
    assert loud == []
    logged = [r for r in caplog.records if r.name == REQUEST_LOG and r.request_id.startswith(cid)]
    assert [(r.levelno, r.status) for r in logged] == [(logging.INFO, 422), (logging.INFO, 409)]


async def test_an_import_and_a_campaign_operation_store_their_request_ids(
    secretariat: Person, worker: None, projector: None
) -> None:
    """Work a request hands to a workflow of its own (an import's batches, closing a
    campaign) stores events with that request's id too."""
    unit = unique("rid-imp-unit")
    await register_unit(secretariat, unit, "Phường Nhập")
    cid = unique("rid-imp")
    assert (await secretariat.post("/v1/campaigns", {"id": cid, "name": "Nhập", "starts_on": "2022-01-01",
                                                     "ends_on": "2030-12-31"})).status_code == 201
    rows = [{"key": f"r{n}", "unit_id": unit, "title": f"Dòng {n}", "area": "KT-XH", "deadline": "2030-06-30",
             "points": 1} for n in range(3)]
    imported = await secretariat.post(f"/v1/campaigns/{cid}/targets/import", rows,
                                      headers={"X-Request-ID": f"{cid}-import"})
    assert imported.status_code == 201, imported.text
    before_close = (datetime.now(timezone.utc) - timedelta(seconds=5)).isoformat()
    closed = await secretariat.post(f"/v1/campaigns/{cid}/close", {"reason": "kết thúc"},
                                    headers={"X-Request-ID": f"{cid}-close"})
    assert closed.status_code in (200, 202), closed.text
    audit = await secretariat.get("/v1/audit", params={"unit_id": unit, "min_position": imported.json()["position"]})
    assigned = [e for e in audit.json()["items"] if e["event_type"] == "Assigned"]
    assert [e["request_id"] for e in assigned] == [f"{cid}-import"] * 3

    async def closing() -> list[dict]:
        page = await secretariat.get("/v1/audit", params={"actor_id": secretariat.id, "since": before_close,
                                                          "limit": 500})
        return [e for e in page.json()["items"] if e["aggregate_id"] == cid and e["event_type"] == "Closed"]

    for _ in range(150):  # the operation may still be running (202), the projector catching up
        if entries := await closing():
            break
        await asyncio.sleep(0.2)
    assert [e["request_id"] for e in entries] == [f"{cid}-close"]
