"""Pages of acceptance (nghiệm thu) and of the history import.

- `/campaigns/{cid}/acceptance`: the completions waiting for the secretariat, oldest
  report first, each with the accept and return forms the person may use (the same
  command forms, checks and code as every target command: pages.target_command).
- `/campaigns/{cid}/history`: upload the old records (CSV or XLSX), see every bad row
  or a preview of the actions, confirm (the import pages' one flow, api/web/import_flow.py);
  checked and recorded by the JSON route's own code (api/routes/history.py).
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from thidua.api import history_import, readmodels
from thidua.api.deps import get_services
from thidua.api.problems import Problem
from thidua.api.routes.history import run_import
from thidua.api.web import forms, page_reads
from thidua.api.web.pages import _read_your_writes, _tz
from thidua.api.web.import_flow import ImportFlow, Upload
from thidua.api.web.render import PageRefused, person, render
from thidua.domain.permissions import CAMPAIGN_COMMANDS
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
        "campaign": campaign, "cid": cid, "items": items, "names": await page_reads.unit_names(services, (t["unit_id"] for t in waiting)), "tz": _tz(campaign),
        "command_id": str(uuid.uuid4()), "notice": request.query_params.get("notice"),
    }, found=found)


# ------------------------------------------------------------------ the history import
def _media_type(upload: Upload) -> str:
    xlsx = upload.content.startswith(b"PK") or upload.name.lower().endswith(".xlsx")
    return history_import.XLSX_MEDIA_TYPE if xlsx else "text/csv"


async def _preview_history(services: Any, who: Any, cid: str, upload: Upload, context: dict[str, Any]) -> int:
    """The file's actions, or its bad rows, as the JSON route checks them (nothing recorded)."""
    campaign = await services.in_thread(services.domain_app.get_campaign, cid)
    media_type = _media_type(upload)
    rows = history_import.read_rows(media_type, upload.content, campaign.timezone)
    try:
        await run_import(services, campaign, who.actor, context["import_id"], media_type, upload.content,
                         record=False)
    except Problem as exc:
        if exc.extra.get("rows") is None:
            context["errors"] = {"file": str(exc.detail)}
        else:
            context["bad"] = exc.extra["rows"]
        return 422
    context["items"] = sorted(rows.actions, key=lambda a: (a.key, a.when, a.line))
    return 200


async def _record_history(services: Any, who: Any, cid: str, import_id: str, upload: Upload) -> str:
    """Recorded by the JSON route's code (api/routes/history.py)."""
    campaign = await services.in_thread(services.domain_app.get_campaign, cid)
    result = await run_import(services, campaign, who.actor, "web-" + import_id, _media_type(upload),
                              upload.content, record=True)
    return (f"/campaigns/{cid}/history?min_position={result['position']}&notice=history_recorded"
            f"&recorded={result['events']}")


async def _history_context(request: Request, services: Any) -> dict[str, Any]:
    return {"recorded": request.query_params.get("recorded")}


# `/campaigns/{cid}/history` and `/campaigns/{cid}/history/confirm`
HISTORY_IMPORT = ImportFlow("history", "history.html", CAMPAIGN_COMMANDS["import_history"], _preview_history,
                            _record_history, _history_context)
HISTORY_IMPORT.add_routes(router)
