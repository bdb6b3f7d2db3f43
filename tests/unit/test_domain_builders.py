"""Builders shared by the domain tests: the people, a clock, and targets in each state.

Named `test_*` only so it sits with the tests that use it; it holds no tests itself.
The campaign here is the Vĩnh Yên 2022 peak drive: a ward owns a site-clearance target
due 30 June 2022, which ends at 23:59:59 in Hanoi time (16:59:59 UTC).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from thidua.domain import SYSTEM, Actor, Command, Role, Status, Target

TZ = "Asia/Ho_Chi_Minh"
CAMPAIGN = "vinh-yen-2022"
OWNER_UNIT = "ngo-quyen"
OTHER_UNIT = "lien-bao"
DEADLINE = date(2022, 6, 30)
DEADLINE_AT = datetime(2022, 6, 30, 16, 59, 59, tzinfo=timezone.utc)  # 23:59:59 in Hanoi
ASSIGNED_AT = datetime(2022, 2, 21, 2, 0, tzinfo=timezone.utc)
TITLE = "Giải phóng mặt bằng dự án đường Nguyễn Tất Thành"

SECRETARIAT = Actor("van-phong", "Văn phòng Thành ủy", Role.SECRETARIAT)
STANDING_COMMITTEE = Actor("nguyen-hoai-nam", "Nguyễn Hoài Nam", Role.STANDING_COMMITTEE)
INSPECTOR = Actor("uy-ban-kiem-tra", "Ủy ban Kiểm tra", Role.INSPECTOR)
OWNER_HEAD = Actor("head-ngo-quyen", "Bí thư phường Ngô Quyền", Role.UNIT_HEAD, OWNER_UNIT)
OTHER_HEAD = Actor("head-lien-bao", "Bí thư phường Liên Bảo", Role.UNIT_HEAD, OTHER_UNIT)
EVERYONE = (SECRETARIAT, STANDING_COMMITTEE, INSPECTOR, OWNER_HEAD, OTHER_HEAD, SYSTEM)

_ids = itertools.count(1)


def new_command_id() -> str:
    return f"cmd-{next(_ids)}"


@dataclass
class Clock:
    """Hands out strictly increasing command times, one hour apart by default."""

    now: datetime = ASSIGNED_AT
    step: timedelta = field(default=timedelta(hours=1))

    def tick(self, by: timedelta | None = None) -> datetime:
        self.now = self.now + (by or self.step)
        return self.now


def cmd(actor: Actor, at: datetime, command_id: str | None = None) -> Command:
    return Command(command_id or new_command_id(), actor, at)


def assign(
    at: datetime = ASSIGNED_AT, *, actor: Actor = SECRETARIAT, command_id: str | None = None, **overrides: Any
) -> Target:
    kwargs: dict[str, Any] = {
        "campaign_id": CAMPAIGN,
        "unit_id": OWNER_UNIT,
        "title": TITLE,
        "area": "gpmb",
        "deadline": DEADLINE,
        "points": Decimal("10"),
        "timezone": TZ,
    }
    kwargs.update(overrides)
    return Target.assign(cmd(actor, at, command_id), **kwargs)


def target_in(status: Status, clock: Clock | None = None) -> Target:
    """A target brought to `status` by the people the table allows, before its deadline."""
    clock = clock or Clock()
    target = assign(clock.now)
    if status == Status.ASSIGNED:
        return target
    if status == Status.CANCELLED:
        target.cancel(cmd(SECRETARIAT, clock.tick()), reason="Chỉ tiêu được điều chỉnh")
        return target
    target.start(cmd(OWNER_HEAD, clock.tick()))
    if status == Status.IN_PROGRESS:
        return target
    if status == Status.COMPLETED:
        target.complete(cmd(OWNER_HEAD, clock.tick()), result="Đã bàn giao mặt bằng")
        return target
    if status == Status.AWAITING_ACCEPTANCE:
        target.complete(cmd(OWNER_HEAD, clock.tick()), result="Đã bàn giao mặt bằng", acceptance_required=True)
        return target
    target.block(cmd(OWNER_HEAD, clock.tick()), reason="Hộ dân chưa đồng ý phương án bồi thường")
    if status == Status.BLOCKED:
        return target
    target.escalate(cmd(OWNER_HEAD, clock.tick()), reason="Cần BTV tháo gỡ")
    assert status == Status.ESCALATED
    return target


def last_event(target: Target) -> Any:
    return target.pending_events[-1]


def event_names(target: Target) -> list[str]:
    return [type(e).__name__ for e in target.pending_events]


# --------------------------------------------------------------------------- the table
WHY = "Theo chỉ đạo của Ban Thường vụ Thành ủy"
NEW_DEADLINE = date(2022, 9, 30)
ANY_OPEN = (Status.ASSIGNED, Status.IN_PROGRESS, Status.BLOCKED, Status.ESCALATED)


@dataclass(frozen=True)
class Row:
    """One row of DESIGN.md's lifecycle table, and how to issue its command."""

    command: str
    event: str
    moves: dict[Status, Status | None]  # from-state -> to-state (None: stays the same)
    actor: Actor
    why_field: str | None  # where the event keeps the reason/note, if the command takes one
    after_deadline: bool = False  # the deadline timer fires only once the deadline has passed

    def arguments(self, target: Target) -> dict[str, Any]:
        return ARGUMENTS[self.command](target)

    def issue(self, target: Target, command: Command, arguments: dict[str, Any] | None = None) -> bool:
        kwargs = self.arguments(target) if arguments is None else arguments
        return getattr(target, self.command)(command, **kwargs)

    def to_state(self, from_state: Status) -> Status:
        to = self.moves[from_state]
        return from_state if to is None else to


