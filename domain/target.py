"""The Target aggregate: one assigned piece of work (chỉ tiêu / nhiệm vụ).

Each public command method reads like a row of the lifecycle table in DESIGN.md:
answer a replayed command id with the current state, check who may do it, check
the from-state, check the input, then record one past-tense event. The private
`@event` methods only change state, so replaying stored events never re-checks
rules that may since have changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any, ClassVar
from uuid import UUID, NAMESPACE_URL, uuid5

from eventsourcing.domain import Aggregate, event

from thidua.domain.commandlog import CommandLog, check_key, event_meta, fingerprint, optional_text, require_text
from thidua.domain.errors import BadInput, CommandIdReused, InvalidTransition, NotAllowed, VersionConflict
from thidua.domain import lifecycle as lc
from thidua.domain.lifecycle import Meta, handles
from thidua.domain.permissions import check_may
from thidua.domain.values import (
    OPEN_STATES,
    Actor,
    Command,
    Decision,
    EscalationState,
    Measure,
    ReportClass,
    Status,
    Trigger,
    check_date,
    end_of_day,
    to_decimal,
)

NAMESPACE = uuid5(NAMESPACE_URL, "https://thidua.example/targets")
MAX_TITLE = 500
MAX_POINTS = Decimal("1000000")


def target_id_for(campaign_id: str, key: str) -> UUID:
    """Assignment is idempotent by (campaign, key): the same key names the same target."""
    return uuid5(NAMESPACE, f"{campaign_id}\x1f{key}")


# The events that put a target in a unit, and the attribute naming it (a None there
# leaves the target where it was). The mutators below are the rule; this names it for
# readers that follow a target's unit through stored events without replaying them
# (the rebuild of the audit trail); a unit test checks the two agree.
UNIT_SET_BY = {"Assigned": "unit_id", "Reassigned": "unit_id", "Resolved": "reassign_to"}


def unit_after(event_name: str, attributes: Mapping[str, Any], unit_before: str | None) -> str | None:
    """The target's unit after an event named `event_name` with these attributes."""
    name = UNIT_SET_BY.get(event_name)
    if name is None:
        return unit_before
    unit = attributes.get(name)
    return unit if unit is not None else unit_before


def _check_points(points: Any) -> Decimal:
    value = to_decimal(points, "points")
    if value < 0 or value > MAX_POINTS:
        raise BadInput(f"points must be between 0 and {MAX_POINTS}", field="points")
    return value


def _check_date(value: Any, field: str) -> date:
    return check_date(value, field)


