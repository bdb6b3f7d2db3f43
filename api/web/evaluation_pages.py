"""The evaluation pages (DESIGN.md "Evaluation and commendation"): the results table of a
round, the unit's self-assessment form (prefilled with the system's score per target),
the cluster head's review (self beside system, differences marked), the proposal form
(which criteria each unit meets) and the Standing Committee's approval page; on the round's
page the Standing Committee extends a stage that is still open (a new due time and a
reason) and revokes an award (Law 06/2022, with a reason), which then shows as revoked,
with its reason, in the awards and in the unit's row.

Each reads the `evaluations` read model the JSON route reads and writes through the same
domain commands (thidua.api.routes.evaluations.change_round), so a page can do nothing the
API would not let the same person do. A refused form comes back with the message next to
its field and what was typed kept.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import Response

from thidua.api import readmodels
from thidua.api.deps import get_services, wait_for_projections
from thidua.api.evaluation_models import ExtendIn
from thidua.api.evaluation_reads import round_body, rounds_of_campaign
from thidua.api.problems import DOMAIN_PROBLEMS
from thidua.api.routes.evaluations import change_round, extend_round
from thidua.api.services import command
from thidua.api.web import page_reads
from thidua.api.web.collation import vi_key
from thidua.api.web.i18n import parse_dmy
from thidua.api.web.render import PageRefused, check_csrf, person, redirect, render
from thidua.domain.errors import DomainError
from thidua.domain.evaluation import REVIEW, SELF_ASSESSMENT, award_id_of
from thidua.domain.permissions import may
from thidua.domain.values import DEFAULT_TIMEZONE, Role

router = APIRouter(include_in_schema=False)


# ------------------------------------------------------------------ reading
async def _round(request: Request) -> tuple[Any, dict[str, Any], dict[str, Any] | None]:
    services = get_services(request)
    min_position = request.query_params.get("min_position")
    if min_position and min_position.isdigit():
        await wait_for_projections(services, int(min_position))
    eid = request.path_params["eid"]
    body = await round_body(services.pool, eid)
    if body is None:
        raise PageRefused(404, "not_found")
    campaign = await readmodels.queries().get_campaign(services.pool, body["campaign_id"])
    return services, body, campaign


async def _titles(services: Any, target_ids: list[str]) -> dict[str, str]:
    rows = await services.pool.fetch(
        "SELECT target_id::text AS target_id, title FROM public.targets WHERE target_id = ANY($1::uuid[])", target_ids)
    return {r["target_id"]: r["title"] for r in rows}


def _unit(body: dict[str, Any], unit_id: str) -> dict[str, Any]:
    unit = next((u for u in body["units"] if u["unit_id"] == unit_id), None)
    if unit is None:
        raise PageRefused(404, "not_found")
    return unit


def _leads(body: dict[str, Any], cluster_id: str) -> dict[str, Any]:
    leads = next((c for c in body.get("clusters", []) if c["cluster_id"] == cluster_id), None)
    if leads is None:
        raise PageRefused(404, "not_found")
    return leads


def _reviewer_of(body: dict[str, Any], unit: dict[str, Any]) -> str:
    leads = _leads(body, unit["cluster_id"])
    return leads["deputy_unit_id"] if unit["unit_id"] == leads["head_unit_id"] else leads["head_unit_id"]


# The stages still open in each state of a round (those the Standing Committee may extend).
_OPEN_STAGES = {SELF_ASSESSMENT: [SELF_ASSESSMENT, REVIEW], REVIEW: [REVIEW]}


def _may(who: Any, body: dict[str, Any]) -> dict[str, Any]:
    """Which forms of the round this person may use now (the domain decides again on submit)."""
    open_ = body["state"] != "closed"
    unit_head = who.role == Role.UNIT_HEAD
    units = {u["unit_id"]: u for u in body["units"]}
    return {
        "self": open_ and unit_head and who.unit_id in units,
        "review": [u for u in body["units"] if open_ and unit_head and _reviewer_of(body, u) == who.unit_id],
        "proposal": [c["cluster_id"] for c in body.get("clusters", [])
                     if open_ and unit_head and c["head_unit_id"] == who.unit_id],
        "approve": open_ and who.role == Role.STANDING_COMMITTEE and bool(body["proposals"]),
        "extend": _OPEN_STAGES.get(body["state"], []) if may(who.actor, "extend_evaluation") else [],
        "revoke": may(who.actor, "revoke_award") and any(a["revoked"] is None for a in body["awards"]),
    }


def _context(body: dict[str, Any], campaign: dict[str, Any] | None, names: dict[str, str], **more: Any) -> dict[str, Any]:
    return {"round": body, "campaign": campaign, "cid": body["campaign_id"], "tz": (campaign or {}).get("timezone"),
            "names": names, "form_names": {f["id"]: f["name"] for f in body.get("rules", [])}, "errors": {}, "values": {}, "command_id": str(uuid.uuid4()), **more}


async def _names(services: Any) -> dict[str, str]:
    """Every unit's name (a round's units are any of the store's)."""
    return await page_reads.unit_names(services, None)


