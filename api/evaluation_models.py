"""Request and response models of the evaluation rounds (DESIGN.md "Evaluation and commendation").

Kept beside api/models.py (same `Input`/`Output` rules: unknown fields refused, every
answered field declared) so the rounds' contract reads in one place.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AwareDatetime, ConfigDict, Field

from thidua.api.models import Input, Output, RewardFormOut
from thidua.domain.evaluation import MAX_ITEMS, MAX_PROPOSALS
from thidua.domain.lifecycle import Id, ShortText, Text

Score = Annotated[Decimal, Field(max_digits=12, description="Points given to a target (0..its points)")]
Digest = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$", description="sha256 of an evidence file")]
StageName = Literal["self_assessment", "review"]


class EvaluationCreate(Input):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "tong-ket-2022", "name": "Tổng kết năm 2022", "period_end": "2022-12-15T17:00:00+07:00",
        "self_assessment_due": "2022-12-20T17:00:00+07:00", "review_due": "2022-12-27T17:00:00+07:00"}]})
    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,100}$", examples=["tong-ket-2022"])]
    name: ShortText
    period_end: AwareDatetime = Field(description="System scores are frozen as of this instant")
    self_assessment_due: AwareDatetime
    review_due: AwareDatetime
    late_submissions: Literal["refuse", "mark_late"] = Field(
        default="refuse", description="A self-assessment after its due time: refused, or taken and marked late "
                                      "(until the review closes)")


class SelfItemIn(Input):
    target_id: Id
    score: Score
    note: Text | None = None


class InitiativeClaimIn(Input):
    title: ShortText
    points_claimed: Score = Decimal(0)
    evidence: Digest | None = None


class SelfAssessmentPut(Input):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "items": [{"target_id": "5b0c…", "score": 10, "note": "Hoàn thành trước hạn"}],
        "initiatives": [{"title": "Số hóa hồ sơ một cửa", "points_claimed": 2}],
        "summary": "Đơn vị hoàn thành 18/20 chỉ tiêu"}]})
    items: list[SelfItemIn] = Field(max_length=MAX_ITEMS)
    initiatives: list[InitiativeClaimIn] = Field(default_factory=list, max_length=MAX_ITEMS)
    summary: Text | None = None


class ReviewItemIn(Input):
    target_id: Id
    score: Score
    reason: Text | None = Field(default=None, description="Required when the score differs from the unit's own")


class InitiativeGrantIn(Input):
    title: ShortText
    points: Score = Decimal(0)
    evidence: Digest | None = None


class ReviewPut(Input):
    items: list[ReviewItemIn] = Field(max_length=MAX_ITEMS)
    initiatives: list[InitiativeGrantIn] | None = Field(
        default=None, max_length=MAX_ITEMS, description="Points granted per initiative (omitted: as claimed)")


class CollectiveIn(Input):
    unit_id: Id
    form_id: Id
    reason: Text | None = None


class IndividualIn(Input):
    name: ShortText
    unit_id: Id
    position: ShortText
    form_id: Id
    achievements: Text


class ProposalIn(Input):
    collectives: list[CollectiveIn] = Field(default_factory=list, max_length=MAX_PROPOSALS)
    individuals: list[IndividualIn] = Field(default_factory=list, max_length=MAX_PROPOSALS)


class DecisionRef(Input):
    number: ShortText
    issued_on: date


class AwardRef(Input):
    unit_id: Id
    form_id: Id
    name: ShortText | None = Field(default=None, description="An individual's name (collectives: none)")


class ApproveIn(Input):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "decision": {"number": "1205-QĐ/TU", "issued_on": "2022-12-30"},
        "awards": [{"unit_id": "phuong-ngo-quyen", "form_id": "co-thi-dua"}]}]})
    decision: DecisionRef
    awards: list[AwardRef] | None = Field(default=None, max_length=MAX_PROPOSALS,
                                          description="The proposals approved (omitted: every one)")


class ExtendIn(Input):
    stage: StageName
    due: AwareDatetime = Field(description="The new due time (later than the current one)")
    reason: Text


class RevokeIn(Input):
    reason: Text


# ------------------------------------------------------------------ answers
class EvaluationItemOut(Output):
    target_id: str
    points: float
    system_score: float
    self_score: float | None
    note: str | None
    reviewed_score: float | None
    reason: str | None


class InitiativeOut(Output):
    title: str
    points: str
    evidence: str | None


class EvaluationUnitOut(Output):
    unit_id: str
    cluster_id: str
    system_score: float
    max_score: float
    self_score: float | None
    reviewed_score: float | None
    self_minus_system: float | None
    reviewed_minus_self: float | None
    self_assessed_late: bool
    overdue: int
    late: int
    completion_rate: float = Field(default=0, description="Completed / counted targets as of the period's end")
    criteria_met: list[str] = Field(default_factory=list, description="Collective forms whose criteria it meets")
    summary: str | None = None
    initiatives: list[InitiativeOut] = Field(default_factory=list)
    items: list[EvaluationItemOut] = Field(default_factory=list)
    name: str | None = None


class ProposalOut(Output):
    kind: Literal["collective", "individual"]
    cluster_id: str
    unit_id: str
    form_id: str
    reason: str | None = None
    name: str | None = None
    position: str | None = None
    achievements: str | None = None


class RevokedOut(Output):
    reason: str
    by: str
    at: str


class AwardOut(ProposalOut):
    award_id: str
    form_name: str
    revoked: RevokedOut | None


class DecisionOut(Output):
    number: str
    issued_on: str
    by: str
    at: str


class ExtensionOut(Output):
    stage: str
    due: str
    reason: str
    by: str
    at: str


class ClusterLeadsOut(Output):
    cluster_id: str
    head_unit_id: str
    deputy_unit_id: str


class EvaluationOut(Output):
    id: str
    campaign_id: str
    name: str
    state: Literal["self_assessment", "review", "proposal", "closed"]
    period_end: str
    self_assessment_due: str
    review_due: str
    late_submissions: str
    units: list[EvaluationUnitOut]
    extensions: list[ExtensionOut]
    proposals: list[ProposalOut]
    decision: DecisionOut | None
    awards: list[AwardOut]
    version: int
    clusters: list[ClusterLeadsOut] = Field(default_factory=list)
    rules: list[RewardFormOut] = Field(default_factory=list, description="The reward rules frozen with the round")


class EvaluationChangeOut(Output):
    evaluation: EvaluationOut
    position: int


class EvaluationSummaryOut(Output):
    id: str
    campaign_id: str
    name: str
    state: str
    period_end: str
    version: int


class EvaluationPage(Output):
    items: list[EvaluationSummaryOut]


class TrailEventOut(Output):
    position: int
    event_type: str
    occurred_at: str
    actor_id: str | None
    summary: dict[str, object]


class TrailTargetOut(Output):
    target_id: str
    points: float
    system_score: float
    self_score: float | None
    reviewed_score: float | None
    reason: str | None
    events: list[TrailEventOut]
    evidence: list[str] = Field(description="sha256 digests of the evidence attached before the period's end")


class AwardTrailOut(Output):
    award: AwardOut
    evaluation_id: str
    unit: EvaluationUnitOut
    round_events: list[TrailEventOut]
    targets: list[TrailTargetOut]
