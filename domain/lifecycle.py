"""The target lifecycle, declared once.

Each command of a target is one `TargetCommand`: its name, the past-tense event it
records, its argument model, the states it may start from and the state it leads to,
who may issue it, what it does to an escalation and, for the ones people issue, the
URL segment of its route. Everything else is derived from these declarations:

- the aggregate's guards (`Target` methods are wrapped by `handles(...)`, which checks
  the replay, who, the from-state and the expected version before the method body
  records its event);
- the workflow's update validator and the encoding of arguments across Temporal;
- the API's request models, routes and their OpenAPI summaries, and the page forms;
- the lifecycle table in docs/architecture.md (`lifecycle_table()`, kept in step by a test).

Adding a command = one declaration here + its method on `Target`.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AfterValidator, AwareDatetime, ConfigDict, Field, ValidationError

from thidua.domain.commandlog import event_meta, fingerprint
from thidua.domain.errors import BadInput, InvalidTransition, NotAllowed
from thidua.domain.input_rules import EdgeRules
from thidua.domain.permissions import OWNER, READER, Who, allows, roles_of
from thidua.domain.values import OPEN_STATES, Actor, Command, Decision, DecisionCitation, Measure, Role, Status

# ------------------------------------------------------------------ argument types
Id = Annotated[str, Field(min_length=1, max_length=100, examples=["phuong-ngo-quyen"])]
ShortText = Annotated[str, Field(min_length=1, max_length=300)]
Text = Annotated[str, Field(min_length=1, max_length=4000)]
OptionalText = Annotated[str | None, Field(default=None, max_length=4000)]
Points = Annotated[Decimal, Field(ge=0, le=1_000_000, max_digits=14, decimal_places=4, examples=[10])]


def _utc(value: datetime) -> datetime:
    """One representation for instants that feed fingerprints (retries must match)."""
    return value.astimezone(timezone.utc)


Instant = Annotated[AwareDatetime, AfterValidator(_utc)]


class Args(EdgeRules):
    """The arguments of one command. Unknown fields are refused, text is trimmed (and
    kept to the rules of every request: thidua.domain.input_rules)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    def kwargs(self) -> dict[str, Any]:
        """The keyword arguments of the domain method (value objects as the domain's)."""
        return {name: value.to_value() if isinstance(value, ValueArgs) else value for name, value in self}


