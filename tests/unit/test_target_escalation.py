"""Escalation (báo cáo BTV tháo gỡ): a blocked target handed to the Standing Committee,
at the unit's request or by the timer, reminded while it waits, resolved by a directive."""

from __future__ import annotations

from datetime import timedelta

import pytest

from thidua.domain import SYSTEM, BadInput, InvalidTransition, NotAllowed, Status, Trigger
from thidua.domain.values import EscalationState
from tests.unit.test_domain_builders import (
    NEW_DEADLINE,
    OTHER_HEAD,
    OTHER_UNIT,
    OWNER_HEAD,
    OWNER_UNIT,
    SECRETARIAT,
    STANDING_COMMITTEE,
    Clock,
    cmd,
    last_event,
    target_in,
)

BLOCK_REASON = "Hộ dân chưa đồng ý phương án bồi thường"


def blocked(clock: Clock):
    return target_in(Status.BLOCKED, clock)


def test_a_unit_asks_for_escalation_and_the_escalation_opens_with_its_reason():
    clock = Clock()
    target = blocked(clock)
    at = clock.tick()
    target.escalate(cmd(OWNER_HEAD, at), reason="Vượt thẩm quyền phường")

    assert target.status == Status.ESCALATED
    assert target.escalation == {
        "number": 1,
        "state": EscalationState.OPEN,
        "trigger": Trigger.REQUESTED,
        "opened_at": at,
        "reason": "Vượt thẩm quyền phường",
        "help_needed": None,
        "reminders": 0,
        "last_reminded_at": None,
        "directive": None,
        "resolved_at": None,
        "resolved_by": None,
    }
    assert last_event(target).trigger == Trigger.REQUESTED


def test_an_escalation_without_a_reason_carries_the_reason_of_the_block():
    clock = Clock()
    target = blocked(clock)
    target.escalate(cmd(OWNER_HEAD, clock.tick()))
    assert target.escalation["reason"] == BLOCK_REASON


def test_the_timer_escalates_a_target_still_blocked_as_system():
    clock = Clock()
    target = blocked(clock)
    at = clock.tick(timedelta(days=3))
    target.auto_escalate(cmd(SYSTEM, at, "auto-escalate-1"), block_no=1)

    assert target.status == Status.ESCALATED
    assert target.escalation["trigger"] == Trigger.AUTO
    assert target.escalation["opened_at"] == at
    assert target.escalation["reason"] == BLOCK_REASON
    event = last_event(target)
    assert (event.actor, event.command_id) == (SYSTEM, "auto-escalate-1")


def test_the_timer_of_an_earlier_block_does_not_escalate_a_later_one():
    clock = Clock()
    target = blocked(clock)
    target.unblock(cmd(OWNER_HEAD, clock.tick()))
    target.block(cmd(OWNER_HEAD, clock.tick()), reason="Vướng mắc mới")

    with pytest.raises(InvalidTransition, match="block this timer was armed for"):
        target.auto_escalate(cmd(SYSTEM, clock.tick(timedelta(days=3))), block_no=1)
    assert target.auto_escalate(cmd(SYSTEM, clock.tick()), block_no=2)


def test_reminders_count_up_one_by_one_while_the_escalation_waits():
    clock = Clock()
    target = target_in(Status.ESCALATED, clock)
    first = clock.tick(timedelta(days=7))
    target.remind_escalation(cmd(SYSTEM, first), escalation_no=1, reminder_no=1)
    second = clock.tick(timedelta(days=7))
    target.remind_escalation(cmd(SYSTEM, second), escalation_no=1, reminder_no=2)

    assert target.status == Status.ESCALATED
    assert target.escalation["reminders"] == 2
    assert target.escalation["last_reminded_at"] == second
    assert last_event(target).reminder_no == 2
    for escalation_no, reminder_no in ((1, 2), (1, 4), (2, 3)):
        with pytest.raises(InvalidTransition, match="not the next one due"):
            target.remind_escalation(cmd(SYSTEM, clock.tick()), escalation_no=escalation_no, reminder_no=reminder_no)


