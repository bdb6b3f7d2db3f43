"""Changing a running campaign over HTTP: its timer policy, its scoring scale, closing it.

A new policy reaches the workflows already running (their timers re-armed with the new
durations); a new scale shows on the scoreboard; closing a campaign finishes the
workflow of every one of its targets, and refuses their commands until the Standing
Committee reopens it.
When Temporal cannot be reached the answer is a 503, and the same request again
finishes the job without recording anything twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from tests.e2e.conftest import Person, make_person, register_unit, unique
from thidua.settings import Settings

LONG_POLICY = {"escalate_after": "P3D", "resolution_sla": "P7D", "stale_after": "P14D"}


@dataclass
class Drive:
    """A campaign with one cluster of two wards and the people who work in it."""

    secretariat: Person
    committee: Person
    heads: dict[str, Person]
    campaign: str
    units: list[str]

    async def assign(self, unit: str, *, deadline: date | None = None, points: int = 10) -> str:
        response = await self.secretariat.post(f"/v1/campaigns/{self.campaign}/targets", {
            "key": unique("k"), "unit_id": unit, "title": "Giải phóng mặt bằng", "area": "GPMB",
            "deadline": (deadline or date.today() + timedelta(days=365)).isoformat(), "points": points})
        assert response.status_code == 201, response.text
        return response.json()["target"]["id"]

    async def by_head(self, unit: str, tid: str, action: str, body: dict[str, Any]) -> httpx.Response:
        return await self.heads[unit].post(f"/v1/targets/{tid}/{action}", body)


async def new_drive(secretariat: Person, committee: Person, policy: dict[str, str] = LONG_POLICY) -> Drive:
    units = [unique("ward"), unique("ward")]
    for unit in units:
        await register_unit(secretariat, unit, f"Phường {unit}")
    campaign = unique("drive")
    created = await secretariat.post("/v1/campaigns", {"id": campaign, "name": "Đợt thi đua", "policy": policy,
                                                       "starts_on": "2022-01-01", "ends_on": "2030-12-31"})
    assert created.status_code == 201, created.text
    cluster = await secretariat.put(f"/v1/campaigns/{campaign}/clusters/cum-1", {
        "name": "Cụm phường", "head_unit_id": units[0], "deputy_unit_id": units[1]})
    assert cluster.status_code == 200, cluster.text
    heads = {unit: await make_person(secretariat, name=f"Bí thư {unit}", role="unit_head", unit_id=unit)
             for unit in units}
    return Drive(secretariat, committee, heads, campaign, units)


@pytest.fixture(scope="module")
async def committee(secretariat: Person) -> Person:
    return await make_person(secretariat, name="Ban Thường vụ", role="standing_committee")


@pytest.fixture(scope="module")
async def temporal(e2e_settings: Settings) -> Client:
    from thidua.workflows.client import connect

    return await connect(e2e_settings.temporal_address, e2e_settings.temporal_namespace)


def workflow_of(temporal: Client, tid: str) -> Any:
    from thidua.workflows.client import workflow_id_for

    return temporal.get_workflow_handle(workflow_id_for(tid))


async def eventually(check: Any, what: str, timeout: float = 30) -> Any:
    """Poll `check()` until it returns something truthy (bounded; no timing asserted)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result:
            return result
        assert asyncio.get_running_loop().time() < deadline, f"never happened: {what}"
        await asyncio.sleep(0.2)