class Target(CommandLog, Aggregate):
    """An assigned target and its lifecycle."""

    # The paper trail (comments, evidence files). Class-level defaults, never mutated in
    # place: every mutator assigns a new value.
    comment_count: ClassVar[int] = 0
    last_urge: ClassVar[dict[str, Any] | None] = None
    evidence_files: ClassVar[Mapping[str, dict[str, Any]]] = MappingProxyType({})  # sha256 -> name, size, type, when
    evidence_sha256: ClassVar[tuple[str, ...]] = ()  # what the last completion named

    @staticmethod
    def create_id(campaign_id: str, key: str) -> UUID:  # type: ignore[override]
        return target_id_for(campaign_id, key)

    # ------------------------------------------------------------------ assign
    @classmethod
    def assign(
        cls,
        cmd: Command,
        *,
        campaign_id: str,
        unit_id: str,
        title: str,
        area: str,
        deadline: date,
        points: Decimal | int | str,
        timezone: str,
        key: str | None = None,
        decision: Decision | None = None,
        measure: Measure | None = None,
        note: str | None = None,
        parent_id: UUID | str | None = None,
        coordinating_unit_ids: list[str] | tuple[str, ...] = (),
    ) -> Target:
        """Create a target. `key` defaults to the command id, so a retried
        assignment names the same target either way. `parent_id` (checked by the caller:
        a target of the same campaign) makes it a child whose outcome rolls up there."""
        lc.ASSIGN.check_allowed(cmd.actor, unit_id)
        payload = cls.assignment_payload(
            campaign_id=campaign_id, unit_id=unit_id, title=title, area=area,
            deadline=deadline, points=points, timezone=timezone, key=key or cmd.id,
            decision=decision, measure=measure, note=note, parent_id=parent_id,
            coordinating_unit_ids=coordinating_unit_ids,
        )
        if payload.get("parent_id") == str(target_id_for(payload["campaign_id"], payload["key"])):
            raise BadInput("a target cannot be its own parent", field="parent_id")
        fp = fingerprint("assign", **payload)
        deadline_at = end_of_day(payload["deadline"], timezone)
        return cls(
            **payload,
            deadline_at=deadline_at,
            **event_meta(cmd, fp),
        )

    @staticmethod
    def assignment_payload(**kw: Any) -> dict[str, Any]:
        """Validated assignment arguments; also what `assign` fingerprints (a parent and
        coordinating units only when there are some, so assignments made before either
        existed replay the same)."""
        parent = kw.get("parent_id")
        coordinating = list(dict.fromkeys(kw.get("coordinating_unit_ids") or ()))
        for unit in coordinating:
            require_text(unit, "coordinating_unit_ids", max_len=100)
        return ({"parent_id": str(parent)} if parent is not None else {}) | (
            {"coordinating_unit_ids": coordinating} if coordinating else {}) | {
            "campaign_id": require_text(kw["campaign_id"], "campaign_id", max_len=100),
            "key": require_text(check_key(kw["key"], "key"), "key", max_len=200),
            "unit_id": require_text(kw["unit_id"], "unit_id", max_len=100),
            "title": require_text(kw["title"], "title", max_len=MAX_TITLE),
            "area": require_text(kw["area"], "area", max_len=200),
            "deadline": _check_date(kw["deadline"], "deadline"),
            "points": _check_points(kw["points"]),
            "timezone": kw["timezone"],
            "decision": kw.get("decision").to_dict() if kw.get("decision") else None,
            "measure": kw.get("measure").to_dict() if kw.get("measure") else None,
            "note": optional_text(kw.get("note"), "note"),
        }

    def is_same_assignment(self, cmd: Command, **kw: Any) -> bool:
        """For an assign whose key already names this target: True when it asks
        for the same thing (a replay), an error when it asks for something else."""
        payload = self.assignment_payload(key=kw.pop("key", None) or cmd.id, **kw)
        fp = fingerprint("assign", **payload)
        assigned_fp = self.applied_fingerprint_of_assignment
        if fp != assigned_fp:
            raise CommandIdReused(
                f"target key {payload['key']!r} was already assigned with different details",
                key=payload["key"],
            )
        return True

    @event("Assigned")
    def __init__(
        self,
        campaign_id: str,
        key: str,
        unit_id: str,
        title: str,
        area: str,
        deadline: date,
        deadline_at: datetime,
        timezone: str,
        points: Decimal,
        decision: dict[str, Any] | None,
        measure: dict[str, Any] | None,
        note: str | None,
        actor: Actor,
        occurred_at: datetime,
        command_id: str,
        fingerprint: str,
        parent_id: str | None = None,  # (absent from targets assigned before parents existed)
        coordinating_unit_ids: list[str] | None = None,  # (absent when none was named at assignment)
    ) -> None:
        self.campaign_id = campaign_id
        self.parent_id = parent_id
        self.completed_late_by_children = False
        self.key = key
        self.unit_id = unit_id
        self.title = title
        self.area = area
        self.deadline = deadline
        self.deadline_at = deadline_at
        self.timezone = timezone
        self.points = points
        self.decision = decision
        self.measure = measure
        self.status = Status.ASSIGNED
        self.overdue = False
        self.assigned_at = occurred_at
        self.last_activity_at = occurred_at
        self.completed_at: datetime | None = None
        self.deadline_at_completion: datetime | None = None
        self.result: str | None = None
        self.evidence: str | None = None
        self.percent: Decimal | None = None
        self.progress_value: Decimal | None = None
        self.blocked_at: datetime | None = None
        self.block_reason: str | None = None
        self.help_needed: str | None = None
        self.blocks = 0
        self.reopens = 0
        self.escalation_count = 0
        self.escalation: dict[str, Any] | None = None
        self.coordinating_unit_ids: list[str] = list(coordinating_unit_ids or ())
        self.stale_reminded_for: datetime | None = None
        self.cancel_reason: str | None = None
        self.completion_reports = 0
        self.acceptance_reminders = 0
        self.return_reason: str | None = None
        self.applied = {}
        self.applied_fingerprint_of_assignment = fingerprint
        self._remember(command_id, fingerprint, occurred_at, actor, 1)

    # ------------------------------------------------------------- guards
    def check_version(self, expected_version: int | None) -> None:
        if expected_version is not None and expected_version != self.version:
            raise VersionConflict(
                f"target is at version {self.version}, not {expected_version}",
                expected_version=expected_version,
                current_version=self.version,
            )

    def _record_meta(self, command_id: str, fp: str, occurred_at: datetime, actor: Actor) -> None:
        self._remember(command_id, fp, occurred_at, actor, self.version + 1)

    # ------------------------------------------------------------- commands
    # Each command method is wrapped by `handles(<declaration>)` (domain/lifecycle.py):
    # the wrapper answers a replayed command id, checks who may, the from-state and the
    # expected version; the body checks the command's own rules and records the event.
    @handles(lc.START)
    def start(self, meta: Meta, note: str | None = None) -> None:
        self._started(note=optional_text(note, "note"), **meta)

    @event("Started")
    def _started(self, note: str | None, actor: Actor, occurred_at: datetime, command_id: str, fingerprint: str) -> None:
        self.status = Status.IN_PROGRESS
        self.last_activity_at = occurred_at
        self._record_meta(command_id, fingerprint, occurred_at, actor)

    @handles(lc.REPORT_PROGRESS)
    def report_progress(
        self, meta: Meta, value: Decimal | None = None, percent: Decimal | None = None, note: str | None = None,
    ) -> None:
        if value is None and percent is None and not (note or "").strip():
            raise BadInput("a progress report needs a value, a percent or a note", field="note")
        pct = None if percent is None else to_decimal(percent, "percent")
        if pct is not None and not Decimal(0) <= pct <= Decimal(100):
            raise BadInput("percent must be between 0 and 100", field="percent")
        val = None if value is None else to_decimal(value, "value")
        self._progress_reported(value=val, percent=pct, note=optional_text(note, "note"), **meta)

    @event("ProgressReported")
    def _progress_reported(
        self, value: Decimal | None, percent: Decimal | None, note: str | None,
        actor: Actor, occurred_at: datetime, command_id: str, fingerprint: str,
    ) -> None:
        self.status = Status.IN_PROGRESS
        if value is not None:
            self.progress_value = value
        if percent is not None:
            self.percent = percent
        self.last_activity_at = occurred_at
        self._record_meta(command_id, fingerprint, occurred_at, actor)

    @handles(lc.BLOCK)
    def block(self, meta: Meta, reason: str, help_needed: str | None = None) -> None:
        self._blocked(
            reason=require_text(reason, "reason"), help_needed=optional_text(help_needed, "help_needed"), **meta,
        )

    @event("Blocked")
    def _blocked(
        self, reason: str, help_needed: str | None, actor: Actor, occurred_at: datetime, command_id: str, fingerprint: str
    ) -> None:
        self.status = Status.BLOCKED
        self.blocked_at = occurred_at
        self.block_reason = reason
        self.help_needed = help_needed
        self.blocks += 1
        self._record_meta(command_id, fingerprint, occurred_at, actor)

    @handles(lc.UNBLOCK)
    def unblock(self, meta: Meta, note: str | None = None) -> None:
        self._unblocked(note=optional_text(note, "note"), **meta)

    @event("Unblocked")
    def _unblocked(self, note: str | None, actor: Actor, occurred_at: datetime, command_id: str, fingerprint: str) -> None:
        self.status = Status.IN_PROGRESS
        self.blocked_at = None
        self.last_activity_at = occurred_at
        self._record_meta(command_id, fingerprint, occurred_at, actor)

    @handles(lc.ESCALATE)
    def escalate(self, meta: Meta, reason: str | None = None) -> None:
        """The owning unit asks the Standing Committee to remove the obstacle now."""
        self._escalated(trigger=Trigger.REQUESTED, reason=optional_text(reason, "reason") or self.block_reason, **meta)

    @handles(lc.AUTO_ESCALATE)
    def auto_escalate(self, meta: Meta, block_no: int) -> None:
        """Timer: still blocked `escalate_after` after block number `block_no`."""
        if block_no != self.blocks:
            raise InvalidTransition("auto_escalate", str(self.status), "the block this timer was armed for has ended")
        self._escalated(trigger=Trigger.AUTO, reason=self.block_reason, **meta)

    @event("Escalated")
    def _escalated(
        self, trigger: Trigger, reason: str | None, actor: Actor, occurred_at: datetime, command_id: str, fingerprint: str
    ) -> None:
        self.status = Status.ESCALATED
        self.escalation_count += 1
        self.escalation = {
            "number": self.escalation_count,
            "state": EscalationState.OPEN,
            "trigger": Trigger(trigger),
            "opened_at": occurred_at,
            "reason": reason,
            "help_needed": self.help_needed,
            "reminders": 0,
            "last_reminded_at": None,
            "directive": None,
            "resolved_at": None,
            "resolved_by": None,
        }
        self._record_meta(command_id, fingerprint, occurred_at, actor)

    @handles(lc.REMIND_ESCALATION)
    def remind_escalation(self, meta: Meta, escalation_no: int, reminder_no: int) -> None:
        """Timer: the escalation has waited another `resolution_sla`."""
        assert self.escalation is not None
        if escalation_no != self.escalation_count or reminder_no != self.escalation["reminders"] + 1:
            raise InvalidTransition("remind_escalation", str(self.status), "this reminder is not the next one due")
        self._escalation_reminded(reminder_no=reminder_no, **meta)

    @event("EscalationReminded")
    def _escalation_reminded(
        self, reminder_no: int, actor: Actor, occurred_at: datetime, command_id: str, fingerprint: str
    ) -> None:
        assert self.escalation is not None
        self.escalation = {**self.escalation, "reminders": reminder_no, "last_reminded_at": occurred_at}
        self._record_meta(command_id, fingerprint, occurred_at, actor)

    @handles(lc.RESOLVE)
    def resolve(
        self, meta: Meta, directive: str, new_deadline: date | None = None, reassign_to: str | None = None,
        coordinating_unit_ids: list[str] | tuple[str, ...] = (),
    ) -> None:
        """The Standing Committee removes the obstacle with a directive."""
        text = require_text(directive, "directive")
        new_deadline_at = None
        if new_deadline is not None:
            self._check_new_deadline(new_deadline, "new_deadline")
            new_deadline_at = end_of_day(new_deadline, self.timezone)
        if reassign_to is not None:
            reassign_to = require_text(reassign_to, "reassign_to", max_len=100)
            if reassign_to == self.unit_id:
                raise BadInput("reassign_to is already the owning unit", field="reassign_to")
        coordinating = list(dict.fromkeys(coordinating_unit_ids or ()))
        for unit in coordinating:
            require_text(unit, "coordinating_unit_ids", max_len=100)
        self._resolved(
            directive=text, new_deadline=new_deadline, new_deadline_at=new_deadline_at,
            reassign_to=reassign_to, coordinating_unit_ids=coordinating, **meta,
        )

    @event("Resolved")
    def _resolved(
        self, directive: str, new_deadline: date | None, new_deadline_at: datetime | None,
        reassign_to: str | None, coordinating_unit_ids: list[str],
        actor: Actor, occurred_at: datetime, command_id: str, fingerprint: str,
    ) -> None:
        assert self.escalation is not None
        self.escalation = {
            **self.escalation,
            "state": EscalationState.RESOLVED,
            "directive": directive,
            "resolved_at": occurred_at,
            "resolved_by": actor.id,
        }
        self.status = Status.IN_PROGRESS
        self.blocked_at = None
        if new_deadline is not None and new_deadline_at is not None:
            self._set_deadline(new_deadline, new_deadline_at, occurred_at)
        if reassign_to is not None:
            self.unit_id = reassign_to
        if coordinating_unit_ids:
            self.coordinating_unit_ids = list(dict.fromkeys([*self.coordinating_unit_ids, *coordinating_unit_ids]))
        self.last_activity_at = occurred_at
        self._record_meta(command_id, fingerprint, occurred_at, actor)

    @handles(lc.COMPLETE)
    def complete(
        self, meta: Meta, result: str | None = None, evidence: str | None = None, note: str | None = None,
        evidence_sha256: list[str] | None = None, acceptance_required: bool = False,
    ) -> None:
        """The unit reports completion, naming attached evidence files if it likes. Under a
        policy that requires acceptance it is recorded as reported (it waits for the
        secretariat), else as completed."""
        named = list(dict.fromkeys(evidence_sha256 or ()))
        for digest in named:
            if digest not in self.evidence_files:
                raise BadInput(f"evidence file {digest} is not attached to this target", field="evidence_sha256")
        extra = {"evidence_sha256": named} if named else {}
        record = self._completion_reported if acceptance_required else self._completed
        record(
            result=optional_text(result, "result"), evidence=optional_text(evidence, "evidence"),
            note=optional_text(note, "note"), **extra, **meta,
        )

    @event("CompletionReported")
    def _completion_reported(
        self, result: str | None, evidence: str | None, note: str | None,
        actor: Actor, occurred_at: datetime, command_id: str, fingerprint: str,
        evidence_sha256: list[str] | None = None,
    ) -> None:
        # Timeliness is judged at the unit's report: the report time and the deadline in
        # force then are kept, and count once the completion is accepted.
        self._apply_completion(result, evidence, occurred_at, evidence_sha256)
        self._record_meta(command_id, fingerprint, occurred_at, actor)
        self.status = Status.AWAITING_ACCEPTANCE
        self.completion_reports += 1
        self.acceptance_reminders = 0

    @handles(lc.ACCEPT)
    def accept(self, meta: Meta, note: str | None = None) -> None:
        self._accepted(note=optional_text(note, "note"), **meta)

    @event("Accepted")
    def _accepted(self, note: str | None, actor: Actor, occurred_at: datetime, command_id: str, fingerprint: str) -> None:
        self.status = Status.COMPLETED
        self._record_meta(command_id, fingerprint, occurred_at, actor)

    @handles(lc.RETURN)
    def return_completion(self, meta: Meta, reason: str) -> None:
        self._returned(reason=require_text(reason, "reason"), **meta)

    @event("Returned")
    def _returned(self, reason: str, actor: Actor, occurred_at: datetime, command_id: str, fingerprint: str) -> None:
        self._back_in_progress(occurred_at)
        self.return_reason = reason
        self._record_meta(command_id, fingerprint, occurred_at, actor)

    @handles(lc.REMIND_ACCEPTANCE)
    def remind_acceptance(self, meta: Meta, report_no: int, reminder_no: int) -> None:
        """Timer: the completion reported as number `report_no` has waited another `acceptance_sla`."""
        if report_no != self.completion_reports or reminder_no != self.acceptance_reminders + 1:
            raise InvalidTransition("remind_acceptance", str(self.status), "this reminder is not the next one due")
        self._acceptance_reminded(reminder_no=reminder_no, **meta)

    @event("AcceptanceReminded")
    def _acceptance_reminded(
        self, reminder_no: int, actor: Actor, occurred_at: datetime, command_id: str, fingerprint: str
    ) -> None:
        self.acceptance_reminders = reminder_no
        self._record_meta(command_id, fingerprint, occurred_at, actor)

    @event("Completed")
    def _completed(
        self, result: str | None, evidence: str | None, note: str | None,
        actor: Actor, occurred_at: datetime, command_id: str, fingerprint: str,
        evidence_sha256: list[str] | None = None,
    ) -> None:
        self._apply_completion(result, evidence, occurred_at, evidence_sha256)
        self._record_meta(command_id, fingerprint, occurred_at, actor)

    def _apply_completion(self, result: str | None, evidence: str | None, occurred_at: datetime,
                          evidence_sha256: list[str] | None = None) -> None:
        self.evidence_sha256 = list(evidence_sha256 or ())
        self.status = Status.COMPLETED
        self.completed_at = occurred_at
        # Lateness is judged against the deadline in force at completion.
        self.deadline_at_completion = self.deadline_at
        self.result = result
        self.evidence = evidence
        self.overdue = False

    @handles(lc.REOPEN)
    def reopen(self, meta: Meta, reason: str) -> None:
        self._reopened(reason=require_text(reason, "reason"), **meta)

    @event("Reopened")
    def _reopened(self, reason: str, actor: Actor, occurred_at: datetime, command_id: str, fingerprint: str) -> None:
        self._reopen_now(occurred_at)
        self._record_meta(command_id, fingerprint, occurred_at, actor)

    def _back_in_progress(self, occurred_at: datetime) -> None:
        """A completion undone (reopened or returned): open again, overdue if past the deadline."""
        self.status = Status.IN_PROGRESS
        self.completed_at = None
        self.deadline_at_completion = None
        self.completed_late_by_children = False
        self.overdue = occurred_at > self.deadline_at
        self.last_activity_at = occurred_at

    @handles(lc.EXTEND_DEADLINE)
    def extend_deadline(self, meta: Meta, new_deadline: date, reason: str, decision: Decision | None = None) -> None:
        self._check_new_deadline(new_deadline, "new_deadline")
        self._deadline_extended(
            new_deadline=new_deadline, new_deadline_at=end_of_day(new_deadline, self.timezone),
            reason=require_text(reason, "reason"), decision=decision.to_dict() if decision else None, **meta,
        )

    @event("DeadlineExtended")
    def _deadline_extended(
        self, new_deadline: date, new_deadline_at: datetime, reason: str, decision: dict[str, Any] | None,
        actor: Actor, occurred_at: datetime, command_id: str, fingerprint: str,
    ) -> None:
        self._set_deadline(new_deadline, new_deadline_at, occurred_at)
        self._record_meta(command_id, fingerprint, occurred_at, actor)

    @handles(lc.REASSIGN)
    def reassign(self, meta: Meta, unit_id: str, reason: str) -> None:
        new_unit = require_text(unit_id, "unit_id", max_len=100)
        if new_unit == self.unit_id:
            raise BadInput("the target already belongs to that unit", field="unit_id")
        self._reassigned(unit_id=new_unit, from_unit_id=self.unit_id, reason=require_text(reason, "reason"), **meta)

    @event("Reassigned")
    def _reassigned(
        self, unit_id: str, from_unit_id: str, reason: str, actor: Actor, occurred_at: datetime, command_id: str,
        fingerprint: str,
    ) -> None:
        self.unit_id = unit_id
        self.last_activity_at = occurred_at
        self._record_meta(command_id, fingerprint, occurred_at, actor)

    @handles(lc.CANCEL)
    def cancel(self, meta: Meta, reason: str) -> None:
        self._cancelled(reason=require_text(reason, "reason"), **meta)

    @event("Cancelled")
    def _cancelled(self, reason: str, actor: Actor, occurred_at: datetime, command_id: str, fingerprint: str) -> None:
        self.status = Status.CANCELLED
        self.cancel_reason = reason
        self.overdue = False
        if self.escalation and self.escalation["state"] == EscalationState.OPEN:
            self.escalation = {**self.escalation, "state": EscalationState.RESOLVED, "resolved_at": occurred_at,
                               "directive": None, "resolved_by": actor.id}
        self._record_meta(command_id, fingerprint, occurred_at, actor)

    # ------------------------------------------------------------- the cascade
    @handles(lc.COMPLETE_BY_CHILDREN)
    def complete_by_children(self, meta: Meta, late: bool, children: list[dict[str, Any]]) -> None:
        """The last open child completed: the parent completes by itself, naming the events
        that closed its children; late when any child was."""
        if not children:
            raise BadInput("a completion by children names at least one child", field="children")
        self._completed_by_children(late=bool(late), children=[dict(c) for c in children], **meta)

    @event("CompletedByChildren")
    def _completed_by_children(
        self, late: bool, children: list[dict[str, Any]], actor: Actor, occurred_at: datetime, command_id: str,
        fingerprint: str,
    ) -> None:
        self.status = Status.COMPLETED
        self.completed_at = occurred_at
        self.deadline_at_completion = self.deadline_at
        self.completed_late_by_children = late
        self.result = None
        self.evidence = None
        self.overdue = False
        if self.escalation and self.escalation["state"] == EscalationState.OPEN:
            self.escalation = {**self.escalation, "state": EscalationState.RESOLVED, "resolved_at": occurred_at,
                               "directive": None, "resolved_by": actor.id}
        self._record_meta(command_id, fingerprint, occurred_at, actor)

    @handles(lc.REOPEN_BY_CHILD)
    def reopen_by_child(self, meta: Meta, child_id: str, position: int) -> None:
        """A child of this completed parent was reopened (its event at `position`)."""
        self._reopened_by_child(child_id=str(child_id), position=int(position), **meta)

    @event("ReopenedByChild")
    def _reopened_by_child(
        self, child_id: str, position: int, actor: Actor, occurred_at: datetime, command_id: str, fingerprint: str
    ) -> None:
        self._reopen_now(occurred_at)
        self._record_meta(command_id, fingerprint, occurred_at, actor)

    def _reopen_now(self, occurred_at: datetime) -> None:
        """Reopened (by hand or by a child): back in progress, one reopening more."""
        self._back_in_progress(occurred_at)
        self.reopens += 1

    @handles(lc.MARK_OVERDUE)
    def mark_overdue(self, meta: Meta, deadline_at: datetime) -> None:
        """Timer: the deadline `deadline_at` has passed while the target is open."""
        if deadline_at != self.deadline_at:
            raise InvalidTransition("mark_overdue", str(self.status), "the deadline was changed since this timer was armed")
        if self.overdue:
            raise InvalidTransition("mark_overdue", str(self.status), "the target is already overdue")
        if meta["occurred_at"] < self.deadline_at:
            raise InvalidTransition("mark_overdue", str(self.status), "the deadline has not passed yet")
        self._deadline_passed(deadline_at=deadline_at, **meta)

    @event("DeadlinePassed")
    def _deadline_passed(
        self, deadline_at: datetime, actor: Actor, occurred_at: datetime, command_id: str, fingerprint: str
    ) -> None:
        self.overdue = True
        self._record_meta(command_id, fingerprint, occurred_at, actor)

    @handles(lc.REMIND_STALE)
    def remind_stale(self, meta: Meta, since: datetime) -> None:
        """Timer: no progress since `since` for the policy's `stale_after`."""
        if since != self.last_activity_at or self.stale_reminded_for == since:
            raise InvalidTransition("remind_stale", str(self.status), "there was activity since this timer was armed")
        self._stale_reminded(since=since, **meta)

    @event("StaleReminded")
    def _stale_reminded(self, since: datetime, actor: Actor, occurred_at: datetime, command_id: str, fingerprint: str) -> None:
        self.stale_reminded_for = since
        self._record_meta(command_id, fingerprint, occurred_at, actor)

    # ------------------------------------------------------------- the paper trail
    def readers(self, audience: Any = ()) -> list[str]:
        """Units (besides the owner) whose heads may read and comment on the target: the
        coordinating units, and `audience` (its cluster's head and deputy units)."""
        return [*self.coordinating_unit_ids, *audience]

    @handles(lc.COMMENT)
    def comment(self, meta: Meta, kind: str, body: str) -> None:
        """A comment, an urge (đôn đốc), a directive (chỉ đạo) or a reply. Who may
        write which kind: lifecycle.COMMENT_KINDS (the command's own check admitted
        the person as a reader of the target already)."""
        actor = meta["actor"]
        who = lc.COMMENT_KINDS.get(kind)
        if who is None:
            raise BadInput(f"kind must be one of {', '.join(lc.COMMENT_KINDS)}", field="kind")
        if not any(r == actor.role for r in who) and lc.READER not in who:
            raise NotAllowed(f"{actor.role} {actor.id!r} may not write a {kind}", command="comment",
                             role=str(actor.role))
        self._commented(kind=kind, body=require_text(body, "body", max_len=lc.MAX_COMMENT_LENGTH), **meta)

    @event("Commented")
    def _commented(self, kind: str, body: str, actor: Actor, occurred_at: datetime,
                   command_id: str, fingerprint: str) -> None:
        self.comment_count += 1
        if kind == "urge":
            self.last_urge = {"body": body, "at": occurred_at, "by": actor.name or actor.id}
        self._record_meta(command_id, fingerprint, occurred_at, actor)

    @handles(lc.ATTACH_EVIDENCE)
    def attach_evidence(self, meta: Meta, sha256: str, name: str, size: int, content_type: str) -> None:
        """Record a file already stored (content-addressed) as evidence of this target:
        the event carries its digest, so the audit chain covers the file's bytes."""
        if content_type not in lc.EVIDENCE_TYPES:
            raise BadInput(f"files of type {content_type} are not accepted as evidence", field="file")
        if size < 1:
            raise BadInput("the file is empty", field="file")
        self._evidence_attached(sha256=sha256, name=require_text(name, "name", max_len=255), size=int(size),
                                content_type=content_type, **meta)

    @event("EvidenceAttached")
    def _evidence_attached(self, sha256: str, name: str, size: int, content_type: str, actor: Actor,
                           occurred_at: datetime, command_id: str, fingerprint: str) -> None:
        self.evidence_files = {**self.evidence_files, sha256: {
            "name": name, "size": size, "content_type": content_type, "attached_at": occurred_at,
            "version": self.version + 1}}
        self.last_activity_at = occurred_at
        self._record_meta(command_id, fingerprint, occurred_at, actor)

    # ------------------------------------------------------------- history
    def record_migration(self, cmd: Command, *, import_id: str, first_line: int, last_line: int,
                         first_version: int, last_version: int) -> bool:
        """Say, in the target's own trail, which of its events an import brought from the
        old records (domain/history.py), recorded now by whoever imported them."""
        fp = fingerprint("record_migration", import_id=import_id, first_line=first_line, last_line=last_line,
                         first_version=first_version, last_version=last_version)
        if self.is_replay(cmd, fp):
            return False
        check_may(cmd.actor, "import_history")
        note = (f"Migrated from the old records by {cmd.actor.name}: import {import_id}, lines {first_line}-"
                f"{last_line}, versions {first_version}-{last_version}")
        self._history_migrated(import_id=import_id, first_version=first_version, last_version=last_version,
                               note=note, **event_meta(cmd, fp))
        return True

    @event("HistoryMigrated")
    def _history_migrated(
        self, import_id: str, first_version: int, last_version: int, note: str,
        actor: Actor, occurred_at: datetime, command_id: str, fingerprint: str,
    ) -> None:
        # Recorded now, about the past: the target's own time (updated_at, what the
        # next migrated action must not precede) stays at its last event.
        happened_until = self.updated_at
        self._record_meta(command_id, fingerprint, occurred_at, actor)
        self.updated_at = happened_until

    # ------------------------------------------------------------- helpers
    def _check_new_deadline(self, new_deadline: date, field: str) -> None:
        _check_date(new_deadline, field)
        if new_deadline <= self.deadline:
            raise BadInput(f"{field} must be later than the current deadline {self.deadline.isoformat()}", field=field)

    def _set_deadline(self, new_deadline: date, new_deadline_at: datetime, occurred_at: datetime) -> None:
        self.deadline = new_deadline
        self.deadline_at = new_deadline_at
        if new_deadline_at > occurred_at:
            self.overdue = False

    # ------------------------------------------------------------- reading
    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATES

    @property
    def report_class(self) -> ReportClass:
        if self.status == Status.COMPLETED and getattr(self, "completed_late_by_children", False):
            return ReportClass.COMPLETED_LATE  # a late child makes its parent late
        return classify(self.status, self.overdue, self.completed_at, self.deadline_at_completion)

    def to_state(self) -> dict[str, Any]:
        """The target as the API shows it (JSON-ready)."""
        esc = None
        if self.escalation is not None:
            esc = {
                **self.escalation,
                "state": str(self.escalation["state"]),
                "trigger": str(self.escalation["trigger"]),
                "opened_at": _iso(self.escalation["opened_at"]),
                "last_reminded_at": _iso(self.escalation.get("last_reminded_at")),
                "resolved_at": _iso(self.escalation.get("resolved_at")),
            }
        return {
            "id": str(self.id),
            "key": self.key,
            "campaign_id": self.campaign_id,
            "unit_id": self.unit_id,
            "title": self.title,
            "area": self.area,
            "deadline": self.deadline.isoformat(),
            "deadline_at": _iso(self.deadline_at),
            "timezone": self.timezone,
            "points": float(self.points),
            "status": str(self.status),
            "overdue": self.overdue,
            "report_class": str(self.report_class),
            "version": self.version,
            "escalation": esc,
            "percent": None if self.percent is None else float(self.percent),
            "blocked_at": _iso(self.blocked_at),
            "block_reason": self.block_reason if self.status in (Status.BLOCKED, Status.ESCALATED) else None,
            "completed_at": _iso(self.completed_at),
            "acceptance": self._acceptance_state(),
            "last_activity_at": _iso(self.last_activity_at),
            "coordinating_unit_ids": list(self.coordinating_unit_ids),
            "comment_count": self.comment_count,
            "last_urge": None if self.last_urge is None else {**self.last_urge, "at": _iso(self.last_urge["at"])},
            "evidence_count": len(self.evidence_files),
            "evidence_sha256": list(self.evidence_sha256),
            "decision": _jsonable(self.decision),
            "parent_id": getattr(self, "parent_id", None),
            "measure": _jsonable(self.measure),
            "assigned_at": _iso(self.assigned_at),
            "updated_at": _iso(self.updated_at),
        }


    def _acceptance_state(self) -> dict[str, Any] | None:
        """Where the unit's reported completion stands with the secretariat (None: never reported under acceptance)."""
        reports = self.completion_reports
        if not reports:
            return None
        return {
            "reports": reports,
            "waiting": self.status == Status.AWAITING_ACCEPTANCE,
            "reminders": self.acceptance_reminders,
            "return_reason": self.return_reason,
        }


def classify(
    status: Status, overdue: bool, completed_at: datetime | None, deadline_at_completion: datetime | None
) -> ReportClass:
    """The reporting class (Government Office's four, plus cancelled)."""
    if status == Status.CANCELLED:
        return ReportClass.CANCELLED
    if status == Status.AWAITING_ACCEPTANCE:
        return ReportClass.AWAITING_ACCEPTANCE
    if status == Status.COMPLETED:
        assert completed_at is not None and deadline_at_completion is not None
        return ReportClass.COMPLETED_ON_TIME if completed_at <= deadline_at_completion else ReportClass.COMPLETED_LATE
    return ReportClass.OVERDUE if overdue else ReportClass.IN_PROGRESS_WITHIN_DEADLINE


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value
