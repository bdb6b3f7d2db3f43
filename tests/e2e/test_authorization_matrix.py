"""Every route x every role x own / other / missing object, with the status expected.

The table below is written from DESIGN.md (who may do what), not read from the app;
the test walks `app.routes`, so a route that is not in the table fails the test, and a
table entry for a route that no longer exists fails it too.

"allow" means the request got past authentication and authorisation: any answer but
401, 403 and 404 (a 409 because an earlier role already moved the target on is fine;
the lifecycle itself is tested elsewhere).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import pytest

from tests.e2e.conftest import Person, make_person, register_unit, unique

ALLOW = "allow"
PDF = b"%PDF-1.7\n" + b"0" * 200
ROLES = ("anonymous", "secretariat", "standing_committee", "unit_head", "inspector")
SCOPES = ("own", "other", "missing")
STAFF = ("secretariat", "standing_committee", "inspector")
SIGNED_IN = ("secretariat", "standing_committee", "unit_head", "inspector")


def public(role: str, scope: str) -> str:
    return ALLOW


def roles(*allowed: str, object_route: bool = True, missing: str | int = 404) -> Callable[[str, str], Any]:
    """Only `allowed` roles; for them a missing object is `missing`."""

    def expect(role: str, scope: str) -> Any:
        if role == "anonymous":
            return 401
        if role not in allowed:
            return 403
        if object_route and scope == "missing":
            return missing
        return ALLOW

    return expect


def digest_reader(role: str, scope: str) -> Any:
    """The secretariat reads daily digests; the matrix's world has none recorded, so even
    its own campaign's answers 404 (recorded digests: tests/e2e/test_notifications.py)."""
    if role == "anonymous":
        return 401
    return 404 if role == "secretariat" else 403


def target_reader(role: str, scope: str) -> Any:
    """Detail and history: staff read everything; a unit head its own unit's targets."""
    if role == "anonymous":
        return 401
    if scope == "missing":
        return 404
    if role == "unit_head" and scope == "other":
        return 403
    return ALLOW


def owner_command(role: str, scope: str) -> Any:
    """start, progress, block, unblock, escalate, complete: the owning unit's head only."""
    if role == "anonymous":
        return 401
    if role != "unit_head":
        return 403
    return {"own": ALLOW, "other": 403, "missing": 404}[scope]


def commenter(role: str, scope: str) -> Any:
    """Comments: whoever may read the target and write (not inspectors); the kind is
    checked too (tests/e2e/test_paper_trail.py), the matrix sends a plain comment."""
    return 403 if role == "inspector" else target_reader(role, scope)


def own_notification(role: str, scope: str) -> Any:
    """Anyone signed in marks their own notifications; anyone else's is as unknown (404)."""
    return 401 if role == "anonymous" else 404


def round_unit_head(role: str, scope: str) -> Any:
    """A round's self-assessment: the head of the unit itself, nobody else."""
    if role == "anonymous":
        return 401
    if scope == "missing":
        return 404
    return ALLOW if role == "unit_head" and scope == "own" else 403


def round_reviewer(role: str, scope: str) -> Any:
    """A round's review: the head of the unit's cluster, never the unit's own head (the
    matrix's unit head heads the cluster of its own unit only): nobody here."""
    if role == "anonymous":
        return 401
    return 404 if scope == "missing" else 403


def round_proposer(role: str, scope: str) -> Any:
    """A cluster's proposal: the head of the cluster (the matrix's unit head heads c1)."""
    if role == "anonymous":
        return 401
    if scope == "missing":
        return 404
    return ALLOW if role == "unit_head" else 403


