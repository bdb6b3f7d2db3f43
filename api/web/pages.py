"""The pages. Each reads what its JSON route reads (thidua.projections.queries through
thidua.api.readmodels, the same permission checks of thidua.api.deps) and writes through the same
command code (thidua.api.routes.targets.execute_command, thidua.api.users), so a page can do
nothing the API would not let the same person do.
"""

from __future__ import annotations

import json
import uuid
from collections import OrderedDict
from datetime import date, datetime, timedelta, timezone
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError

from thidua.api import importing, readmodels, scoreboards
from thidua.api.auth import new_user_id, password_problem
from thidua.api.deps import get_services, readable_target, target_for, wait_for_projections
from thidua.api.importing import ImportRejected
from thidua.api.models import ScoringIn, UserCreate
from thidua.api.problems import DOMAIN_PROBLEMS, Problem
from thidua.api.routes.session import sign_in
from thidua.api.routes.targets import _create_all, execute_command
from thidua.api.services import command
from thidua.api.sessions import COOKIE, client_address, clear_session_cookie, set_session_cookie
from thidua.api.web import forms
from thidua.api.web import page_reads
from thidua.api.web.cascade_pages import READ_IT, rollup_bars, tree_context
from thidua.api.web import queries as web_queries
from thidua.api.web.collation import vi_key, vi_sorted
from thidua.api.web.render import (
    PageRefused,
    check_csrf,
    fragment,
    language,
    maybe_person,
    person,
    redirect,
    render,
    safe_next,
)
from thidua.api.users import activate, create_user, new_activation, request_base_url, revoke_user
from thidua.api.web.i18n import parse_dmy
from thidua.api.web.import_flow import ImportFlow, Upload
from thidua.api.web.paper_view import paper_context
from thidua.domain import lifecycle as lc
from thidua.domain.errors import DomainError
from thidua.domain.user import ActivationGone
from thidua.domain.permissions import may, may_read_history
from thidua.domain.values import Role, ScoringScale, Status, parse_duration
from thidua.projections import tree_queries

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
DUE_SOON = timedelta(days=30)
STATUSES = ("assigned", "in_progress", "blocked", "escalated", "awaiting_acceptance", "completed", "cancelled")
REPORT_CLASSES = ("completed_on_time", "completed_late", "awaiting_acceptance", "in_progress_within_deadline",
                  "overdue", "cancelled")
# The four classes, and completions awaiting acceptance apart (not completed until accepted).
BAR_CLASSES = ("completed_on_time", "completed_late", "awaiting_acceptance", "in_progress_within_deadline", "overdue")


# ------------------------------------------------------------------ helpers
async def _campaigns(services: Any) -> list[dict[str, Any]]:
    page = await readmodels.queries().list_campaigns(services.pool, 100, None)
    return list(page["items"])


async def _campaign_id(request: Request, services: Any) -> str | None:
    """The campaign a page is about: `?campaign=`, else the first one still running (a
    drive closed years ago is not what people come to work on), else the first one."""
    asked = request.query_params.get("campaign")
    if asked:
        return asked
    campaigns = await _campaigns(services)
    running = [c for c in campaigns if not c.get("closed")]
    return (running or campaigns)[0]["id"] if campaigns else None


async def _targets(services: Any, cid: str, **filters: Any) -> list[dict[str, Any]]:
    page = await readmodels.queries().list_targets(services.pool, cid, limit=500, **filters)
    return list(page["items"])


async def _read_your_writes(request: Request, services: Any) -> None:
    """`?min_position=N` (set by the redirect after a command): wait for the read models."""
    min_position = request.query_params.get("min_position")
    if min_position and min_position.isdigit():
        await wait_for_projections(services, int(min_position))


def _tz(campaign: dict[str, Any] | None) -> str | None:
    return (campaign or {}).get("timezone")


