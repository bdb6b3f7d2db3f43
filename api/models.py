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
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, create_model

from thidua.domain.input_rules import EdgeRules

# The commands' argument models and types are declared with the commands.
from thidua.domain.lifecycle import AssignArgs, Id, OptionalText, ShortText, TargetCommand, Text, routed
from thidua.domain.values import DEFAULT_TIMEZONE, MIN_DURATION

# ------------------------------------------------------------------ building blocks

# Timers are armed at (some instant) + a policy duration: a duration beyond the calendar
# would overflow that sum inside every running workflow of the campaign.
MAX_POLICY_DURATION = timedelta(days=3660)


def _within_timer_range(value: str) -> str:
    if value.endswith(("T", "t")):
        raise ValueError("not an ISO 8601 duration: a time must follow 'T'")
    try:
        parsed = isodate.parse_duration(value)
    except OverflowError:
        raise ValueError("the duration is too long: at most P3660D (about 10 years)") from None
    except Exception:  # noqa: BLE001 - malformed: the domain names what is wrong with it
        return value
    if isinstance(parsed, timedelta) and parsed > MAX_POLICY_DURATION:
        raise ValueError("the duration is too long: at most P3660D (about 10 years)")
    if isinstance(parsed, timedelta) and timedelta(0) < parsed < MIN_DURATION:
        raise ValueError("the duration is too short: at least PT1S (one second)")
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
RoleName = Literal["secretariat", "standing_committee", "unit_head", "inspector"]
TargetStatus = Literal["assigned", "in_progress", "blocked", "escalated", "completed", "cancelled",
                       "awaiting_acceptance"]
ReportClassName = Literal["completed_on_time", "completed_late", "in_progress_within_deadline", "overdue",
                          "cancelled", "awaiting_acceptance"]


