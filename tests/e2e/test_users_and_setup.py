"""Users, units and campaigns through HTTP: who may do what, and what the API answers."""

from __future__ import annotations

from typing import Any

import httpx

from tests.e2e.conftest import Person, make_person, register_unit, unique

PROBLEM = "application/problem+json"


async def test_the_first_secretariat_user_reads_itself(secretariat: Person) -> None:
    response = await secretariat.get("/v1/me")
    assert response.status_code == 200
    assert response.json() == {"id": secretariat.id, "name": "Văn phòng Thành ủy", "role": "secretariat",
                               "unit_id": None}


async def test_no_token_bad_token_and_a_forged_secret_are_401(http: httpx.AsyncClient, secretariat: Person) -> None:
    forged = secretariat.token[:-4] + ("AAAA" if not secretariat.token.endswith("AAAA") else "BBBB")
    for headers in ({}, {"Authorization": "Bearer nonsense"}, {"Authorization": f"Bearer {forged}"},
                    {"Authorization": f"Basic {secretariat.token}"}):
        response = await http.get("/v1/me", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["content-type"].startswith(PROBLEM)
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.json()["status"] == 401


async def test_a_revoked_token_is_refused_at_once(secretariat: Person) -> None:
    inspector = await make_person(secretariat, name="Ủy ban Kiểm tra", role="inspector")
    assert (await inspector.get("/v1/me")).status_code == 200
    revoked = await secretariat.delete(f"/v1/users/{inspector.id}")
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revoked"] is True and revoked.json()["position"] > 0
    assert (await inspector.get("/v1/me")).status_code == 401
    again = await secretariat.delete(f"/v1/users/{inspector.id}")
    assert again.status_code == 409 and again.json()["state"] == "revoked"


async def test_only_the_secretariat_makes_users_and_units(secretariat: Person) -> None:
    unit = unique("phuong")
    await register_unit(secretariat, unit, "Phường Ngô Quyền")
    head = await make_person(secretariat, name="Trưởng phường", role="unit_head", unit_id=unit)
    assert head.unit_id == unit
    refused = await head.post("/v1/users", {"name": "x", "role": "secretariat"})
    assert refused.status_code == 403 and refused.headers["content-type"].startswith(PROBLEM)
    assert (await head.put(f"/v1/units/{unit}", {"name": "x", "kind": "ward"})).status_code == 403


async def test_a_unit_head_needs_a_registered_unit(secretariat: Person) -> None:
    response = await secretariat.post("/v1/users", {"name": "Ai đó", "role": "unit_head", "unit_id": "nowhere-1"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.unit_id"
    nounit = await secretariat.post("/v1/users", {"name": "Ai đó", "role": "unit_head"})
    assert nounit.status_code == 422


async def test_nobody_sets_fields_the_contract_does_not_name(secretariat: Person) -> None:
    response = await secretariat.post("/v1/users", {"name": "x", "role": "inspector", "token": "mine"})
    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {"body.token"}
    unit = unique("unit")
    response = await secretariat.put(f"/v1/units/{unit}", {"name": "x", "kind": "ward", "version": 7})
    assert response.status_code == 422


async def test_units_register_then_update(secretariat: Person) -> None:
    unit = unique("xa")
    first = await secretariat.put(f"/v1/units/{unit}", {"name": "Xã Thanh Trù", "kind": "commune"})
    assert first.status_code == 201
    assert first.json()["unit"] == {**first.json()["unit"], "id": unit, "name": "Xã Thanh Trù", "kind": "commune"}
    second = await secretariat.put(f"/v1/units/{unit}", {"name": "Xã Thanh Trù", "kind": "commune",
                                                          "head_name": "Nguyễn Văn Hùng"})
    assert second.status_code == 200
    assert second.json()["unit"]["head_name"] == "Nguyễn Văn Hùng"
    assert second.json()["position"] > first.json()["position"]


async def test_a_campaign_is_created_once(secretariat: Person) -> None:
    cid = unique("vinh-yen")
    body = {"id": cid, "name": "Đợt cao điểm thi đua 2022", "starts_on": "2022-02-15", "ends_on": "2022-12-31"}
    created = await secretariat.post("/v1/campaigns", body)
    assert created.status_code == 201, created.text
    campaign = created.json()["campaign"]
    assert campaign["timezone"] == "Asia/Ho_Chi_Minh"
    assert campaign["policy"] == {"escalate_after": "P3D", "resolution_sla": "P7D", "stale_after": "P14D",
                                  "acceptance_required": False, "acceptance_sla": "P7D"}
    same = await secretariat.post("/v1/campaigns", body)
    assert same.status_code == 201 and same.json()["position"] == created.json()["position"]
    other = await secretariat.post("/v1/campaigns", {**body, "name": "Khác"})
    assert other.status_code == 409
    bad = await secretariat.post("/v1/campaigns", {**body, "id": unique("x"), "ends_on": "2021-01-01"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "body.ends_on"
    bad_policy = await secretariat.post("/v1/campaigns", {**body, "id": unique("x"),
                                                          "policy": {"escalate_after": "P1M"}})
    assert bad_policy.status_code == 422


async def test_idempotency_key_replays_and_refuses_reuse(secretariat: Person) -> None:
    unit = unique("ban")
    key = {"Idempotency-Key": unique("key")}
    first = await secretariat.put(f"/v1/units/{unit}", {"name": "Ban Dân vận", "kind": "party"}, headers=key)
    replay = await secretariat.put(f"/v1/units/{unit}", {"name": "Ban Dân vận", "kind": "party"}, headers=key)
    assert (replay.status_code, replay.content) == (first.status_code, first.content)
    assert replay.headers.get("idempotent-replayed") == "true"
    reused = await secretariat.put(f"/v1/units/{unit}", {"name": "Ban Tuyên giáo", "kind": "party"}, headers=key)
    assert reused.status_code == 422 and reused.json()["type"].endswith("idempotency-key-reused")


async def test_a_replayed_user_creation_does_not_hand_out_the_token_again(secretariat: Person) -> None:
    key = {"Idempotency-Key": unique("user")}
    first = await secretariat.post("/v1/users", {"name": "Thanh tra", "role": "inspector"}, headers=key)
    replay = await secretariat.post("/v1/users", {"name": "Thanh tra", "role": "inspector"}, headers=key)
    assert first.status_code == replay.status_code == 201
    assert first.json()["token"] and replay.json()["token"] is None
    assert first.json()["activation_url"] and replay.json()["activation_url"] is None
    assert {**first.json(), "token": None, "activation_url": None} == replay.json()


async def test_clusters_decisions_and_bonuses(secretariat: Person) -> None:
    cid = unique("cd")
    units = [unique("u") for _ in range(3)]
    for unit in units:
        await register_unit(secretariat, unit, f"Đơn vị {unit}")
    assert (await secretariat.post("/v1/campaigns", {"id": cid, "name": "C", "starts_on": "2022-01-01",
                                                     "ends_on": "2022-12-31"})).status_code == 201
    cluster = await secretariat.put(f"/v1/campaigns/{cid}/clusters/cum-1", {
        "name": "Cụm 1", "head_unit_id": units[0], "deputy_unit_id": units[1], "member_unit_ids": [units[2]]})
    assert cluster.status_code == 200, cluster.text
    assert cluster.json()["campaign"]["clusters"][0]["member_unit_ids"] == units
    unknown = await secretariat.put(f"/v1/campaigns/{cid}/clusters/cum-2", {
        "name": "Cụm 2", "head_unit_id": "ghost-a", "deputy_unit_id": "ghost-b"})
    assert unknown.status_code == 422
    missing = await secretariat.put("/v1/campaigns/no-such-campaign/clusters/cum-1", {
        "name": "Cụm 1", "head_unit_id": units[0], "deputy_unit_id": units[1]})
    assert missing.status_code == 404
    decision = await secretariat.post(f"/v1/campaigns/{cid}/decisions", {
        "number": "934-QĐ/TU", "issued_on": "2022-02-15", "issuer": "BTV Thành ủy Vĩnh Yên"})
    assert decision.status_code == 201
    assert decision.json()["campaign"]["decisions"][0]["number"] == "934-QĐ/TU"
    committee = await make_person(secretariat, name="Ban Thường vụ", role="standing_committee")
    bonus = await committee.post(f"/v1/campaigns/{cid}/bonuses", {"unit_id": units[2], "points": 5,
                                                                   "reason": "Sáng kiến"})
    assert bonus.status_code == 201, bonus.text
    assert (await secretariat.post(f"/v1/campaigns/{cid}/bonuses", {"unit_id": units[2], "points": 5,
                                                                    "reason": "x"})).status_code == 403
    zero = await committee.post(f"/v1/campaigns/{cid}/bonuses", {"unit_id": units[2], "points": 0, "reason": "x"})
    assert zero.status_code == 422 and zero.json()["errors"][0]["field"] == "body.points"


async def test_problems_for_unknown_routes_methods_and_big_bodies(http: httpx.AsyncClient,
                                                                  secretariat: Person) -> None:
    missing = await http.get("/v1/nothing-here")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith(PROBLEM)
    wrong = await secretariat.request("PATCH", "/v1/me")
    assert wrong.status_code == 405 and wrong.headers["content-type"].startswith(PROBLEM)
    huge = await secretariat.post("/v1/campaigns", content=b"{" + b" " * (1024 * 1024 + 10) + b"}",
                                  headers={"content-type": "application/json"})
    assert huge.status_code == 413 and huge.json()["status"] == 413

    async def streamed() -> Any:
        for _ in range(20):
            yield b" " * 65536
        yield b"{}"

    chunked = await secretariat.post("/v1/campaigns", content=streamed(),
                                     headers={"content-type": "application/json"})
    assert chunked.status_code == 413
    not_json = await secretariat.post("/v1/campaigns", content=b"{not json",
                                      headers={"content-type": "application/json"})
    assert not_json.status_code == 422 and not_json.headers["content-type"].startswith(PROBLEM)

