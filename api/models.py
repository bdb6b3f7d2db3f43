"""Request and response models of the HTTP contract (DESIGN.md "Shapes").

Requests and responses are separate classes. Every request model forbids extra
fields, so nobody can slip `status`, `points`, `unit_id`, `version` or `actor` into a
body that does not name them; every string has a length cap. Response models allow
extra fields ("more fields are welcome") but name the contract's fields and types.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

import isodate
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from domain.values import DEFAULT_TIMEZONE

# ------------------------------------------------------------------ building blocks
Id = Annotated[str, Field(min_length=1, max_length=100, examples=["phuong-ngo-quyen"])]
ShortText = Annotated[str, Field(min_length=1, max_length=300)]
Text = Annotated[str, Field(min_length=1, max_length=4000)]
OptionalText = Annotated[str | None, Field(default=None, max_length=4000)]
# Timers are armed at (some instant) + a policy duration: a duration beyond the calendar
# would overflow that sum inside every running workflow of the campaign.
MAX_POLICY_DURATION = timedelta(days=3660)


def _within_timer_range(value: str) -> str:
    try:
        parsed = isodate.parse_duration(value)
    except OverflowError:
        raise ValueError("the duration is too long: at most P3660D (about 10 years)") from None
    except Exception:  # noqa: BLE001 - malformed: the domain names what is wrong with it
        return value
    if isinstance(parsed, timedelta) and parsed > MAX_POLICY_DURATION:
        raise ValueError("the duration is too long: at most P3660D (about 10 years)")
    return value


Duration = Annotated[str, Field(min_length=2, max_length=40, examples=["P3D", "PT2S"]),
                     AfterValidator(_within_timer_range)]
ExpectedVersion = Annotated[
    int | None,
    Field(default=None, ge=1, le=1_000_000_000,
          description="Refuse with 409 unless the target is at this version (optimistic concurrency)"),
]
Limit = Annotated[int, Field(default=50, ge=1, le=500, description="Page size, at most 500")]
Cursor = Annotated[str | None, Field(default=None, max_length=1000, description="Opaque cursor from `next_cursor`")]
MinPosition = Annotated[
    int | None,
    Field(default=None, ge=0, le=2**62,
          description="Wait (up to a few seconds) until the read models include this event position"),
]
Points = Annotated[Decimal, Field(ge=0, le=1_000_000, max_digits=14, decimal_places=4, examples=[10])]
RoleName = Literal["secretariat", "standing_committee", "unit_head", "inspector"]
TargetStatus = Literal["assigned", "in_progress", "blocked", "escalated", "completed", "cancelled"]
ReportClassName = Literal["completed_on_time", "completed_late", "in_progress_within_deadline", "overdue",
                          "cancelled"]


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Output(BaseModel):
    model_config = ConfigDict(extra="allow")


# ------------------------------------------------------------------ users
class UserCreate(Input):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"name": "Nguyễn Văn An", "role": "unit_head", "unit_id": "phuong-ngo-quyen"}]}
    )
    name: ShortText
    role: RoleName
    unit_id: Id | None = None
    login: Annotated[str | None, Field(default=None, min_length=2, max_length=100,
                                       description="For signing in to the web pages (a-z, 0-9, . _ @ -)")] = None
    email: Annotated[str | None, Field(default=None, min_length=3, max_length=300)] = None


class UserOut(Output):
    id: str
    name: str
    role: str
    unit_id: str | None = None


class UserCreatedOut(UserOut):
    login: str | None = None
    token: str | None = Field(description="Shown once; only its hash is stored. Null on an idempotent replay.")
    activation_url: str | None = Field(
        default=None, description="Where the person sets a password: one use, 72 hours. Null on a replay.")
    position: int


class ActivationIn(Input):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)  # a password is kept as typed
    token: Annotated[str, Field(min_length=1, max_length=300)]
    password: Annotated[str, Field(min_length=1, max_length=1000)]


class SessionIn(Input):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)
    login: Annotated[str, Field(min_length=1, max_length=100)]
    password: Annotated[str, Field(min_length=1, max_length=1000)]


class SessionOut(Output):
    user: UserOut
    csrf_token: str = Field(description="Send it as the X-CSRF-Token header with every change made with the cookie")


class UserRevokedOut(UserOut):
    revoked: bool
    position: int


# ------------------------------------------------------------------ units
class UnitPut(Input):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"name": "Phường Ngô Quyền", "kind": "ward", "head_name": "Trần Thị Bình"}]}
    )
    name: ShortText
    kind: Annotated[str, Field(min_length=1, max_length=100)]
    head_name: Annotated[str | None, Field(default=None, max_length=300)] = None


class UnitOut(Output):
    id: str
    name: str
    kind: str | None = None
    head_name: str | None = None


class UnitChangeOut(Output):
    unit: UnitOut
    position: int


class UnitPage(Output):
    items: list[UnitOut]
    next_cursor: str | None = None


# ------------------------------------------------------------------ campaigns
class PolicyIn(Input):
    escalate_after: Duration = "P3D"
    resolution_sla: Duration = "P7D"
    stale_after: Duration = "P14D"


Factor = Annotated[Decimal, Field(ge=0, le=100, max_digits=10, decimal_places=4)]
RewardSlots = Annotated[int, Field(ge=0, le=100)]


class ScoringIn(Input):
    on_time: Factor = Decimal("1.0")
    late: Factor = Decimal("0.5")
    reward_slots: RewardSlots = 1


class PolicyPut(Input):
    """The campaign's whole timer policy (every field: this replaces it)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"escalate_after": "P3D", "resolution_sla": "P7D", "stale_after": "P14D"}]}
    )
    escalate_after: Duration = Field(description="Blocked this long: escalated to the Standing Committee")
    resolution_sla: Duration = Field(description="An open escalation is reminded every this long")
    stale_after: Duration = Field(description="No progress for this long: a stale reminder")


