"""A command is applied at most once per command id; assignment at most once per key;
`expected_version` guards against acting on a stale view."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from thidua.domain import (
    SYSTEM,
    BadInput,
    Command,
    CommandIdReused,
    Decision,
    InvalidTransition,
    Measure,
    Status,
    VersionConflict,
    target_id_for,
)
from tests.unit.test_domain_builders import (
    ASSIGNED_AT,
    CAMPAIGN,
    DEADLINE,
    DEADLINE_AT,
    OWNER_HEAD,
    OWNER_UNIT,
    SECRETARIAT,
    STANDING_COMMITTEE,
    TABLE,
    TITLE,
    Clock,
    assign,
    cmd,
    event_names,
    target_in,
)


@pytest.mark.parametrize("row", TABLE, ids=lambda r: r.command)
def test_a_replayed_command_id_adds_nothing_and_returns_false(row):
    clock = Clock()
    target = target_in(next(iter(row.moves)), clock)
    at = DEADLINE_AT + timedelta(hours=1) if row.after_deadline else clock.tick()
    command = cmd(row.actor, at, f"retry-{row.command}")
    arguments = row.arguments(target)  # a retry carries exactly what the first attempt did
    assert row.issue(target, command, arguments) is True
    events, version, state = event_names(target), target.version, target.to_state()

    assert row.issue(target, command, arguments) is False
    assert row.issue(target, command, arguments) is False

    assert event_names(target) == events
    assert target.version == version
    assert target.to_state() == state
    assert target.version_of_command(command.id) == version


def test_a_retry_after_the_target_moved_on_is_still_a_no_op_not_a_refusal():
    clock = Clock()
    target = target_in(Status.ASSIGNED, clock)
    start = cmd(OWNER_HEAD, clock.tick(), "start-1")
    target.start(start, note="Bắt đầu")
    target.block(cmd(OWNER_HEAD, clock.tick()), reason="Vướng")

    assert target.start(start, note="Bắt đầu") is False  # not InvalidTransition: it already happened
    assert target.status == Status.BLOCKED
    assert target.version_of_command("start-1") == 2


def test_a_command_id_reused_with_another_payload_is_refused_and_records_nothing():
    clock = Clock()
    target = target_in(Status.IN_PROGRESS, clock)
    target.report_progress(cmd(OWNER_HEAD, clock.tick(), "progress-1"), percent=Decimal("40"))
    events = event_names(target)

    with pytest.raises(CommandIdReused) as reused:
        target.report_progress(cmd(OWNER_HEAD, clock.tick(), "progress-1"), percent=Decimal("60"))
    assert reused.value.to_dict()["kind"] == "command_id_reused"
    assert reused.value.to_dict()["command_id"] == "progress-1"
    with pytest.raises(CommandIdReused):
        target.complete(cmd(OWNER_HEAD, clock.tick(), "progress-1"))
    assert event_names(target) == events
    assert target.percent == Decimal("40")


def test_the_assignment_command_id_cannot_be_reused_for_another_command():
    target = assign(command_id="qd-934-01")
    with pytest.raises(CommandIdReused):
        target.start(cmd(OWNER_HEAD, ASSIGNED_AT + timedelta(hours=1), "qd-934-01"))


# ------------------------------------------------------------------ assignment by key
ASSIGNMENT = {
    "campaign_id": CAMPAIGN,
    "unit_id": OWNER_UNIT,
    "title": TITLE,
    "area": "gpmb",
    "deadline": DEADLINE,
    "points": Decimal("10"),
    "timezone": "Asia/Ho_Chi_Minh",
    "key": "QĐ-934/GPMB-01",
    "decision": Decision("934-QĐ/TU", DEADLINE.replace(month=2, day=15), "Ban Thường vụ Thành ủy"),
    "measure": Measure("percent_of_households", Decimal("95"), "%", "up"),
}


def test_the_key_names_the_target_so_a_repeated_assignment_finds_the_same_one():
    target = assign(command_id="import-row-1", **{k: v for k, v in ASSIGNMENT.items() if k != "campaign_id"})

    assert target.id == target_id_for(CAMPAIGN, "QĐ-934/GPMB-01")
    assert target_id_for("another-campaign", "QĐ-934/GPMB-01") != target.id
    retry = Command("import-row-2", SECRETARIAT, ASSIGNED_AT + timedelta(minutes=5))
    assert target.is_same_assignment(retry, **ASSIGNMENT) is True
    # points given as an int or a string mean the same thing
    assert target.is_same_assignment(retry, **{**ASSIGNMENT, "points": 10}) is True


@pytest.mark.parametrize(
    "change",
    [{"title": "Another title"}, {"points": 20}, {"unit_id": "lien-bao"}, {"deadline": DEADLINE.replace(day=29)},
     {"measure": None}],
    ids=lambda c: next(iter(c)),
)
def test_the_same_key_with_other_details_is_refused(change):
    target = assign(**{k: v for k, v in ASSIGNMENT.items() if k != "campaign_id"})
    retry = Command("import-row-3", SECRETARIAT, ASSIGNED_AT + timedelta(minutes=5))
    with pytest.raises(CommandIdReused) as reused:
        target.is_same_assignment(retry, **{**ASSIGNMENT, **change})
    assert reused.value.to_dict()["key"] == "QĐ-934/GPMB-01"


def test_without_a_key_the_command_id_is_the_key():
    target = assign(command_id="post-42")
    assert target.key == "post-42"
    assert target.id == target_id_for(CAMPAIGN, "post-42")
    kwargs = {k: v for k, v in ASSIGNMENT.items() if k not in ("key", "decision", "measure")}
    assert target.is_same_assignment(Command("post-42", SECRETARIAT, ASSIGNED_AT), **kwargs)


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"title": " "}, "title"),
        ({"unit_id": ""}, "unit_id"),
        ({"area": ""}, "area"),
        ({"points": -1}, "points"),
        ({"points": "mười"}, "points"),
        ({"points": "NaN"}, "points"),
        ({"points": 10_000_001}, "points"),
        ({"deadline": "2022-06-30"}, "deadline"),
        ({"deadline": datetime(2022, 6, 30)}, "deadline"),
        ({"title": "x" * 501}, "title"),
    ],
)
def test_an_assignment_with_bad_details_is_refused_naming_the_field(bad, field):
    with pytest.raises(BadInput) as refused:
        assign(**bad)
    assert refused.value.field == field


# ------------------------------------------------------------------ expected_version
def test_expected_version_lets_the_command_through_when_it_matches():
    clock = Clock()
    target = target_in(Status.ASSIGNED, clock)
    assert target.start(cmd(OWNER_HEAD, clock.tick()), expected_version=1)
    assert target.version == 2


def test_a_stale_expected_version_is_a_version_conflict_and_records_nothing():
    clock = Clock()
    target = target_in(Status.IN_PROGRESS, clock)
    with pytest.raises(VersionConflict) as conflict:
        target.complete(cmd(OWNER_HEAD, clock.tick()), expected_version=1)
    assert conflict.value.to_dict() == {
        "kind": "conflict", "message": str(conflict.value), "expected_version": 1, "current_version": 2,
    }
    assert target.status == Status.IN_PROGRESS and target.version == 2
    with pytest.raises(VersionConflict):
        target.cancel(cmd(STANDING_COMMITTEE, clock.tick()), reason="x", expected_version=3)


def test_the_state_is_judged_before_the_version():
    clock = Clock()
    target = target_in(Status.IN_PROGRESS, clock)
    with pytest.raises(InvalidTransition):
        target.unblock(cmd(OWNER_HEAD, clock.tick()), expected_version=99)


# ------------------------------------------------------------------ the command itself
@pytest.mark.parametrize(
    ("command_id", "at", "field"),
    [
        ("", ASSIGNED_AT, "command_id"),
        ("x" * 201, ASSIGNED_AT, "command_id"),
        ("ok", datetime(2022, 3, 1, 8, 0), "at"),
    ],
)
def test_a_command_needs_an_id_and_a_time_with_an_offset(command_id, at, field):
    with pytest.raises(BadInput) as refused:
        Command(command_id, SYSTEM, at)
    assert refused.value.field == field
