"""`POST /v1/campaigns/{cid}/history/import`: a drive's past from the old records.

All rows are checked first, every bad one reported (422, nothing recorded); then the
targets are saved in one transaction (api/history_import.py, domain/history.py). The
`import_id` names the import: sent again, it records nothing new and answers the same.
In an open campaign the touched targets' workflows are started or told to reload (a
deadline passed in the old records is already recorded as passed, so no timer fires
for it); a closed campaign's targets get no workflow, and no timer ever fires for them.
"""

from datetime import datetime, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from thidua.api import history_import
from thidua.api.deps import CampaignId, CommandCtx, ExistingCampaign, may_run
from thidua.api.importing import ImportRejected
from thidua.api.models import HistoryImportOut
from thidua.api.problems import Problem, problem_responses
from thidua.api.services import Services
from thidua.domain.values import Actor

router = APIRouter(tags=["history"])
MayImportHistory = may_run("import_history")
ImportId = Annotated[str, Query(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._:-]+$",
                                description="Names this import: the same id again records nothing new")]
MEDIA_TYPES = (*history_import.CSV_MEDIA_TYPES, history_import.XLSX_MEDIA_TYPE)

_BODY = {
    "requestBody": {
        "required": True,
        "description": "CSV (UTF-8, header row) or XLSX (first sheet): key, action, when, who, note, ...",
        "content": {
            "text/csv": {"schema": {"type": "string"}, "example": history_import.CSV_EXAMPLE},
            history_import.XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


@router.post("/v1/campaigns/{cid}/history/import", response_model=HistoryImportOut, openapi_extra=_BODY,
             summary="Bring past actions from the old records (all rows checked first; idempotent by import_id)",
             responses=problem_responses(401, 403, 404, 409, 413, 415, 422, 503), name="import_history",
             operation_id="import_history")
async def import_history(cid: CampaignId, request: Request, import_id: ImportId, user: MayImportHistory,
                         ctx: CommandCtx, campaign: ExistingCampaign) -> Any:
    media_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if media_type not in MEDIA_TYPES:
        raise Problem(415, "send text/csv or an XLSX workbook")
    body = await request.body()

    async def act() -> dict[str, Any]:
        return await run_import(ctx.services, campaign, user.actor, import_id, media_type, body, record=True)

    return await ctx.run("import_history", act, model=HistoryImportOut)


async def run_import(services: Services, campaign: Any, importer: Actor, import_id: str, media_type: str,
                     body: bytes, *, record: bool) -> dict[str, Any]:
    """Check (and with `record`, record) an import; a bad file or bad rows are a 422
    Problem listing every bad row. Shared with the history import page."""
    try:
        rows = history_import.read_rows(media_type, body, campaign.timezone)
    except ImportRejected as exc:
        raise Problem(422, exc.message, errors=[{"field": exc.field, "message": exc.message, "type": "import"}]) \
            from exc
    if not rows.count:
        raise Problem(422, "the file has no rows", errors=[{"field": "body", "message": "no rows", "type": "import"}])
    errors, outcome = await services.in_thread(
        lambda: history_import.check_and_record(services.domain_app, campaign, rows, importer, import_id,
                                                datetime.now(timezone.utc), record=record))
    if errors:
        bad = history_import.report(errors)
        raise Problem(
            422, f"{len(bad)} of {rows.count} rows are invalid; nothing was recorded", type_slug="import-rejected",
            rows=bad, errors=[{"field": f"line {e.line}.{e.field}", "message": e.message, "type": e.kind,
                               "line": e.line} for e in errors],
        )
    if outcome is None:  # checked only (the page's preview)
        return {"import_id": import_id, "rows": rows.count, "events": 0, "items": [], "position": 0}
    target_ids = [str(p.target.id) for p in outcome.played]
    if not campaign.closed and target_ids:
        await services.gateway.start_workflows(target_ids)
        await services.gateway.refresh(target_ids)
    positions = dict(outcome.positions)
    for p in outcome.played:
        if p.target.id not in positions:  # nothing new: the position of what it holds
            positions[p.target.id] = await services.in_thread(services.domain_app.position_of, p.target.id,
                                                              p.target.version) or 0
    items = [{"key": p.key, "target_id": str(p.target.id), "events": p.events, "position": positions[p.target.id]}
             for p in outcome.played]
    return {"import_id": import_id, "rows": outcome.rows, "events": sum(p.events for p in outcome.played),
            "items": items, "position": max((i["position"] for i in items), default=0)}