EXPECTED: dict[tuple[str, str], Callable[[str, str], Any]] = {
    ("GET", "/healthz"): public,
    ("GET", "/metrics"): public,
    ("POST", "/v1/users"): roles("secretariat", object_route=False),
    ("DELETE", "/v1/users/{uid}"): roles("secretariat"),
    ("GET", "/v1/me"): roles(*SIGNED_IN, object_route=False),
    # Sign-in routes authenticate with what they are sent (tests/e2e/test_sign_in.py)
    ("POST", "/v1/activation"): public,
    ("POST", "/v1/session"): public,
    ("DELETE", "/v1/session"): public,
    ("PUT", "/v1/units/{unit_id}"): roles("secretariat", missing=ALLOW),  # PUT of a new id registers it
    ("GET", "/v1/units"): roles(*SIGNED_IN, object_route=False),
    ("POST", "/v1/campaigns"): roles("secretariat", object_route=False),
    ("GET", "/v1/campaigns"): roles(*SIGNED_IN, object_route=False),
    ("GET", "/v1/campaigns/{cid}"): roles(*SIGNED_IN),
    ("PUT", "/v1/campaigns/{cid}/clusters/{cluster_id}"): roles("secretariat"),
    ("POST", "/v1/campaigns/{cid}/decisions"): roles("secretariat"),
    ("POST", "/v1/campaigns/{cid}/bonuses"): roles("standing_committee"),
    ("PUT", "/v1/campaigns/{cid}/policy"): roles("secretariat"),
    ("PUT", "/v1/campaigns/{cid}/scoring"): roles("secretariat", "standing_committee"),
    ("PUT", "/v1/campaigns/{cid}/rules"): roles("secretariat", "standing_committee"),
    ("POST", "/v1/campaigns/{cid}/close"): roles("secretariat"),
    ("POST", "/v1/campaigns/{cid}/reopen"): roles("standing_committee"),
    ("GET", "/v1/operations/{operation_id}"): roles("secretariat", "standing_committee"),
    ("POST", "/v1/campaigns/{cid}/targets"): roles("secretariat", "standing_committee"),
    ("POST", "/v1/campaigns/{cid}/targets/import"): roles("secretariat", "standing_committee"),
    ("POST", "/v1/campaigns/{cid}/history/import"): roles("secretariat"),
    ("GET", "/v1/campaigns/{cid}/targets"): roles(*SIGNED_IN),
    ("GET", "/v1/targets/{tid}"): target_reader,
    ("GET", "/v1/targets/{tid}/history"): target_reader,
    ("GET", "/v1/targets/{tid}/children"): target_reader,
    ("GET", "/v1/campaigns/{cid}/decisions"): roles(*SIGNED_IN),
    ("GET", "/v1/decisions/{number:path}/targets"): roles(*SIGNED_IN),
    ("GET", "/v1/campaigns/{cid}/city-targets"): roles(*SIGNED_IN),
    ("POST", "/v1/targets/{tid}/start"): owner_command,
    ("POST", "/v1/targets/{tid}/progress"): owner_command,
    ("POST", "/v1/targets/{tid}/block"): owner_command,
    ("POST", "/v1/targets/{tid}/unblock"): owner_command,
    ("POST", "/v1/targets/{tid}/escalate"): owner_command,
    ("POST", "/v1/targets/{tid}/complete"): owner_command,
    ("POST", "/v1/targets/{tid}/resolve"): roles("standing_committee"),
    ("POST", "/v1/targets/{tid}/accept"): roles("secretariat"),
    ("POST", "/v1/targets/{tid}/return"): roles("secretariat"),
    ("POST", "/v1/targets/{tid}/reopen"): roles("secretariat", "standing_committee"),
    ("POST", "/v1/targets/{tid}/extend-deadline"): roles("standing_committee"),
    ("POST", "/v1/targets/{tid}/reassign"): roles("secretariat", "standing_committee"),
    ("POST", "/v1/targets/{tid}/cancel"): roles("secretariat", "standing_committee"),
    ("POST", "/v1/targets/{tid}/comments"): commenter,
    ("GET", "/v1/targets/{tid}/comments"): target_reader,
    ("POST", "/v1/targets/{tid}/evidence"): owner_command,
    ("GET", "/v1/targets/{tid}/evidence"): target_reader,
    ("GET", "/v1/targets/{tid}/evidence/{sha256}"): target_reader,
    ("GET", "/v1/campaigns/{cid}/scoreboard"): roles(*SIGNED_IN),
    ("POST", "/v1/campaigns/{cid}/scoreboard/what-if"): roles(*STAFF),
    ("GET", "/v1/campaigns/{cid}/escalations"): roles(*STAFF),
    ("GET", "/v1/audit"): roles(*STAFF, object_route=False),
    ("GET", "/v1/audit/verify"): roles(*STAFF, object_route=False),
    ("GET", "/v1/me/notifications"): roles(*SIGNED_IN, object_route=False),
    ("POST", "/v1/me/notifications/{nid}/read"): own_notification,
    ("POST", "/v1/webhooks"): roles("secretariat", object_route=False),
    ("GET", "/v1/me/preferences"): roles(*SIGNED_IN, object_route=False),
    ("PUT", "/v1/me/preferences"): roles(*SIGNED_IN, object_route=False),
    ("GET", "/v1/webhooks/{wid}/deliveries"): roles("secretariat"),
    ("GET", "/v1/webhooks"): roles("secretariat", object_route=False),
    ("POST", "/v1/webhooks/{wid}/disable"): roles("secretariat"),
    ("GET", "/v1/notifications/failed"): roles("secretariat", object_route=False),
    ("GET", "/v1/campaigns/{cid}/digests/{day}"): digest_reader,
    ("POST", "/v1/campaigns/{cid}/evaluations"): roles("secretariat"),
    ("GET", "/v1/campaigns/{cid}/evaluations"): roles(*SIGNED_IN),
    ("GET", "/v1/evaluations/{eid}"): roles(*SIGNED_IN),
    ("PUT", "/v1/evaluations/{eid}/units/{unit_id}/self-assessment"): round_unit_head,
    ("PUT", "/v1/evaluations/{eid}/units/{unit_id}/review"): round_reviewer,
    ("POST", "/v1/evaluations/{eid}/clusters/{cluster_id}/proposal"): round_proposer,
    ("POST", "/v1/evaluations/{eid}/approve"): roles("standing_committee"),
    ("POST", "/v1/evaluations/{eid}/extend"): roles("standing_committee"),
    ("POST", "/v1/awards/{aid}/revoke"): roles("standing_committee"),
    ("GET", "/v1/awards/{aid}/trail"): roles(*SIGNED_IN),
}