# ------------------------------------------------------------------ writing
def _command_id(values: dict[str, str]) -> str:
    try:
        return "web-" + str(uuid.UUID(values.get("command_id", "")))
    except ValueError:
        return "web-" + str(uuid.uuid4())


def _number(values: dict[str, str], name: str, errors: dict[str, str]) -> str | None:
    text = values.get(name, "").strip().replace(",", ".")
    try:
        Decimal(text)
    except InvalidOperation:
        errors[name] = "not_a_number"
        return None
    return text


def _scored_items(values: dict[str, str], unit: dict[str, Any], text_name: str, errors: dict[str, str], *,
                  only_filled: bool = False) -> tuple[list[dict[str, Any]], Callable[[str], str]]:
    """The form's `score-<target>` and `<text_name>-<target>` fields as the command's items
    (with `only_filled`, the targets given a score), and how the domain's field names
    (`items.3.score`) map back to the form's."""
    chosen = [i["target_id"] for i in unit["items"] if not only_filled or values.get(f"score-{i['target_id']}", "").strip()]
    items = [{"target_id": t, "score": _number(values, f"score-{t}", errors),
              text_name: values.get(f"{text_name}-{t}") or None} for t in chosen]

    def field_of(field: str) -> str:
        parts = field.split(".")
        if parts[0] == "items" and len(parts) == 3 and parts[1].isdigit() and int(parts[1]) < len(chosen):
            return f"{'score' if parts[2] == 'score' else text_name}-{chosen[int(parts[1])]}"
        return "initiative_title" if parts[0] == "initiatives" else "form"

    return items, field_of


async def _submit(request: Request, eid: str, act: Callable[[Any], Callable[[Any], bool]],
                  field_of: Callable[[str], str]) -> tuple[int | None, dict[str, str]]:
    """Apply one round command; (position, {}) or (None, errors by form field)."""
    services = get_services(request)
    found = request.state.evaluation_person
    cmd = command(request.state.evaluation_command_id, found.actor)
    try:
        result = await services.in_thread(lambda: change_round(services, eid, cmd.id, act(cmd)))
    except DomainError as error:
        field = error.details.get("field")
        status = DOMAIN_PROBLEMS.get(error.kind, (422,))[0]
        key = field_of(field) if isinstance(field, str) else "form"
        return None, {key: error.message, "_status": str(status)}
    return result["position"], {}


async def _form_post(request: Request) -> tuple[Any, Any, dict[str, str]]:
    found = await person(request)
    who, session = found
    form = await request.form()
    check_csrf(request, form, session)
    values = {k: str(v) for k, v in form.items() if isinstance(v, str)}
    request.state.evaluation_person = who
    request.state.evaluation_command_id = _command_id(values)
    return found, who, values


async def _apply_form(request: Request, eid: str, act: Callable[[Any], Callable[[Any], bool]],
                      field_of: Callable[[str], str], template: str, context: dict[str, Any], values: dict[str, str],
                      found: Any) -> Response:
    """Submit the form's command: back to the round's page, or the form again with the refusal."""
    position, errors = await _submit(request, eid, act, field_of)
    if errors:
        return _refused(request, template, context, errors, values, found)
    return _done(eid, position or 0)


def _done(eid: str, position: int) -> Response:
    return redirect(f"/evaluations/{eid}?min_position={position}&notice=saved")


def _refused(request: Request, template: str, context: dict[str, Any], errors: dict[str, str], values: dict[str, str],
             found: Any) -> Response:
    status = int(errors.pop("_status", "422"))
    context.update(errors=errors, values=values)
    return render(request, template, context, status=status, found=found)