class ScoringPut(Input):
    """A new scoring scale, in force from `effective_at` (default: now)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"on_time": 1.0, "late": 0.7, "reward_slots": 2,
                                         "effective_at": "2022-07-01T00:00:00+07:00"}]}
    )
    on_time: Factor
    late: Factor
    reward_slots: RewardSlots
    effective_at: AwareDatetime | None = Field(
        default=None, description="From when the scale counts (ISO 8601 with offset); scoreboards as of an "
                                  "earlier time keep the scale in force then")


class CloseIn(Input):
    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "Kết thúc đợt thi đua năm 2022"}]})
    reason: OptionalText = None


class CampaignCreate(Input):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{
            "id": "vinh-yen-2022", "name": "Đợt cao điểm thi đua 2022", "starts_on": "2022-02-15",
            "ends_on": "2022-12-31", "timezone": "Asia/Ho_Chi_Minh",
            "policy": {"escalate_after": "P3D", "resolution_sla": "P7D", "stale_after": "P14D"},
            "scoring": {"on_time": 1.0, "late": 0.5, "reward_slots": 1},
        }]}
    )
    id: Id
    name: ShortText
    starts_on: date
    ends_on: date
    timezone: Annotated[str, Field(min_length=1, max_length=64)] = DEFAULT_TIMEZONE
    policy: PolicyIn | None = None
    scoring: ScoringIn | None = None


class PolicyOut(Output):
    escalate_after: str
    resolution_sla: str
    stale_after: str


class ScoringOut(Output):
    on_time: float
    late: float
    reward_slots: int


class ClusterOut(Output):
    cluster_id: str
    name: str
    head_unit_id: str
    deputy_unit_id: str
    member_unit_ids: list[str]


class DecisionOut(Output):
    number: str
    issued_on: date
    issuer: str
    title: str | None = None


class CampaignOut(Output):
    id: str
    name: str
    starts_on: date
    ends_on: date
    timezone: str
    policy: PolicyOut
    scoring: ScoringOut
    closed: bool = False


class CampaignChangeOut(Output):
    campaign: CampaignOut
    position: int


class CampaignPage(Output):
    items: list[CampaignOut]
    next_cursor: str | None = None


class ClusterPut(Input):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{
            "name": "Cụm 1: phường", "head_unit_id": "phuong-ngo-quyen", "deputy_unit_id": "phuong-dong-da",
            "member_unit_ids": ["phuong-lien-bao", "phuong-tich-son"],
        }]}
    )
    name: ShortText
    head_unit_id: Id
    deputy_unit_id: Id
    member_unit_ids: Annotated[list[Id], Field(default_factory=list, max_length=1000)]


class DecisionIn(Input):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"number": "934-QĐ/TU", "issued_on": "2022-02-15",
                                         "issuer": "Ban Thường vụ Thành ủy Vĩnh Yên",
                                         "title": "Giao chỉ tiêu, nhiệm vụ năm 2022"}]}
    )
    number: Annotated[str, Field(min_length=1, max_length=100)]
    issued_on: date
    issuer: ShortText
    title: Annotated[str, Field(max_length=500)] = ""


class BonusIn(Input):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"unit_id": "phuong-ngo-quyen", "points": 5,
                                         "reason": "Sáng kiến số hóa hồ sơ đất đai"}]}
    )
    unit_id: Id
    points: Annotated[Decimal, Field(ge=-10_000, le=10_000, max_digits=12, decimal_places=4,
                                     description="Positive: bonus; negative: deduction; never 0")]
    reason: Text


# ------------------------------------------------------------------ targets
class DecisionRef(Input):
    number: Annotated[str, Field(min_length=1, max_length=100)]
    issued_on: date
    issuer: ShortText
    title: Annotated[str, Field(max_length=500)] = ""


class MeasureIn(Input):
    kind: Annotated[str, Field(min_length=1, max_length=100)]
    goal: Annotated[Decimal, Field(ge=-1e12, le=1e12, max_digits=20, decimal_places=6)]
    unit: Annotated[str, Field(max_length=50)] = ""
    direction: Literal["up", "down"] = "up"


class AssignIn(Input):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{
            "key": "934-01", "unit_id": "phuong-ngo-quyen", "title": "Hoàn thành GPMB dự án đường Nguyễn Tất Thành",
            "area": "GPMB", "deadline": "2022-09-30", "points": 10,
            "decision": {"number": "934-QĐ/TU", "issued_on": "2022-02-15", "issuer": "BTV Thành ủy"},
        }]}
    )
    key: Annotated[str | None, Field(default=None, min_length=1, max_length=200,
                                     description="Names the target within the campaign: assigning the same key "
                                                 "again is a replay")] = None
    unit_id: Id
    title: Annotated[str, Field(min_length=1, max_length=500)]
    area: Annotated[str, Field(min_length=1, max_length=200)]
    deadline: date
    points: Points
    decision: DecisionRef | None = None
    measure: MeasureIn | None = None
    note: OptionalText = None


class StartIn(Input):
    note: OptionalText = None
    expected_version: ExpectedVersion = None


class ProgressIn(Input):
    model_config = ConfigDict(json_schema_extra={"examples": [{"percent": 60, "note": "Đã chi trả 60% hộ dân"}]})
    value: Annotated[Decimal | None, Field(default=None, ge=-1e12, le=1e12, max_digits=20, decimal_places=6)] = None
    percent: Annotated[Decimal | None, Field(default=None, ge=0, le=100, max_digits=7, decimal_places=4)] = None
    note: OptionalText = None
    expected_version: ExpectedVersion = None


class BlockIn(Input):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "reason": "Hộ dân chưa đồng ý phương án bồi thường", "help_needed": "BTV chỉ đạo phối hợp"}]})
    reason: Text
    help_needed: OptionalText = None
    expected_version: ExpectedVersion = None


class UnblockIn(Input):
    note: OptionalText = None
    expected_version: ExpectedVersion = None


class EscalateIn(Input):
    reason: OptionalText = None
    expected_version: ExpectedVersion = None


class ResolveIn(Input):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "directive": "Trung tâm Phát triển quỹ đất phối hợp giải quyết trong tháng 7",
        "new_deadline": "2022-10-31", "coordinating_unit_ids": ["trung-tam-phat-trien-quy-dat"]}]})
    directive: Text
    new_deadline: date | None = None
    reassign_to: Id | None = None
    coordinating_unit_ids: Annotated[list[Id], Field(default_factory=list, max_length=50)]
    expected_version: ExpectedVersion = None


class CompleteIn(Input):
    result: OptionalText = None
    evidence: OptionalText = None
    note: OptionalText = None
    expected_version: ExpectedVersion = None


class ReopenIn(Input):
    reason: Text
    expected_version: ExpectedVersion = None


class ExtendDeadlineIn(Input):
    new_deadline: date
    reason: Text
    decision: DecisionRef | None = None
    expected_version: ExpectedVersion = None


class ReassignIn(Input):
    unit_id: Id
    reason: Text
    expected_version: ExpectedVersion = None


class CancelIn(Input):
    reason: Text
    expected_version: ExpectedVersion = None


class EscalationInfo(Output):
    state: str
    trigger: str
    opened_at: datetime | None = None
    directive: str | None = None


class TargetOut(Output):
    id: str
    campaign_id: str
    unit_id: str
    title: str
    area: str
    deadline: date
    points: float
    status: TargetStatus
    overdue: bool
    report_class: ReportClassName
    version: int
    escalation: EscalationInfo | None = None
    updated_at: datetime | None = None


class TargetCommandOut(Output):
    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [{"target": {
        "id": "0b6f3c1e-2f4a-5c55-9d7e-2b8f1f0e8a11", "campaign_id": "vinh-yen-2022", "unit_id": "phuong-ngo-quyen",
        "title": "Hoàn thành GPMB", "area": "GPMB", "deadline": "2022-09-30", "points": 10.0,
        "status": "in_progress", "overdue": False, "report_class": "in_progress_within_deadline", "version": 2,
        "escalation": None, "updated_at": "2022-03-01T08:00:00+07:00"}, "position": 42}]})
    target: TargetOut
    position: int


class TargetPage(Output):
    items: list[TargetOut]
    next_cursor: str | None = None


class HistoryPage(Output):
    items: list[dict[str, Any]]
    next_cursor: str | None = None


class ImportRowError(Output):
    line: int
    key: str | None = None
    errors: list[dict[str, Any]]


class ImportResultOut(Output):
    created: int
    items: list[dict[str, Any]]
    position: int


# ------------------------------------------------------------------ scoreboard, escalations, audit
class Counts(Output):
    completed_on_time: int
    completed_late: int
    in_progress_within_deadline: int
    overdue: int
    blocked: int
    escalated: int
    cancelled: int


class UnitScoreOut(Output):
    unit_id: str
    name: str
    score: float
    max_score: float
    completion_rate: float
    rank: int
    reward_candidate: bool
    counts: Counts


class ClusterBoardOut(Output):
    cluster_id: str
    name: str
    units: list[UnitScoreOut]


class ScoreboardOut(Output):
    campaign_id: str
    as_of: datetime | None = None
    clusters: list[ClusterBoardOut]


class WhatIfIn(Input):
    model_config = ConfigDict(json_schema_extra={"examples": [{"scoring": {"on_time": 1.0, "late": 0.8,
                                                                           "reward_slots": 2}}]})
    scoring: ScoringIn
    cluster_id: Id | None = None


class EscalationOut(Output):
    target_id: str
    unit_id: str
    cluster_id: str | None = None
    state: Literal["open", "resolved"]
    trigger: Literal["auto", "requested"]
    opened_at: datetime
    resolved_at: datetime | None = None
    age_seconds: float | None = None
    sla_due_at: datetime | None = None
    reason: str | None = None
    directive: str | None = None


class EscalationPage(Output):
    items: list[EscalationOut]
    next_cursor: str | None = None


class AuditActor(Output):
    id: str
    name: str | None = None
    role: str | None = None


class AuditEntryOut(Output):
    position: int
    occurred_at: datetime
    actor: AuditActor
    aggregate_type: str
    aggregate_id: str
    event_type: str
    changes: Any = None
    reason: str | None = None
    command_id: str | None = None
    prev_hash: str
    hash: str


class AuditPage(Output):
    items: list[AuditEntryOut]
    next_cursor: str | None = None


class VerifyOut(Output):
    ok: bool
    checked: int
    head_hash: str | None = None
    first_bad_position: int | None = None


class HealthOut(Output):
    status: Literal["ok", "unavailable"]
    checks: dict[str, str]


# ------------------------------------------------------------------ query parameters
class PageQuery(Input):
    limit: Limit = 50
    cursor: Cursor = None
    min_position: MinPosition = None


class TargetListQuery(PageQuery):
    unit_id: Id | None = None
    cluster_id: Id | None = None
    status: TargetStatus | None = None
    report_class: ReportClassName | None = None
    overdue: bool | None = None


class ReadQuery(Input):
    min_position: MinPosition = None


class ScoreboardQuery(Input):
    cluster_id: Id | None = None
    as_of: AwareDatetime | None = Field(default=None, description="ISO 8601 with a UTC offset")
    format: Literal["json", "csv", "xlsx"] = "json"
    min_position: MinPosition = None


class EscalationQuery(PageQuery):
    state: Literal["open", "resolved", "all"] = "open"


class AuditQuery(PageQuery):
    target_id: Annotated[str | None, Field(default=None, max_length=100)] = None
    unit_id: Id | None = None
    actor_id: Id | None = None
    since: AwareDatetime | None = Field(default=None, description="ISO 8601 with a UTC offset")
    until: AwareDatetime | None = Field(default=None, description="ISO 8601 with a UTC offset")
