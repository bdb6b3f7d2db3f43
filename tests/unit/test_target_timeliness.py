"""The overdue flag and the Government Office's reporting class.

Lateness is judged against the deadline in force when the target was completed;
a deadline date ends at 23:59:59 local time (Hanoi: 16:59:59 UTC).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from thidua.domain import SYSTEM, BadInput, InvalidTransition, ReportClass, Status, classify
from tests.unit.test_domain_builders import (
    ASSIGNED_AT,
    DEADLINE,
    DEADLINE_AT,
    NEW_DEADLINE,
    OWNER_HEAD,
    SECRETARIAT,
    STANDING_COMMITTEE,
    Clock,
    assign,
    cmd,
    last_event,
    target_in,
)

SECOND = timedelta(seconds=1)
NEW_DEADLINE_AT = datetime(2022, 9, 30, 16, 59, 59, tzinfo=timezone.utc)


def overdue_target():
    """Started, and the deadline timer has fired."""
    target = target_in(Status.IN_PROGRESS)
    target.mark_overdue(cmd(SYSTEM, DEADLINE_AT + SECOND), deadline_at=DEADLINE_AT)
    return target


def test_the_deadline_date_ends_at_23_59_59_local_time():
    assert assign().deadline_at == DEADLINE_AT
    paris = assign(timezone="Europe/Paris")  # summer time, UTC+2
    assert paris.deadline_at == datetime(2022, 6, 30, 21, 59, 59, tzinfo=timezone.utc)


def test_an_unknown_time_zone_is_refused():
    with pytest.raises(BadInput) as refused:
        assign(timezone="Asia/Vinh_Yen")
    assert refused.value.field == "timezone"


def test_an_open_target_before_its_deadline_is_in_progress_within_deadline():
    assert assign().report_class == ReportClass.IN_PROGRESS_WITHIN_DEADLINE
    assert target_in(Status.BLOCKED).report_class == ReportClass.IN_PROGRESS_WITHIN_DEADLINE


def test_completing_at_the_last_second_of_the_deadline_day_is_on_time():
    target = target_in(Status.IN_PROGRESS)
    target.complete(cmd(OWNER_HEAD, DEADLINE_AT))
    assert target.report_class == ReportClass.COMPLETED_ON_TIME


def test_completing_one_second_after_the_deadline_day_is_late_even_before_the_timer_fired():
    target = target_in(Status.IN_PROGRESS)
    target.complete(cmd(OWNER_HEAD, DEADLINE_AT + SECOND))
    assert not target.overdue
    assert target.report_class == ReportClass.COMPLETED_LATE


def test_the_deadline_timer_marks_an_open_target_overdue():
    target = overdue_target()

    assert target.overdue is True
    assert target.status == Status.IN_PROGRESS
    assert target.report_class == ReportClass.OVERDUE
    event = last_event(target)
    assert type(event).__name__ == "DeadlinePassed"
    assert event.actor == SYSTEM and event.deadline_at == DEADLINE_AT


def test_the_deadline_timer_refuses_to_fire_early_twice_or_for_an_old_deadline():
    target = target_in(Status.IN_PROGRESS)
    with pytest.raises(InvalidTransition, match="has not passed"):
        target.mark_overdue(cmd(SYSTEM, DEADLINE_AT - SECOND), deadline_at=DEADLINE_AT)

    target.mark_overdue(cmd(SYSTEM, DEADLINE_AT + SECOND), deadline_at=DEADLINE_AT)
    with pytest.raises(InvalidTransition, match="already overdue"):
        target.mark_overdue(cmd(SYSTEM, DEADLINE_AT + 2 * SECOND), deadline_at=DEADLINE_AT)

    other = target_in(Status.IN_PROGRESS)
    other.extend_deadline(cmd(STANDING_COMMITTEE, ASSIGNED_AT + timedelta(days=30)), NEW_DEADLINE, reason="QĐ 937")
    with pytest.raises(InvalidTransition, match="deadline was changed"):
        other.mark_overdue(cmd(SYSTEM, DEADLINE_AT + SECOND), deadline_at=DEADLINE_AT)
    assert not other.overdue


def test_an_overdue_target_completed_is_completed_late_and_no_longer_flagged():
    target = overdue_target()
    target.complete(cmd(OWNER_HEAD, DEADLINE_AT + timedelta(days=2)))

    assert target.overdue is False
    assert target.report_class == ReportClass.COMPLETED_LATE


def test_an_extension_granted_before_the_deadline_keeps_a_later_completion_on_time():
    target = target_in(Status.IN_PROGRESS)
    target.extend_deadline(
        cmd(STANDING_COMMITTEE, DEADLINE_AT - timedelta(days=5)), NEW_DEADLINE, reason="Chờ phê duyệt phương án"
    )
    target.complete(cmd(OWNER_HEAD, DEADLINE_AT + timedelta(days=10)))

    assert target.deadline == NEW_DEADLINE and target.deadline_at == NEW_DEADLINE_AT
    assert target.report_class == ReportClass.COMPLETED_ON_TIME


def test_an_extension_granted_after_the_deadline_clears_overdue_and_judges_against_the_new_deadline():
    target = overdue_target()
    target.extend_deadline(cmd(STANDING_COMMITTEE, DEADLINE_AT + timedelta(days=1)), NEW_DEADLINE, reason="QĐ gia hạn")
    assert target.overdue is False
    assert target.report_class == ReportClass.IN_PROGRESS_WITHIN_DEADLINE

    target.complete(cmd(OWNER_HEAD, NEW_DEADLINE_AT))
    assert target.report_class == ReportClass.COMPLETED_ON_TIME


def test_an_extension_to_a_date_already_past_leaves_the_target_overdue():
    target = overdue_target()
    target.extend_deadline(cmd(STANDING_COMMITTEE, DEADLINE_AT + timedelta(days=5)), date(2022, 7, 1), reason="muộn")
    assert target.overdue is True
    assert target.report_class == ReportClass.OVERDUE


def test_a_deadline_can_only_move_later():
    target = target_in(Status.IN_PROGRESS)
    for earlier_or_same in (DEADLINE, DEADLINE - timedelta(days=1)):
        with pytest.raises(BadInput) as refused:
            target.extend_deadline(cmd(STANDING_COMMITTEE, ASSIGNED_AT + timedelta(days=1)), earlier_or_same, "x")
        assert refused.value.field == "new_deadline"
    with pytest.raises(BadInput):
        target.extend_deadline(cmd(STANDING_COMMITTEE, ASSIGNED_AT + timedelta(days=1)), NEW_DEADLINE, reason="  ")
    assert target.deadline == DEADLINE


def test_a_target_completed_late_keeps_that_class_when_nothing_else_happens():
    # Judged at completion: a later extension is not possible on a completed target.
    target = target_in(Status.IN_PROGRESS)
    target.complete(cmd(OWNER_HEAD, DEADLINE_AT + timedelta(days=1)))
    with pytest.raises(InvalidTransition):
        target.extend_deadline(cmd(STANDING_COMMITTEE, DEADLINE_AT + timedelta(days=2)), NEW_DEADLINE, "x")
    assert target.report_class == ReportClass.COMPLETED_LATE


def test_reopening_before_the_deadline_is_within_the_deadline_and_after_it_is_overdue():
    early = target_in(Status.COMPLETED)
    early.reopen(cmd(SECRETARIAT, ASSIGNED_AT + timedelta(days=10)), reason="Hồ sơ thiếu biên bản")
    assert (early.overdue, early.report_class) == (False, ReportClass.IN_PROGRESS_WITHIN_DEADLINE)
    assert early.completed_at is None

    late = target_in(Status.COMPLETED)
    late.reopen(cmd(SECRETARIAT, DEADLINE_AT + timedelta(days=1)), reason="Kết quả chưa đạt")
    assert (late.overdue, late.report_class) == (True, ReportClass.OVERDUE)

    late.complete(cmd(OWNER_HEAD, DEADLINE_AT + timedelta(days=3)))
    assert late.report_class == ReportClass.COMPLETED_LATE


def test_a_cancelled_target_is_cancelled_whatever_its_deadline():
    target = overdue_target()
    target.cancel(cmd(SECRETARIAT, DEADLINE_AT + timedelta(days=1)), reason="Dự án tạm dừng")

    assert target.overdue is False
    assert target.report_class == ReportClass.CANCELLED


def test_resolving_with_a_new_deadline_clears_overdue():
    clock = Clock()
    target = target_in(Status.ESCALATED, clock)
    target.mark_overdue(cmd(SYSTEM, DEADLINE_AT + SECOND), deadline_at=DEADLINE_AT)
    target.resolve(cmd(STANDING_COMMITTEE, DEADLINE_AT + timedelta(days=1)), directive="Gia hạn", new_deadline=NEW_DEADLINE)

    assert target.deadline_at == NEW_DEADLINE_AT
    assert target.overdue is False
    assert target.report_class == ReportClass.IN_PROGRESS_WITHIN_DEADLINE


@pytest.mark.parametrize(
    ("status", "overdue", "completed_at", "expected"),
    [
        (Status.COMPLETED, False, DEADLINE_AT, ReportClass.COMPLETED_ON_TIME),
        (Status.COMPLETED, False, DEADLINE_AT + SECOND, ReportClass.COMPLETED_LATE),
        (Status.IN_PROGRESS, False, None, ReportClass.IN_PROGRESS_WITHIN_DEADLINE),
        (Status.ESCALATED, True, None, ReportClass.OVERDUE),
        (Status.CANCELLED, True, None, ReportClass.CANCELLED),
    ],
)
def test_classify(status, overdue, completed_at, expected):
    deadline_at_completion = DEADLINE_AT if completed_at else None
    assert classify(status, overdue, completed_at, deadline_at_completion) == expected


# ------------------------------------------------------------------ stale reminders
def test_a_stale_reminder_is_sent_once_per_quiet_spell_and_not_after_activity():
    clock = Clock()
    target = target_in(Status.IN_PROGRESS, clock)
    quiet_since = target.last_activity_at

    assert target.remind_stale(cmd(SYSTEM, clock.tick(timedelta(days=14))), since=quiet_since)
    assert last_event(target).since == quiet_since
    with pytest.raises(InvalidTransition):
        target.remind_stale(cmd(SYSTEM, clock.tick(timedelta(days=14))), since=quiet_since)

    target.report_progress(cmd(OWNER_HEAD, clock.tick()), percent=50)
    with pytest.raises(InvalidTransition, match="activity since"):
        target.remind_stale(cmd(SYSTEM, clock.tick()), since=quiet_since)
    assert target.remind_stale(cmd(SYSTEM, clock.tick(timedelta(days=14))), since=target.last_activity_at)
