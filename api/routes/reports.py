"""Scoreboards (JSON, CSV, XLSX, as of any time, what-if), the escalation queue, the audit trail."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from thidua.api import exports, readmodels, scoreboards
from thidua.api.deps import (
    AuditReaders,
    CampaignId,
    CurrentUser,
    ExistingCampaign,
    ServicesDep,
    load_campaign,
    wait_for_projections,
)
from thidua.api.models import (
    AuditPage,
    AuditQuery,
    EscalationPage,
    EscalationQuery,
    ReadQuery,
    ScoreboardOut,
    ScoreboardQuery,
    VerifyOut,
    WhatIfIn,
)
from thidua.api.problems import Problem, problem_responses
from thidua.domain.values import ScoringScale

router = APIRouter(tags=["reports"])

READ_PROBLEMS = problem_responses(401, 403, 404, 422, 503)

_SCOREBOARD_CONTENT = {
    200: {
        "description": "The scoreboard as JSON, CSV (UTF-8 with BOM) or XLSX (`format=`)",
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            exports.XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


def _empty_board(cid: str, as_of: datetime | None) -> dict[str, Any]:
    return {"campaign_id": cid, "as_of": (as_of or datetime.now(timezone.utc)).isoformat(), "clusters": []}


def _position(after: Any) -> int | None:
    if after is None:
        return None
    if isinstance(after, bool) or not isinstance(after, int):
        raise ValueError("an audit cursor is a position")
    return after


def _check_cluster(campaign: Any, cluster_id: str | None) -> None:
    if cluster_id is not None and cluster_id not in campaign.clusters:
        raise Problem(404, f"campaign {campaign.campaign_id!r} has no cluster {cluster_id!r}")


@dataclass(frozen=True)
class BoardCampaign:
    """What the scoreboard route checks a campaign and cluster against."""

    campaign_id: str
    clusters: frozenset[str]
    version: Any = None  # the read models' scoreboard version when they know the campaign
    aggregate: Any = None  # the Campaign aggregate, once loaded


async def board_campaign(cid: CampaignId, services: ServicesDep) -> BoardCampaign:
    """The campaign as the read models know it (one query, which also gives the version
    the scoreboard cache is checked against); when they do not know it yet, the Campaign
    aggregate, as `ExistingCampaign` loads it (404 when unknown there too)."""
    known, clusters, version = await scoreboards.context_reads(services).get(cid)
    if known:
        return BoardCampaign(cid, frozenset(clusters), version)
    return await _from_aggregate(cid, services)


async def _from_aggregate(cid: str, services: Any) -> BoardCampaign:
    campaign = await load_campaign(cid, services)
    return BoardCampaign(cid, frozenset(campaign.clusters), None, campaign)


async def _check_board_cluster(campaign: BoardCampaign, cluster_id: str | None, services: Any) -> None:
    """Clusters are checked against the aggregate, the source of truth, whenever the
    read models (which may lag) do not show the cluster."""
    if cluster_id is None or cluster_id in campaign.clusters:
        return
    aggregate = campaign.aggregate
    if aggregate is None:
        aggregate = await load_campaign(campaign.campaign_id, services)
    _check_cluster(aggregate, cluster_id)


BoardCampaignDep = Annotated[BoardCampaign, Depends(board_campaign)]


@router.get("/v1/campaigns/{cid}/scoreboard", response_model=ScoreboardOut,
            summary="Cluster scoreboards, now or as of any time",
            responses={**READ_PROBLEMS, **_SCOREBOARD_CONTENT})
async def get_scoreboard(cid: CampaignId, user: CurrentUser, services: ServicesDep, campaign: BoardCampaignDep,
                         q: Annotated[ScoreboardQuery, Query()]) -> Any:
    await _check_board_cluster(campaign, q.cluster_id, services)
    await wait_for_projections(services, q.min_position)
    if q.format == "json":
        version = campaign.version
        if version is None or q.min_position:  # read (again) after the wait
            version = (await scoreboards.context_reads(services).get(cid))[2]
        body = await scoreboards.cached_body(services, cid, q.cluster_id, q.as_of, version)
        if body is None:  # created, not projected yet
            body = scoreboards.encode(_empty_board(cid, q.as_of))
        return Response(body, media_type="application/json")
    board = await readmodels.queries().scoreboard(services.pool, cid, cluster_id=q.cluster_id, as_of=q.as_of)
    if board is None:  # created, not projected yet
        board = _empty_board(cid, q.as_of)
    if q.format == "csv":
        return Response(exports.to_csv(board), media_type=exports.CSV_MEDIA_TYPE,
                        headers={"Content-Disposition": f'attachment; filename="{exports.filename(board, "csv")}"'})
    if q.format == "xlsx":
        return Response(exports.to_xlsx(board), media_type=exports.XLSX_MEDIA_TYPE,
                        headers={"Content-Disposition": f'attachment; filename="{exports.filename(board, "xlsx")}"'})
    return board


@router.post("/v1/campaigns/{cid}/scoreboard/what-if", response_model=ScoreboardOut,
             summary="The scoreboard under a proposed scoring scale (nothing is recorded)",
             responses=problem_responses(401, 403, 404, 413, 422, 503))
async def what_if(cid: CampaignId, body: WhatIfIn, user: AuditReaders, services: ServicesDep,
                  campaign: ExistingCampaign, q: Annotated[ReadQuery, Query()]) -> Any:
    _check_cluster(campaign, body.cluster_id)
    scale = ScoringScale(on_time=body.scoring.on_time, late=body.scoring.late,
                         reward_slots=body.scoring.reward_slots)
    await wait_for_projections(services, q.min_position)
    board = await readmodels.queries().what_if(services.pool, cid, scale, cluster_id=body.cluster_id)
    return board if board is not None else _empty_board(cid, None)


@router.get("/v1/campaigns/{cid}/escalations", response_model=EscalationPage,
            summary="The escalation queue, oldest first", responses=READ_PROBLEMS)
async def list_escalations(cid: CampaignId, user: AuditReaders, services: ServicesDep, campaign: ExistingCampaign,
                           q: Annotated[EscalationQuery, Query()]) -> Any:
    await wait_for_projections(services, q.min_position)
    return await readmodels.paged("escalations", q.cursor, lambda after: readmodels.queries().list_escalations(
        services.pool, cid, q.state, q.limit, after))


@router.get("/v1/audit", response_model=AuditPage, summary="The hash-chained audit trail", tags=["audit"],
            responses=READ_PROBLEMS)
async def list_audit(user: AuditReaders, services: ServicesDep, q: Annotated[AuditQuery, Query()]) -> Any:
    if q.since is not None and q.until is not None and q.until < q.since:
        raise Problem(422, "until is before since",
                      errors=[{"field": "query.until", "message": "before since", "type": "range"}])
    await wait_for_projections(services, q.min_position)
    return await readmodels.paged("audit", q.cursor, lambda after: readmodels.queries().list_audit(
        services.pool, target_id=q.target_id, unit_id=q.unit_id, actor_id=q.actor_id, since=q.since, until=q.until,
        limit=q.limit, after_position=_position(after),
    ))


@router.get("/v1/audit/verify", response_model=VerifyOut, summary="Recompute the audit hash chain",
            tags=["audit"], responses=problem_responses(401, 403, 503))
async def verify_audit(user: AuditReaders, services: ServicesDep) -> Any:
    return await readmodels.queries().verify_audit(services.pool)
