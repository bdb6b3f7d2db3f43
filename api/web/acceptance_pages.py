"""Pages of acceptance (nghiệm thu) and of the history import.

- `/campaigns/{cid}/acceptance`: the completions waiting for the secretariat, oldest
  report first, each with the accept and return forms the person may use (the same
  command forms, checks and code as every target command: pages.target_command).
- `/campaigns/{cid}/history`: upload the old records (CSV or XLSX), see every bad row
  or a preview of the actions, confirm; checked and recorded by the JSON route's own
  code (api/routes/history.py), the preview's import id making a second click a replay.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from thidua.api import history_import, readmodels
from thidua.api.deps import get_services
from thidua.api.importing import ImportRejected
from thidua.api.problems import Problem
from thidua.api.routes.history import run_import
from thidua.api.web import forms
from thidua.api.web.pages import _read_your_writes, _tz, _unit_names
from thidua.api.web.render import PageRefused, check_csrf, person, redirect, render
from thidua.domain.permissions import may
from thidua.domain.values import Role, Status

router = APIRouter(include_in_schema=False)
QUEUE_READERS = (Role.SECRETARIAT, Role.STANDING_COMMITTEE, Role.INSPECTOR)
ACCEPTANCE_FORMS = ("accept", "return_completion")


# ------------------------------------------------------------------ the acceptance queue
@router.get("/campaigns/{cid}/acceptance")
async def acceptance_page(request: Request, cid: str) -> Response:
    found = await person(request)
    who = found[0]
    if who.role not in QUEUE_READERS:
        raise PageRefused(403, "forbidden")
    services = get_services(request)
    await _read_your_writes(request, services)
    campaign = await readmodels.queries().get_campaign(services.pool, cid)
    if campaign is None:
        raise PageRefused(404, "not_found")
    page = await readmodels.queries().list_targets(services.pool, cid, status=str(Status.AWAITING_ACCEPTANCE),
                                                   limit=500)
    waiting = sorted(page.get("items", []), key=lambda t: (t.get("completed_at") or "", t["id"]))  # oldest first
    items = [{"target": t, "forms": [f for f in forms.available_commands(who.actor, t) if f.name in ACCEPTANCE_FORMS]}
             for t in waiting]
    return render(request, "acceptance.html", {
        "campaign": campaign, "cid": cid, "items": items, "names": await _unit_names(services), "tz": _tz(campaign),
        "command_id": str(uuid.uuid4()), "notice": request.query_params.get("notice"),
    }, found=found)


# ------------------------------------------------------------------ the history import
def _may_import(who: Any) -> None:
    if not may(who.actor, "import_history"):
        raise PageRefused(403, "forbidden")


def _media_type(filename: str, content: bytes) -> str:
    xlsx = content.startswith(b"PK") or filename.lower().endswith(".xlsx")
    return history_import.XLSX_MEDIA_TYPE if xlsx else "text/csv"


@router.api_route("/campaigns/{cid}/history", methods=["GET", "POST"])
async def history_page(request: Request, cid: str) -> Response:
    found = await person(request)
    who, session = found
    _may_import(who)
    services = get_services(request)
    campaign = await readmodels.queries().get_campaign(services.pool, cid)
    if campaign is None:
        raise PageRefused(404, "not_found")
    context: dict[str, Any] = {"campaign": campaign, "cid": cid, "actions": None, "bad": None, "errors": {},
                               "file_data": "", "file_name": "", "import_id": str(uuid.uuid4()), "tz": _tz(campaign),
                               "notice": request.query_params.get("notice"),
                               "recorded": request.query_params.get("recorded")}
    status = 200
    if request.method == "POST":
        form = await request.form()
        check_csrf(request, form, session)
        upload = forms.uploaded_file(form)
        if upload is None:
            context["errors"] = {"file": "upload_missing"}
            return render(request, "history.html", context, found=found, status=422)
        content = await upload.read()
        context.update(file_name=upload.filename, file_data=base64.b64encode(content).decode())
        status = await _preview(services, who, cid, _media_type(upload.filename, content), content, context)
    return render(request, "history.html", context, found=found, status=status)


async def _preview(services: Any, who: Any, cid: str, media_type: str, content: bytes,
                   context: dict[str, Any]) -> int:
    """Fill `context` with the file's bad rows or its actions; the page's status."""
    campaign = await services.in_thread(services.domain_app.get_campaign, cid)
    try:
        rows = history_import.read_rows(media_type, content, campaign.timezone)
        await run_import(services, campaign, who.actor, context["import_id"], media_type, content, record=False)
    except ImportRejected as exc:
        context["errors"] = {"file": exc.message}
        return 422
    except Problem as exc:
        if exc.extra.get("rows") is None:
            context["errors"] = {"file": str(exc.detail)}
        else:
            context["bad"] = exc.extra["rows"]
        return 422
    context["actions"] = sorted(rows.actions, key=lambda a: (a.key, a.when, a.line))
    return 200


@router.post("/campaigns/{cid}/history/confirm")
async def history_confirm(request: Request, cid: str) -> Response:
    """Record the previewed file: checked again (the targets may have moved since) and
    recorded by the JSON route's code, under the preview's import id."""
    found = await person(request)
    who, session = found
    form = await request.form()
    check_csrf(request, form, session)
    _may_import(who)
    services = get_services(request)
    try:
        import_id = "web-" + str(uuid.UUID(str(form.get("import_id", ""))))
        content = base64.b64decode(str(form.get("file_data", "")), validate=True)
    except (ValueError, binascii.Error):
        raise PageRefused(422, "there_is_a_problem") from None
    campaign = await services.in_thread(services.domain_app.get_campaign, cid)
    media_type = _media_type(str(form.get("file_name", "")), content)
    try:
        result = await run_import(services, campaign, who.actor, import_id, media_type, content, record=True)
    except Problem:
        raise PageRefused(422, "there_is_a_problem") from None
    return redirect(f"/campaigns/{cid}/history?min_position={result['position']}&notice=history_recorded"
                    f"&recorded={result['events']}")