class ValueArgs(Args):
    """An argument that is a domain value object (given as a dict or as that object)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, from_attributes=True)

    def to_value(self) -> Any:  # pragma: no cover - every subclass defines it
        raise NotImplementedError


class DecisionRef(ValueArgs):
    number: Annotated[str, Field(min_length=1, max_length=100)]
    issued_on: date
    issuer: ShortText
    title: Annotated[str, Field(max_length=500)] = ""

    def to_value(self) -> Decision:
        return Decision(number=self.number, issued_on=self.issued_on, issuer=self.issuer, title=self.title)


class DecisionCitationArgs(ValueArgs):
    """A target's decision, named by its number in the campaign's registry; the other
    fields, when given, must match the registered decision (checked at assignment)."""

    number: Annotated[str, Field(min_length=1, max_length=100)]
    issued_on: date | None = None
    issuer: Annotated[str | None, Field(default=None, min_length=1, max_length=300,
                                        description="The issuer's name")] = None
    title: Annotated[str | None, Field(default=None, max_length=500)] = None

    def to_value(self) -> DecisionCitation:
        return DecisionCitation(number=self.number, issued_on=self.issued_on, issuer=self.issuer, title=self.title)


class MeasureArgs(ValueArgs):
    kind: Annotated[str, Field(min_length=1, max_length=100)]
    goal: Annotated[Decimal, Field(ge=-1e12, le=1e12, max_digits=20, decimal_places=6)]
    unit: Annotated[str, Field(max_length=50)] = ""
    direction: Literal["up", "down"] = "up"

    def to_value(self) -> Measure:
        return Measure(kind=self.kind, goal=self.goal, unit=self.unit, direction=self.direction)


class AssignArgs(Args):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "key": "934-01", "unit_id": "phuong-ngo-quyen", "title": "Hoàn thành GPMB dự án đường Nguyễn Tất Thành",
        "area": "GPMB", "deadline": "2022-09-30", "points": 10,
        "decision": {"number": "934-QĐ/TU", "issued_on": "2022-02-15", "issuer": "BTV Thành ủy"},
    }]})
    key: Annotated[str | None, Field(default=None, min_length=1, max_length=200,
                                     description="Names the target within the campaign: assigning the same key "
                                                 "again is a replay")] = None
    unit_id: Id
    title: Annotated[str, Field(min_length=1, max_length=500)]
    area: Annotated[str, Field(min_length=1, max_length=200)]
    deadline: date
    points: Points
    decision: DecisionCitationArgs | None = None
    measure: MeasureArgs | None = None
    note: OptionalText = None
    parent_id: Annotated[UUID | None, Field(default=None, description="The target this one makes concrete (its "
                                                                      "parent, of the same campaign)")] = None
    coordinating_unit_ids: Annotated[list[Id], Field(
        default_factory=list, max_length=50,
        description="Registered units told to coordinate from the start: their heads read the target and "
                    "comment on it (a resolution may name more)")]


class StartArgs(Args):
    note: OptionalText = None


class ProgressArgs(Args):
    model_config = ConfigDict(json_schema_extra={"examples": [{"percent": 60, "note": "Đã chi trả 60% hộ dân"}]})
    value: Annotated[Decimal | None, Field(default=None, ge=-1e12, le=1e12, max_digits=20, decimal_places=6)] = None
    percent: Annotated[Decimal | None, Field(default=None, ge=0, le=100, max_digits=7, decimal_places=4)] = None
    note: OptionalText = None


class BlockArgs(Args):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "reason": "Hộ dân chưa đồng ý phương án bồi thường", "help_needed": "BTV chỉ đạo phối hợp"}]})
    reason: Text
    help_needed: OptionalText = None


class UnblockArgs(Args):
    note: OptionalText = None


class EscalateArgs(Args):
    reason: OptionalText = None


class ResolveArgs(Args):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "directive": "Trung tâm Phát triển quỹ đất phối hợp giải quyết trong tháng 7",
        "new_deadline": "2022-10-31", "coordinating_unit_ids": ["trung-tam-phat-trien-quy-dat"]}]})
    directive: Text
    new_deadline: date | None = None
    reassign_to: Id | None = None
    coordinating_unit_ids: Annotated[list[Id], Field(default_factory=list, max_length=50)]


Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$", description="sha256 of a file's bytes, lower-case hex",
                               examples=["9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"])]


class CompleteArgs(Args):
    result: OptionalText = None
    evidence: OptionalText = None
    note: OptionalText = None
    evidence_sha256: Annotated[list[Sha256] | None, Field(
        default=None, max_length=100,
        description="Evidence files this completion rests on: digests of files attached to the target")] = None


# ------------------------------------------------------------------ the paper trail
# Who may write which kind of comment (DESIGN.md "The paper trail of a target").
# READER: whoever may read the target's detail and may write (not inspectors).
CommentKind = Literal["comment", "reply", "urge", "directive"]
COMMENT_KINDS: dict[str, frozenset[Role | str]] = {
    "comment": frozenset({Role.SECRETARIAT, Role.STANDING_COMMITTEE, READER}),
    "reply": frozenset({Role.SECRETARIAT, Role.STANDING_COMMITTEE, READER}),
    "urge": frozenset({Role.SECRETARIAT}),  # đôn đốc
    "directive": frozenset({Role.STANDING_COMMITTEE}),  # chỉ đạo
}
MAX_COMMENT_LENGTH = 4000


def comment_kinds_for(actor: Actor, owning_unit_id: str | None, readers: Any = ()) -> list[str]:
    """The kinds of comment this person may write on a target (the page's choices)."""
    return [kind for kind, who in COMMENT_KINDS.items() if allows(who, actor, owning_unit_id, readers)]


class CommentArgs(Args):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "kind": "urge", "body": "Đề nghị đơn vị báo cáo kết quả trước ngày 30/6/2022"}]})
    kind: CommentKind
    body: Annotated[str, Field(min_length=1, max_length=MAX_COMMENT_LENGTH)]


# The file types evidence may have (sniffed from the bytes, never from the name).
EVIDENCE_TYPES = frozenset({
    "application/pdf", "image/png", "image/jpeg", "image/webp",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.oasis.opendocument.text", "application/vnd.oasis.opendocument.spreadsheet",
    "application/vnd.oasis.opendocument.presentation",
    "application/msword", "application/vnd.ms-excel", "application/vnd.ms-powerpoint",
})


