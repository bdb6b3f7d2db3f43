"""Every row of the lifecycle table (DESIGN.md), from every state: the allowed
commands move the target and record who/when/why/which command; the others are
refused with an error that names the command and the state, and record nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from thidua.domain import InvalidTransition, Status
from tests.unit.test_domain_builders import (
    ASSIGNED_AT,
    DEADLINE_AT,
    OTHER_UNIT,
    OWNER_HEAD,
    OWNER_UNIT,
    ROWS,
    SECRETARIAT,
    STANDING_COMMITTEE,
    TABLE,
    TITLE,
    WHY,
    Clock,
    assign,
    cmd,
    event_names,
    last_event,
    target_in,
)

ALLOWED = [(row, state) for row in TABLE for state in Status if state in row.moves]
REFUSED = [(row, state) for row in TABLE for state in Status if state not in row.moves]


def _id(value: object) -> str:
    return getattr(value, "command", None) or str(value)


def _when(row, clock: Clock):
    return DEADLINE_AT + timedelta(hours=1) if row.after_deadline else clock.tick()


def test_assign_creates_an_assigned_target_and_records_who_when_and_which_command():
    target = assign(ASSIGNED_AT, command_id="qd-934-gpmb-01", note="Theo Quyết định 934")

    assert target.status == Status.ASSIGNED
    assert target.version == 1
    assert target.unit_id == OWNER_UNIT
    assert target.title == TITLE
    assert target.deadline_at == DEADLINE_AT
    assigned = last_event(target)
    assert type(assigned).__name__ == "Assigned"
    assert (assigned.actor, assigned.occurred_at, assigned.command_id) == (SECRETARIAT, ASSIGNED_AT, "qd-934-gpmb-01")
    assert assigned.note == "Theo Quyết định 934"
    assert target.version_of_command("qd-934-gpmb-01") == 1


@pytest.mark.parametrize(("row", "from_state"), ALLOWED, ids=_id)
def test_an_allowed_command_moves_the_target_and_records_one_event(row, from_state):
    clock = Clock()
    target = target_in(from_state, clock)
    before = len(target.pending_events)
    at = _when(row, clock)
    command = cmd(row.actor, at, f"{row.command}-from-{from_state}")

    assert row.issue(target, command) is True

    assert target.status == row.to_state(from_state)
    assert len(target.pending_events) == before + 1
    event = last_event(target)
    assert type(event).__name__ == row.event
    assert event.actor == row.actor
    assert event.occurred_at == at
    assert event.command_id == command.id
    if row.why_field:
        assert getattr(event, row.why_field) == WHY
    assert target.version_of_command(command.id) == target.version
    assert target.updated_at == at and target.updated_by == row.actor


@pytest.mark.parametrize(("row", "from_state"), REFUSED, ids=_id)
def test_a_command_from_a_state_the_table_does_not_list_is_refused_naming_both(row, from_state):
    clock = Clock()
    target = target_in(from_state, clock)
    events_before, version_before = event_names(target), target.version

    with pytest.raises(InvalidTransition) as refused:
        row.issue(target, cmd(row.actor, _when(row, clock)))

    assert refused.value.command == row.command
    assert refused.value.state == str(from_state)
    assert row.command in str(refused.value) and str(from_state) in str(refused.value)
    assert refused.value.to_dict()["kind"] == "invalid_transition"
    assert target.status == from_state
    assert target.version == version_before
    assert event_names(target) == events_before


def test_a_whole_working_life_reads_like_the_table():
    clock = Clock()
    target = target_in(Status.ESCALATED, clock)

    target.resolve(cmd(STANDING_COMMITTEE, clock.tick()), directive="Giao UBND phường phối hợp vận động")
    target.report_progress(cmd(OWNER_HEAD, clock.tick()), percent=80)
    target.complete(cmd(OWNER_HEAD, clock.tick()), evidence="Biên bản")
    ROWS["reopen"].issue(target, cmd(SECRETARIAT, clock.tick()))
    target.complete(cmd(OWNER_HEAD, clock.tick()), evidence="Biên bản bổ sung")

    assert event_names(target) == [
        "Assigned", "Started", "Blocked", "Escalated", "Resolved", "ProgressReported",
        "Completed", "Reopened", "Completed",
    ]
    assert target.status == Status.COMPLETED
    assert target.reopens == 1


def test_a_cancelled_target_keeps_why_it_was_cancelled():
    target = target_in(Status.CANCELLED)

    assert target.cancel_reason == "Chỉ tiêu được điều chỉnh"
    assert not target.is_open


def test_reassign_hands_the_target_to_another_unit_and_remembers_the_previous_one():
    target = target_in(Status.IN_PROGRESS)
    target.reassign(cmd(SECRETARIAT, ASSIGNED_AT + timedelta(days=3)), unit_id=OTHER_UNIT, reason=WHY)

    assert target.unit_id == OTHER_UNIT
    assert last_event(target).from_unit_id == OWNER_UNIT
    assert target.status == Status.IN_PROGRESS