def _problem_message(exc: Exception) -> tuple[int, str]:
    if isinstance(exc, Problem):
        return exc.status, str(exc.detail if hasattr(exc, "detail") else exc)
    if isinstance(exc, DomainError):

        return DOMAIN_PROBLEMS.get(exc.kind, (422, "", ""))[0], exc.message
    return 500, str(exc)


# ------------------------------------------------------------------ sign-in, activation, sign-out
@router.get("/sign-in")
async def sign_in_page(request: Request) -> Response:
    return render(request, "sign_in.html", {"next": safe_next(request.query_params.get("next")), "errors": {},
                                            "login": "", "notice": request.query_params.get("notice")})


@router.post("/sign-in")
async def sign_in_post(request: Request) -> Response:

    services = get_services(request)
    form = await request.form()
    check_csrf(request, form, None)
    login, password = str(form.get("login", "")), str(form.get("password", ""))
    next_url = safe_next(str(form.get("next", "/")))
    errors: dict[str, str] = {}
    if not login.strip():
        errors["login"] = "login_required"
    if not password:
        errors["password"] = "password_required"
    if not errors:
        try:
            _, secret, _ = await sign_in(services, login, password, client_address(request))
        except Problem as exc:
            if exc.status == 429:
                raise PageRefused(429, "too_many", headers=dict(exc.headers or {})) from None
            errors["login"] = "wrong"
        else:
            response = redirect(next_url)
            set_session_cookie(response, request, secret, services.sessions.lifetime_seconds)
            return response
    return render(request, "sign_in.html", {"next": next_url, "errors": errors, "login": login, "notice": None},
                  status=401 if errors.get("login") == "wrong" else 422)


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:

    services = get_services(request)
    found = await maybe_person(request)
    form = await request.form()
    if found is not None:
        check_csrf(request, form, found[1])
        await services.sessions.close(request.cookies.get(COOKIE, ""))
    response = redirect("/sign-in?notice=signed_out")
    clear_session_cookie(response, request)
    return response


@router.get("/activate/{token}")
async def activate_page(request: Request, token: str) -> Response:
    return render(request, "activate.html", {"token": token, "errors": {}})


@router.post("/activate/{token}")
async def activate_post(request: Request, token: str) -> Response:

    services = get_services(request)
    form = await request.form()
    check_csrf(request, form, None)
    password = str(form.get("password", ""))
    problem = password_problem(password)
    if problem is not None:
        return render(request, "activate.html", {"token": token, "errors": {"password": "password_hint"}},
                      status=422)
    try:
        result = await services.in_thread(activate, services.domain_app, token, password)
    except ActivationGone:
        raise PageRefused(410, "gone") from None
    services.verifier.forget(result["id"])
    return redirect("/sign-in?notice=activated")


# ------------------------------------------------------------------ home
@router.get("/")
async def home(request: Request) -> Response:
    found = await person(request)
    who = found[0]
    services = get_services(request)
    if who.role == Role.INSPECTOR:
        return redirect("/audit")
    await _read_your_writes(request, services)
    cid = await _campaign_id(request, services)
    campaign = await page_reads.campaign(services, cid) if cid else None
    context: dict[str, Any] = {"campaign": campaign, "cid": cid, "tz": _tz(campaign),
                               "campaigns": await _campaigns(services)}
    shown = {who.unit_id}  # the units whose names the page shows
    if cid and who.role == Role.UNIT_HEAD:
        own = await _targets(services, cid, unit_id=who.unit_id)
        today = datetime.now(timezone.utc).date()
        # (a completion awaiting acceptance is the secretariat's to decide, no longer the unit's work)
        context["overdue"] = [t for t in own if t["overdue"] and Status(t["status"]).is_open]
        context["blocked"] = [t for t in own if t["status"] in ("blocked", "escalated")]
        context["due_soon"] = [t for t in own if Status(t["status"]).is_open and not t["overdue"]
                               and date.fromisoformat(t["deadline"]) <= today + DUE_SOON]
    elif cid and who.role == Role.STANDING_COMMITTEE:
        page = await readmodels.queries().list_escalations(services.pool, cid, "open", 100, None)
        context["escalations"] = (page or {}).get("items", [])
        shown.update(e["unit_id"] for e in context["escalations"])
    elif cid and who.role == Role.SECRETARIAT:

        stale_after = parse_duration(((campaign or {}).get("policy") or {}).get("stale_after", "P14D"))
        per_unit = await web_queries.open_work_per_unit(services.pool, cid, datetime.now(timezone.utc) - stale_after)
        names = await page_reads.unit_names(services, per_unit)
        context["per_unit"] = [(u, names.get(u, u), c) for u, c in per_unit.items()]
        context["per_unit"].sort(key=lambda r: vi_key(r[1]))
        context["awaiting"] = await _targets(services, cid, status="awaiting_acceptance")
    context["names"] = await page_reads.unit_names(services, shown)
    return render(request, "home.html", context, found=found)


