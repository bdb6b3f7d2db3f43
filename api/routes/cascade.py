"""Decisions and the cascade: a campaign's decisions, a decision's tree of targets, a
target's children, and the campaign's parent ("city") targets with their rollups.

Decisions are read from the Campaign aggregate (the registry is its events); the
trees and rollups from the cascade read model (thidua.projections.cascade). Every
signed-in user reads them, each target as thidua.domain.permissions lets them see it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from thidua.api import readmodels
from thidua.api.deps import (
    CampaignId,
    CurrentUser,
    ExistingCampaign,
    ReadableTarget,
    ServicesDep,
    TargetId,
    wait_for_projections,
)
from thidua.api.models import (
    DecisionListOut,
    DecisionTreeOut,
    PageQuery,
    ParentTargetsOut,
    ReadQuery,
    TargetPage,
)
from thidua.api.problems import Problem, problem_responses
from thidua.domain.permissions import visible_target
from thidua.domain.values import Decision
from thidua.projections import tree_queries

router = APIRouter(tags=["decisions"])
READ_PROBLEMS = problem_responses(401, 403, 404, 422, 503)

# Numbers often hold a slash ("934-QĐ/TU"): the path converter takes it (sent as is or as %2F).
DecisionNumber = Annotated[str, Path(min_length=1, max_length=100, description="Decision number",
                                     examples=["934-QĐ/TU"])]


class DecisionTreeQuery(ReadQuery):
    campaign_id: Annotated[str | None, Query(min_length=1, max_length=100, description=(
        "The campaign whose decision this is; required only when campaigns share the number"))] = None


def decision_entry(decision: Decision) -> dict[str, Any]:
    """A registered decision in the registry's shape: issuer as {level, name}."""
    return {"number": decision.number, "issued_on": decision.issued_on,
            "issuer": {"level": decision.issuer_level or None, "name": decision.issuer},
            "title": decision.title, "parent_number": decision.parent_number}


def seen_by(user: Any, campaign: Any, target: dict[str, Any]) -> dict[str, Any]:
    """A target (with its place in the tree) as this user may see it."""
    view = visible_target(user.actor, target, campaign.cluster_leads_of(target["unit_id"]))
    tree = {k: target[k] for k in ("parent_id", "rollup") if k in target}
    if "children" in target:
        tree["children"] = [seen_by(user, campaign, c) for c in target["children"]]
    return {**view, **tree}


@router.get("/v1/campaigns/{cid}/decisions", response_model=DecisionListOut,
            summary="The campaign's decisions (quyết định)", responses=READ_PROBLEMS)
async def list_decisions(cid: CampaignId, user: CurrentUser, campaign: ExistingCampaign) -> Any:
    decisions = sorted(campaign.decisions.values(), key=lambda d: (d.issued_on, d.number))
    return {"campaign_id": cid, "items": [decision_entry(d) for d in decisions]}


@router.get("/v1/decisions/{number:path}/targets", response_model=DecisionTreeOut,
            summary="A decision's tree: its targets, each with its rollup and children", responses=READ_PROBLEMS)
async def decision_targets(number: DecisionNumber, user: CurrentUser, services: ServicesDep,
                           q: Annotated[DecisionTreeQuery, Query()]) -> Any:
    await wait_for_projections(services, q.min_position)
    cid = q.campaign_id
    if cid is None:
        campaigns = await tree_queries.decision_campaigns(services.pool, number)
        if len(campaigns) > 1:
            raise Problem(422, f"decision {number!r} is registered in several campaigns; name one with campaign_id",
                          errors=[{"field": "query.campaign_id", "message": "required: "
                                   + ", ".join(campaigns), "type": "missing"}])
        if not campaigns:
            raise Problem(404, f"decision {number!r} is registered in no campaign")
        cid = campaigns[0]
    campaign = await services.in_thread(services.domain_app.get_campaign, cid)
    decision = campaign.decisions.get(number)
    if decision is None:
        raise Problem(404, f"decision {number!r} is not registered in campaign {cid!r}")
    tree = await tree_queries.decision_tree(services.pool, cid, number)
    return {"campaign_id": cid, "decision": decision_entry(decision),
            "targets": [seen_by(user, campaign, t) for t in tree]}


@router.get("/v1/targets/{tid}/children", response_model=TargetPage, summary="A target's children",
            responses=READ_PROBLEMS)
async def target_children(tid: TargetId, user: CurrentUser, target: ReadableTarget, services: ServicesDep,
                          q: Annotated[PageQuery, Query()]) -> Any:
    await wait_for_projections(services, q.min_position)
    campaign = await services.in_thread(services.domain_app.get_campaign, target.campaign_id)
    page = await readmodels.paged("children", q.cursor, lambda after: tree_queries.children(
        services.pool, str(target.id), q.limit, after))
    return {**page, "items": [seen_by(user, campaign, t) for t in page["items"]]}


@router.get("/v1/campaigns/{cid}/city-targets", response_model=ParentTargetsOut,
            summary="The campaign's own (parent) targets with their rollups", responses=READ_PROBLEMS)
async def city_targets(cid: CampaignId, user: CurrentUser, services: ServicesDep, campaign: ExistingCampaign,
                       q: Annotated[ReadQuery, Query()]) -> Any:
    await wait_for_projections(services, q.min_position)
    items = await tree_queries.parents(services.pool, cid)
    return {"campaign_id": cid, "items": [seen_by(user, campaign, t) for t in items]}

