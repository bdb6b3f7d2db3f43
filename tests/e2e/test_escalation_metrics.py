"""/metrics reports each campaign's open escalations and the age of the oldest, read from
the escalations read model when scraped: escalating adds to them, resolving takes away,
and a campaign with none open has no series."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import Person, make_person, register_unit, unique


async def _escalation_gauges(http: httpx.AsyncClient, campaign_id: str) -> dict[str, float]:
    text = (await http.get("/metrics")).text
    return {sample.name: sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if family.name in ("thidua_open_escalations", "thidua_oldest_open_escalation_age_seconds")
            and sample.labels.get("campaign") == campaign_id}


async def _settled(person: Person, campaign_id: str, position: int) -> None:
    """Wait until the escalations read model has passed `position`."""
    response = await person.get(f"/v1/campaigns/{campaign_id}/escalations",
                                params={"min_position": position, "state": "all"})
    assert response.status_code == 200, response.text


async def test_open_escalations_and_the_oldest_age_per_campaign(http: httpx.AsyncClient, secretariat: Person,
                                                                worker: None, projector: None) -> None:
    unit = unique("esc-unit")
    await register_unit(secretariat, unit, "Phường Leo Thang")
    cid = unique("esc-metrics")
    assert (await secretariat.post("/v1/campaigns", {"id": cid, "name": "Đo leo thang", "starts_on": "2022-01-01",
                                                     "ends_on": "2030-12-31"})).status_code == 201
    head = await make_person(secretariat, name="Chủ tịch phường", role="unit_head", unit_id=unit)
    committee = await make_person(secretariat, name="Thường trực", role="standing_committee")
    targets = []
    for key in ("k1", "k2"):
        assigned = await secretariat.post(f"/v1/campaigns/{cid}/targets", {
            "key": key, "unit_id": unit, "title": f"Mục tiêu {key}", "area": "KT-XH", "deadline": "2030-06-30",
            "points": 1})
        assert assigned.status_code == 201, assigned.text
        targets.append(assigned.json()["target"]["id"])
    assert await _escalation_gauges(http, cid) == {}

    position = 0
    for tid in targets:
        assert (await head.post(f"/v1/targets/{tid}/block", {"reason": "thiếu kinh phí"})).status_code == 200
        escalated = await head.post(f"/v1/targets/{tid}/escalate", {"reason": "xin chỉ đạo"})
        assert escalated.status_code == 200, escalated.text
        position = escalated.json()["position"]
    await _settled(secretariat, cid, position)
    gauges = await _escalation_gauges(http, cid)
    assert gauges["thidua_open_escalations"] == 2
    first_age = gauges["thidua_oldest_open_escalation_age_seconds"]
    assert first_age >= 0
    # the age is computed when scraped: it grows while the escalation stays open
    assert (await _escalation_gauges(http, cid))["thidua_oldest_open_escalation_age_seconds"] >= first_age

    resolved = await committee.post(f"/v1/targets/{targets[0]}/resolve", {"directive": "bổ sung kinh phí"})
    assert resolved.status_code == 200, resolved.text
    await _settled(secretariat, cid, resolved.json()["position"])
    assert (await _escalation_gauges(http, cid))["thidua_open_escalations"] == 1

    resolved = await committee.post(f"/v1/targets/{targets[1]}/resolve", {"directive": "điều chuyển"})
    assert resolved.status_code == 200, resolved.text
    await _settled(secretariat, cid, resolved.json()["position"])
    assert await _escalation_gauges(http, cid) == {}