# ------------------------------------------------------------------ policy
async def test_a_new_policy_re_arms_the_timers_of_running_workflows(
    secretariat: Person, committee: Person, worker: None, projector: None, temporal: Client,
) -> None:
    from thidua.workflows.target_workflow import TargetWorkflow

    d = await new_drive(secretariat, committee)
    blocked, working = await d.assign(d.units[0]), await d.assign(d.units[1])
    assert (await d.by_head(d.units[0], blocked, "block", {"reason": "Hộ dân chưa đồng ý"})).status_code == 200
    assert (await d.by_head(d.units[1], working, "start", {})).status_code == 200
    armed = await workflow_of(temporal, blocked).query(TargetWorkflow.armed)
    assert [t.command for t in armed if t.command == "auto_escalate"], "blocked under P3D: escalation armed"

    # Refused before anything is recorded: nobody may set a timer past the calendar.
    for too_long in ("P999999999D", "P9999999999999D"):
        refused = await secretariat.put(f"/v1/campaigns/{d.campaign}/policy", {**LONG_POLICY, "stale_after": too_long})
        assert refused.status_code == 422, refused.text
    assert (await committee.put(f"/v1/campaigns/{d.campaign}/policy", LONG_POLICY)).status_code == 403

    changed = await secretariat.put(f"/v1/campaigns/{d.campaign}/policy",
                                    {"escalate_after": "PT1S", "resolution_sla": "P7D", "stale_after": "P20D"},
                                    headers={"Idempotency-Key": unique("policy")})
    assert changed.status_code == 200, changed.text
    assert changed.json()["campaign"]["policy"] == {"escalate_after": "PT1S", "resolution_sla": "P7D",
                                                    "stale_after": "P20D", "acceptance_required": False,
                                                    "acceptance_sla": "P7D"}

    # The working target's stale reminder is now 20 days after its last activity...
    facts = await workflow_of(temporal, working).query(TargetWorkflow.facts)

    async def stale_rearmed() -> bool:
        timers = await workflow_of(temporal, working).query(TargetWorkflow.armed)
        return any(t.command == "remind_stale" and t.at == facts.last_activity_at + timedelta(days=20) for t in timers)

    await eventually(stale_rearmed, "the stale reminder re-armed at last activity + P20D")

    # ...and the blocked one, under a 3-day policy when it was blocked, reaches the
    # Standing Committee by itself a second after its block under the new one.
    async def escalated() -> dict[str, Any] | None:
        target = (await secretariat.get(f"/v1/targets/{blocked}")).json()
        return target if target["status"] == "escalated" else None

    target = await eventually(escalated, "the blocked target auto-escalated under escalate_after=PT1S")
    assert target["escalation"]["trigger"] == "auto"


# ------------------------------------------------------------------ scoring
async def test_a_new_scale_shows_on_the_scoreboard(
    secretariat: Person, committee: Person, worker: None, projector: None,
) -> None:
    d = await new_drive(secretariat, committee)
    late = await d.assign(d.units[0], deadline=date.today() - timedelta(days=3), points=10)
    done = await d.by_head(d.units[0], late, "complete", {"result": "Đã bàn giao mặt bằng"})
    assert done.status_code == 200 and done.json()["target"]["report_class"] == "completed_late", done.text
    before_change = datetime.now(timezone.utc)

    async def score_of(unit: str, **params: Any) -> float:
        board = await committee.get(f"/v1/campaigns/{d.campaign}/scoreboard", params=params)
        assert board.status_code == 200, board.text
        return next(u["score"] for c in board.json()["clusters"] for u in c["units"] if u["unit_id"] == unit)

    assert await score_of(d.units[0], min_position=done.json()["position"]) == 5.0  # 10 x late 0.5

    head = d.heads[d.units[0]]
    assert (await head.put(f"/v1/campaigns/{d.campaign}/scoring",
                           {"on_time": 1, "late": 0.8, "reward_slots": 1})).status_code == 403
    bad = await committee.put(f"/v1/campaigns/{d.campaign}/scoring", {"on_time": 0.5, "late": 0.8, "reward_slots": 1})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "body.late", bad.text

    changed = await committee.put(f"/v1/campaigns/{d.campaign}/scoring",
                                  {"on_time": 1, "late": 0.8, "reward_slots": 2})
    assert changed.status_code == 200, changed.text
    assert changed.json()["campaign"]["scoring"] == {"on_time": 1.0, "late": 0.8, "reward_slots": 2}
    position = changed.json()["position"]
    assert await score_of(d.units[0], min_position=position) == 8.0  # 10 x late 0.8
    assert await score_of(d.units[0], min_position=position, as_of=before_change.isoformat()) == 5.0


