"""Targets: assign, import, the lifecycle commands, and reading them.

Commands go to the target's workflow through `TargetGateway` (a Temporal update)
and answer `{"target": ..., "position": N}`. Reads come from the projections.
(No `from __future__ import annotations` here: the command routes are built in a
loop and FastAPI must see their body types as real classes.)
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from thidua.api import importing, readmodels
from thidua.api.deps import (
    CommandCtx,
    CurrentUser,
    ExistingCampaign,
    HistoryTarget,
    ReadableTarget,
    ServicesDep,
    TargetId,
    CampaignId,
    MayAssign,
    target_for,
    wait_for_projections,
)
from thidua.api.models import (
    COMMAND_BODIES,
    CommandPendingOut,
    AssignIn,
    HistoryPage,
    ImportResultOut,
    PageQuery,
    ReadQuery,
    TargetCommandOut,
    TargetListQuery,
    TargetOut,
    TargetPage,
)
from thidua.api.problems import Problem, problem_responses
from thidua.api.routes.campaigns import require_units
from thidua.api.services import Services, command
from thidua.domain import lifecycle as lc
from thidua.domain import tree
from thidua.domain.errors import InvalidTransition, NotAllowed, VersionConflict
from thidua.domain.permissions import visible_target
from thidua.projections import tree_queries
from thidua.workflows.client import assign_request

router = APIRouter(tags=["targets"])

# Workflow starts in flight during an import (as many as the raw start benchmark uses).
IMPORT_CONCURRENCY = 32
COMMAND_PROBLEMS = {
    202: {"model": CommandPendingOut, "description": "Handed to the target's workflow, outcome not known yet: "
                                                     "repeat with the same Idempotency-Key to read it"},
    **problem_responses(401, 403, 404, 409, 413, 422, 503),
}
READ_PROBLEMS = problem_responses(401, 403, 404, 422, 503)


def _result(result: Any) -> dict[str, Any]:
    """`CommandResult(target, position)` as the contract's `{target, position}` (0 when
    the gateway could not name a position: `min_position=0` then simply does not wait)."""
    return {"target": result.target, "position": result.position or 0}


# ------------------------------------------------------------------ assign
@router.post("/v1/campaigns/{cid}/targets", status_code=201, response_model=TargetCommandOut,
             summary="Assign a target to a unit", responses=COMMAND_PROBLEMS)
async def assign_target(cid: CampaignId, body: AssignIn, user: MayAssign, ctx: CommandCtx,
                        campaign: ExistingCampaign) -> Any:
    services = ctx.services

    async def act() -> dict[str, Any]:
        # Checked here too (the activity checks again), so no workflow starts for a stranger.
        await services.in_thread(require_units, services.domain_app, [body.unit_id], "unit_id")
        result = await services.gateway.assign(assign_request(user.actor, ctx.command_id, cid, **dict(body)))
        return _result(result)

    return await ctx.run("assign", act, status=201, model=TargetCommandOut)


# ------------------------------------------------------------------ import
_IMPORT_BODY = {
    "requestBody": {
        "required": True,
        "description": "CSV (UTF-8, header row) or a JSON array of assignments with `key`",
        "content": {
            "text/csv": {"schema": {"type": "string"}, "example": importing.CSV_EXAMPLE},
            "application/json": {
                "schema": {"type": "array", "maxItems": importing.MAX_ROWS,
                           "items": {"$ref": "#/components/schemas/ImportRow"}},
            },
        },
    }
}


@router.post("/v1/campaigns/{cid}/targets/import", status_code=201, response_model=ImportResultOut,
             summary="Assign many targets at once (all or nothing)", openapi_extra=_IMPORT_BODY,
             responses=problem_responses(401, 403, 404, 409, 413, 415, 422, 503))
async def import_targets(cid: CampaignId, request: Request, user: MayAssign, ctx: CommandCtx,
                         campaign: ExistingCampaign) -> Any:
    services = ctx.services
    media_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if media_type not in (*importing.CSV_MEDIA_TYPES, "application/json"):
        raise Problem(415, "send text/csv or application/json")
    body = await request.body()
    try:
        rows = importing.parse(media_type, body)
    except importing.ImportRejected as exc:
        raise Problem(422, exc.message, errors=[{"field": exc.field, "message": exc.message, "type": "import"}]) \
            from exc
    if not rows:
        raise Problem(422, "the file has no rows", errors=[{"field": "body", "message": "no rows", "type": "import"}])
    cmd = command(ctx.command_id, user.actor)
    await services.in_thread(importing.check_rows, services.domain_app, campaign, rows, cmd)
    bad = importing.report(rows)
    if bad:
        raise Problem(
            422, f"{len(bad)} of {len(rows)} rows are invalid; nothing was created",
            type_slug="import-rejected", rows=bad,
            errors=[{"field": f"line {r['line']}.{e['field']}", "message": e["message"], "type": e["type"],
                     "line": r["line"]} for r in bad for e in r["errors"]],
        )

    async def act() -> dict[str, Any]:
        return await _create_all(services, user, ctx.command_id, cid, [p.row for p in rows])

    return await ctx.run("import", act, status=201, model=ImportResultOut)


async def _create_all(services: Services, user: Any, command_id: str, cid: str, rows: list[Any]) -> dict[str, Any]:
    """Assign every row in a few transactions (chunks saved by the worker) and start each
    target's workflow. Each row's command id is derived from the request's and the row
    key, so a retried import adds nothing and starts what was not started."""
    requests = [
        assign_request(user.actor, _row_command_id(command_id, row.key), cid, **row.assignment(cid))
        for row in importing.parents_first(rows)
    ]
    assigned = await services.gateway.assign_many(cid, requests, starts_in_flight=IMPORT_CONCURRENCY)
    items = [{"key": a.key, "target_id": a.target_id, "position": a.position or 0} for a in assigned]
    return {"created": len(items), "items": items, "position": max(i["position"] for i in items)}


def _row_command_id(command_id: str, key: str) -> str:
    import hashlib

    return "imp-" + hashlib.sha256(f"{command_id}\x1f{key}".encode()).hexdigest()[:40]


# ------------------------------------------------------------------ reads
@router.get("/v1/campaigns/{cid}/targets", response_model=TargetPage, summary="Targets of a campaign",
            responses=READ_PROBLEMS)
async def list_targets(cid: CampaignId, user: CurrentUser, services: ServicesDep, campaign: ExistingCampaign,
                       q: Annotated[TargetListQuery, Query()]) -> Any:
    await wait_for_projections(services, q.min_position)
    page = await readmodels.paged("targets", q.cursor, lambda after: readmodels.queries().list_targets(
        services.pool, cid, unit_id=q.unit_id, cluster_id=q.cluster_id, status=q.status,
        report_class=q.report_class, overdue=q.overdue, limit=q.limit, after=after,
    ))
    # Other units' targets as thidua.domain.permissions says this user may see them.
    return {**page, "items": [visible_target(user.actor, t, campaign.cluster_leads_of(t["unit_id"]))
                              for t in page["items"]]}


@router.get("/v1/targets/{tid}", response_model=TargetOut, summary="One target", responses=READ_PROBLEMS)
async def get_target(tid: TargetId, user: CurrentUser, target: ReadableTarget, services: ServicesDep,
                     q: Annotated[ReadQuery, Query()]) -> Any:
    if target.row is not None and not q.min_position:  # read with its rollup by the read check
        return {**target.row, "rollup": await target.rollup()}
    await wait_for_projections(services, q.min_position)  # read-your-writes reads again, once projected
    found = await tree_queries.target_with_rollup(services.pool, str(target.id))
    if found is None:  # just assigned and not yet projected: the aggregate (already loaded) answers
        return {**target.to_state(), "rollup": await tree_queries.rollup(services.pool, str(target.id))}
    row, rollup = found
    return {**row, "rollup": rollup}


@router.get("/v1/targets/{tid}/history", response_model=HistoryPage, summary="What happened to a target",
            responses=READ_PROBLEMS)
async def target_history(tid: TargetId, user: CurrentUser, target: HistoryTarget, services: ServicesDep,
                         q: Annotated[PageQuery, Query()]) -> Any:
    await wait_for_projections(services, q.min_position)
    return await readmodels.paged("history", q.cursor, lambda after: readmodels.queries().target_history(
        services.pool, str(target.id), q.limit, after))


# ------------------------------------------------------------------ lifecycle commands
REFUSALS = (NotAllowed, InvalidTransition, VersionConflict)


def stored_answer(domain_app: Any, target_id: str, command: lc.TargetCommand, command_id: str,
                  args: dict[str, Any]) -> dict[str, Any] | None:
    """`{target, position}` as the first run of this very command answered, if the store
    shows it applied (same id, same arguments); else None."""
    target = domain_app.get_target(target_id)
    fp = getattr(type(target), command.name).fingerprint_of(**command.decode(args))
    version = target.version_of_same_command(command_id, fp)
    if version is None:
        return None
    return {"target": domain_app.as_left_by(target, version).to_state(),
            "position": domain_app.position_of(target.id, version) or 0}


async def execute_command(services: Services, target: Any, command: lc.TargetCommand, actor: Any, command_id: str,
                          body: Any) -> dict[str, Any]:
    """One lifecycle command after the route's checks: the JSON route and the web pages both run this."""
    args = body.model_dump(exclude={"expected_version"})
    if command.name in tree.CLOSING_BY_HAND:  # the rule is the domain's; the count, the rollups'
        tree.check_closing_by_hand(command.name, await tree_queries.open_children(services.pool, str(target.id)))
    try:
        result = await services.gateway.command(
            str(target.id), command.name, actor, command_id, args, expected_version=body.expected_version,
        )
    except REFUSALS:
        # The answer is the stored outcome: a refusal of a command that the store
        # shows applied (its first answer lost, then a retry raced a change of
        # owner or state) is a replay, answered as the first run was.
        stored = await services.in_thread(stored_answer, services.domain_app, str(target.id), command, command_id,
                                          args)
        if stored is None:
            raise
        return stored
    return _result(result)


def add_command_route(router: APIRouter, command: lc.TargetCommand, body_model: type) -> None:
    """`POST /v1/targets/{tid}/<segment>`, all of it from the command's declaration: the
    body model, who may (`target_for`), the summary; the workflow does the rest."""
    scoped_target = target_for(command)

    async def run_command(tid: TargetId, body: body_model, ctx: CommandCtx,  # type: ignore[valid-type]
                          target: Annotated[Any, Depends(scoped_target)]) -> Any:
        async def act() -> dict[str, Any]:
            return await execute_command(ctx.services, target, command, ctx.principal.actor, ctx.command_id, body)

        return await ctx.run(command.name, act, model=TargetCommandOut)

    run_command.__name__ = f"{command.name}_target"
    router.add_api_route(
        f"/v1/targets/{{tid}}/{command.segment}", run_command, methods=["POST"], response_model=TargetCommandOut,
        summary=command.summary, responses=COMMAND_PROBLEMS, name=f"{command.name}_target",
        operation_id=f"{command.name}_target",
    )


for _command in lc.generic_routes():  # comments and evidence: thidua.api.routes.paper
    add_command_route(router, _command, COMMAND_BODIES[_command.name])