def app_routes() -> set[tuple[str, str]]:
    from thidua.api.app import api_routes, create_app

    # The web pages (api/web, outside the OpenAPI schema) send strangers to sign-in: tests/browser.
    return {(method, route.path) for route in api_routes(create_app()) if route.include_in_schema
            for method in route.methods}


def test_every_route_of_the_app_is_in_the_matrix() -> None:
    routes = app_routes()
    assert routes - EXPECTED.keys() == set(), "routes with no expected statuses"
    assert EXPECTED.keys() - routes == set(), "expectations for routes that do not exist"


# ------------------------------------------------------------------ the world the matrix runs in
@dataclass
class World:
    people: dict[str, Person | None]
    campaign: str
    own_unit: str
    other_unit: str
    spare_unit: str
    secretariat: Person
    evaluation: str = ""
    award: str = ""


def _round_body(campaign: str) -> dict[str, Any]:
    from datetime import datetime, timedelta, timezone

    now = datetime.now(timezone.utc)
    return {"id": unique("round"), "name": "Sơ kết", "period_end": now.isoformat(),
            "self_assessment_due": (now + timedelta(days=5)).isoformat(),
            "review_due": (now + timedelta(days=10)).isoformat()}


async def _round_with_an_award(world: World, member: str) -> None:
    """A round of the matrix's campaign whose one award went to a person of `member` (c1)."""
    sec, committee, head = world.secretariat, world.people["standing_committee"], world.people["unit_head"]
    assert committee is not None and head is not None
    person_form = {"id": "ca-nhan", "name": "Giấy khen cá nhân", "for": "individual", "scope": "cluster",
                   "max_awards": 5, "min_score_ratio": 0, "max_overdue": 0, "max_late": 0}
    assert (await sec.put(f"/v1/campaigns/{world.campaign}/rules", {
        "forms": [person_form], "effective_at": "2022-01-01T00:00:00+07:00"})).status_code == 200
    body = _round_body(world.campaign)
    created = await sec.post(f"/v1/campaigns/{world.campaign}/evaluations", body)
    assert created.status_code == 201, created.text
    world.evaluation = body["id"]
    proposed = await head.post(f"/v1/evaluations/{world.evaluation}/clusters/c1/proposal", {"individuals": [{
        "name": "Lê Văn Cường", "unit_id": member, "position": "Phó Bí thư", "form_id": "ca-nhan",
        "achievements": "Vận động hiến đất"}]})
    assert proposed.status_code == 200, proposed.text
    approved = await committee.post(f"/v1/evaluations/{world.evaluation}/approve", {
        "decision": {"number": "7-QĐ/TU", "issued_on": "2022-12-30"}})
    assert approved.status_code == 200, approved.text
    world.award = approved.json()["evaluation"]["awards"][0]["award_id"]
    # A second round, still open, for the commands that need one.
    body = _round_body(world.campaign)
    assert (await sec.post(f"/v1/campaigns/{world.campaign}/evaluations", body)).status_code == 201
    world.evaluation = body["id"]


