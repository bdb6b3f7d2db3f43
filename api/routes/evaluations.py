"""Evaluation rounds (bình xét) and awards (khen thưởng): DESIGN.md "Evaluation and commendation".

Creating a round and extending its stages go through the round's workflow
(EvaluationWorkflow: it freezes the scores and owns the due times); the other commands
change the Evaluation aggregate through the domain application (in a thread), like the
campaign's commands, and answer with the round and the position of the stored event.
Who may do what is the aggregate's rule (a unit head for its own unit, the cluster head
for the review and the proposal); the Standing Committee's commands are also checked up
front (domain/permissions.py). Reads come from the `evaluations` read model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response

from thidua.api import exports
from thidua.api.deps import (
    CampaignId,
    CommandContext,
    CommandCtx,
    CurrentUser,
    ExistingCampaign,
    ServicesDep,
    may_run,
    wait_for_projections,
)
from thidua.api.evaluation_models import (
    ApproveIn,
    AwardTrailOut,
    EvaluationChangeOut,
    EvaluationCreate,
    EvaluationOut,
    EvaluationPage,
    ExtendIn,
    ProposalIn,
    ReviewPut,
    RevokeIn,
    SelfAssessmentPut,
)
from thidua.api.evaluation_reads import award_trail, export_rows, round_body, rounds_of_campaign
from thidua.api.models import Input, MinPosition
from thidua.api.problems import Problem
from thidua.api.routes.campaigns import READ_PROBLEMS, WRITE_PROBLEMS
from thidua.api.services import Services, command
from thidua.domain.errors import BadInput, InvalidTransition, NotFound
from thidua.domain.evaluation import CLOSED, Evaluation, evaluation_of_award, evaluation_uuid
from thidua.domain.values import Command
from thidua.workflows.evaluation_client import EvaluationRounds
from thidua.workflows.evaluation_messages import ExtendInput, RoundInput

router = APIRouter(tags=["evaluations"])

EvaluationIdPath = Annotated[str, Path(min_length=1, max_length=100, description="Evaluation round id",
                                       examples=["tong-ket-2022"])]
UnitIdPath = Annotated[str, Path(min_length=1, max_length=100, description="Unit id")]
ClusterIdPath = Annotated[str, Path(min_length=1, max_length=100, description="Cluster id")]
AwardIdPath = Annotated[str, Path(min_length=1, max_length=120, description="Award id (`<round id>:<n>`)",
                                  examples=["tong-ket-2022:1"])]

MayCreateEvaluation = may_run("create_evaluation")
MayExtendEvaluation = may_run("extend_evaluation")
MayApproveAwards = may_run("approve_awards")
MayRevokeAward = may_run("revoke_award")


class EvaluationQuery(Input):
    min_position: MinPosition = None
    format: Literal["json", "csv", "xlsx"] = "json"


# ------------------------------------------------------------------ helpers (the write path, in a thread)
def load_round(services: Services, evaluation_id: str) -> Evaluation:
    return services.domain_app.load(Evaluation, evaluation_uuid(evaluation_id), f"evaluation {evaluation_id!r}")


def change_round(services: Services, evaluation_id: str, command_id: str, act: Any) -> dict[str, Any]:
    changed = services.domain_app.change(lambda: load_round(services, evaluation_id), act, command_id)
    return {"evaluation": changed.aggregate.to_state(), "position": changed.position}


def _rounds(services: Services) -> EvaluationRounds:
    return EvaluationRounds(services.gateway.client, services.gateway.task_queue)


def _answer_for(state: dict[str, Any], position: int) -> dict[str, Any]:
    return {"evaluation": state, "position": position}


# ------------------------------------------------------------------ creating a round
@router.post("/v1/campaigns/{cid}/evaluations", status_code=201, response_model=EvaluationChangeOut,
             summary="Open an evaluation round: freeze the system scores as of period_end, open self-assessment",
             responses=WRITE_PROBLEMS)
async def create_evaluation(cid: CampaignId, body: EvaluationCreate, user: MayCreateEvaluation, ctx: CommandCtx,
                            campaign: ExistingCampaign) -> Any:
    services = ctx.services
    if not body.period_end < body.self_assessment_due <= body.review_due:
        raise BadInput("the round needs period_end < self_assessment_due <= review_due", field="self_assessment_due")

    def existing() -> dict[str, Any] | None:
        try:
            evaluation = load_round(services, body.id)
        except NotFound:
            return None
        if evaluation.created_by != ctx.command_id:
            raise InvalidTransition("create_evaluation", "exists", f"evaluation {body.id!r} already exists")
        return _answer_for(evaluation.to_state(), services.domain_app.position_of_command(evaluation, ctx.command_id))

    async def act() -> dict[str, Any]:
        found = await services.in_thread(existing)
        if found is not None:
            return found
        created = await _rounds(services).create(RoundInput(
            evaluation_id=body.id, campaign_id=cid, command_id=ctx.command_id, actor=user.actor.to_dict(),
            name=body.name, period_end=body.period_end, self_assessment_due=body.self_assessment_due,
            review_due=body.review_due, late_submissions=body.late_submissions))
        if created.created_by_command != ctx.command_id:
            raise InvalidTransition("create_evaluation", "exists", f"evaluation {body.id!r} already exists")
        return _answer_for(created.state, created.position)

    return await ctx.run("create_evaluation", act, status=201, model=EvaluationChangeOut)


async def extend_round(services: Services, eid: str, command_id: str, actor: Any, body: ExtendIn) -> dict[str, Any]:
    """The Standing Committee's extension, through the round's workflow (it owns the
    timers); the API route and the round's page both send it here."""
    evaluation = await services.in_thread(load_round, services, eid)
    if evaluation.stage == CLOSED or body.stage in evaluation.closed_stages:
        raise InvalidTransition("extend", f"{body.stage}_closed", f"{body.stage} of round {eid!r} has closed")
    extended = await _rounds(services).extend(ExtendInput(
        evaluation_id=eid, command_id=command_id, actor=actor.to_dict(), stage=body.stage, due=body.due,
        reason=body.reason))
    return _answer_for(extended.state, extended.position)


