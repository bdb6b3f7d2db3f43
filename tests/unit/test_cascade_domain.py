"""Decisions and the cascade in the pure domain: a registered decision is what a target
cites, a parent is checked before a child is assigned, a parent completed by its children
is late when a child was, and decisions recorded before levels existed replay the same."""

from __future__ import annotations

from datetime import date

import pytest

from thidua.domain import SYSTEM, BadInput, Decision
from thidua.domain.campaign import Campaign
from thidua.domain.commandlog import fingerprint
from thidua.domain.errors import InvalidTransition
from thidua.domain.tree import check_closing_by_hand, check_no_cycle, check_parent
from thidua.domain.values import DecisionCitation, ReportClass, Status
from tests.unit.test_domain_builders import DEADLINE_AT, SECRETARIAT, Clock, assign, cmd, target_in

D529 = Decision("529", date(2022, 1, 11), "Ban Thường vụ Tỉnh ủy Vĩnh Phúc", "Giao chỉ tiêu", "province")
D934 = Decision("934", date(2022, 2, 15), "Ban Thường vụ Thành ủy Vĩnh Yên", "Cụ thể hóa", "city", "529")


def campaign() -> Campaign:
    clock = Clock()
    c = Campaign.create(cmd(SECRETARIAT, clock.tick()), campaign_id="vinh-yen-2022", name="Thi đua 2022",
                        starts_on=date(2022, 1, 1), ends_on=date(2022, 12, 31))
    c.record_decision(cmd(SECRETARIAT, clock.tick()), D529)
    c.record_decision(cmd(SECRETARIAT, clock.tick()), D934)
    return c


def test_a_decision_makes_concrete_only_a_registered_one_and_names_a_known_level():
    c = campaign()
    for decision, field in (
        (Decision("937", date(2022, 2, 21), "BTV", parent_number="999"), "parent_number"),
        (Decision("937", date(2022, 2, 21), "BTV", parent_number="937"), "parent_number"),
        (Decision("937", date(2022, 2, 21), "BTV", issuer_level="district"), "issuer.level"),
    ):
        with pytest.raises(BadInput) as refused:
            c.record_decision(cmd(SECRETARIAT, Clock().tick()), decision)
        assert refused.value.field == field


def test_a_target_cites_a_registered_decision_by_number_and_what_it_gives_must_match():
    c = campaign()
    assert c.registered_decision(DecisionCitation("934")) == D934
    assert c.registered_decision(DecisionCitation("934", date(2022, 2, 15), "Ban Thường vụ Thành ủy Vĩnh Yên")) == D934
    for citation, field in ((DecisionCitation("999"), "decision.number"),
                            (DecisionCitation("934", issued_on=date(2022, 2, 16)), "decision.issued_on"),
                            (DecisionCitation("934", issuer="BTV"), "decision.issuer")):
        with pytest.raises(BadInput) as refused:
            c.registered_decision(citation)
        assert refused.value.field == field


def test_a_decision_without_level_or_parent_is_stored_and_fingerprinted_as_before_they_existed():
    old = Decision("934-QĐ/TU", date(2022, 2, 15), "BTV Thành ủy", "Giao chỉ tiêu")
    before = {"number": "934-QĐ/TU", "issued_on": date(2022, 2, 15), "issuer": "BTV Thành ủy", "title": "Giao chỉ tiêu"}
    assert old.to_dict() == before
    assert fingerprint("record_decision", decision=old) == fingerprint("record_decision", decision=before)
    assert D934.to_dict()["parent_number"] == "529"


def test_a_parent_is_an_open_target_of_the_same_campaign_and_the_parents_form_no_cycle():
    parent = assign()
    check_parent(parent, parent.campaign_id)
    for candidate, campaign_id in ((None, parent.campaign_id), (parent, "another"),
                                   (target_in(Status.COMPLETED), parent.campaign_id)):
        with pytest.raises(BadInput):
            check_parent(candidate, campaign_id)
    with pytest.raises(BadInput):
        assign(key="self", parent_id=str(assign(key="self").id))
    check_no_cycle({"a": "b", "b": "existing"})
    with pytest.raises(BadInput):
        check_no_cycle({"a": "b", "b": "c", "c": "a"})


def test_by_hand_a_parent_is_neither_completed_nor_cancelled_while_a_child_is_open():
    for command in ("complete", "cancel"):
        with pytest.raises(InvalidTransition) as refused:
            check_closing_by_hand(command, 2)
        assert refused.value.state == "open children" and "2 of its children" in refused.value.message
        check_closing_by_hand(command, 0)  # no child open (or no child at all): the usual rules apply
    for command in ("report_progress", "extend_deadline", "reassign", "comment"):
        check_closing_by_hand(command, 2)  # nothing else is the parent's children's business


def test_a_parent_completed_by_its_children_is_late_when_a_child_was_and_reopens_by_a_child():
    clock = Clock()
    parent = assign(clock.now)
    child = assign(clock.now, key="child", parent_id=str(parent.id))
    assert child.to_state()["parent_id"] == str(parent.id)
    outcome = [{"target_id": str(child.id), "position": 12, "report_class": "completed_late"}]
    parent.complete_by_children(cmd(SYSTEM, clock.tick()), late=True, children=outcome)
    assert parent.completed_at < DEADLINE_AT  # on time by its own deadline, late by its child
    assert parent.report_class == ReportClass.COMPLETED_LATE
    assert parent.pending_events[-1].children == outcome
    parent.reopen_by_child(cmd(SYSTEM, clock.tick()), child_id=str(child.id), position=15)
    assert parent.status == Status.IN_PROGRESS and parent.report_class == ReportClass.IN_PROGRESS_WITHIN_DEADLINE
    parent.complete_by_children(cmd(SYSTEM, clock.tick()), late=False, children=outcome[:1])
    assert parent.report_class == ReportClass.COMPLETED_ON_TIME