async def _assign(secretariat: Person, campaign: str, unit: str) -> str:
    response = await secretariat.post(f"/v1/campaigns/{campaign}/targets", {
        "key": unique("k"), "unit_id": unit, "title": "Chỉ tiêu", "area": "GPMB", "deadline": "2030-06-30",
        "points": 10})
    assert response.status_code == 201, response.text
    return response.json()["target"]["id"]


@pytest.fixture(scope="module")
async def world(secretariat: Person, worker: None, projector: None) -> World:
    own, other, spare, member = (unique("own"), unique("other"), unique("spare"), unique("member"))
    for unit in (own, other, spare, member):
        await register_unit(secretariat, unit, f"Đơn vị {unit}")
    campaign = unique("matrix")
    assert (await secretariat.post("/v1/campaigns", {"id": campaign, "name": "Ma trận", "starts_on": "2022-01-01",
                                                     "ends_on": "2030-12-31"})).status_code == 201
    # The head's unit leads no cluster with `other` in it: `other` is really out of its scope.
    assert (await secretariat.put(f"/v1/campaigns/{campaign}/clusters/c1", {
        "name": "Cụm 1", "head_unit_id": own, "deputy_unit_id": member})).status_code == 200
    assert (await secretariat.put(f"/v1/campaigns/{campaign}/clusters/c2", {
        "name": "Cụm 2", "head_unit_id": other, "deputy_unit_id": spare})).status_code == 200
    people: dict[str, Person | None] = {
        "anonymous": None,
        "secretariat": secretariat,
        "standing_committee": await make_person(secretariat, name="BTV", role="standing_committee"),
        "unit_head": await make_person(secretariat, name="Trưởng đơn vị", role="unit_head", unit_id=own),
        "inspector": await make_person(secretariat, name="UBKT", role="inspector"),
    }
    made = World(people, campaign, own, other, spare, secretariat)
    await _round_with_an_award(made, member)
    return made


