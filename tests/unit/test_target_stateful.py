"""Random command sequences, by random people, at increasing random times, through
one Target, checked against a tiny model of DESIGN.md's lifecycle table written here
independently of domain/:

- the table is never violated (a refused command changes nothing, an allowed one moves
  the target where the table says and records exactly one event saying who/when/which);
- the reporting class read from the target agrees with the one folded from its events;
- a replayed command id adds nothing, the same id with another payload is refused;
- a cancelled target never counts in a score or a maximum.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from thidua.domain import (
    SYSTEM,
    Actor,
    BadInput,
    Command,
    CommandIdReused,
    DomainError,
    InvalidTransition,
    NotAllowed,
    ReportClass,
    Role,
    ScoringScale,
    Target,
    VersionConflict,
)
from thidua.domain.scoring import ScoredTarget, unit_score
from thidua.domain.target import unit_after

# ---------------------------------------------------------------- the model of the table
A, IP, BL, ES, CO, CA = "assigned", "in_progress", "blocked", "escalated", "completed", "cancelled"
OPEN = {A, IP, BL, ES}
SAME = None
TABLE: dict[str, tuple[set[str], str | None, str]] = {  # command: (from, to, event)
    "start": ({A}, IP, "Started"),
    "report_progress": ({A, IP}, IP, "ProgressReported"),
    "block": ({A, IP}, BL, "Blocked"),
    "unblock": ({BL}, IP, "Unblocked"),
    "escalate": ({BL}, ES, "Escalated"),
    "auto_escalate": ({BL}, ES, "Escalated"),
    "remind_escalation": ({ES}, SAME, "EscalationReminded"),
    "resolve": ({ES}, IP, "Resolved"),
    "complete": ({A, IP}, CO, "Completed"),
    "reopen": ({CO}, IP, "Reopened"),
    "extend_deadline": (OPEN, SAME, "DeadlineExtended"),
    "reassign": (OPEN, SAME, "Reassigned"),
    "cancel": (OPEN, CA, "Cancelled"),
    "mark_overdue": (OPEN, SAME, "DeadlinePassed"),
    "remind_stale": ({A, IP}, SAME, "StaleReminded"),
}
OWNER_COMMANDS = {"start", "report_progress", "block", "unblock", "escalate", "complete"}
OFFICE_COMMANDS = {"reopen", "reassign", "cancel"}
COMMITTEE_COMMANDS = {"resolve", "extend_deadline"}
TIMER_COMMANDS = {"auto_escalate", "remind_escalation", "mark_overdue", "remind_stale"}
NEEDS_TEXT = {"block": "reason", "resolve": "directive", "reopen": "reason", "extend_deadline": "reason",
              "reassign": "reason", "cancel": "reason"}

UNITS = ("ngo-quyen", "lien-bao", "tich-son")
SEC = Actor("sec", "Văn phòng", Role.SECRETARIAT)
SC = Actor("btv", "Ban Thường vụ", Role.STANDING_COMMITTEE)
ACTORS = (
    SEC, SC, SYSTEM,
    Actor("ukt", "Ủy ban Kiểm tra", Role.INSPECTOR),
    Actor("no-unit", "Trưởng ban", Role.UNIT_HEAD, None),
    *(Actor(f"head-{u}", f"Bí thư {u}", Role.UNIT_HEAD, u) for u in UNITS),
)
TEXTS = ("Hộ dân chưa đồng ý", "Giải phóng mặt bằng dự án đường Nguyễn Tất Thành", " Cần hỗ trợ ", "   ")
START = datetime(2022, 3, 1, 1, 0, tzinfo=timezone.utc)


def may(actor: Actor, command: str, unit: str) -> bool:
    if command in OWNER_COMMANDS:
        return actor.role == Role.UNIT_HEAD and actor.unit_id == unit
    if command in OFFICE_COMMANDS:
        return actor.role in (Role.SECRETARIAT, Role.STANDING_COMMITTEE)
    if command in COMMITTEE_COMMANDS:
        return actor.role == Role.STANDING_COMMITTEE
    return actor.role == Role.SYSTEM


def end_of_day_in_hanoi(day: date) -> datetime:
    return datetime.combine(day, time(16, 59, 59), tzinfo=timezone.utc)  # 23:59:59 at UTC+7


def class_from_events(events: list) -> ReportClass:
    """The reporting class folded from the recorded events alone."""
    status, overdue, deadline_at, completed = A, False, None, None
    for e in events:
        name, at = type(e).__name__, e.occurred_at
        if name == "Assigned":
            deadline_at = e.deadline_at
        elif name in ("DeadlineExtended", "Resolved") and getattr(e, "new_deadline_at", None):
            deadline_at = e.new_deadline_at
            overdue = overdue and deadline_at <= at
        if name == "DeadlinePassed":
            overdue = True
        elif name == "Completed":
            status, overdue, completed = CO, False, (at, deadline_at)
        elif name == "Reopened":
            status, completed, overdue = IP, None, at > deadline_at
        elif name == "Cancelled":
            status, overdue = CA, False
    if status == CA:
        return ReportClass.CANCELLED
    if completed:
        return ReportClass.COMPLETED_ON_TIME if completed[0] <= completed[1] else ReportClass.COMPLETED_LATE
    return ReportClass.OVERDUE if overdue else ReportClass.IN_PROGRESS_WITHIN_DEADLINE


class TargetLifecycle(RuleBasedStateMachine):
    # ------------------------------------------------------------ setup
    @initialize(
        deadline_days=st.integers(min_value=0, max_value=40),
        points=st.integers(min_value=0, max_value=100),
        assigner=st.sampled_from(ACTORS),
    )
    def assign(self, deadline_days: int, points: int, assigner: Actor) -> None:
        self.now = START
        self.counter = 0
        deadline = START.date() + timedelta(days=deadline_days)
        details = {"campaign_id": "vinh-yen-2022", "unit_id": UNITS[0], "title": TEXTS[1], "area": "gpmb",
                   "deadline": deadline, "points": points, "timezone": "Asia/Ho_Chi_Minh"}
        if assigner.role not in (Role.SECRETARIAT, Role.STANDING_COMMITTEE):
            try:
                Target.assign(self.command(assigner), **details)
                raise AssertionError(f"{assigner.role} assigned a target")
            except NotAllowed:
                assigner = SEC
        self.target = Target.assign(self.command(assigner), **details)
        # the model
        self.status, self.unit, self.overdue, self.version = A, UNITS[0], False, 1
        self.deadline, self.deadline_at = deadline, end_of_day_in_hanoi(deadline)
        self.blocks = self.escalations = self.reminders = 0
        self.stale_reminded: set[datetime] = set()
        self.done: list[tuple[str, Command, dict]] = []
        self.used_ids = [self.target.pending_events[0].command_id]

    def command(self, actor: Actor) -> Command:
        self.counter += 1
        return Command(f"c{self.counter}", actor, self.now)

    # ------------------------------------------------------------ commands
    def arguments(self, command: str, text: str, data: st.DataObject) -> dict:
        t = self.target
        if command in ("start", "unblock", "complete"):
            return {"note": text}
        if command == "report_progress":
            return {"percent": Decimal(data.draw(st.integers(0, 100), label="percent")), "note": text}
        if command == "block":
            return {"reason": text}
        if command == "escalate":
            return {"reason": text}
        if command in ("reopen", "cancel"):
            return {"reason": text}
        if command == "extend_deadline":
            return {"new_deadline": self.deadline + timedelta(days=data.draw(st.integers(1, 60))), "reason": text}
        if command == "reassign":
            return {"unit_id": data.draw(st.sampled_from([u for u in UNITS if u != self.unit])), "reason": text}
        if command == "resolve":
            later = data.draw(st.none() | st.integers(1, 60))
            to = data.draw(st.none() | st.sampled_from([u for u in UNITS if u != self.unit]))
            return {"directive": text, "new_deadline": None if later is None else self.deadline + timedelta(days=later),
                    "reassign_to": to, "coordinating_unit_ids": data.draw(st.lists(st.sampled_from(UNITS), max_size=2))}
        if command == "auto_escalate":
            return {"block_no": self.blocks}
        if command == "remind_escalation":
            return {"escalation_no": self.escalations, "reminder_no": self.reminders + 1}
        if command == "mark_overdue":
            return {"deadline_at": self.deadline_at}
        assert command == "remind_stale"
        return {"since": t.last_activity_at}

    def expected_error(self, command: str, actor: Actor, kwargs: dict) -> type[DomainError] | None:
        if not may(actor, command, self.unit):
            return NotAllowed
        if self.status not in TABLE[command][0]:
            return InvalidTransition
        if kwargs.get("expected_version", self.version) != self.version:
            return VersionConflict
        if command in NEEDS_TEXT and not kwargs[NEEDS_TEXT[command]].strip():
            return BadInput
        if command == "mark_overdue" and (self.overdue or self.now < self.deadline_at):
            return InvalidTransition  # already flagged, or fired early
        if command == "remind_stale" and kwargs["since"] in self.stale_reminded:
            return InvalidTransition  # one reminder per quiet spell
        return None

    def apply(self, command: str, kwargs: dict) -> None:
        to = TABLE[command][1]
        self.status = self.status if to is SAME else to
        self.version += 1
        new_deadline = kwargs.get("new_deadline")
        if new_deadline is not None:
            self.deadline, self.deadline_at = new_deadline, end_of_day_in_hanoi(new_deadline)
            self.overdue = self.overdue and self.deadline_at <= self.now
        if command == "reassign":
            self.unit = kwargs["unit_id"]
        if command == "resolve" and kwargs["reassign_to"]:
            self.unit = kwargs["reassign_to"]
        if command == "block":
            self.blocks += 1
        if command in ("escalate", "auto_escalate"):
            self.escalations, self.reminders = self.escalations + 1, 0
        if command == "remind_escalation":
            self.reminders += 1
        if command == "remind_stale":
            self.stale_reminded.add(kwargs["since"])
        if command == "mark_overdue":
            self.overdue = True
        if command in ("complete", "cancel"):
            self.overdue = False
        if command == "reopen":
            self.overdue = self.now > self.deadline_at

    def right_actor(self, command: str) -> Actor:
        if command in OWNER_COMMANDS:
            return next(a for a in ACTORS if a.unit_id == self.unit)
        if command in COMMITTEE_COMMANDS:
            return SC
        return SYSTEM if command in TIMER_COMMANDS else SEC

    @rule(
        minutes=st.one_of(st.integers(1, 12 * 60), st.integers(1, 10 * 24 * 60)),
        text=st.sampled_from(TEXTS),
        version=st.sampled_from(["none", "none", "current", "stale"]),
        data=st.data(),
    )
    def issue(self, minutes: int, text: str, version: str, data: st.DataObject) -> None:
        # Mostly what the table allows from here, by whom it names, so that runs get
        # deep into the lifecycle; sometimes anything, by anyone.
        allowed_here = sorted(c for c, (sources, _, _) in TABLE.items() if self.status in sources and c != "cancel")
        if allowed_here and data.draw(st.integers(0, 3), label="aim") > 0:
            command = data.draw(st.sampled_from(allowed_here), label="command")
            actor = self.right_actor(command)
        else:
            command = data.draw(st.sampled_from(sorted(TABLE)), label="command")
            actor = data.draw(st.sampled_from([self.right_actor(command), *ACTORS]), label="actor")
        self.now += timedelta(minutes=minutes)
        kwargs = self.arguments(command, text, data)
        if command not in TIMER_COMMANDS and version != "none":
            kwargs["expected_version"] = self.version - (version == "stale")
        cmd = self.command(actor)
        expected = self.expected_error(command, actor, kwargs)
        events_before, state_before = len(self.target.pending_events), self.target.to_state()

        try:
            result = getattr(self.target, command)(cmd, **kwargs)
        except DomainError as error:
            assert expected is not None, f"{command} by {actor.role} from {self.status} was refused: {error}"
            assert type(error) is expected, f"{command} from {self.status}: {error!r}, expected {expected}"
            if isinstance(error, InvalidTransition):
                assert (error.command, error.state) == (command, self.status)
            assert len(self.target.pending_events) == events_before
            assert self.target.to_state() == state_before
            return
        assert expected is None, f"{command} by {actor.role} from {self.status} should raise {expected}"
        assert result is True
        self.apply(command, kwargs)
        self.used_ids.append(cmd.id)
        self.done.append((command, cmd, {k: v for k, v in kwargs.items() if k != "expected_version"}))
        events = self.target.pending_events
        assert len(events) == events_before + 1
        event = events[-1]
        assert type(event).__name__ == TABLE[command][2]
        assert (event.actor, event.occurred_at, event.command_id) == (actor, self.now, cmd.id)
        if command in NEEDS_TEXT:
            assert getattr(event, NEEDS_TEXT[command]) == text.strip()

    @precondition(lambda self: self.done)
    @rule(data=st.data(), minutes=st.integers(min_value=1, max_value=3 * 24 * 60))
    def retry_an_applied_command(self, data: st.DataObject, minutes: int) -> None:
        command, cmd, kwargs = data.draw(st.sampled_from(self.done))
        self.now += timedelta(minutes=minutes)
        state, events = self.target.to_state(), len(self.target.pending_events)
        retry = Command(cmd.id, cmd.actor, self.now)  # a retry arrives later, same id, same payload

        assert getattr(self.target, command)(retry, **kwargs) is False
        assert (self.target.to_state(), len(self.target.pending_events)) == (state, events)

    @rule(data=st.data())
    def reuse_an_id_for_something_else(self, data: st.DataObject) -> None:
        command_id = data.draw(st.sampled_from(self.used_ids))
        events = len(self.target.pending_events)
        try:
            self.target.report_progress(Command(command_id, SYSTEM, self.now), note=f"khác {command_id}")
            raise AssertionError("a command id was reused for another command")
        except CommandIdReused:
            pass
        assert len(self.target.pending_events) == events

    # ------------------------------------------------------------ invariants
    @invariant()
    def the_target_is_where_the_table_says(self) -> None:
        t = self.target
        assert (str(t.status), t.unit_id, t.overdue, t.version) == (self.status, self.unit, self.overdue, self.version)
        assert t.deadline_at == self.deadline_at

    @invariant()
    def the_report_class_agrees_with_the_events(self) -> None:
        assert self.target.report_class == class_from_events(self.target.pending_events)

    @invariant()
    def the_unit_followed_through_the_events_is_the_targets(self) -> None:
        unit = None
        for e in self.target.pending_events:
            unit = unit_after(type(e).__name__, vars(e), unit)
        assert unit == self.target.unit_id

    @invariant()
    def every_event_came_from_its_own_command(self) -> None:
        ids = [e.command_id for e in self.target.pending_events]
        assert len(ids) == len(set(ids)) == self.version

    @invariant()
    def a_cancelled_target_never_counts(self) -> None:
        t = self.target
        facts = ScoredTarget(t.unit_id, t.points, t.report_class, t.status)
        score = unit_score(t.unit_id, [facts], [], ScoringScale())
        if self.status == CA:
            assert (score.score, score.max_score, score.completion_rate) == (0, 0, 0)
            assert score.counts["cancelled"] == 1
        else:
            assert score.max_score == t.points
            assert score.counts["cancelled"] == 0


TargetLifecycle.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_target_lifecycle_never_breaks_the_table = TargetLifecycle.TestCase
