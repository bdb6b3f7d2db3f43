"""A command's answer is its stored outcome: 2xx if and only if an event with the
command's id exists, under any concurrency and any retry.

The way it used to go wrong: a command is stored but its answer is lost (a timeout, a
dropped connection); the target then changes hands or state; the client retries with the
same Idempotency-Key and was refused (403, 409) for a command that had been applied."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from thidua.api.idempotency import command_id_for
from thidua.domain.values import Command
from tests.e2e.conftest import Person, make_person, register_unit, unique
from thidua.settings import Settings
from thidua.event_store import domain_application


@pytest.fixture
async def handover(secretariat: Person, worker: None, projector: None) -> dict[str, Any]:
    owner, other = unique("phuong-tich-son"), unique("xa-thanh-tru")
    await register_unit(secretariat, owner, "Phường Tích Sơn")
    await register_unit(secretariat, other, "Xã Thanh Trù", kind="commune")
    cid = unique("ket-qua")
    created = await secretariat.post("/v1/campaigns", {"id": cid, "name": "Kết quả", "starts_on": "2022-01-01",
                                                       "ends_on": (date.today() + timedelta(days=365)).isoformat()})
    assert created.status_code == 201, created.text
    assigned = await secretariat.post(f"/v1/campaigns/{cid}/targets", {
        "key": unique("k"), "unit_id": owner, "title": "Cải cách hành chính", "area": "CCHC",
        "deadline": (date.today() + timedelta(days=90)).isoformat(), "points": 4})
    assert assigned.status_code == 201, assigned.text
    head = await make_person(secretariat, name="Bí thư Tích Sơn", role="unit_head", unit_id=owner)
    tid = assigned.json()["target"]["id"]
    assert (await head.post(f"/v1/targets/{tid}/start", {})).status_code == 200
    return {"tid": tid, "head": head, "other": other}


async def _stored_behind_the_apis_back(settings: Settings, tid: str, head: Person, key: str,
                                       command: str, **args: Any) -> int:
    """The command applied as its first run would, its answer never delivered."""
    def apply() -> int:
        app = domain_application(settings.database_url)
        try:
            cmd = Command(command_id_for(head.id, key), head_actor(head), datetime.now(timezone.utc))
            changed = app.change(lambda: app.get_target(tid), lambda t: getattr(t, command)(cmd, **args), cmd.id)
            return changed.position
        finally:
            app.close()

    return await asyncio.to_thread(apply)


def head_actor(head: Person) -> Any:
    from thidua.domain.values import Actor, Role

    return Actor(head.id, head.name, Role.UNIT_HEAD, head.unit_id)


def _keyed(key: str) -> dict[str, str]:
    return {"Idempotency-Key": key}


async def test_a_retry_after_the_target_changed_hands_is_answered_as_applied(
    handover: dict[str, Any], secretariat: Person, e2e_settings: Settings
) -> None:
    tid, head = handover["tid"], handover["head"]
    position = await _stored_behind_the_apis_back(e2e_settings, tid, head, "tien-do-1", "report_progress",
                                                  note="Đã hoàn thành 40%")
    moved = await secretariat.post(f"/v1/targets/{tid}/reassign",
                                   {"unit_id": handover["other"], "reason": "Điều chỉnh phân công"})
    assert moved.status_code == 200, moved.text

    retried = await head.post(f"/v1/targets/{tid}/progress", {"note": "Đã hoàn thành 40%"}, headers=_keyed("tien-do-1"))
    assert retried.status_code == 200, retried.text
    assert retried.json()["position"] == position
    assert retried.json()["target"]["unit_id"] == head.unit_id  # as the command left it

    # A new command of that head is refused: the target is no longer theirs.
    fresh = await head.post(f"/v1/targets/{tid}/progress", {"note": "tiếp"}, headers=_keyed("tien-do-2"))
    assert fresh.status_code == 403, fresh.text


async def test_a_retry_after_the_state_moved_on_is_answered_as_applied(
    handover: dict[str, Any], e2e_settings: Settings
) -> None:
    tid, head = handover["tid"], handover["head"]
    position = await _stored_behind_the_apis_back(e2e_settings, tid, head, "tien-do-3", "report_progress",
                                                  note="Đã giải ngân")
    blocked = await head.post(f"/v1/targets/{tid}/block", {"reason": "Thiếu vốn đối ứng"})
    assert blocked.status_code == 200, blocked.text

    retried = await head.post(f"/v1/targets/{tid}/progress", {"note": "Đã giải ngân"}, headers=_keyed("tien-do-3"))
    assert retried.status_code == 200, retried.text
    assert retried.json()["position"] == position

    # The same key with other arguments is still a reuse, not a replay.
    reused = await head.post(f"/v1/targets/{tid}/progress", {"note": "khác"}, headers=_keyed("tien-do-3"))
    assert reused.status_code == 422, reused.text


async def test_racing_commands_and_a_handover_answer_exactly_what_was_stored(
    handover: dict[str, Any], secretariat: Person, e2e_settings: Settings
) -> None:
    tid, head = handover["tid"], handover["head"]
    keys = [f"dua-{i}" for i in range(24)]

    async def progress(key: str) -> httpx.Response:
        return await head.post(f"/v1/targets/{tid}/progress", {"note": key}, headers=_keyed(key))

    async def handover_soon() -> httpx.Response:
        await asyncio.sleep(0.1)
        return await secretariat.post(f"/v1/targets/{tid}/reassign",
                                      {"unit_id": handover["other"], "reason": "Bàn giao"})

    async def outcome(key: str) -> httpx.Response:
        """The same request until it is no longer pending (202: handed over, outcome not known
        yet, as on a machine too busy to answer within the API's wait)."""
        while (answer := await progress(key)).status_code == 202:
            await asyncio.sleep(int(answer.headers["Retry-After"]))
        return answer

    *first, moved = await asyncio.gather(*(progress(k) for k in keys), handover_soon())
    assert moved.status_code == 200, moved.text
    retried = await asyncio.gather(*(outcome(k) for k in keys))

    applied = await asyncio.to_thread(_applied_ids, e2e_settings, tid)
    for key, answer, again in zip(keys, first, retried, strict=True):
        stored = command_id_for(head.id, key) in applied
        # 202 says only "not known yet"; every other answer is the outcome
        assert answer.status_code == 202 or (answer.status_code == 200) is stored, (key, answer.status_code,
                                                                                     answer.text)
        assert (again.status_code == 200) is stored, (key, again.status_code, again.text)
        assert answer.status_code in (200, 202, 403, 409, 503), answer.text


def _applied_ids(settings: Settings, tid: str) -> set[str]:
    app = domain_application(settings.database_url)
    try:
        return set(app.get_target(tid).applied)
    finally:
        app.close()