def _body(method: str, path: str, world: World) -> dict[str, Any]:
    """A request that is valid for the schema (and usually for the domain)."""
    bodies: dict[str, Any] = {
        "/v1/users": {"json": {"name": "Người dùng", "role": "inspector"}},
        "/v1/units/{unit_id}": {"json": {"name": "Đơn vị", "kind": "ward"}},
        "/v1/campaigns": {"json": {"id": unique("camp"), "name": "Đợt", "starts_on": "2022-01-01",
                                   "ends_on": "2022-12-31"}},
        "/v1/campaigns/{cid}/clusters/{cluster_id}": {"json": {"name": "Cụm 9", "head_unit_id": world.spare_unit,
                                                               "deputy_unit_id": world.other_unit}},
        "/v1/campaigns/{cid}/decisions": {"json": {"number": unique("QD"), "issued_on": "2022-02-15",
                                                   "issuer": "BTV"}},
        "/v1/campaigns/{cid}/bonuses": {"json": {"unit_id": world.own_unit, "points": 1, "reason": "Sáng kiến"}},
        "/v1/campaigns/{cid}/policy": {"json": {"escalate_after": "P3D", "resolution_sla": "P7D",
                                                "stale_after": "P14D"}},
        "/v1/campaigns/{cid}/scoring": {"json": {"on_time": 1, "late": 0.5, "reward_slots": 1}},
        "/v1/campaigns/{cid}/rules": {"json": {"forms": [{
            "id": "giay-khen", "name": "Giấy khen", "for": "collective", "scope": "cluster", "max_awards": 2,
            "min_score_ratio": 0.8, "max_overdue": 0, "max_late": 1}]}},
        "/v1/campaigns/{cid}/close": {"json": {"reason": "Kết thúc đợt"}},
        "/v1/campaigns/{cid}/reopen": {"json": {"reason": "Mở lại đợt"}},
        "/v1/campaigns/{cid}/targets": {"json": {"unit_id": world.own_unit, "title": "Mới", "area": "GPMB",
                                                 "deadline": "2030-01-01", "points": 1}},
        "/v1/campaigns/{cid}/targets/import": {"json": [{"key": unique("imp"), "unit_id": world.own_unit,
                                                         "title": "Nhập", "area": "GPMB",
                                                         "deadline": "2030-01-01", "points": 1}]},
        "/v1/campaigns/{cid}/scoreboard/what-if": {"json": {"scoring": {"on_time": 1, "late": 0.2}}},
        "/v1/targets/{tid}/start": {"json": {}},
        "/v1/targets/{tid}/progress": {"json": {"percent": 10}},
        "/v1/targets/{tid}/block": {"json": {"reason": "Vướng mặt bằng"}},
        "/v1/targets/{tid}/unblock": {"json": {}},
        "/v1/targets/{tid}/escalate": {"json": {}},
        "/v1/targets/{tid}/complete": {"json": {"result": "Xong"}},
        "/v1/targets/{tid}/resolve": {"json": {"directive": "Chỉ đạo"}},
        "/v1/targets/{tid}/reopen": {"json": {"reason": "Chưa đạt"}},
        "/v1/targets/{tid}/extend-deadline": {"json": {"new_deadline": "2031-01-01", "reason": "Gia hạn"}},
        "/v1/targets/{tid}/reassign": {"json": {"unit_id": world.spare_unit, "reason": "Điều chuyển"}},
        "/v1/targets/{tid}/cancel": {"json": {"reason": "Không còn phù hợp"}},
        "/v1/targets/{tid}/comments": {"json": {"kind": "comment", "body": "Ý kiến"}},
        "/v1/targets/{tid}/evidence": {"files": {"file": ("bien-ban.pdf", PDF)}},
        "/v1/webhooks": {"json": {"url": "http://127.0.0.1:9/hook", "events": ["target.stale"]}},
        "/v1/me/preferences": {"json": {"email": "a@thidua.vn", "email_kinds": ["target.stale"]}},
        "/v1/webhooks/{wid}/disable": {"json": {"reason": "Ngừng nhận"}},
        "/v1/campaigns/{cid}/evaluations": {"json": _round_body(world.campaign)},
        "/v1/evaluations/{eid}/units/{unit_id}/self-assessment": {"json": {"items": []}},
        "/v1/evaluations/{eid}/units/{unit_id}/review": {"json": {"items": []}},
        "/v1/evaluations/{eid}/clusters/{cluster_id}/proposal": {"json": {}},
        "/v1/evaluations/{eid}/approve": {"json": {"decision": {"number": "8-QĐ/TU", "issued_on": "2022-12-30"}}},
        "/v1/evaluations/{eid}/extend": {"json": {"stage": "review", "due": "2099-01-01T00:00:00+07:00",
                                                  "reason": "Gia hạn"}},
        "/v1/awards/{aid}/revoke": {"json": {"reason": "Thu hồi"}},
    }
    return bodies.get(path, {}) if method in ("POST", "PUT", "DELETE") else {}


async def _new_decision(world: World) -> str:
    number = unique("QD")
    response = await world.secretariat.post(f"/v1/campaigns/{world.campaign}/decisions", {
        "number": number, "issued_on": "2022-02-15", "issuer": {"level": "city", "name": "BTV"}})
    assert response.status_code == 201, response.text
    # The tree route finds the decision's campaign in the read models: wait for them.
    seen = await world.secretariat.get(f"/v1/campaigns/{world.campaign}/city-targets",
                                       params={"min_position": response.json()["position"]})
    assert seen.status_code == 200, seen.text
    return number


