"""Campaigns, their clusters, decisions, bonuses, policy, scale and closing, and the
unit registry.

These aggregates have no lifecycle to run, so the API changes them through the
domain application (in a thread) and answers with their state and the position of
the event that recorded the change. Reads come from the projections. Closing,
reopening and changing the policy or scale concern every target of the campaign: each
runs as a campaign operation (a Temporal workflow, see api/routes/operations.py).
"""

from __future__ import annotations

from typing import Annotated, Any

from collections.abc import Callable

from fastapi import APIRouter, Path, Query

from thidua.api import readmodels
from thidua.api.deps import (
    CampaignId,
    CommandCtx,
    CurrentUser,
    ExistingCampaign,
    ServicesDep,
    may_run,
    wait_for_projections,
)
from thidua.api.models import (
    BonusIn,
    CampaignChangeOut,
    CampaignCreate,
    CampaignOut,
    CampaignPage,
    CloseIn,
    ClusterPut,
    DecisionIn,
    PageQuery,
    PolicyPut,
    ReadQuery,
    ReopenIn,
    ScoringPut,
    UnitChangeOut,
    UnitPage,
    UnitPut,
)
from thidua.api.problems import Problem, problem_responses
from thidua.api.routes.operations import OperationOut, run_operation
from thidua.api.services import Services, apply_and_save, command
from thidua.domain.campaign import Campaign, Unit
from thidua.domain.errors import BadInput, CommandIdReused, NotFound
from thidua.domain.values import Cluster, Decision, Policy, ScoringScale
from thidua.workflows.campaign_operation_messages import CLOSE, POLICY, REOPEN, SCORING

router = APIRouter(tags=["campaigns"])

UnitIdPath = Annotated[str, Path(min_length=1, max_length=100, description="Unit id", examples=["phuong-ngo-quyen"])]
ClusterIdPath = Annotated[str, Path(min_length=1, max_length=100, description="Cluster id", examples=["cum-1"])]

# Who may: domain/permissions.py's rule for each command.
MayRegisterUnit = may_run("register_unit")
MayCreateCampaign = may_run("create_campaign")
MaySetCluster = may_run("set_cluster")
MayRecordDecision = may_run("record_decision")
MayAwardBonus = may_run("award_bonus")
MayChangePolicy = may_run("change_policy")
MayChangeScoring = may_run("change_scoring")
MayCloseCampaign = may_run("close_campaign")
MayReopenCampaign = may_run("reopen_campaign")

WRITE_PROBLEMS = problem_responses(401, 403, 404, 409, 413, 422, 503)
READ_PROBLEMS = problem_responses(401, 403, 404, 422, 503)
OPERATION_RESPONSES = {**WRITE_PROBLEMS, 202: {"model": OperationOut, "description": (
    "Still running after the route's wait: the operation's progress; `Location` links to "
    "`GET /v1/operations/{id}`")}}


# ------------------------------------------------------------------ helpers (run in a thread)
def require_units(domain_app: Any, unit_ids: list[str], field: str) -> None:
    """Refuse references to units that are not in the registry, naming every one."""
    missing = []
    for unit_id in dict.fromkeys(unit_ids):
        try:
            domain_app.get_unit(unit_id)
        except NotFound:
            missing.append(unit_id)
    if missing:
        raise BadInput(f"unknown unit(s): {', '.join(missing)}", field=field, unit_ids=", ".join(missing))


def _campaign_change(services: Services, cid: str, command_id: str, act: Any) -> dict[str, Any]:
    campaign, position = apply_and_save(services.domain_app, lambda: services.domain_app.get_campaign(cid), act,
                                        command_id)
    return {"campaign": campaign.to_state(), "position": position}


# ------------------------------------------------------------------ units
@router.put("/v1/units/{unit_id}", response_model=UnitChangeOut, summary="Register or update a unit",
            responses={**WRITE_PROBLEMS, 201: {"model": UnitChangeOut, "description": "Registered"}},
            tags=["units"])
async def put_unit(unit_id: UnitIdPath, body: UnitPut, user: MayRegisterUnit, ctx: CommandCtx) -> Any:
    services = ctx.services
    created = False

    def register_or_update() -> dict[str, Any]:
        nonlocal created
        cmd = command(ctx.command_id, user.actor)
        changed = services.domain_app.change(
            lambda: services.domain_app.get_unit(unit_id),
            lambda unit: unit.update(cmd, name=body.name, kind=body.kind, head_name=body.head_name),
            ctx.command_id,
            create=lambda: Unit.register(cmd, unit_id=unit_id, name=body.name, kind=body.kind,
                                         head_name=body.head_name),
        )
        created = changed.created
        return {"unit": changed.aggregate.to_state(), "position": changed.position}

    async def act() -> dict[str, Any]:
        result = await services.in_thread(register_or_update)
        return result

    return await ctx.run("put_unit", act, model=UnitChangeOut, status=lambda _: 201 if created else 200)