# ------------------------------------------------------------------ the round's pages
@router.get("/campaigns/{cid}/evaluations")
async def rounds_page(request: Request, cid: str) -> Response:
    found = await person(request)
    services = get_services(request)
    campaign = await readmodels.queries().get_campaign(services.pool, cid)
    if campaign is None:
        raise PageRefused(404, "not_found")
    rounds = await rounds_of_campaign(services.pool, cid)
    return render(request, "evaluations.html", {"campaign": campaign, "cid": cid, "rounds": rounds,
                                                 "tz": campaign.get("timezone")}, found=found)


async def _round_context(request: Request, who: Any) -> dict[str, Any]:
    services, body, campaign = await _round(request)
    names = await _names(services)
    body["units"].sort(key=lambda u: (u["cluster_id"], vi_key(names.get(u["unit_id"], u["unit_id"]))))
    awards_of: dict[str, list[dict[str, Any]]] = {}
    for award in body["awards"]:
        if award["kind"] == "collective":
            awards_of.setdefault(award["unit_id"], []).append(award)
    return _context(body, campaign, names, may=_may(who, body), awards_of=awards_of,
                    notice=request.query_params.get("notice"))


@router.get("/evaluations/{eid}")
async def round_page(request: Request, eid: str) -> Response:
    found = await person(request)
    context = await _round_context(request, found[0])
    return render(request, "evaluation.html", context, found=found)


def _due(values: dict[str, str], tz: str | None, errors: dict[str, str]) -> datetime | None:
    """The form's due date (dd/mm/yyyy) and time (HH:MM, the campaign's time zone) as an instant."""
    day = moment = None
    try:
        day = parse_dmy(values.get("due_date", ""))
    except (ValueError, TypeError):
        errors["due_date"] = "date_hint"
    try:
        hours, minutes = values.get("due_time", "").strip().split(":")
        moment = time(int(hours), int(minutes))
    except ValueError:
        errors["due_time"] = "time_hint"
    if day is None or moment is None:
        return None
    try:
        zone = ZoneInfo(tz or DEFAULT_TIMEZONE)
    except Exception:  # noqa: BLE001 - an unknown zone name: the campaign's default, as the pages show it
        zone = ZoneInfo(DEFAULT_TIMEZONE)
    return datetime.combine(day, moment, tzinfo=zone)


@router.post("/evaluations/{eid}/extend")
async def extend_post(request: Request, eid: str) -> Response:
    """The Standing Committee gives a stage still open a later due time, with a reason
    (through the round's workflow, which re-arms its timers)."""
    found, who, values = await _form_post(request)
    context = await _round_context(request, who)
    if not may(who.actor, "extend_evaluation"):
        raise PageRefused(403, "forbidden")
    errors: dict[str, str] = {}
    stage = values.get("stage", "")
    if stage not in context["may"]["extend"]:  # a stage that has closed meanwhile, too
        errors["stage"] = "choose_stage"
    due = _due(values, context["tz"], errors)
    reason = values.get("extend_reason", "").strip()
    if not reason:
        errors["extend_reason"] = "reason_required"
    if errors or due is None:
        return _refused(request, "evaluation.html", context, errors, values, found)
    try:
        result = await extend_round(get_services(request), eid, request.state.evaluation_command_id, who.actor,
                                    ExtendIn(stage=stage, due=due, reason=reason))
    except DomainError as error:
        field = error.details.get("field")
        key = {"due": "due_date", "reason": "extend_reason", "stage": "stage"}.get(str(field), "form")
        status = DOMAIN_PROBLEMS.get(error.kind, (422,))[0]
        return _refused(request, "evaluation.html", context, {key: error.message, "_status": str(status)}, values,
                        found)
    return _done(eid, result["position"])


@router.post("/evaluations/{eid}/awards/{number}/revoke")
async def revoke_post(request: Request, eid: str, number: int) -> Response:
    """The Standing Committee revokes an award (Law 06/2022/QH15), with the reason."""
    found, who, values = await _form_post(request)
    context = await _round_context(request, who)
    if not may(who.actor, "revoke_award"):
        raise PageRefused(403, "forbidden")
    key = f"revoke-reason-{number}"
    reason = values.get(key, "").strip()
    if not reason:
        return _refused(request, "evaluation.html", context, {key: "reason_required"}, values, found)
    award_id = award_id_of(eid, number)
    return await _apply_form(request, eid, lambda cmd: lambda e: e.revoke(cmd, award_id=award_id, reason=reason),
                             lambda field: key, "evaluation.html", context, values, found)


