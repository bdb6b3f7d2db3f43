"""Who may do what (DESIGN.md's "who" column and the roles of the HTTP contract),
first as the pure functions the workflow and the API share, then as the aggregates
enforce it: a refused actor changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from thidua.domain import SYSTEM, Actor, NotAllowed, Role, Status
from thidua.domain.errors import BadInput
from thidua.domain.lifecycle import COMMANDS, command_named
from thidua.domain.permissions import (
    CAMPAIGN_COMMANDS,
    check_may,
    may,
    may_read_audit,
    may_read_history,
    may_read_target,
    reads_every_target,
)
from tests.unit.test_domain_builders import (
    DEADLINE_AT,
    EVERYONE,
    INSPECTOR,
    OTHER_HEAD,
    OWNER_HEAD,
    OWNER_UNIT,
    SECRETARIAT,
    STANDING_COMMITTEE,
    TABLE,
    Clock,
    assign,
    cmd,
    event_names,
    target_in,
)

OWNER_ONLY = {OWNER_HEAD}
OFFICE = {SECRETARIAT, STANDING_COMMITTEE}
# Written out again here from the table, independently of domain/lifecycle.py.
WHO_MAY = {
    "assign": OFFICE,
    "start": OWNER_ONLY,
    "report_progress": OWNER_ONLY,
    "block": OWNER_ONLY,
    "unblock": OWNER_ONLY,
    "escalate": OWNER_ONLY,
    "auto_escalate": {SYSTEM},
    "remind_escalation": {SYSTEM},
    "resolve": {STANDING_COMMITTEE},
    "complete": OWNER_ONLY,
    "accept": {SECRETARIAT},
    "return_completion": {SECRETARIAT},
    "remind_acceptance": {SYSTEM},
    "reopen": OFFICE,
    "extend_deadline": {STANDING_COMMITTEE},
    "reassign": OFFICE,
    "cancel": OFFICE,
    "mark_overdue": {SYSTEM},
    "remind_stale": {SYSTEM},
    # Comment and reply: anyone who may read the target and write (a coordinating unit's or a
    # cluster lead's head too: see test_paper_trail_domain.py); urge and directive by role.
    "comment": OFFICE | OWNER_ONLY,
    "attach_evidence": OWNER_ONLY,
    "complete_by_children": {SYSTEM},
    "reopen_by_child": {SYSTEM},
}
CASES = [(command, actor) for command in WHO_MAY for actor in EVERYONE]


def _id(value: object) -> str:
    return value.id if isinstance(value, Actor) else str(value)


def test_every_target_command_of_the_table_has_a_rule():
    assert set(COMMANDS) == set(WHO_MAY)


@pytest.mark.parametrize(("command", "actor"), CASES, ids=_id)
def test_who_may_command_a_target(command, actor):
    assert COMMANDS[command].allows(actor, OWNER_UNIT) is (actor in WHO_MAY[command])


def test_a_unit_head_without_a_unit_owns_nothing():
    unattached = Actor("x", "x", Role.UNIT_HEAD, None)
    assert not COMMANDS["start"].allows(unattached, OWNER_UNIT)
    assert not COMMANDS["start"].allows(unattached, None)


def test_an_unknown_command_is_no_command_and_allowed_to_nobody():
    with pytest.raises(BadInput) as refused:
        command_named("demolish")
    assert refused.value.field == "command"
    assert not any(may(actor, "demolish") for actor in EVERYONE)


def test_a_refusal_says_who_was_refused_and_for_what():
    with pytest.raises(NotAllowed) as refused:
        COMMANDS["complete"].check_allowed(OTHER_HEAD, OWNER_UNIT)
    assert refused.value.to_dict() == {
        "kind": "not_allowed", "message": str(refused.value), "command": "complete", "role": "unit_head",
    }
    assert "complete" in str(refused.value) and OWNER_UNIT in str(refused.value)


@pytest.mark.parametrize(
    ("command", "allowed"),
    [
        ("create_campaign", {SECRETARIAT}),
        ("set_cluster", {SECRETARIAT}),
        ("record_decision", {SECRETARIAT}),
        ("change_policy", {SECRETARIAT}),
        ("change_scoring", OFFICE),
        ("award_bonus", {STANDING_COMMITTEE}),
        ("close_campaign", {SECRETARIAT}),
        ("register_unit", {SECRETARIAT}),
        ("manage_users", {SECRETARIAT}),
    ],
)
def test_who_may_change_campaigns_units_and_users(command, allowed):
    assert command in CAMPAIGN_COMMANDS
    for actor in EVERYONE:
        assert may(actor, command) is (actor in allowed)
        if actor not in allowed:
            with pytest.raises(NotAllowed):
                check_may(actor, command)


def test_reading_a_target_a_unit_head_sees_its_own_unit_and_the_cluster_it_leads():
    assert may_read_target(OWNER_HEAD, OWNER_UNIT)
    assert not may_read_target(OTHER_HEAD, OWNER_UNIT)
    # the other unit heads or deputises the owning unit's cluster
    assert may_read_target(OTHER_HEAD, OWNER_UNIT, cluster_leads={OTHER_HEAD.unit_id, "someone-else"})
    assert not may_read_target(OTHER_HEAD, OWNER_UNIT, cluster_leads={"someone-else"})
    for actor in (SECRETARIAT, STANDING_COMMITTEE, INSPECTOR):
        assert may_read_target(actor, OWNER_UNIT)
    assert not may_read_target(SYSTEM, OWNER_UNIT)


def test_who_reads_every_target_needs_no_owner_to_be_let_in():
    # The API answers these readers from the read model without loading the target: that is
    # sound only if the rule admits them whoever owns it, and nobody else is answered so.
    for actor in (SECRETARIAT, STANDING_COMMITTEE, INSPECTOR, OWNER_HEAD, OTHER_HEAD, SYSTEM):
        if reads_every_target(actor):
            assert all(may_read_target(actor, owner) for owner in (OWNER_UNIT, "any-unit", ""))
    assert [a.role for a in (SECRETARIAT, STANDING_COMMITTEE, INSPECTOR) if reads_every_target(a)] == [
        SECRETARIAT.role, STANDING_COMMITTEE.role, INSPECTOR.role]
    assert not reads_every_target(OWNER_HEAD) and not reads_every_target(SYSTEM)


def test_a_targets_history_is_for_its_own_unit_head_and_the_office():
    assert may_read_history(OWNER_HEAD, OWNER_UNIT)
    assert not may_read_history(OTHER_HEAD, OWNER_UNIT)
    assert {a for a in EVERYONE if may_read_history(a, OWNER_UNIT)} == {
        OWNER_HEAD, SECRETARIAT, STANDING_COMMITTEE, INSPECTOR}


def test_the_audit_trail_is_for_the_office_and_the_inspectors():
    assert {a for a in EVERYONE if may_read_audit(a)} == {SECRETARIAT, STANDING_COMMITTEE, INSPECTOR}


def test_an_inspector_reads_everything_and_changes_nothing():
    assert may_read_audit(INSPECTOR) and may_read_target(INSPECTOR, OWNER_UNIT)
    assert not any(c.allows(INSPECTOR, OWNER_UNIT) for c in COMMANDS.values())
    assert not any(may(INSPECTOR, c) for c in CAMPAIGN_COMMANDS)


# ------------------------------------------------------------------ enforced by Target
TARGET_CASES = [
    (row, actor, state)
    for row in TABLE
    for actor in EVERYONE
    if actor not in WHO_MAY[row.command]
    for state in list(row.moves)[:1]  # one state the command is allowed from
]


@pytest.mark.parametrize(("row", "actor", "state"), TARGET_CASES, ids=_id)
def test_the_target_refuses_an_actor_the_table_does_not_name_and_records_nothing(row, actor, state):
    clock = Clock()
    target = target_in(state, clock)
    before = event_names(target), target.status, target.unit_id
    at = DEADLINE_AT + timedelta(hours=1) if row.after_deadline else clock.tick()

    with pytest.raises(NotAllowed):
        row.issue(target, cmd(actor, at))

    assert (event_names(target), target.status, target.unit_id) == before


def test_only_the_office_assigns_targets():
    for actor in (OWNER_HEAD, OTHER_HEAD, INSPECTOR, SYSTEM):
        with pytest.raises(NotAllowed):
            assign(actor=actor)
    assert assign(actor=STANDING_COMMITTEE).status == Status.ASSIGNED


def test_after_a_reassignment_the_new_unit_head_acts_and_the_old_one_may_not():
    clock = Clock()
    target = target_in(Status.IN_PROGRESS, clock)
    target.reassign(cmd(STANDING_COMMITTEE, clock.tick()), unit_id=OTHER_HEAD.unit_id, reason="Điều chỉnh phân công")

    with pytest.raises(NotAllowed):
        target.report_progress(cmd(OWNER_HEAD, clock.tick()), note="vẫn làm")
    assert target.report_progress(cmd(OTHER_HEAD, clock.tick()), note="Đã tiếp nhận") is True


def test_a_refused_actor_is_checked_before_the_state():
    # A stranger learns nothing about the target's state from the refusal.
    target = target_in(Status.COMPLETED)
    with pytest.raises(NotAllowed):
        target.start(cmd(OTHER_HEAD, DEADLINE_AT))