class EvidenceArgs(Args):
    sha256: Sha256
    name: Annotated[str, Field(min_length=1, max_length=255)]
    size: Annotated[int, Field(ge=1)]
    content_type: Annotated[str, Field(min_length=1, max_length=200)]


class ReasonArgs(Args):
    reason: Text


class ExtendDeadlineArgs(Args):
    new_deadline: date
    reason: Text
    decision: DecisionRef | None = None


class ReassignArgs(Args):
    unit_id: Id
    reason: Text


class AcceptArgs(Args):
    model_config = ConfigDict(json_schema_extra={"examples": [{"note": "Đã đối chiếu minh chứng, đạt yêu cầu"}]})
    note: OptionalText = None


class ReturnArgs(Args):
    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "Thiếu biên bản bàn giao mặt bằng"}]})
    reason: Text


class RemindAcceptanceArgs(Args):
    report_no: int
    reminder_no: int


class AutoEscalateArgs(Args):
    block_no: int


class RemindEscalationArgs(Args):
    escalation_no: int
    reminder_no: int


class MarkOverdueArgs(Args):
    deadline_at: Instant


class RemindStaleArgs(Args):
    since: Instant


class ChildOutcomeArgs(Args):
    """One closed child of a parent target: the event that closed it (its position)."""

    target_id: UUID
    position: Annotated[int, Field(ge=1)]
    report_class: Literal["completed_on_time", "completed_late", "cancelled"]


class CompleteByChildrenArgs(Args):
    late: bool
    children: Annotated[list[ChildOutcomeArgs], Field(min_length=1, max_length=100_000)]

    def kwargs(self) -> dict[str, Any]:
        return {"late": self.late, "children": [c.model_dump(mode="json") for c in self.children]}


class ReopenByChildArgs(Args):
    child_id: UUID
    position: Annotated[int, Field(ge=1, description="The position of the child's reopening event")]

    def kwargs(self) -> dict[str, Any]:
        return {"child_id": str(self.child_id), "position": self.position}


# ------------------------------------------------------------------ the declaration
Escalation = Literal["opens", "reminds", "closes"] | None