@router.get("/v1/units", response_model=UnitPage, summary="The unit registry", tags=["units"],
            responses=READ_PROBLEMS)
async def list_units(user: CurrentUser, services: ServicesDep, q: Annotated[PageQuery, Query()]) -> Any:
    await wait_for_projections(services, q.min_position)
    return await readmodels.paged(
        "units", q.cursor, lambda after: readmodels.queries().list_units(services.pool, q.limit, after))


# ------------------------------------------------------------------ campaigns
@router.post("/v1/campaigns", status_code=201, response_model=CampaignChangeOut, summary="Create a campaign",
             responses=WRITE_PROBLEMS)
async def post_campaign(body: CampaignCreate, user: MayCreateCampaign, ctx: CommandCtx) -> Any:
    services = ctx.services
    cmd = command(ctx.command_id, user.actor)
    details = dict(
        campaign_id=body.id, name=body.name, starts_on=body.starts_on, ends_on=body.ends_on, timezone=body.timezone,
        policy=Policy(**body.policy.model_dump()) if body.policy else None,
        scoring=ScoringScale(**body.scoring.model_dump()) if body.scoring else None,
    )

    def same_again(existing: Campaign) -> bool:
        try:
            existing.check_same_creation(cmd, **details)
        except CommandIdReused as exc:
            raise Problem(409, f"campaign {body.id!r} already exists with other details",
                          type_slug="already-exists") from exc
        return False

    def create() -> dict[str, Any]:
        changed = services.domain_app.change(
            lambda: services.domain_app.get_campaign(body.id), same_again, ctx.command_id,
            create=lambda: Campaign.create(cmd, **details),
        )
        # An identical creation answers with the event that created the campaign.
        position = changed.position if changed.stored else services.domain_app.position_of(changed.aggregate.id, 1)
        return {"campaign": changed.aggregate.to_state(), "position": position or 0}

    async def act() -> dict[str, Any]:
        return await services.in_thread(create)

    # Policy()/ScoringScale() above already checked the durations and factors.
    return await ctx.run("create_campaign", act, status=201, model=CampaignChangeOut)


@router.get("/v1/campaigns", response_model=CampaignPage, summary="Campaigns", responses=READ_PROBLEMS)
async def list_campaigns(user: CurrentUser, services: ServicesDep, q: Annotated[PageQuery, Query()]) -> Any:
    await wait_for_projections(services, q.min_position)
    return await readmodels.paged(
        "campaigns", q.cursor, lambda after: readmodels.queries().list_campaigns(services.pool, q.limit, after))


@router.get("/v1/campaigns/{cid}", response_model=CampaignOut, summary="One campaign with its clusters",
            responses=READ_PROBLEMS)
async def get_campaign(cid: CampaignId, user: CurrentUser, services: ServicesDep,
                       q: Annotated[ReadQuery, Query()]) -> Any:
    await wait_for_projections(services, q.min_position)
    campaign = await readmodels.queries().get_campaign(services.pool, cid)
    if campaign is None:
        raise Problem(404, f"campaign {cid!r} not found")
    return campaign


@router.put("/v1/campaigns/{cid}/clusters/{cluster_id}", response_model=CampaignChangeOut,
            summary="Set a cluster (name, head, deputy, members)", responses=WRITE_PROBLEMS)
async def put_cluster(cid: CampaignId, cluster_id: ClusterIdPath, body: ClusterPut, user: MaySetCluster,
                      ctx: CommandCtx, campaign: ExistingCampaign) -> Any:
    services = ctx.services

    def set_cluster() -> dict[str, Any]:
        cluster = Cluster(cluster_id=cluster_id, name=body.name, head_unit_id=body.head_unit_id,
                          deputy_unit_id=body.deputy_unit_id, member_unit_ids=tuple(body.member_unit_ids))
        require_units(services.domain_app, list(cluster.unit_ids), "member_unit_ids")
        return _campaign_change(services, cid, ctx.command_id,
                                lambda c: c.set_cluster(command(ctx.command_id, user.actor), cluster))

    async def act() -> dict[str, Any]:
        return await services.in_thread(set_cluster)

    return await ctx.run("set_cluster", act, model=CampaignChangeOut)