# ------------------------------------------------------------------ closing
async def test_closing_a_campaign_finishes_every_target_workflow(
    secretariat: Person, committee: Person, worker: None, projector: None, temporal: Client,
) -> None:
    from thidua.workflows.target_workflow import TargetWorkflow

    d = await new_drive(secretariat, committee)
    fresh, working, blocked = (await d.assign(d.units[0]), await d.assign(d.units[1]),
                               await d.assign(d.units[1]))
    assert (await d.by_head(d.units[1], working, "start", {})).status_code == 200
    assert (await d.by_head(d.units[1], blocked, "block", {"reason": "Chờ kinh phí"})).status_code == 200
    for tid in (fresh, working, blocked):
        assert (await workflow_of(temporal, tid).describe()).status == WorkflowExecutionStatus.RUNNING

    assert (await committee.post(f"/v1/campaigns/{d.campaign}/close", {})).status_code == 403
    key = {"Idempotency-Key": unique("close")}
    closed = await secretariat.post(f"/v1/campaigns/{d.campaign}/close", {"reason": "Kết thúc đợt"}, headers=key)
    assert closed.status_code == 200, closed.text
    assert closed.json()["campaign"]["closed"] is True
    for tid in (fresh, working, blocked):
        handle = workflow_of(temporal, tid)
        assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
        assert await handle.result() == "campaign closed"

    again = await secretariat.post(f"/v1/campaigns/{d.campaign}/close", {"reason": "Kết thúc đợt"}, headers=key)
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.content == closed.content
    twice = await secretariat.post(f"/v1/campaigns/{d.campaign}/close", {})
    assert twice.status_code == 409 and twice.json()["state"] == "closed", twice.text

    # The campaign takes no more changes...
    for method, path, body in (
        ("POST", "targets", {"unit_id": d.units[0], "title": "Mới", "area": "GPMB", "deadline": "2030-01-01",
                             "points": 1}),
        ("POST", "targets/import", [{"key": unique("imp"), "unit_id": d.units[0], "title": "Nhập", "area": "GPMB",
                                     "deadline": "2030-01-01", "points": 1}]),
        ("PUT", "policy", LONG_POLICY),
        ("PUT", "scoring", {"on_time": 1, "late": 0.5, "reward_slots": 1}),
    ):
        late = await secretariat.request(method, f"/v1/campaigns/{d.campaign}/{path}", json=body)
        assert late.status_code == 409 and late.json()["state"] == "closed", late.text
        assert late.json()["type"].endswith("/campaign-closed"), late.text
    read = await secretariat.get(f"/v1/campaigns/{d.campaign}", params={"min_position": closed.json()["position"]})
    assert read.status_code == 200 and read.json()["closed"] is True

    # ...nor do its targets: a command is refused naming the closure, and no workflow
    # is left running for it; a command the target's state does not allow is still
    # refused for that reason first; a blocked one stays blocked, its timers disarmed.
    reported = await d.by_head(d.units[1], working, "progress", {"percent": 90, "note": "Báo cáo sau khi đóng đợt"})
    assert reported.status_code == 409, reported.text
    assert reported.json()["type"].endswith("/campaign-closed") and reported.json()["campaign_id"] == d.campaign
    handle = workflow_of(temporal, working)
    assert await handle.result() == "campaign closed"
    assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
    refused = await d.by_head(d.units[0], fresh, "unblock", {})
    assert refused.status_code == 409 and refused.json()["state"] == "assigned", refused.text
    stuck = (await secretariat.get(f"/v1/targets/{blocked}")).json()
    assert stuck["status"] == "blocked" and stuck["escalation"] is None
    assert await workflow_of(temporal, blocked).query(TargetWorkflow.armed) == []

    # Until the Standing Committee reopens it, with a reason: then the targets' workflows
    # run again (timers armed) and the late report goes through.
    assert (await secretariat.post(f"/v1/campaigns/{d.campaign}/reopen", {"reason": "Gia hạn"})).status_code == 403
    assert (await committee.post(f"/v1/campaigns/{d.campaign}/reopen", {})).status_code == 422
    reopened = await committee.post(f"/v1/campaigns/{d.campaign}/reopen", {"reason": "Gia hạn đến quý I"})
    assert reopened.status_code == 200, reopened.text
    assert reopened.json()["campaign"]["closed"] is False
    read = await secretariat.get(f"/v1/campaigns/{d.campaign}", params={"min_position": reopened.json()["position"]})
    assert read.status_code == 200 and read.json()["closed"] is False
    trail = (await committee.get("/v1/audit", params={"actor_id": committee.id,
                                                      "min_position": reopened.json()["position"]})).json()["items"]
    assert [(e["event_type"], e["reason"]) for e in trail if e["campaign_id"] == d.campaign] == [
        ("Reopened", "Gia hạn đến quý I")]
    again_open = await committee.post(f"/v1/campaigns/{d.campaign}/reopen", {"reason": "Lần nữa"})
    assert again_open.status_code == 409 and again_open.json()["state"] == "open", again_open.text

    async def escalation_armed() -> bool:
        armed = await workflow_of(temporal, blocked).query(TargetWorkflow.armed)
        return any(t.command == "auto_escalate" for t in armed)

    await eventually(escalation_armed, "the blocked target's workflow running again, its escalation armed")
    reported = await d.by_head(d.units[1], working, "progress", {"percent": 90, "note": "Báo cáo sau khi mở lại"})
    assert reported.status_code == 200, reported.text
    assert (await workflow_of(temporal, working).describe()).status == WorkflowExecutionStatus.RUNNING