# ------------------------------------------------------------------ targets
@router.get("/campaigns/{cid}/targets")
async def targets_page(request: Request, cid: str) -> Response:
    found = await person(request)
    who = found[0]
    services = get_services(request)
    q = request.query_params
    await _read_your_writes(request, services)
    campaign = await page_reads.campaign(services, cid)
    if campaign is None:
        raise PageRefused(404, "not_found")
    unit_id = q.get("unit_id") or None
    if who.role == Role.UNIT_HEAD:
        unit_id = who.unit_id  # a unit head's list is their own unit's
    filters = {"unit_id": unit_id, "cluster_id": q.get("cluster_id") or None,
               "status": q.get("status") if q.get("status") in STATUSES else None,
               "report_class": q.get("report_class") if q.get("report_class") in REPORT_CLASSES else None,
               "overdue": {"yes": True, "no": False}.get(q.get("overdue", ""))}
    page = await readmodels.paged("targets", q.get("cursor"), lambda after: readmodels.queries().list_targets(
        services.pool, cid, limit=PAGE_SIZE, after=after, **filters))
    names = await page_reads.unit_names(services, None)  # the unit filter offers every unit
    units = vi_sorted({u for c in campaign.get("clusters", []) for u in c.get("member_unit_ids", [])} | set(names),
                      key=lambda u: names.get(u, u))
    return render(request, "targets.html", {
        "campaign": campaign, "cid": cid, "items": page["items"], "next_cursor": page["next_cursor"],
        "filters": filters, "names": names, "units": units, "statuses": STATUSES, "report_classes": REPORT_CLASSES,
        "tz": _tz(campaign), "query": {k: v for k, v in q.items() if k not in ("cursor", "min_position", "notice")},
        "notice": q.get("notice"),
    }, found=found)


async def _target_context(request: Request, tid: str, who: Any) -> dict[str, Any]:
    services = get_services(request)
    try:
        target = await readable_target(tid, who, services)
    except Problem as exc:
        raise PageRefused(exc.status, "forbidden" if exc.status == 403 else "not_found") from None
    except DomainError:
        raise PageRefused(404, "not_found") from None
    rollup: Any = READ_IT
    if target.row is not None and not request.query_params.get("min_position"):
        row, rollup = target.row, await target.rollup()  # read together by the read check
    else:  # read your writes: the row once the command is projected
        await _read_your_writes(request, services)
        found = await tree_queries.target_with_rollup(services.pool, str(target.id))
        row, rollup = found if found is not None else (target.to_state(), READ_IT)
    catalog = await page_reads.catalog(services)  # one mark for the campaign and the names
    campaign = await page_reads.campaign(services, row["campaign_id"], under=catalog)
    tz = row.get("timezone") or _tz(campaign)
    timeline = b""  # UTF-8, for render's `encoded` (see target_page)
    if may_read_history(who.actor, target.unit_id, target.coordinating_unit_ids):
        timeline = await page_reads.timeline(request, services, row, tz)
    tree = await tree_context(services.pool, row, rollup)
    return {"rollup_bars": rollup_bars,
            "target": row, "timeline": timeline, **tree,
            "names": await page_reads.unit_names(services, [row["unit_id"], *(c["unit_id"] for c in tree["children"])],
                                                 under=catalog),
            "campaign": campaign, "cid": row["campaign_id"],
            "tz": tz, "forms": forms.available_commands(who.actor, row),
            "errors": {}, "values": {}, "failed_segment": None, "command_id": str(uuid.uuid4()),
            "notice": request.query_params.get("notice"),
            "paper": await paper_context(services, who, target, row), "paper_errors": {}, "paper_values": {}}


