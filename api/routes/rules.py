"""Reward rules (quy chế khen thưởng) of a campaign: the forms of commendation and
their criteria, which decide the scoreboard's reward candidates from their effective
time on (DESIGN.md "Evaluation and commendation")."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import AwareDatetime, ConfigDict, Field

from thidua.api.deps import CampaignId, CommandCtx, ExistingCampaign, may_run
from thidua.api.models import CampaignChangeOut, Input
from thidua.api.problems import problem_responses
from thidua.api.services import apply_and_save, command
from thidua.domain.lifecycle import Id, ShortText
from thidua.domain.scoring import MAX_COUNT, MAX_FORMS, RewardForm, RewardRules

router = APIRouter(tags=["campaigns"])

# The people who set the scoring scale set the rules it is read with.
MayChangeRules = may_run("change_scoring")
WRITE_PROBLEMS = problem_responses(401, 403, 404, 409, 413, 422, 503)

Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]


class RewardFormIn(Input):
    model_config = ConfigDict(populate_by_name=False)
    id: Id
    name: ShortText
    for_: Literal["collective", "individual"] = Field(alias="for", description="Who receives it")
    scope: Literal["cluster", "campaign"] = Field(description="Where places are counted and units ranked")
    max_awards: Count = Field(description="At most this many candidates per scope (a cluster, or the campaign)")
    min_score_ratio: Decimal = Field(ge=0, le=1, max_digits=12, description="Score / maximum, at least")
    max_overdue: Count = Field(description="Overdue targets, at most")
    max_late: Count = Field(description="Targets completed late, at most")
    top_rank: int | None = Field(default=None, ge=1, le=MAX_COUNT,
                                 description="Ranked at most this within the scope (1: the best)")


class RulesPut(Input):
    """The whole set of forms, in force from `effective_at` (default: now). An empty
    list withdraws the rules: from then on the scale's `reward_slots` decide again."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "forms": [
            {"id": "co-thi-dua", "name": "Cờ thi đua", "for": "collective", "scope": "cluster", "max_awards": 1,
             "min_score_ratio": 0.95, "max_overdue": 0, "max_late": 2, "top_rank": 1},
            {"id": "giay-khen", "name": "Giấy khen", "for": "collective", "scope": "cluster", "max_awards": 2,
             "min_score_ratio": 0.8, "max_overdue": 1, "max_late": 5},
        ],
        "effective_at": "2022-12-01T00:00:00+07:00",
    }]})
    forms: list[RewardFormIn] = Field(max_length=MAX_FORMS)
    effective_at: AwareDatetime | None = Field(
        default=None, description="From when the rules count; scoreboards as of an earlier time keep the rules then")


def _rules(body: RulesPut) -> RewardRules:
    """The domain's checks (unique ids, ranges) answer 422 naming the field."""
    return RewardRules(tuple(
        RewardForm(id=f.id, name=f.name, recipient=f.for_, scope=f.scope, max_awards=f.max_awards,
                   min_score_ratio=f.min_score_ratio, max_overdue=f.max_overdue, max_late=f.max_late,
                   top_rank=f.top_rank)
        for f in body.forms
    ))


@router.put("/v1/campaigns/{cid}/rules", response_model=CampaignChangeOut,
            summary="Set the reward rules (from effective_at, default now)", responses=WRITE_PROBLEMS)
async def put_rules(cid: CampaignId, body: RulesPut, user: MayChangeRules, ctx: CommandCtx,
                    campaign: ExistingCampaign) -> Any:
    services = ctx.services
    rules = _rules(body)

    def change() -> dict[str, Any]:
        changed, position = apply_and_save(
            services.domain_app, lambda: services.domain_app.get_campaign(cid),
            lambda c: c.change_rules(command(ctx.command_id, user.actor), rules, effective_at=body.effective_at),
            ctx.command_id,
        )
        return {"campaign": changed.to_state(), "position": position}

    async def act() -> dict[str, Any]:
        return await services.in_thread(change)

    return await ctx.run("change_rules", act, model=CampaignChangeOut)