async def test_the_targets_of_a_campaign_come_from_its_read_model(
    secretariat: Person, committee: Person, worker: None, projector: None, e2e_settings: Settings,
) -> None:
    """A query by campaign, paged by id: a campaign id that begins another one's does not
    pick up that one's targets, and `after_position` names the targets stored since."""
    from thidua.event_store import domain_application
    from thidua.workflows.campaign_operation_targets import (
        count_campaign_targets,
        page_of_campaign_targets,
        targets_projected_to,
    )

    d = await new_drive(secretariat, committee)
    mine = {await d.assign(d.units[0]), await d.assign(d.units[1])}
    longer = f"{d.campaign}-2"
    assert (await secretariat.post("/v1/campaigns", {"id": longer, "name": "Đợt khác", "starts_on": "2022-01-01",
                                                     "ends_on": "2030-12-31"})).status_code == 201
    other = await secretariat.post(f"/v1/campaigns/{longer}/targets", {
        "unit_id": d.units[0], "title": "Khác", "area": "GPMB", "deadline": "2030-01-01", "points": 1})
    assert other.status_code == 201

    domain_app = await asyncio.to_thread(domain_application, e2e_settings.database_url)
    try:
        async def projected(position: int) -> bool:
            return await asyncio.to_thread(targets_projected_to, domain_app) >= position

        await eventually(lambda: projected(other.json()["position"]), "the targets projected")
        first = await asyncio.to_thread(page_of_campaign_targets, domain_app, d.campaign, None, 0, 1)
        rest = await asyncio.to_thread(page_of_campaign_targets, domain_app, d.campaign, first[-1], 0, 10)
        assert len(first) == 1 and set(first + rest) == mine and first[0] < rest[0]
        assert await asyncio.to_thread(count_campaign_targets, domain_app, d.campaign) == 2
        upto = await asyncio.to_thread(targets_projected_to, domain_app)
        response = await secretariat.post(f"/v1/campaigns/{d.campaign}/targets", {
            "unit_id": d.units[0], "title": "Mới", "area": "GPMB", "deadline": "2030-01-01", "points": 1})
        await eventually(lambda: projected(response.json()["position"]), "the new target projected")
        since = await asyncio.to_thread(page_of_campaign_targets, domain_app, d.campaign, None, upto, 10)
        assert since == [response.json()["target"]["id"]]
    finally:
        domain_app.close()