def render_target(request: Request, context: dict[str, Any], **kwargs: Any) -> Response:
    """target.html with `_target_context`'s context: its timeline, kept as UTF-8, is put
    into the page's bytes (render's `encoded`)."""
    timeline = context.pop("timeline")
    return render(request, "target.html", context, encoded={"timeline": timeline}, **kwargs)


@router.get("/targets/{tid}")
async def target_page(request: Request, tid: str) -> Response:
    found = await person(request)
    # Kept per reader: a view whose target, rollup, campaign, names, timeline and paper
    # trail read as the last did is answered with its bytes (render's `keep`).
    return render_target(request, await _target_context(request, tid, found[0]), found=found,
                         keep=("target", tid, found[0].id))


@router.post("/targets/{tid}/{segment}")
async def target_command(request: Request, tid: str, segment: str) -> Response:
    """A command form: the same checks and the same command code as the JSON route."""
    from types import SimpleNamespace


    found = await person(request)
    who, session = found
    form_data = await request.form()
    check_csrf(request, form_data, session)
    command = forms.routed_command(segment)
    if command is None:
        raise PageRefused(404, "not_found")
    spec = forms.form_of(command)
    values = {k: str(v) for k, v in form_data.items() if isinstance(v, str)}
    next_url = safe_next(values.get("next")) if values.get("next") else None
    services = get_services(request)
    # A command id made when the form was shown: a double submit records once.
    try:
        command_id = "web-" + str(uuid.UUID(values.get("command_id", "")))
    except ValueError:
        command_id = "web-" + str(uuid.uuid4())
    try:  # the JSON route's own check (it reads only the command id of its context)
        target = await target_for(command)(tid, who, services, SimpleNamespace(command_id=command_id))
    except Problem as exc:
        raise PageRefused(exc.status, "forbidden" if exc.status == 403 else "not_found") from None
    errors: dict[str, str] = {}
    try:
        body = forms.read_form(spec, values)
        result = await execute_command(services, target, command, who.actor, command_id, body)
    except forms.FormRefused as exc:
        errors, status = exc.errors, 422
    except (DomainError, Problem) as exc:
        status, message = _problem_message(exc)
        errors = {"form": message}
    else:
        services.metrics.command(command.name, "ok")
        destination = next_url or f"/targets/{tid}"
        sep = "&" if "?" in destination else "?"
        return redirect(f"{destination}{sep}min_position={result['position']}&notice=done")
    context = await _target_context(request, tid, who)
    context.update(errors=errors, values=values, failed_segment=segment)
    return render_target(request, context, status=status, found=found)


# ------------------------------------------------------------------ scoreboard
def _bars(unit: dict[str, Any]) -> list[tuple[str, int, float, float]]:
    """(class, count, x, width) in percent of the bar, for the classes of BAR_CLASSES."""
    counts = unit.get("counts", {})
    total = sum(int(counts.get(c, 0)) for c in BAR_CLASSES) or 1
    x = 0.0
    out = []
    for c in BAR_CLASSES:
        n = int(counts.get(c, 0))
        width = 100.0 * n / total
        out.append((c, n, x, width))
        x += width
    return out