class Input(EdgeRules):
    """Every request body and query (target commands' bodies are `thidua.domain.lifecycle.Args`,
    which keep the same rules)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Output(BaseModel):
    """Every field a response carries is declared (no `additionalProperties`): what the
    schema says is what a generated client gets. An undeclared field fails the response."""

    model_config = ConfigDict(extra="forbid")


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


class PersonOut(UserOut):
    """A user as their own aggregate knows them (creation, activation, revocation answers)."""

    login: str | None = None
    email: str | None = None
    active: bool = Field(default=False, description="A password is set (the activation link was used)")
    revoked: bool = False


class ActivatedOut(PersonOut):
    position: int


class UserCreatedOut(PersonOut):
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


class UserRevokedOut(PersonOut):
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
    version: int | None = None
    updated_at: datetime | None = None


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
    acceptance_required: bool = False
    acceptance_sla: Duration = "P7D"


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
    acceptance_required: bool = Field(default=False, description="A completion the unit reports waits for the "
                                                                 "secretariat's acceptance (nghiệm thu) before it counts")
    acceptance_sla: Duration = Field(default="P7D", description="A completion waiting for acceptance is reminded "
                                                                "to the secretariat every this long")


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


class ReopenIn(Input):
    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "Gia hạn đợt thi đua đến hết quý I"}]})
    reason: Text = Field(description="Why the Standing Committee reopens the campaign (kept on the event)")


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
    acceptance_required: bool = False
    acceptance_sla: str = "P7D"


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
    issuer_level: str | None = Field(default=None, description="province, city, ward or unit (empty: not given)")
    parent_number: str | None = Field(default=None, description="The decision this one makes concrete")


class RewardFormOut(Output):
    # `for` is a Python keyword: the field is `for_`, read and written as `for` everywhere
    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)
    id: str
    name: str
    for_: Literal["collective", "individual"] = Field(alias="for")
    scope: Literal["cluster", "campaign"]
    max_awards: int
    min_score_ratio: float
    max_overdue: int
    max_late: int
    top_rank: int | None = None


class RulesOut(Output):
    effective_at: datetime
    forms: list[RewardFormOut]


class CampaignOut(Output):
    id: str
    name: str
    starts_on: date
    ends_on: date
    timezone: str
    policy: PolicyOut
    scoring: ScoringOut
    closed: bool = False
    clusters: list[ClusterOut] = Field(default_factory=list)
    decisions: list[DecisionOut] = Field(default_factory=list)
    rules: RulesOut | None = Field(default=None, description="The latest reward rules (none: reward_slots decide)")
    version: int | None = None
    updated_at: datetime | None = None


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


class IssuerIn(Input):
    level: Literal["province", "city", "ward", "unit"]
    name: ShortText


class DecisionIn(Input):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"number": "934-QĐ/TU", "issued_on": "2022-02-15",
                                         "issuer": "Ban Thường vụ Thành ủy Vĩnh Yên",
                                         "title": "Giao chỉ tiêu, nhiệm vụ năm 2022"}]}
    )
    number: Annotated[str, Field(min_length=1, max_length=100)]
    issued_on: date
    issuer: Annotated[IssuerIn | ShortText, Field(description="{level, name}; a name alone (older clients) "
                                                              "records no level")]
    title: Annotated[str, Field(max_length=500)] = ""
    parent_number: Annotated[str | None, Field(default=None, min_length=1, max_length=100,
                                               description="The registered decision this one makes concrete")] = None


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
class AssignIn(AssignArgs):
    """The body of an assignment (its arguments are declared with the command)."""


def command_request_model(command: TargetCommand) -> type[BaseModel]:
    """The request body of a target command route: the command's declared arguments
    plus `expected_version`."""
    name = "".join(part.title() for part in (command.segment or command.name).split("-")) + "In"
    return create_model(name, __base__=command.args, __module__=__name__, expected_version=(ExpectedVersion, None))


# One request model per routed command, derived from the declarations.
COMMAND_BODIES: dict[str, type[BaseModel]] = {c.name: command_request_model(c) for c in routed()}


class EscalationInfo(Output):
    state: Literal["open", "resolved"]
    trigger: Literal["auto", "requested"]
    opened_at: datetime | None = None
    directive: str | None = None
    number: int | None = Field(default=None, description="1 for the target's first escalation, then 2, ...")
    reason: str | None = None
    help_needed: str | None = None
    reminders: int | None = Field(default=None, description="Reminders sent while it waited past its SLA")
    last_reminded_at: datetime | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = Field(default=None, description="The user id of the member who resolved it")


class DecisionOnTarget(DecisionOut):
    """The registered decision a target cites (as the campaign records it)."""


class RollupOut(Output):
    children: int
    completed_on_time: int
    completed_late: int
    in_progress_within_deadline: int
    overdue: int
    cancelled: int
    open: int = Field(description="Children not yet completed or cancelled")
    percent: float | None = Field(description="Done, weighted by points (completed 100, open their last "
                                              "reported percent; cancelled children left out)")


class MeasureOut(Output):
    kind: str
    goal: float
    unit: str | None = None
    direction: Literal["up", "down"] = "up"


class UrgeOut(Output):
    body: str
    at: datetime
    by: str


class AcceptanceInfo(Output):
    reports: int = Field(description="How many times the unit reported completion")
    waiting: bool = Field(description="The last report waits for the secretariat's accept or return")
    reminders: int = Field(description="Reminders sent while the last report waits (every acceptance_sla)")
    return_reason: str | None = Field(default=None, description="Why the last returned report was returned")


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
    key: str | None = Field(default=None, description="Names the target within its campaign (assignment key)")
    deadline_at: datetime | None = Field(default=None, description="The deadline's last instant: 23:59:59 of "
                                                                    "`deadline` in the campaign's time zone")
    timezone: str | None = None
    percent: float | None = None
    measure: MeasureOut | None = None
    decision: DecisionOnTarget | None = None
    assigned_at: datetime | None = None
    blocked_at: datetime | None = None
    block_reason: str | None = None
    completed_at: datetime | None = None
    last_activity_at: datetime | None = None
    coordinating_unit_ids: list[str] = Field(default_factory=list)
    comment_count: int = Field(default=0, description="Comments, urges, directives and replies on the target")
    last_urge: "UrgeOut | None" = Field(default=None, description="The secretariat's latest urge (đôn đốc)")
    evidence_count: int = Field(default=0, description="Evidence files attached")
    evidence_sha256: list[str] = Field(default_factory=list,
                                       description="The evidence files the last completion named (digests)")
    parent_id: str | None = Field(default=None, description="The target this one makes concrete")
    rollup: RollupOut | None = Field(default=None, description="Its children by report class (only a parent)")
    acceptance: AcceptanceInfo | None = Field(default=None, description="The unit's reported completion and the "
                                                                        "secretariat's acceptance (null: none reported "
                                                                        "under a policy requiring acceptance)")
    restricted: bool = Field(default=False, description="True when the reader may not read this target's detail "
                                                         "(another unit's): only its public facts are shown")


class TargetCommandOut(Output):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"target": {
        "id": "0b6f3c1e-2f4a-5c55-9d7e-2b8f1f0e8a11", "campaign_id": "vinh-yen-2022", "unit_id": "phuong-ngo-quyen",
        "title": "Hoàn thành GPMB", "area": "GPMB", "deadline": "2022-09-30", "points": 10.0,
        "status": "in_progress", "overdue": False, "report_class": "in_progress_within_deadline", "version": 2,
        "escalation": None, "updated_at": "2022-03-01T08:00:00+07:00"}, "position": 42}]})
    target: TargetOut
    position: int


class CommandPendingOut(Output):
    """202: the command reached its target's workflow, but its outcome is not known yet
    (PostgreSQL or the worker did not answer in time). It is applied at most once, maybe
    later. Repeat the same request with the same Idempotency-Key to read the outcome."""

    status: Literal["pending"] = "pending"
    command_id: str
    detail: str


class TargetPage(Output):
    items: list[TargetOut]
    next_cursor: str | None = None


class ImportedOut(Output):
    key: str
    target_id: str
    position: int


class ImportResultOut(Output):
    created: int
    items: list[ImportedOut]
    position: int


class HistoryImportedOut(Output):
    key: str
    target_id: str
    events: int = Field(description="Events this import recorded on the target (0: all there already), its "
                                    "HistoryMigrated marker included")
    position: int


class HistoryImportOut(Output):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "import_id": "ho-so-2022", "rows": 3, "events": 4, "position": 812,
        "items": [{"key": "934-07", "target_id": "0b6f3c1e-2f4a-5c55-9d7e-2b8f1f0e8a11", "events": 4,
                   "position": 812}]}]})
    import_id: str
    rows: int
    events: int = Field(description="Events recorded by this request (0 when the import id was already imported)")
    items: list[HistoryImportedOut]
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
    awaiting_acceptance: int = Field(default=0, description="Reported completed, waiting for acceptance: not "
                                                            "counted as completed until accepted")


class UnitScoreOut(Output):
    unit_id: str
    name: str
    score: float
    max_score: float
    completion_rate: float
    rank: int = Field(description="Equal on score and completion rate, equal rank (1, 2, 2, 4)")
    reward_candidate: bool = Field(description="With reward rules: a candidate for some collective form; "
                                               "without: ranked within the scale's reward_slots")
    eligible_forms: list[str] = Field(default_factory=list,
                                      description="Ids of the collective forms the unit is a candidate for")
    counts: Counts
    bonus: float = Field(default=0.0, description="Bonuses minus deductions awarded by the Standing Committee")


class ClusterBoardOut(Output):
    cluster_id: str
    name: str
    units: list[UnitScoreOut]


class ScoreboardOut(Output):
    campaign_id: str
    as_of: datetime | None = None
    clusters: list[ClusterBoardOut]
    position: int | None = Field(default=None, description="The read models' position the board was computed at")
    scoring: ScoringOut | None = Field(default=None, description="The scale the board was computed under")


class WhatIfIn(Input):
    model_config = ConfigDict(json_schema_extra={"examples": [{"scoring": {"on_time": 1.0, "late": 0.8,
                                                                           "reward_slots": 2}}]})
    scoring: ScoringIn
    cluster_id: Id | None = None


class EscalationOut(Output):
    target_id: str
    campaign_id: str | None = None
    number: int | None = None
    help_needed: str | None = None
    reminders: int | None = None
    last_reminded_at: datetime | None = None
    resolved_by: str | None = None
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
    request_id: str | None = Field(
        default=None, description="The X-Request-ID of the request that stored the event (none for timers)")
    prev_hash: str
    hash: str
    aggregate_version: int | None = None
    recorded_at: datetime | None = Field(default=None, description="When the event was stored here")
    migrated: bool = Field(default=False, description="Brought from the old records by a history import: "
                                                      "`occurred_at` is when it happened there, `recorded_at` "
                                                      "when it was recorded here, and the actor id "
                                                      "`migrated:<user>` names who imported it")
    campaign_id: str | None = None
    target_id: str | None = None
    unit_id: str | None = None


class AuditPage(Output):
    items: list[AuditEntryOut]
    next_cursor: str | None = None


class HistoryPage(Output):
    items: list[AuditEntryOut]
    next_cursor: str | None = None


class BadFileOut(Output):
    sha256: str
    position: int = Field(description="The EvidenceAttached event that references the file")
    problem: Literal["missing", "changed"]


class FilesVerifyOut(Output):
    checked: int = Field(description="Evidence files referenced by the event store and re-hashed")
    bad: list[BadFileOut] = Field(default_factory=list)


class VerifyOut(Output):
    ok: bool
    checked: int
    head_hash: str | None = None
    first_bad_position: int | None = None
    files: FilesVerifyOut | None = Field(default=None, description="Every evidence file an event references is "
                                                                   "present and hashes to its digest")


class StoppedReadModelOut(Output):
    """A read model stopped at an event it cannot apply; the others go on."""

    read_model: str
    position: int = Field(description="the event it cannot apply")
    aggregate_id: str | None = None
    aggregate_version: int | None = None
    event_type: str | None = None
    reason: str
    stopped_at: datetime


class ProcessHealthOut(Output):
    """A worker or projector process, from its heartbeat (thidua.heartbeats)."""

    kind: Literal["worker", "projector"]
    id: str
    host: str
    pid: int
    state: Literal["alive", "stale", "stuck"] = Field(
        description="alive: beating; stale: no beat for four intervals (hung, or killed); "
                    "stuck: beating, but no activity thread has been free since `stuck_since`")
    started_at: datetime
    beat_at: datetime
    stuck_since: datetime | None = None


class HealthOut(Output):
    status: Literal["ok", "degraded", "unavailable"]
    checks: dict[str, str]
    stopped_read_models: list[StoppedReadModelOut] = []
    processes: list[ProcessHealthOut] = []


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


# ------------------------------------------------------------------ decisions and the cascade
class IssuerOut(Output):
    level: str | None = None
    name: str


class DecisionEntryOut(Output):
    number: str
    issued_on: date
    issuer: IssuerOut
    title: str
    parent_number: str | None = None


class DecisionListOut(Output):
    campaign_id: str
    items: list[DecisionEntryOut]


class TargetNodeOut(TargetOut):
    children: list[TargetOut] = Field(default_factory=list)


class DecisionTreeOut(Output):
    campaign_id: str
    decision: DecisionEntryOut
    targets: list[TargetNodeOut]


class ParentTargetsOut(Output):
    campaign_id: str
    items: list[TargetOut]