async def _path_for(path: str, scope: str, world: World, role: str) -> str:
    """The concrete URL of `path` for an object in the caller's scope, outside it, or unknown."""
    missing = scope == "missing"
    values: dict[str, str] = {}
    if "{cid}" in path:
        values["cid"] = "no-such-campaign" if missing else world.campaign
        if path.endswith("/close") and not missing:
            # Closing is for good: the matrix's own campaign must stay open for the other routes.
            values["cid"] = await _new_campaign(world.secretariat)
        if path == "/v1/campaigns/{cid}/reopen" and not missing:
            values["cid"] = await _new_campaign(world.secretariat)
            await _close(world.secretariat, values["cid"])
    if "{operation_id}" in path:
        values["operation_id"] = "op-missing.0" if missing else \
            await _close(world.secretariat, await _new_campaign(world.secretariat))
    if "{eid}" in path:
        values["eid"] = "no-such-round" if missing else world.evaluation
    if "{aid}" in path:
        values["aid"] = "no-such-round:1" if missing else world.award
    if "{cluster_id}" in path:
        values["cluster_id"] = "c1" if path.startswith("/v1/evaluations/") else unique("c")
    if "{unit_id}" in path:
        values["unit_id"] = unique("new") if missing else (world.own_unit if scope == "own" else world.other_unit)
    if "{uid}" in path:
        values["uid"] = "u" + secrets.token_hex(8) if missing else \
            (await make_person(world.secretariat, name="Sẽ thu hồi", role="inspector")).id
    if "{number:path}" in path:  # a decision registered in the matrix's campaign only
        values["number"] = "QD-none" if missing else await _new_decision(world)
    if "{nid}" in path:  # nobody's (the matrix's people have no notification of this id)
        values["nid"] = str(uuid4())
    if "{wid}" in path:
        values["wid"] = "wh-none" if missing else (await world.secretariat.post(
            "/v1/webhooks", {"url": "http://127.0.0.1:9/hook", "events": ["target.stale"]})).json()["id"]
    if "{day}" in path:
        values["day"] = "2022-02-15"
    if "{tid}" in path:
        if missing:
            values["tid"] = "00000000-0000-5000-8000-" + secrets.token_hex(6)
        else:
            # A fresh target per request: one role's command must not change what the next one meets.
            unit = world.own_unit if scope == "own" else world.other_unit
            values["tid"] = await _assign(world.secretariat, world.campaign, unit)
            if path.endswith(("/unblock", "/escalate")):
                await _prepare_blocked(world, values["tid"], unit, escalate=False)
            if path.endswith("/resolve"):
                await _prepare_blocked(world, values["tid"], unit, escalate=True)
            if path.endswith("/reopen"):
                await _prepare_completed(world, values["tid"], unit)
    if "{sha256}" in path:
        values["sha256"] = "0" * 64 if missing else await _attach(world, values["tid"], unit)
    return path.replace(":path}", "}").format(**values)


async def _attach(world: World, tid: str, unit: str) -> str:
    head = await _head_of(world, unit)
    response = await head.post(f"/v1/targets/{tid}/evidence", files={"file": ("bien-ban.pdf", PDF)})
    assert response.status_code == 201, response.text
    return response.json()["sha256"]


async def _new_campaign(secretariat: Person) -> str:
    campaign = unique("closing")
    response = await secretariat.post("/v1/campaigns", {"id": campaign, "name": "Đợt sẽ đóng",
                                                        "starts_on": "2022-01-01", "ends_on": "2030-12-31"})
    assert response.status_code == 201, response.text
    return campaign


async def _close(secretariat: Person, campaign: str) -> str:
    """Close the campaign; the id of the operation that did it."""
    from thidua.api.idempotency import command_id_for
    from thidua.workflows.campaign_operation_messages import CLOSE, operation_id_for

    key = unique("close")
    response = await secretariat.post(f"/v1/campaigns/{campaign}/close", {}, headers={"Idempotency-Key": key})
    assert response.status_code == 200, response.text
    return operation_id_for(command_id_for(secretariat.id, key), CLOSE, campaign, {"reason": None})