@router.post("/v1/evaluations/{eid}/extend", response_model=EvaluationChangeOut,
             summary="Extend a stage that has not closed (Standing Committee), with a reason", responses=WRITE_PROBLEMS)
async def extend_evaluation(eid: EvaluationIdPath, body: ExtendIn, user: MayExtendEvaluation, ctx: CommandCtx) -> Any:
    async def act() -> dict[str, Any]:
        return await extend_round(ctx.services, eid, ctx.command_id, user.actor, body)

    return await ctx.run("extend_evaluation", act, model=EvaluationChangeOut)


# ------------------------------------------------------------------ the units' and the cluster's work
async def run_round_command(ctx: CommandContext, user: Any, eid: str, name: str,
                            act: Callable[[Evaluation, Command], bool]) -> Any:
    """One command on a round through the domain application (in a thread), answered and
    remembered like every command."""
    services = ctx.services
    cmd = command(ctx.command_id, user.actor)

    async def run() -> dict[str, Any]:
        return await services.in_thread(lambda: change_round(services, eid, ctx.command_id, lambda e: act(e, cmd)))

    return await ctx.run(name, run, model=EvaluationChangeOut)


def _dumped(models: list[Any] | None) -> list[dict[str, Any]] | None:
    return None if models is None else [m.model_dump(mode="json") for m in models]


@router.put("/v1/evaluations/{eid}/units/{unit_id}/self-assessment", response_model=EvaluationChangeOut,
            summary="The unit head's self-assessment (again until the due time)", responses=WRITE_PROBLEMS)
async def put_self_assessment(eid: EvaluationIdPath, unit_id: UnitIdPath, body: SelfAssessmentPut,
                              user: CurrentUser, ctx: CommandCtx) -> Any:
    items, initiatives = _dumped(body.items), _dumped(body.initiatives)
    return await run_round_command(ctx, user, eid, "self_assess", lambda e, cmd: e.self_assess(
        cmd, unit_id=unit_id, items=items or [], summary=body.summary, initiatives=initiatives or []))


@router.put("/v1/evaluations/{eid}/units/{unit_id}/review", response_model=EvaluationChangeOut,
            summary="The cluster's review of a unit (a changed score needs a reason)", responses=WRITE_PROBLEMS)
async def put_review(eid: EvaluationIdPath, unit_id: UnitIdPath, body: ReviewPut, user: CurrentUser,
                     ctx: CommandCtx) -> Any:
    items, initiatives = _dumped(body.items), _dumped(body.initiatives)
    return await run_round_command(ctx, user, eid, "review", lambda e, cmd: e.review(
        cmd, unit_id=unit_id, items=items or [], initiatives=initiatives))