def _same(*states: Status) -> dict[Status, Status | None]:
    return {s: None for s in states}


ARGUMENTS = {  # what each command is given, read from the target where a timer would know it
    "start": lambda t: {"note": WHY},
    "report_progress": lambda t: {"percent": Decimal("40"), "note": WHY},
    "block": lambda t: {"reason": WHY, "help_needed": "Hỗ trợ vận động hộ dân"},
    "unblock": lambda t: {"note": WHY},
    "escalate": lambda t: {"reason": WHY},
    "auto_escalate": lambda t: {"block_no": t.blocks},
    "remind_escalation": lambda t: {
        "escalation_no": t.escalation_count, "reminder_no": (t.escalation or {}).get("reminders", 0) + 1,
    },
    "resolve": lambda t: {"directive": WHY},
    "complete": lambda t: {"result": "Đạt 100%", "evidence": "Biên bản bàn giao", "note": WHY},
    "reopen": lambda t: {"reason": WHY},
    "accept": lambda t: {"note": WHY},
    "return_completion": lambda t: {"reason": WHY},
    "remind_acceptance": lambda t: {"report_no": t.completion_reports, "reminder_no": t.acceptance_reminders + 1},
    "extend_deadline": lambda t: {"new_deadline": NEW_DEADLINE, "reason": WHY},
    "reassign": lambda t: {"unit_id": OTHER_UNIT, "reason": WHY},
    "cancel": lambda t: {"reason": WHY},
    "mark_overdue": lambda t: {"deadline_at": t.deadline_at},
    "remind_stale": lambda t: {"since": t.last_activity_at},
    # the cascade (thidua.workflows.cascade), naming the child events that call for it
    "complete_by_children": lambda t: {"late": False, "children": [
        {"target_id": "0b6f3c1e-2f4a-5c55-9d7e-2b8f1f0e8a11", "position": 7, "report_class": "completed_on_time"}]},
    "reopen_by_child": lambda t: {"child_id": "0b6f3c1e-2f4a-5c55-9d7e-2b8f1f0e8a11", "position": 9},
}

S = Status
TABLE = (
    Row("start", "Started", {S.ASSIGNED: S.IN_PROGRESS}, OWNER_HEAD, "note"),
    Row("report_progress", "ProgressReported", {S.ASSIGNED: S.IN_PROGRESS, S.IN_PROGRESS: S.IN_PROGRESS},
        OWNER_HEAD, "note"),
    Row("block", "Blocked", {S.ASSIGNED: S.BLOCKED, S.IN_PROGRESS: S.BLOCKED}, OWNER_HEAD, "reason"),
    Row("unblock", "Unblocked", {S.BLOCKED: S.IN_PROGRESS}, OWNER_HEAD, "note"),
    Row("escalate", "Escalated", {S.BLOCKED: S.ESCALATED}, OWNER_HEAD, "reason"),
    Row("auto_escalate", "Escalated", {S.BLOCKED: S.ESCALATED}, SYSTEM, None),
    Row("remind_escalation", "EscalationReminded", _same(S.ESCALATED), SYSTEM, None),
    Row("resolve", "Resolved", {S.ESCALATED: S.IN_PROGRESS}, STANDING_COMMITTEE, "directive"),
    Row("complete", "Completed", {S.ASSIGNED: S.COMPLETED, S.IN_PROGRESS: S.COMPLETED}, OWNER_HEAD, "note"),
    Row("accept", "Accepted", {S.AWAITING_ACCEPTANCE: S.COMPLETED}, SECRETARIAT, "note"),
    Row("return_completion", "Returned", {S.AWAITING_ACCEPTANCE: S.IN_PROGRESS}, SECRETARIAT, "reason"),
    Row("remind_acceptance", "AcceptanceReminded", _same(S.AWAITING_ACCEPTANCE), SYSTEM, None),
    Row("reopen", "Reopened", {S.COMPLETED: S.IN_PROGRESS}, SECRETARIAT, "reason"),
    Row("extend_deadline", "DeadlineExtended", _same(*ANY_OPEN), STANDING_COMMITTEE, "reason"),
    Row("reassign", "Reassigned", _same(*ANY_OPEN), SECRETARIAT, "reason"),
    Row("cancel", "Cancelled", {s: S.CANCELLED for s in ANY_OPEN}, SECRETARIAT, "reason"),
    Row("mark_overdue", "DeadlinePassed", _same(*ANY_OPEN), SYSTEM, None, after_deadline=True),
    Row("remind_stale", "StaleReminded", _same(S.ASSIGNED, S.IN_PROGRESS), SYSTEM, None),
    Row("complete_by_children", "CompletedByChildren", {s: S.COMPLETED for s in ANY_OPEN}, SYSTEM, None),
    Row("reopen_by_child", "ReopenedByChild", {S.COMPLETED: S.IN_PROGRESS}, SYSTEM, None),
)
ROWS = {row.command: row for row in TABLE}