async def _head_of(world: World, unit: str) -> Person:
    if unit == world.own_unit:
        head = world.people["unit_head"]
        assert head is not None
        return head
    heads = getattr(world, "_heads", {})
    if unit not in heads:
        heads[unit] = await make_person(world.secretariat, name="Trưởng", role="unit_head", unit_id=unit)
        world._heads = heads  # type: ignore[attr-defined]
    return heads[unit]


async def _prepare_blocked(world: World, tid: str, unit: str, *, escalate: bool) -> None:
    head = await _head_of(world, unit)
    assert (await head.post(f"/v1/targets/{tid}/block", {"reason": "Vướng"})).status_code == 200
    if escalate:
        assert (await head.post(f"/v1/targets/{tid}/escalate", {})).status_code == 200


async def _prepare_completed(world: World, tid: str, unit: str) -> None:
    head = await _head_of(world, unit)
    assert (await head.post(f"/v1/targets/{tid}/complete", {"result": "Xong"})).status_code == 200


async def test_authorization_matrix(world: World) -> None:
    failures = []
    for method, path in sorted(EXPECTED):
        expect = EXPECTED[(method, path)]
        changes_its_object = method in ("POST", "DELETE") and (
            "{tid}" in path or "{uid}" in path or path.endswith("/close") or path == "/v1/campaigns/{cid}/reopen")
        for scope in SCOPES if "{" in path else ("own",):
            url: str | None = None
            for role in ROLES:
                # Refusals change nothing, so the object is shared until a call is let
                # through; then the next caller gets a fresh one in the same state.
                url = url or await _path_for(path, scope, world, role)
                person = world.people[role]
                kwargs = _body(method, path, world)
                if person is None:
                    response = await world.secretariat.http.request(method, url, **kwargs)
                else:
                    response = await person.request(method, url, **kwargs)
                expected = expect(role, scope)
                got = response.status_code
                ok = got not in (401, 403, 404) and got < 500 if expected == ALLOW else got == expected
                if not ok:
                    failures.append(f"{method} {path} as {role} on {scope}: expected {expected}, got {got} "
                                    f"{response.text[:200]}")
                if changes_its_object and got < 400:
                    url = None
    assert not failures, "\n".join(failures)


async def test_a_unit_heading_a_cluster_reads_its_members_targets_but_cannot_act(world: World) -> None:
    member_target = await _assign(world.secretariat, world.campaign, await _member_unit(world))
    head = world.people["unit_head"]
    assert head is not None
    assert (await head.get(f"/v1/targets/{member_target}")).status_code == 200
    assert (await head.get(f"/v1/targets/{member_target}/history")).status_code == 403
    assert (await head.post(f"/v1/targets/{member_target}/start", {})).status_code == 403


async def test_a_coordinating_unit_reads_every_target_route_and_writes_only_its_comments(world: World) -> None:
    """From the routes: a unit named to coordinate (by a resolution) may call every GET of the
    target and comment on it; every other command on the target is refused."""
    owner = world.other_unit
    tid = await _assign(world.secretariat, world.campaign, owner)
    await _prepare_blocked(world, tid, owner, escalate=True)
    committee = world.people["standing_committee"]
    assert committee is not None
    resolved = await committee.post(f"/v1/targets/{tid}/resolve", {
        "directive": "Phối hợp", "coordinating_unit_ids": [world.own_unit]})
    assert resolved.status_code == 200, resolved.text
    digest = await _attach(world, tid, owner)
    coordinator = world.people["unit_head"]
    assert coordinator is not None
    failures = []
    for method, path in sorted(EXPECTED):
        if not path.startswith("/v1/targets/{tid}"):
            continue
        url = path.format(tid=tid, sha256=digest)
        response = await coordinator.request(method, url, **_body(method, path, world))
        allowed = method == "GET" or path.endswith("/comments")
        ok = response.status_code < 400 if allowed else response.status_code == 403
        if not ok:
            failures.append(f"{method} {path}: got {response.status_code} {response.text[:200]}")
    assert not failures, "\n".join(failures)


async def _member_unit(world: World) -> str:
    campaign = await world.secretariat.get(f"/v1/campaigns/{world.campaign}")
    clusters = {c["cluster_id"]: c for c in campaign.json()["clusters"]}
    return clusters["c1"]["deputy_unit_id"]