@router.post("/v1/evaluations/{eid}/clusters/{cluster_id}/proposal", response_model=EvaluationChangeOut,
             summary="The cluster's proposal of collectives and individuals, checked against the rules",
             responses=WRITE_PROBLEMS)
async def post_proposal(eid: EvaluationIdPath, cluster_id: ClusterIdPath, body: ProposalIn, user: CurrentUser,
                        ctx: CommandCtx) -> Any:
    collectives, individuals = _dumped(body.collectives), _dumped(body.individuals)
    return await run_round_command(ctx, user, eid, "propose", lambda e, cmd: e.propose(
        cmd, cluster_id=cluster_id, collectives=collectives or [], individuals=individuals or []))


# ------------------------------------------------------------------ the Standing Committee's decision
@router.post("/v1/evaluations/{eid}/approve", response_model=EvaluationChangeOut,
             summary="Approve proposed awards by a decision; the round closes", responses=WRITE_PROBLEMS)
async def approve_awards(eid: EvaluationIdPath, body: ApproveIn, user: MayApproveAwards, ctx: CommandCtx) -> Any:
    awards = _dumped(body.awards)
    return await run_round_command(ctx, user, eid, "approve_awards", lambda e, cmd: e.approve(
        cmd, decision_number=body.decision.number, issued_on=body.decision.issued_on, awards=awards))


@router.post("/v1/awards/{aid}/revoke", response_model=EvaluationChangeOut,
             summary="Revoke an award (Law 06/2022/QH15), with the reason", responses=WRITE_PROBLEMS)
async def revoke_award(aid: AwardIdPath, body: RevokeIn, user: MayRevokeAward, ctx: CommandCtx) -> Any:
    return await run_round_command(ctx, user, evaluation_of_award(aid), "revoke_award",
                                   lambda e, cmd: e.revoke(cmd, award_id=aid, reason=body.reason))


# ------------------------------------------------------------------ reads
_EXPORT_CONTENT = {200: {"content": {"text/csv": {"schema": {"type": "string"}},
                                     exports.XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}}}}


@router.get("/v1/evaluations/{eid}", response_model=EvaluationOut,
            summary="A round: each unit's system, self and reviewed scores and their differences, proposals, awards "
                    "(also as CSV or XLSX)", responses={**READ_PROBLEMS, **_EXPORT_CONTENT})
async def get_evaluation(eid: EvaluationIdPath, user: CurrentUser, services: ServicesDep,
                         q: Annotated[EvaluationQuery, Query()]) -> Any:
    await wait_for_projections(services, q.min_position)
    body = await round_body(services.pool, eid)
    if body is None:
        raise Problem(404, f"evaluation {eid!r} not found")
    if q.format == "json":
        return body
    header, table = export_rows(body)
    name = exports.safe_filename("evaluation", eid, q.format)
    if q.format == "csv":
        data, media = exports.table_csv(header, table), exports.CSV_MEDIA_TYPE
    else:
        data, media = exports.table_xlsx(header, table, "Bình xét"), exports.XLSX_MEDIA_TYPE
    return Response(data, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/v1/campaigns/{cid}/evaluations", response_model=EvaluationPage, summary="A campaign's rounds",
            responses=READ_PROBLEMS)
async def list_evaluations(cid: CampaignId, user: CurrentUser, services: ServicesDep,
                           q: Annotated[EvaluationQuery, Query()], campaign: ExistingCampaign) -> Any:
    await wait_for_projections(services, q.min_position)
    return {"items": await rounds_of_campaign(services.pool, cid)}


@router.get("/v1/awards/{aid}/trail", response_model=AwardTrailOut,
            summary="The audit trail of an award: the round's events and the target events and evidence behind "
                    "its points", responses=READ_PROBLEMS)
async def get_award_trail(aid: AwardIdPath, user: CurrentUser, services: ServicesDep,
                          q: Annotated[EvaluationQuery, Query()]) -> Any:
    await wait_for_projections(services, q.min_position)
    trail = await award_trail(services.pool, aid)
    if trail is None:
        raise Problem(404, f"award {aid!r} not found")
    return trail