@router.post("/v1/campaigns/{cid}/decisions", status_code=201, response_model=CampaignChangeOut,
             summary="Record a decision (quyết định)", responses=WRITE_PROBLEMS)
async def post_decision(cid: CampaignId, body: DecisionIn, user: MayRecordDecision, ctx: CommandCtx,
                        campaign: ExistingCampaign) -> Any:
    services = ctx.services
    issuer = body.issuer if isinstance(body.issuer, str) else body.issuer.name
    level = "" if isinstance(body.issuer, str) else body.issuer.level
    decision = Decision(number=body.number, issued_on=body.issued_on, issuer=issuer, title=body.title,
                        issuer_level=level, parent_number=body.parent_number)

    async def act() -> dict[str, Any]:
        return await services.in_thread(
            lambda: _campaign_change(services, cid, ctx.command_id,
                                     lambda c: c.record_decision(command(ctx.command_id, user.actor), decision))
        )

    return await ctx.run("record_decision", act, status=201, model=CampaignChangeOut)


@router.post("/v1/campaigns/{cid}/bonuses", status_code=201, response_model=CampaignChangeOut,
             summary="Award a bonus (or, with negative points, a deduction)", responses=WRITE_PROBLEMS)
async def post_bonus(cid: CampaignId, body: BonusIn, user: MayAwardBonus, ctx: CommandCtx,
                     campaign: ExistingCampaign) -> Any:
    services = ctx.services

    async def act() -> dict[str, Any]:
        return await services.in_thread(
            lambda: _campaign_change(
                services, cid, ctx.command_id,
                lambda c: c.award_bonus(command(ctx.command_id, user.actor), unit_id=body.unit_id, points=body.points,
                                        reason=body.reason),
            )
        )

    return await ctx.run("award_bonus", act, status=201, model=CampaignChangeOut)



# ------------------------------------------------------------------ policy, scale, closing, reopening (operations)
def _with_body_fields(prefix: str, build: Callable[[], Any]) -> Any:
    """Build a domain value; its errors name fields as nested in a campaign
    (`policy.stale_after`), which are top-level in these bodies."""
    try:
        return build()
    except BadInput as error:
        field = error.details.get("field")
        if isinstance(field, str) and field.startswith(prefix):
            raise BadInput(error.message, field=field.removeprefix(prefix)) from None
        raise


@router.put("/v1/campaigns/{cid}/policy", response_model=CampaignChangeOut,
            summary="Change the timer policy; running target workflows re-arm their timers",
            responses=OPERATION_RESPONSES)
async def put_policy(cid: CampaignId, body: PolicyPut, user: MayChangePolicy, ctx: CommandCtx,
                     campaign: ExistingCampaign) -> Any:
    policy = _with_body_fields("policy.", lambda: Policy(**body.model_dump()))  # the domain's checks (422)
    return await run_operation(ctx, "change_policy", POLICY, cid, policy.to_dict())


@router.put("/v1/campaigns/{cid}/scoring", response_model=CampaignChangeOut,
            summary="Change the scoring scale (from effective_at, default now)", responses=OPERATION_RESPONSES)
async def put_scoring(cid: CampaignId, body: ScoringPut, user: MayChangeScoring, ctx: CommandCtx,
                      campaign: ExistingCampaign) -> Any:
    scale = _with_body_fields("scoring.", lambda: ScoringScale(on_time=body.on_time, late=body.late,
                                                               reward_slots=body.reward_slots))
    args = {"on_time": str(scale.on_time), "late": str(scale.late), "reward_slots": scale.reward_slots,
            "effective_at": None if body.effective_at is None else body.effective_at.isoformat()}
    return await run_operation(ctx, "change_scoring", SCORING, cid, args)


@router.post("/v1/campaigns/{cid}/close", response_model=CampaignChangeOut,
             summary="Close a campaign and finish its targets' workflows", responses=OPERATION_RESPONSES)
async def close_campaign(cid: CampaignId, user: MayCloseCampaign, ctx: CommandCtx, campaign: ExistingCampaign,
                         body: CloseIn | None = None) -> Any:
    return await run_operation(ctx, "close_campaign", CLOSE, cid, {"reason": body.reason if body else None})


@router.post("/v1/campaigns/{cid}/reopen", response_model=CampaignChangeOut,
             summary="Reopen a closed campaign (Standing Committee); its targets' workflows start again",
             responses=OPERATION_RESPONSES)
async def reopen_campaign(cid: CampaignId, body: ReopenIn, user: MayReopenCampaign, ctx: CommandCtx,
                          campaign: ExistingCampaign) -> Any:
    return await run_operation(ctx, "reopen_campaign", REOPEN, cid, {"reason": body.reason})