def test_the_standing_committee_resolves_with_a_directive_and_work_resumes():
    clock = Clock()
    target = target_in(Status.ESCALATED, clock)
    opened_at = target.escalation["opened_at"]
    at = clock.tick(timedelta(days=2))
    target.resolve(cmd(STANDING_COMMITTEE, at), directive="UBND thành phố chủ trì đối thoại với hộ dân")

    assert target.status == Status.IN_PROGRESS
    assert target.blocked_at is None
    assert target.escalation["state"] == EscalationState.RESOLVED
    assert target.escalation["directive"] == "UBND thành phố chủ trì đối thoại với hộ dân"
    assert target.escalation["resolved_at"] == at
    assert target.escalation["resolved_by"] == STANDING_COMMITTEE.id
    assert target.escalation["opened_at"] == opened_at
    assert target.last_activity_at == at


def test_a_resolution_may_extend_the_deadline_reassign_and_add_coordinating_units():
    clock = Clock()
    target = target_in(Status.ESCALATED, clock)
    target.resolve(
        cmd(STANDING_COMMITTEE, clock.tick()),
        directive="Giao phường Liên Bảo chủ trì",
        new_deadline=NEW_DEADLINE,
        reassign_to=OTHER_UNIT,
        coordinating_unit_ids=["tai-nguyen-moi-truong", "quy-dat", "tai-nguyen-moi-truong"],
    )

    assert target.deadline == NEW_DEADLINE
    assert target.unit_id == OTHER_UNIT
    assert target.coordinating_unit_ids == ["tai-nguyen-moi-truong", "quy-dat"]
    event = last_event(target)
    assert (event.new_deadline, event.reassign_to) == (NEW_DEADLINE, OTHER_UNIT)
    with pytest.raises(NotAllowed):
        target.report_progress(cmd(OWNER_HEAD, clock.tick()), note="x")
    assert target.report_progress(cmd(OTHER_HEAD, clock.tick()), note="Đã tiếp nhận")


def test_coordinating_units_accumulate_across_escalations_and_a_second_escalation_is_numbered_two():
    clock = Clock()
    target = target_in(Status.ESCALATED, clock)
    target.remind_escalation(cmd(SYSTEM, clock.tick()), escalation_no=1, reminder_no=1)
    target.resolve(cmd(STANDING_COMMITTEE, clock.tick()), directive="A", coordinating_unit_ids=["quy-dat"])
    target.block(cmd(OWNER_HEAD, clock.tick()), reason="Lại vướng")
    target.escalate(cmd(OWNER_HEAD, clock.tick()))
    target.resolve(cmd(STANDING_COMMITTEE, clock.tick()), directive="B", coordinating_unit_ids=["cong-an", "quy-dat"])

    assert target.coordinating_unit_ids == ["quy-dat", "cong-an"]
    assert target.escalation["number"] == 2
    assert target.escalation["reminders"] == 0
    assert target.escalation["reason"] == "Lại vướng"
    assert target.escalation_count == 2 and target.blocks == 2


def test_a_resolution_needs_a_directive_and_a_real_change():
    clock = Clock()
    target = target_in(Status.ESCALATED, clock)
    bad = [
        {"directive": "   "},
        {"directive": "x", "reassign_to": OWNER_UNIT},
        {"directive": "x", "new_deadline": target.deadline},
        {"directive": "x", "coordinating_unit_ids": [""]},
    ]
    for kwargs in bad:
        with pytest.raises(BadInput):
            target.resolve(cmd(STANDING_COMMITTEE, clock.tick()), **kwargs)
    assert target.status == Status.ESCALATED
    assert target.escalation["state"] == EscalationState.OPEN


def test_cancelling_an_escalated_target_closes_its_escalation_without_a_directive():
    clock = Clock()
    target = target_in(Status.ESCALATED, clock)
    at = clock.tick()
    target.cancel(cmd(SECRETARIAT, at), reason="Dự án dừng triển khai")

    assert target.escalation["state"] == EscalationState.RESOLVED
    assert target.escalation["directive"] is None
    assert target.escalation["resolved_at"] == at


def test_the_target_shows_its_escalation_in_the_contract_shape():
    clock = Clock()
    target = target_in(Status.ESCALATED, clock)
    shown = target.to_state()["escalation"]

    assert shown["state"] == "open" and shown["trigger"] == "requested"
    assert shown["opened_at"] == target.escalation["opened_at"].isoformat()
    assert shown["directive"] is None
    assert target_in(Status.IN_PROGRESS).to_state()["escalation"] is None
    assert target.to_state()["block_reason"] == BLOCK_REASON