# ------------------------------------------------------------------ Temporal out of reach
@asynccontextmanager
async def api_without_temporal(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The API in-process with a Temporal client that connects lazily to nothing."""
    import asyncpg

    from thidua.bootstrap import build_api
    from thidua.dburl import asyncpg_dsn
    from thidua.embedded import free_port
    from thidua.event_store import domain_application
    from thidua.workflows.client import TargetGateway, connect

    dead = await connect(f"127.0.0.1:{free_port()}", lazy=True)
    gateway = TargetGateway(dead, settings.task_queue, answer_timeout=timedelta(seconds=3))
    domain_app = await asyncio.to_thread(domain_application, settings.database_url)
    pool = await asyncpg.create_pool(asyncpg_dsn(settings.database_url), min_size=1, max_size=2)
    try:
        app = build_api(settings, domain_app=domain_app, pool=pool, gateway=gateway, temporal_client=dead)
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
                yield client
    finally:
        await pool.close()
        domain_app.close()


async def test_a_gateway_that_cannot_reach_temporal_says_service_unavailable() -> None:
    from thidua.domain.values import Actor, Role
    from thidua.embedded import free_port
    from thidua.workflows.client import ServiceUnavailable, TargetGateway, assign_request, connect

    gateway = TargetGateway(await connect(f"127.0.0.1:{free_port()}", lazy=True), "nowhere")
    actor = Actor(id="u-1", name="Văn phòng", role=Role.SECRETARIAT)
    tid = "00000000-0000-5000-8000-000000000001"
    attempts = {
        "assign": gateway.assign(assign_request(actor, "c-1", "drive", unit_id="ward", title="T", area="GPMB",
                                                deadline=date(2030, 1, 1), points=1)),
        "command": gateway.command(tid, "cancel", actor, "c-2", {"reason": "Thử"}),
        "refresh": gateway.refresh([tid]),
        "close_campaign": gateway.close_campaign("drive", [tid]),
        "start_workflows": gateway.start_workflows([tid]),
    }
    for name, attempt in attempts.items():
        with pytest.raises(ServiceUnavailable, match="cannot reach Temporal"):
            print("trying", name)  # shown with a failure: which call did not say it
            await attempt


async def test_a_close_cut_short_by_temporal_is_finished_by_sending_it_again(
    secretariat: Person, committee: Person, worker: None, projector: None, temporal: Client,
    e2e_settings: Settings, http: httpx.AsyncClient,
) -> None:
    from thidua.domain.campaign import campaign_uuid
    from thidua.event_store import domain_application

    d = await new_drive(secretariat, committee)
    tid = await d.assign(d.units[0])
    key = {"Idempotency-Key": unique("close"), **secretariat.headers}
    async with api_without_temporal(e2e_settings) as cut_off:
        failed = await cut_off.post(f"/v1/campaigns/{d.campaign}/close", json={}, headers=key)
    assert failed.status_code == 503, failed.text
    assert failed.headers["content-type"].startswith("application/problem+json")
    assert (await workflow_of(temporal, tid).describe()).status == WorkflowExecutionStatus.RUNNING

    retried = await http.post(f"/v1/campaigns/{d.campaign}/close", json={}, headers=key)
    assert retried.status_code == 200, retried.text
    assert (await workflow_of(temporal, tid).describe()).status == WorkflowExecutionStatus.COMPLETED

    # The Closed event was recorded by the first attempt, once; the retry answers with its position.
    domain_app = await asyncio.to_thread(domain_application, e2e_settings.database_url)
    try:
        events = await asyncio.to_thread(lambda: list(domain_app.recorder.select_events(campaign_uuid(d.campaign))))
        closings = [e for e in events if e.topic.endswith(".Closed")]
        assert len(closings) == 1
        position = await asyncio.to_thread(domain_app.position_of, campaign_uuid(d.campaign),
                                           closings[0].originator_version)
    finally:
        domain_app.close()
    assert retried.json()["position"] == position
