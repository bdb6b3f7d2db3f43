"""Who may command a target is decided on the truth, even when the read model trails it.

The command routes ask the read model for the target's unit first (one indexed query);
the read model may lag the store by milliseconds (a reassignment not projected yet).
These tests make it lag on purpose, by writing an out-of-date unit into the `targets`
row, and check that neither head gets an answer the aggregate would not give.
"""

from __future__ import annotations

from datetime import date, timedelta

import asyncpg
import pytest

from tests.e2e.conftest import Person, make_person, register_unit, unique
from thidua.dburl import asyncpg_dsn


@pytest.fixture
async def ward_heads(secretariat: Person, worker: None, projector: None) -> tuple[str, Person, Person, str]:
    owner, other = unique("phuong-dong-tam"), unique("phuong-hoi-hop")
    await register_unit(secretariat, owner, "Phường Đống Đa")
    await register_unit(secretariat, other, "Phường Hội Hợp")
    cid = unique("pham-vi")
    created = await secretariat.post("/v1/campaigns", {"id": cid, "name": "Phạm vi", "starts_on": "2022-01-01",
                                                       "ends_on": (date.today() + timedelta(days=365)).isoformat()})
    assert created.status_code == 201, created.text
    assigned = await secretariat.post(f"/v1/campaigns/{cid}/targets", {
        "key": unique("k"), "unit_id": owner, "title": "Chỉnh trang đô thị", "area": "Đô thị",
        "deadline": (date.today() + timedelta(days=90)).isoformat(), "points": 5})
    assert assigned.status_code == 201, assigned.text
    tid, position = assigned.json()["target"]["id"], assigned.json()["position"]
    projected = await secretariat.get(f"/v1/targets/{tid}", params={"min_position": position})
    assert projected.status_code == 200 and projected.json()["unit_id"] == owner
    owner_head = await make_person(secretariat, name="Chủ tịch Đống Đa", role="unit_head", unit_id=owner)
    other_head = await make_person(secretariat, name="Chủ tịch Hội Hợp", role="unit_head", unit_id=other)
    return tid, owner_head, other_head, other


async def _read_model_says(api_database_url: str, tid: str, unit_id: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(api_database_url))
    try:
        await conn.execute("UPDATE public.targets SET unit_id = $2 WHERE target_id = $1::uuid", tid, unit_id)
    finally:
        await conn.close()


async def test_a_read_model_naming_another_unit_neither_lets_that_head_in_nor_keeps_the_owner_out(
    ward_heads: tuple[str, Person, Person, str], api_database_url: str
) -> None:
    tid, owner_head, other_head, other = ward_heads
    await _read_model_says(api_database_url, tid, other)

    intruder = await other_head.post(f"/v1/targets/{tid}/start", {})
    assert intruder.status_code == 403, intruder.text  # the workflow checks its own facts

    owner = await owner_head.post(f"/v1/targets/{tid}/start", {})
    assert owner.status_code == 200, owner.text  # the aggregate overrules the read model
    assert owner.json()["target"]["status"] == "in_progress"
    assert owner.json()["target"]["version"] == 2  # the intruder stored nothing