BOARD_FRAGMENTS = 64  # rendered boards kept per app: (campaign, as_of, version, language)


async def _board_html(request: Request, services: Any, cid: str, as_of: datetime | None) -> bytes:
    """The page's boards, rendered once per read-model version and language: the JSON
    route's cached board (api.scoreboards), drawn as HTML and kept while the read models
    stay where they were, as UTF-8 (render's `encoded`). Rendering 100 units' bars is the
    page's whole cost. A board names its units itself (read with it, under its version)."""
    version = (await scoreboards.context_reads(services).get(cid))[2]
    key = (cid, None if as_of is None else as_of.isoformat(), version, language(request))
    cache: OrderedDict[Any, bytes] = services.extras.setdefault("board_fragments", OrderedDict())
    found = cache.get(key)
    if found is not None:
        cache.move_to_end(key)
        return found
    body = await scoreboards.cached_body(services, cid, None, as_of, version)
    board = {"clusters": []} if body is None else json.loads(body)
    html = fragment(request, "board.html", {"board": board, "prefix": "b", "bars": _bars, "names": {}}).encode()
    cache[key] = html
    while len(cache) > BOARD_FRAGMENTS:
        cache.popitem(last=False)
    return html


@router.api_route("/campaigns/{cid}/scoreboard", methods=["GET", "POST"])
async def scoreboard_page(request: Request, cid: str) -> Response:

    found = await person(request)
    who, session = found
    services = get_services(request)
    campaign = await page_reads.campaign(services, cid)
    if campaign is None:
        raise PageRefused(404, "not_found")
    as_of_text = request.query_params.get("as_of") or ""
    as_of = None
    errors: dict[str, str] = {}
    if as_of_text:
        try:

            day = parse_dmy(as_of_text)
            as_of = datetime.combine(day + timedelta(days=1), datetime.min.time(), timezone.utc)
        except ValueError:
            errors["as_of"] = "date_hint"
    what_if = None
    values: dict[str, str] = {}
    if request.method == "POST":
        form = await request.form()
        check_csrf(request, form, session)
        if who.role != Role.STANDING_COMMITTEE:
            raise PageRefused(403, "forbidden")
        values = {k: str(v) for k, v in form.items() if isinstance(v, str)}
        try:
            scoring = ScoringIn.model_validate({k: values[k] for k in ("on_time", "late", "reward_slots")
                                                if values.get(k, "").strip()})
        except ValidationError as exc:
            errors["what_if"] = "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in exc.errors())
        else:
            try:
                scale = ScoringScale(on_time=scoring.on_time, late=scoring.late, reward_slots=scoring.reward_slots)
            except DomainError as exc:
                errors["what_if"] = exc.message
            else:
                what_if = await readmodels.queries().what_if(services.pool, cid, scale)
    board_html = await _board_html(request, services, cid, as_of) if "as_of" not in errors else b""
    return render(request, "scoreboard.html", {
        "campaign": campaign, "cid": cid, "what_if": what_if, "bars": _bars,
        "as_of": as_of_text, "errors": errors, "values": values, "names": {}, "tz": _tz(campaign),
        "bar_classes": BAR_CLASSES,
    }, found=found, status=422 if errors else 200, encoded={"board_html": board_html},
        keep=("scoreboard", cid, who.id) if request.method == "GET" else None)