async def _self_context(request: Request, eid: str, unit_id: str, who: Any) -> dict[str, Any]:
    services, body, campaign = await _round(request)
    if who.role != Role.UNIT_HEAD or who.unit_id != unit_id:
        raise PageRefused(403, "forbidden")
    unit = _unit(body, unit_id)
    titles = await _titles(services, [i["target_id"] for i in unit["items"]])
    return _context(body, campaign, await _names(services), unit=unit, titles=titles)


def _self_values(unit: dict[str, Any]) -> dict[str, str]:
    """The form as it starts: the unit's last self-assessment, else the system's scores."""
    values = {"summary": unit.get("summary") or ""}
    for item in unit["items"]:
        score = item["self_score"] if item["self_score"] is not None else item["system_score"]
        values[f"score-{item['target_id']}"] = f"{Decimal(str(score)).normalize():f}"
        values[f"note-{item['target_id']}"] = item["note"] or ""
    return values


@router.get("/evaluations/{eid}/units/{unit_id}/self-assessment")
async def self_page(request: Request, eid: str, unit_id: str) -> Response:
    found = await person(request)
    context = await _self_context(request, eid, unit_id, found[0])
    context["values"] = _self_values(context["unit"])
    return render(request, "evaluation_self.html", context, found=found)


@router.post("/evaluations/{eid}/units/{unit_id}/self-assessment")
async def self_post(request: Request, eid: str, unit_id: str) -> Response:
    found, who, values = await _form_post(request)
    context = await _self_context(request, eid, unit_id, who)
    errors: dict[str, str] = {}
    items, field_of = _scored_items(values, context["unit"], "note", errors)
    initiatives = []
    if values.get("initiative_title", "").strip():
        initiatives.append({"title": values["initiative_title"],
                            "points_claimed": _number(values, "initiative_points", errors) or "0"})
    if errors:
        return _refused(request, "evaluation_self.html", context, errors, values, found)

    return await _apply_form(request, eid, lambda cmd: lambda e: e.self_assess(
        cmd, unit_id=unit_id, items=items, summary=values.get("summary") or None, initiatives=initiatives), field_of,
                             "evaluation_self.html", context, values, found)


async def _review_context(request: Request, eid: str, unit_id: str, who: Any) -> dict[str, Any]:
    services, body, campaign = await _round(request)
    unit = _unit(body, unit_id)
    if who.role != Role.UNIT_HEAD or who.unit_id != _reviewer_of(body, unit):
        raise PageRefused(403, "forbidden")
    titles = await _titles(services, [i["target_id"] for i in unit["items"]])
    return _context(body, campaign, await _names(services), unit=unit, titles=titles)


@router.get("/evaluations/{eid}/units/{unit_id}/review")
async def review_page(request: Request, eid: str, unit_id: str) -> Response:
    found = await person(request)
    context = await _review_context(request, eid, unit_id, found[0])
    values = {}
    for item in context["unit"]["items"]:
        start = item["reviewed_score"] if item["reviewed_score"] is not None else item["self_score"]
        values[f"score-{item['target_id']}"] = "" if start is None else f"{Decimal(str(start)).normalize():f}"
        values[f"reason-{item['target_id']}"] = item["reason"] or ""
    context["values"] = values
    return render(request, "evaluation_review.html", context, found=found)


@router.post("/evaluations/{eid}/units/{unit_id}/review")
async def review_post(request: Request, eid: str, unit_id: str) -> Response:
    found, who, values = await _form_post(request)
    context = await _review_context(request, eid, unit_id, who)
    errors: dict[str, str] = {}
    items, field_of = _scored_items(values, context["unit"], "reason", errors, only_filled=True)
    if errors:
        return _refused(request, "evaluation_review.html", context, errors, values, found)

    return await _apply_form(request, eid, lambda cmd: lambda e: e.review(cmd, unit_id=unit_id, items=items),
                             field_of, "evaluation_review.html", context, values, found)