@dataclass(frozen=True)
class TargetCommand:
    """One row of the lifecycle table."""

    name: str
    event: str
    args: type[Args]
    from_states: frozenset[Status]
    who: Who
    summary: str
    to_state: Status | None = None  # None: the status stays as it is
    segment: str | None = None  # /v1/targets/{tid}/<segment>; None: not a route of its own
    escalation: Escalation = None
    unit_fields: tuple[str, ...] = ()  # arguments naming units that must be registered
    # Its route and page form are written by hand (api/routes/paper.py), not built from
    # this declaration: a multipart upload, or a `who` that depends on the comment's kind.
    own_route: bool = False
    # Fields of the campaign's policy the command reads (given to the method by whoever
    # applies it, from the campaign as it is then; not part of the command's fingerprint).
    policy_fields: tuple[str, ...] = ()

    # ---------------------------------------------------------------- who
    @property
    def roles(self) -> frozenset[Role]:
        """Roles that may issue it on some target (unit heads: on their own unit's)."""
        return roles_of(self.who)

    @property
    def by_timer(self) -> bool:
        return self.who == frozenset({Role.SYSTEM})

    def allows(self, actor: Actor, owning_unit_id: str | None, readers: Any = ()) -> bool:
        """`readers`: see thidua.domain.permissions.allows (None: not known here)."""
        return allows(self.who, actor, owning_unit_id, readers)

    def check_allowed(self, actor: Actor, owning_unit_id: str | None, readers: Any = None) -> None:
        if not self.allows(actor, owning_unit_id, readers):
            raise NotAllowed(
                f"{actor.role} {actor.id!r} may not {self.name} a target of unit {owning_unit_id!r}",
                command=self.name, role=str(actor.role),
            )

    # ---------------------------------------------------------------- when
    def check_from(self, status: Status | str) -> None:
        if Status(status) not in self.from_states:
            raise InvalidTransition(self.name, str(status))

    def available(self, actor: Actor, owning_unit_id: str | None, status: Status | str, readers: Any = ()) -> bool:
        """May this person issue it now? (what the pages offer)"""
        return Status(status) in self.from_states and self.allows(actor, owning_unit_id, readers)

    # ---------------------------------------------------------------- arguments
    def parse(self, raw: Mapping[str, Any] | Args | None) -> Args:
        """The validated arguments; a bad one is a BadInput naming its field."""
        if isinstance(raw, self.args):
            return raw
        try:
            return self.args.model_validate(dict(raw or {}))
        except ValidationError as exc:
            error = exc.errors()[0]
            field = ".".join(str(part) for part in error["loc"]) or "body"
            raise BadInput(f"{field}: {error['msg']}", field=field) from None

    def encode(self, raw: Mapping[str, Any] | Args | None) -> dict[str, Any]:
        """JSON-safe arguments for the trip through Temporal (numbers as decimal strings)."""
        return self.parse(raw).model_dump(mode="json", exclude_none=True)

    def decode(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """The domain method's keyword arguments from `encode`'s output."""
        return self.parse(data).kwargs()


_WORKING = frozenset({Status.ASSIGNED, Status.IN_PROGRESS})
_SEC_SC = frozenset({Role.SECRETARIAT, Role.STANDING_COMMITTEE})
_SC = frozenset({Role.STANDING_COMMITTEE})
_OWNER = frozenset({OWNER})
_SYSTEM = frozenset({Role.SYSTEM})
_READERS = frozenset().union(*COMMENT_KINDS.values())
# A cancelled target is a closed record: nothing more is said on it.
_NOT_CANCELLED = frozenset(Status) - {Status.CANCELLED}

ASSIGN = TargetCommand(
    "assign", "Assigned", AssignArgs, frozenset(), _SEC_SC, "Assign a target to a unit",
    to_state=Status.ASSIGNED, unit_fields=("unit_id", "coordinating_unit_ids"))
START = TargetCommand(
    "start", "Started", StartArgs, frozenset({Status.ASSIGNED}), _OWNER,
    "Start work on the target (owning unit)", to_state=Status.IN_PROGRESS, segment="start")
REPORT_PROGRESS = TargetCommand(
    "report_progress", "ProgressReported", ProgressArgs, _WORKING, _OWNER,
    "Report progress (owning unit)", to_state=Status.IN_PROGRESS, segment="progress")
BLOCK = TargetCommand(
    "block", "Blocked", BlockArgs, _WORKING, _OWNER,
    "Report an obstacle (owning unit)", to_state=Status.BLOCKED, segment="block")
UNBLOCK = TargetCommand(
    "unblock", "Unblocked", UnblockArgs, frozenset({Status.BLOCKED}), _OWNER,
    "The obstacle is gone (owning unit)", to_state=Status.IN_PROGRESS, segment="unblock")
ESCALATE = TargetCommand(
    "escalate", "Escalated", EscalateArgs, frozenset({Status.BLOCKED}), _OWNER,
    "Ask the Standing Committee to remove the obstacle (owning unit)", to_state=Status.ESCALATED,
    segment="escalate", escalation="opens")
RESOLVE = TargetCommand(
    "resolve", "Resolved", ResolveArgs, frozenset({Status.ESCALATED}), _SC,
    "Resolve an escalation with a directive (Standing Committee)", to_state=Status.IN_PROGRESS,
    segment="resolve", escalation="closes", unit_fields=("reassign_to", "coordinating_unit_ids"))
COMPLETE = TargetCommand(
    "complete", "Completed", CompleteArgs, _WORKING, _OWNER,
    "Report completion with evidence (owning unit); with the policy's `acceptance_required` it waits "
    "for acceptance (event CompletionReported, status awaiting_acceptance)", to_state=Status.COMPLETED,
    segment="complete", policy_fields=("acceptance_required",))
REOPEN = TargetCommand(
    "reopen", "Reopened", ReasonArgs, frozenset({Status.COMPLETED}), _SEC_SC,
    "Reopen a completed target (secretariat, Standing Committee)", to_state=Status.IN_PROGRESS, segment="reopen")
EXTEND_DEADLINE = TargetCommand(
    "extend_deadline", "DeadlineExtended", ExtendDeadlineArgs, OPEN_STATES, _SC,
    "Extend the deadline (Standing Committee)", segment="extend-deadline")
REASSIGN = TargetCommand(
    "reassign", "Reassigned", ReassignArgs, OPEN_STATES, _SEC_SC,
    "Give the target to another unit (secretariat, Standing Committee)", segment="reassign", unit_fields=("unit_id",))
CANCEL = TargetCommand(
    "cancel", "Cancelled", ReasonArgs, OPEN_STATES, _SEC_SC,
    "Cancel the target (secretariat, Standing Committee)", to_state=Status.CANCELLED, segment="cancel",
    escalation="closes")
_AWAITING = frozenset({Status.AWAITING_ACCEPTANCE})
_SEC = frozenset({Role.SECRETARIAT})
ACCEPT = TargetCommand(
    "accept", "Accepted", AcceptArgs, _AWAITING, _SEC,
    "Accept a reported completion (secretariat): it counts, on time or late as judged at the unit's report",
    to_state=Status.COMPLETED, segment="accept")
RETURN = TargetCommand(
    "return_completion", "Returned", ReturnArgs, _AWAITING, _SEC,
    "Return a reported completion with the reason (secretariat): the target is back in progress",
    to_state=Status.IN_PROGRESS, segment="return")
AUTO_ESCALATE = TargetCommand(
    "auto_escalate", "Escalated", AutoEscalateArgs, frozenset({Status.BLOCKED}), _SYSTEM,
    "Timer: still blocked `escalate_after` after the block", to_state=Status.ESCALATED, escalation="opens")
REMIND_ESCALATION = TargetCommand(
    "remind_escalation", "EscalationReminded", RemindEscalationArgs, frozenset({Status.ESCALATED}), _SYSTEM,
    "Timer: the escalation has waited another `resolution_sla`", escalation="reminds")
REMIND_ACCEPTANCE = TargetCommand(
    "remind_acceptance", "AcceptanceReminded", RemindAcceptanceArgs, _AWAITING, _SYSTEM,
    "Timer: a reported completion has waited another `acceptance_sla` for acceptance")
MARK_OVERDUE = TargetCommand(
    "mark_overdue", "DeadlinePassed", MarkOverdueArgs, OPEN_STATES, _SYSTEM,
    "Timer: the deadline passed while the target is open (flag `overdue`)")
REMIND_STALE = TargetCommand(
    "remind_stale", "StaleReminded", RemindStaleArgs, _WORKING, _SYSTEM,
    "Timer: no progress for the policy's `stale_after`")
COMMENT = TargetCommand(
    "comment", "Commented", CommentArgs, _NOT_CANCELLED, _READERS,
    "Comment, urge (secretariat), direct (Standing Committee) or reply on a target", segment="comments",
    own_route=True)
ATTACH_EVIDENCE = TargetCommand(
    "attach_evidence", "EvidenceAttached", EvidenceArgs, OPEN_STATES, _OWNER,
    "Attach an evidence file (owning unit; multipart upload)", segment="evidence", own_route=True)

# The cascade (thidua.workflows.cascade): a parent target follows its children.
COMPLETE_BY_CHILDREN = TargetCommand(
    "complete_by_children", "CompletedByChildren", CompleteByChildrenArgs, OPEN_STATES, _SYSTEM,
    "Cascade: the last open child completed (late if any child was late)", to_state=Status.COMPLETED,
    escalation="closes")
REOPEN_BY_CHILD = TargetCommand(
    "reopen_by_child", "ReopenedByChild", ReopenByChildArgs, frozenset({Status.COMPLETED}), _SYSTEM,
    "Cascade: a child of the completed parent was reopened", to_state=Status.IN_PROGRESS)

# Every command of a target, in the order of the lifecycle table.
COMMANDS: dict[str, TargetCommand] = {c.name: c for c in (
    ASSIGN, START, REPORT_PROGRESS, BLOCK, UNBLOCK, ESCALATE, RESOLVE, COMPLETE, ACCEPT, RETURN, REOPEN,
    EXTEND_DEADLINE, REASSIGN, CANCEL, AUTO_ESCALATE, REMIND_ESCALATION, REMIND_ACCEPTANCE, MARK_OVERDUE,
    REMIND_STALE, COMMENT, ATTACH_EVIDENCE, COMPLETE_BY_CHILDREN, REOPEN_BY_CHILD,
)}
# The commands the cascade issues to a parent's workflow (as `system`).
CASCADE_COMMANDS: dict[str, TargetCommand] = {c.name: c for c in (COMPLETE_BY_CHILDREN, REOPEN_BY_CHILD)}


def routed(commands: Mapping[str, TargetCommand] = COMMANDS) -> list[TargetCommand]:
    """The commands people issue on an existing target, each at its own route."""
    return [c for c in commands.values() if c.segment is not None]


def command_named(name: str, commands: Mapping[str, TargetCommand] = COMMANDS) -> TargetCommand:
    spec = commands.get(name)
    if spec is None:
        raise BadInput(f"unknown command {name!r}; expected one of {', '.join(commands)}", field="command")
    return spec


def generic_routes(commands: Mapping[str, TargetCommand] = COMMANDS) -> list[TargetCommand]:
    """The routed commands whose route and form are built from the declaration alone."""
    return [c for c in routed(commands) if not c.own_route]


def available_commands(actor: Actor, owning_unit_id: str, status: Status | str,
                       commands: Iterable[TargetCommand] | None = None) -> list[TargetCommand]:
    """The commands this person may issue on a target in this state, now (the generic
    forms; comments and evidence have forms of their own)."""
    return [c for c in (generic_routes() if commands is None else commands)
            if c.available(actor, owning_unit_id, status)]


# ------------------------------------------------------------------ the aggregate's guards
Meta = dict[str, Any]  # who, when, command id, fingerprint: what every event records


def handles(spec: TargetCommand) -> Callable[[Callable[..., None]], Callable[..., bool]]:
    """Make `body(self, meta, **args)` the aggregate method of command `spec`.

    The method people call is `method(cmd, **args, expected_version=None) -> bool`:
    a command id already applied with the same arguments is a replay (False, nothing
    recorded); otherwise who, the from-state and the expected version are checked
    against the declaration, then `body` checks its own rules and records the event
    with `meta` (who, when, command id, fingerprint of the arguments)."""

    def decorate(body: Callable[..., None]) -> Callable[..., bool]:
        signature = inspect.signature(body)

        def payload_of(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
            bound = signature.bind(None, None, *args, **kwargs)
            bound.apply_defaults()
            return {k: v for k, v in list(bound.arguments.items())[2:] if k not in spec.policy_fields}

        @functools.wraps(body)
        def method(self: Any, cmd: Command, *args: Any, expected_version: int | None = None,
                   audience: Collection[str] = (), **kwargs: Any) -> bool:
            policy = {name: kwargs.pop(name) for name in spec.policy_fields if name in kwargs}
            payload = payload_of(args, kwargs)
            fp = fingerprint(spec.name, **payload)
            if self.is_replay(cmd, fp):
                return False
            spec.check_allowed(cmd.actor, self.unit_id, self.readers(audience))
            spec.check_from(self.status)
            self.check_version(expected_version)
            body(self, event_meta(cmd, fp), **payload, **policy)
            return True

        method.command = spec  # type: ignore[attr-defined]
        # What a call with these arguments is remembered by (to tell a replay from a reuse).
        method.fingerprint_of = lambda *a, **kw: fingerprint(spec.name, **payload_of(a, kw))  # type: ignore[attr-defined]
        return method

    return decorate


# ------------------------------------------------------------------ the table, for the docs
_WHO_NAMES = {OWNER: "owning unit", READER: "unit heads who may read it", Role.SECRETARIAT: "secretariat",
              Role.STANDING_COMMITTEE: "standing_committee", Role.SYSTEM: "system"}


def lifecycle_table(commands: Mapping[str, TargetCommand] = COMMANDS) -> str:
    """The lifecycle table as Markdown (docs/architecture.md embeds it)."""
    rows = ["| command | route | from | to | who | event | escalation |", "|---|---|---|---|---|---|---|"]
    for c in commands.values():
        frm = "(new)" if not c.from_states else (
            "any open" if c.from_states == OPEN_STATES else ", ".join(sorted(str(s) for s in c.from_states)))
        to = str(c.to_state) if c.to_state else "same"
        who = ", ".join(sorted(_WHO_NAMES[w] for w in c.who))
        route = f"`POST /v1/targets/{{tid}}/{c.segment}`" if c.segment else (
            "`POST /v1/campaigns/{cid}/targets`" if c is commands.get("assign") else "—")
        fields = ", ".join(
            f"{n}" if f.is_required() else f"{n}?" for n, f in c.args.model_fields.items())
        rows.append(f"| {c.name} ({fields}) | {route} | {frm} | {to} | {who} | {c.event} | {c.escalation or ''} |")
    return "\n".join(rows) + "\n"