# ------------------------------------------------------------------ escalations
@router.get("/campaigns/{cid}/escalations")
async def escalations_page(request: Request, cid: str) -> Response:
    found = await person(request)
    who = found[0]
    if who.role not in (Role.SECRETARIAT, Role.STANDING_COMMITTEE, Role.INSPECTOR):
        raise PageRefused(403, "forbidden")
    services = get_services(request)
    await _read_your_writes(request, services)
    campaign = await page_reads.campaign(services, cid)
    page = await readmodels.queries().list_escalations(services.pool, cid, "open", 100, None)
    if page is None:
        raise PageRefused(404, "not_found")
    items = []
    for e in page["items"]:
        target = await readmodels.queries().get_target(services.pool, e["target_id"])
        resolve = None
        if target is not None:
            resolve = next((f for f in forms.available_commands(who.actor, target) if f.name == "resolve"), None)
        items.append({**e, "target": target, "resolve": resolve})
    return render(request, "escalations.html", {
        "campaign": campaign, "cid": cid, "items": items, "names": await page_reads.unit_names(services, (e["unit_id"] for e in items)),
        "tz": _tz(campaign), "command_id": str(uuid.uuid4()), "notice": request.query_params.get("notice"),
    }, found=found)


# ------------------------------------------------------------------ audit
@router.get("/audit")
async def audit_page(request: Request) -> Response:
    found = await person(request)
    who = found[0]
    if who.role not in (Role.SECRETARIAT, Role.STANDING_COMMITTEE, Role.INSPECTOR):
        raise PageRefused(403, "forbidden")
    services = get_services(request)
    q = request.query_params
    filters = {k: (q.get(k) or None) for k in ("target_id", "unit_id", "actor_id")}
    page = await readmodels.paged("audit", q.get("cursor"), lambda after: readmodels.queries().list_audit(
        services.pool, limit=PAGE_SIZE, after_position=after, **filters))
    verify = await readmodels.queries().verify_audit(services.pool)
    return render(request, "audit.html", {"items": page["items"], "next_cursor": page["next_cursor"],
                                          "filters": filters, "verify": verify, "query": dict(q)}, found=found)


# ------------------------------------------------------------------ users
ROLES = ("secretariat", "standing_committee", "unit_head", "inspector")


async def _user_manager(request: Request) -> tuple[Any, Any]:
    """The person behind a users page, if they may manage users (domain.permissions)."""
    found = await person(request)
    if not may(found[0].actor, "manage_users"):
        raise PageRefused(403, "forbidden")
    return found, get_services(request)


async def _posted_form(request: Request, found: tuple[Any, Any]) -> Any:
    form = await request.form()
    check_csrf(request, form, found[1])
    return form


async def _users_view(request: Request, found: tuple[Any, Any], services: Any, *, created: Any = None,
                      errors: dict[str, str] | None = None, values: dict[str, str] | None = None,
                      notice: str | None = None, status: int = 200) -> Response:
    names = await page_reads.unit_names(services, None)  # a unit head's unit: any of them
    return render(request, "users.html", {
        "created": created, "errors": errors or {}, "values": values or {}, "notice": notice, "names": names,
        "people": vi_sorted(await web_queries.people(services.pool), key=lambda p: p["name"]),
        "units": vi_sorted(names, key=lambda u: names[u]), "roles": ROLES}, found=found, status=status)


@router.api_route("/users", methods=["GET", "POST"])
async def users_page(request: Request) -> Response:
    found, services = await _user_manager(request)
    if request.method != "POST":
        return await _users_view(request, found, services, notice=request.query_params.get("notice"))
    values = {k: str(v) for k, v in (await _posted_form(request, found)).items() if isinstance(v, str)}
    raw = {k: values[k].strip() for k in ("name", "role", "unit_id", "login", "email") if values.get(k, "").strip()}
    errors: dict[str, str] = {}
    try:
        body = UserCreate.model_validate(raw)
        cmd = command("web-" + str(uuid.uuid4()), found[0].actor)
        uid = new_user_id()
        created = await services.in_thread(
            lambda: create_user(services.domain_app, cmd, user_id=uid, name=body.name, role=body.role,
                                unit_id=body.unit_id, login=body.login, email=body.email,
                                base_url=request_base_url(request)))
        services.verifier.forget(uid)
        return await _users_view(request, found, services, created=created)
    except DomainError as exc:
        errors[getattr(exc, "field", None) or "name"] = exc.message
    except ValidationError as exc:  # one message per field
        for error in exc.errors():
            errors.setdefault(str(error["loc"][0]) if error["loc"] else "name", error["msg"])
    return await _users_view(request, found, services, errors=errors, values=values, status=422)


