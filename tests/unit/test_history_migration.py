"""Playing a drive's past from the old records onto targets (domain/history.py)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from thidua.domain import history
from thidua.domain.errors import NotAllowed
from thidua.domain.history import PastAction, play
from thidua.domain.values import SYSTEM, Actor, Policy, ReportClass, Role, Status

VN = timezone(timedelta(hours=7))
NOW = datetime(2026, 12, 3, 9, 0, tzinfo=timezone.utc)
IMPORTER = Actor("u-sec", "Văn phòng Thành ủy", Role.SECRETARIAT)
ASSIGN_ARGS = {"unit_id": "phuong-ngo-quyen", "title": "Chỉnh trang đô thị", "area": "Đô thị",
               "deadline": date(2022, 9, 30), "points": Decimal(10)}


def at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(hour=9, tzinfo=VN)


def rows(*items: tuple[str, str, dict]) -> list[PastAction]:
    return [PastAction(line=i + 2, key="934-07", action=action, when=at(day), who="Nguyễn Văn A", args=args)
            for i, (action, day, args) in enumerate(items)]


def run(actions, existing=None, import_id="imp-1", importer=IMPORTER, policy=Policy()):  # type: ignore[no-untyped-def]
    return play("934-07", existing, actions, campaign_id="vinh-yen-2022", timezone="Asia/Ho_Chi_Minh",
                policy=policy, importer=importer, import_id=import_id, now=NOW)


def test_the_past_is_recorded_when_it_happened_by_whom_the_records_name_marked_as_migrated():
    played, error = run(rows(("assign", "2022-02-21", ASSIGN_ARGS), ("start", "2022-03-01", {"note": "bắt đầu"}),
                             ("complete", "2022-09-15", {"note": "xong"})))
    assert error is None and played is not None and played.new
    target = played.target
    events = target.collect_events()
    assert [type(e).__name__ for e in events] == ["Assigned", "Started", "Completed", "HistoryMigrated"]
    assert [e.occurred_at for e in events[:3]] == [at("2022-02-21"), at("2022-03-01"), at("2022-09-15")]
    assert events[1].actor.id == "migrated:u-sec" and events[1].actor.name == "Nguyễn Văn A"
    assert events[1].actor.role == Role.UNIT_HEAD and events[1].actor.unit_id == "phuong-ngo-quyen"
    assert events[1].command_id == "history:imp-1:3"
    marker = events[-1]
    assert marker.actor == IMPORTER and marker.occurred_at == NOW
    assert (marker.import_id, marker.first_version, marker.last_version) == ("imp-1", 1, 3)
    assert target.report_class == ReportClass.COMPLETED_ON_TIME
    assert history.is_migrated(events[1].actor.id, events[1].command_id)


def test_a_deadline_passed_in_the_records_makes_the_target_overdue_at_its_deadline():
    played, error = run(rows(("assign", "2022-02-21", ASSIGN_ARGS), ("complete", "2022-10-20", {})))
    assert error is None
    events = played.target.collect_events()
    assert [type(e).__name__ for e in events] == ["Assigned", "DeadlinePassed", "Completed", "HistoryMigrated"]
    assert events[1].actor == SYSTEM and events[1].occurred_at == played.target.deadline_at
    assert played.target.report_class == ReportClass.COMPLETED_LATE


def test_an_open_target_past_its_deadline_is_overdue_from_its_deadline():
    played, _ = run(rows(("assign", "2022-02-21", ASSIGN_ARGS), ("start", "2022-03-01", {})))
    assert played.target.overdue and played.target.status == Status.IN_PROGRESS
    assert "DeadlinePassed" in [type(e).__name__ for e in played.target.collect_events()]


def test_the_same_import_again_adds_nothing():
    played, _ = run(rows(("assign", "2022-02-21", ASSIGN_ARGS), ("start", "2022-03-01", {})))
    target = played.target
    target.collect_events()
    again, error = run(rows(("assign", "2022-02-21", ASSIGN_ARGS), ("start", "2022-03-01", {})), existing=target)
    assert error is None and again.events == 0 and not target.collect_events()


def test_a_row_the_lifecycle_refuses_names_its_line():
    played, error = run(rows(("assign", "2022-02-21", ASSIGN_ARGS), ("accept", "2022-03-01", {})))
    assert played is None and error.line == 3 and error.kind == "invalid_transition"


def test_a_new_key_must_start_with_assign_and_nothing_happens_in_the_future():
    _, error = run(rows(("start", "2022-03-01", {})))
    assert error.line == 2 and error.field == "action"
    future = [PastAction(2, "934-07", "assign", NOW + timedelta(days=1), "A", ASSIGN_ARGS)]
    _, error = run(future)
    assert error.field == "when"


def test_the_past_is_added_in_time_order_after_what_is_recorded():
    played, _ = run(rows(("assign", "2022-02-21", ASSIGN_ARGS), ("start", "2022-05-01", {})))
    target = played.target
    target.collect_events()
    _, error = run([PastAction(2, "934-07", "report_progress", at("2022-04-01"), "A", {"percent": Decimal(10)})],
                   existing=target, import_id="imp-2")
    assert error.field == "when" and "before the target's last recorded event" in error.message


def test_only_the_secretariat_imports_history():
    with pytest.raises(NotAllowed):
        run(rows(("assign", "2022-02-21", ASSIGN_ARGS)), importer=Actor("u-sc", "BTV", Role.STANDING_COMMITTEE))