async def _proposal_context(request: Request, eid: str, cluster_id: str, who: Any) -> dict[str, Any]:
    services, body, campaign = await _round(request)
    leads = _leads(body, cluster_id)
    if who.role != Role.UNIT_HEAD or who.unit_id != leads["head_unit_id"]:
        raise PageRefused(403, "forbidden")
    names = await _names(services)
    units = sorted((u for u in body["units"] if u["cluster_id"] == cluster_id),
                   key=lambda u: vi_key(names.get(u["unit_id"], u["unit_id"])))
    forms = {"collective": [f for f in body["rules"] if f["for"] == "collective"],
             "individual": [f for f in body["rules"] if f["for"] == "individual"]}
    return _context(body, campaign, names, cluster_id=cluster_id, units=units, forms=forms)


@router.get("/evaluations/{eid}/clusters/{cluster_id}/proposal")
async def proposal_page(request: Request, eid: str, cluster_id: str) -> Response:
    found = await person(request)
    context = await _proposal_context(request, eid, cluster_id, found[0])
    values = {f"form-{p['unit_id']}": p["form_id"] for p in context["round"]["proposals"]
              if p["kind"] == "collective" and p["cluster_id"] == cluster_id}
    context["values"] = values
    return render(request, "evaluation_proposal.html", context, found=found)


@router.post("/evaluations/{eid}/clusters/{cluster_id}/proposal")
async def proposal_post(request: Request, eid: str, cluster_id: str) -> Response:
    found, who, values = await _form_post(request)
    context = await _proposal_context(request, eid, cluster_id, who)
    proposed = [u["unit_id"] for u in context["units"] if values.get(f"form-{u['unit_id']}")]
    collectives = [{"unit_id": u, "form_id": values[f"form-{u}"], "reason": values.get(f"reason-{u}") or None}
                   for u in proposed]
    individuals = []
    if values.get("ind_name", "").strip():
        individuals.append({"name": values["ind_name"], "unit_id": values.get("ind_unit", ""),
                            "position": values.get("ind_position", ""), "form_id": values.get("ind_form", ""),
                            "achievements": values.get("ind_achievements", "")})

    def field_of(field: str) -> str:
        parts = field.split(".")
        if parts[0] == "collectives" and len(parts) >= 2 and parts[1].isdigit() and int(parts[1]) < len(proposed):
            return f"form-{proposed[int(parts[1])]}"
        if parts[0] == "individuals":
            return {"unit_id": "ind_unit", "position": "ind_position", "form_id": "ind_form",
                    "achievements": "ind_achievements"}.get(parts[-1], "ind_name")
        return "form"

    return await _apply_form(request, eid, lambda cmd: lambda e: e.propose(
        cmd, cluster_id=cluster_id, collectives=collectives, individuals=individuals), field_of,
                             "evaluation_proposal.html", context, values, found)


async def _approval_context(request: Request, who: Any) -> dict[str, Any]:
    services, body, campaign = await _round(request)
    if who.role != Role.STANDING_COMMITTEE:
        raise PageRefused(403, "forbidden")
    return _context(body, campaign, await _names(services))


@router.get("/evaluations/{eid}/approve")
async def approval_page(request: Request, eid: str) -> Response:
    found = await person(request)
    context = await _approval_context(request, found[0])
    context["values"] = {f"award-{i}": "on" for i in range(len(context["round"]["proposals"]))}
    return render(request, "evaluation_approve.html", context, found=found)


@router.post("/evaluations/{eid}/approve")
async def approval_post(request: Request, eid: str) -> Response:
    found, who, values = await _form_post(request)
    context = await _approval_context(request, who)
    proposals = context["round"]["proposals"]
    awards = [{"unit_id": p["unit_id"], "form_id": p["form_id"], "name": p.get("name")}
              for i, p in enumerate(proposals) if values.get(f"award-{i}")]
    errors: dict[str, str] = {}
    issued_on = None
    try:
        issued_on = parse_dmy(values.get("issued_on", ""))
    except (ValueError, TypeError):
        errors["issued_on"] = "date_hint"
    if not values.get("decision_number", "").strip():
        errors["decision_number"] = "decision_number"
    if errors:
        return _refused(request, "evaluation_approve.html", context, errors, values, found)

    def field_of(field: str) -> str:
        return {"decision.number": "decision_number", "decision.issued_on": "issued_on"}.get(field, "form")

    return await _apply_form(request, eid, lambda cmd: lambda e: e.approve(
        cmd, decision_number=values["decision_number"], issued_on=issued_on, awards=awards), field_of,
                             "evaluation_approve.html", context, values, found)