@router.post("/users/{uid}/activation")
async def new_activation_page(request: Request, uid: str) -> Response:
    """A fresh activation link for a user (the first expired, or the password is forgotten)."""
    found, services = await _user_manager(request)
    await _posted_form(request, found)
    cmd = command("web-" + str(uuid.uuid4()), found[0].actor)
    issued = await services.in_thread(new_activation, services.domain_app, cmd, uid, request_base_url(request))
    return await _users_view(request, found, services, created=issued)


@router.post("/users/{uid}/revoke")
async def revoke_user_page(request: Request, uid: str) -> Response:
    found, services = await _user_manager(request)
    await _posted_form(request, found)
    try:
        await revoke_user(services, command("web-" + str(uuid.uuid4()), found[0].actor), uid)
    except DomainError as exc:
        raise PageRefused(409 if exc.kind == "invalid_transition" else 404, exc.message) from None
    return redirect("/users?notice=revoked")


# ------------------------------------------------------------------ import
def _as_csv(filename: str, content: bytes) -> bytes:
    """An uploaded XLSX (first sheet, header row first) as the CSV the import reads; CSV as it is."""
    if not content.startswith(b"PK"):  # XLSX files are ZIP archives
        return content
    import csv
    import io

    from openpyxl import load_workbook

    try:
        sheet = load_workbook(io.BytesIO(content), read_only=True, data_only=True).worksheets[0]
    except Exception as exc:  # noqa: BLE001 - not a workbook after all: one message for the person

        raise ImportRejected(f"{filename}: not a readable XLSX workbook") from exc
    out = io.StringIO()
    writer = csv.writer(out)
    for row in sheet.iter_rows(values_only=True):
        writer.writerow(["" if v is None else (v.isoformat()[:10] if hasattr(v, "isoformat") else v) for v in row])
    return out.getvalue().encode()


async def _checked_rows(services: Any, who: Any, cid: str, csv_bytes: bytes, command_id: str) -> tuple[list, list]:
    """(rows, bad rows) exactly as the JSON import route checks them."""

    rows = importing.parse("text/csv", csv_bytes)
    campaign = await services.in_thread(services.domain_app.get_campaign, cid)
    await services.in_thread(importing.check_rows, services.domain_app, campaign, rows,
                             command(command_id, who.actor))
    return rows, importing.report(rows)


async def _preview_targets(services: Any, who: Any, cid: str, upload: Upload, context: dict[str, Any]) -> int:
    rows, bad = await _checked_rows(services, who, cid, _as_csv(upload.name, upload.content),
                                    "web-preview-" + context["import_id"])
    context.update(items=rows, bad=bad)
    return 422 if bad or not rows else 200


async def _record_targets(services: Any, who: Any, cid: str, import_id: str, upload: Upload) -> str:
    """Created by the JSON import's own code (`_create_all`)."""
    rows, bad = await _checked_rows(services, who, cid, _as_csv(upload.name, upload.content),
                                    "web-import-" + import_id)
    if bad or not rows:
        raise PageRefused(422, "there_is_a_problem")
    result = await _create_all(services, who, "web-import-" + import_id, cid, [p.row for p in rows])
    return f"/campaigns/{cid}/targets?min_position={result['position']}&notice=imported&created={result['created']}"


async def _import_context(request: Request, services: Any) -> dict[str, Any]:
    return {"names": await page_reads.unit_names(services, None)}


# `/campaigns/{cid}/import` and `/campaigns/{cid}/import/confirm`
TARGET_IMPORT = ImportFlow("import", "import.html", lc.ASSIGN.roles, _preview_targets, _record_targets,
                           _import_context)
TARGET_IMPORT.add_routes(router)
