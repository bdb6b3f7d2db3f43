"""The end of a round in the domain: timers' stages and reminders, the Standing
Committee's extension, proposals checked against the round's rules on the reviewed
scores (properties too), the decision that closes the round, and revocation."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thidua.domain.errors import BadInput, InvalidTransition, NotAllowed
from thidua.domain.evaluation import ClusterLeads, Evaluation, FrozenUnit, evaluation_of_award
from thidua.domain.evaluation_rules import Standing, failed_criterion, ranks_in_scope
from thidua.domain.scoring import RewardForm, RewardRules
from thidua.domain.values import SYSTEM
from tests.unit.test_evaluation import COMMITTEE, PERIOD_END, REVIEW_DUE, SECRETARIAT, SELF_DUE, cmd, head

D = Decimal
FLAG = RewardForm("co-thi-dua", "Cờ thi đua", "collective", "cluster", 1, D("0.95"), 0, 0, 1)
MERIT = RewardForm("giay-khen", "Giấy khen", "collective", "cluster", 2, D("0.5"), 0, 2)
PERSON = RewardForm("ca-nhan", "Giấy khen cá nhân", "individual", "campaign", 1, D(0), 0, 0)
RULES = RewardRules((FLAG, MERIT, PERSON))
UNITS = (
    FrozenUnit("ngo-quyen", "cum-1", D("20"), D("20"), {"t1": D("10"), "t2": D("10")}, {"t1": D(10), "t2": D(10)}),
    FrozenUnit("dong-da", "cum-1", D("8"), D("10"), {"t3": D("10")}, {"t3": D(8)}, overdue=1),
    FrozenUnit("lien-bao", "cum-1", D("5"), D("5"), {"t4": D("5")}, {"t4": D(5)}),
)


def new_round(**overrides) -> Evaluation:
    kwargs = {"evaluation_id": "tong-ket-2022", "campaign_id": "vinh-yen-2022", "name": "Tổng kết năm 2022",
              "period_end": PERIOD_END, "self_assessment_due": SELF_DUE, "review_due": REVIEW_DUE, "units": UNITS,
              "clusters": [ClusterLeads("cum-1", "ngo-quyen", "dong-da")], "rules": RULES, **overrides}
    return Evaluation.create(cmd(SECRETARIAT, PERIOD_END + timedelta(hours=1)), **kwargs)


def assessed_and_reviewed() -> Evaluation:
    e = new_round()
    e.self_assess(cmd(head("ngo-quyen")), unit_id="ngo-quyen", items=[{"target_id": "t1", "score": 10},
                                                                      {"target_id": "t2", "score": 10}])
    e.self_assess(cmd(head("dong-da")), unit_id="dong-da", items=[{"target_id": "t3", "score": 10}])
    e.self_assess(cmd(head("lien-bao")), unit_id="lien-bao", items=[{"target_id": "t4", "score": 5}])
    e.review(cmd(head("dong-da")), unit_id="ngo-quyen", items=[])
    e.review(cmd(head("ngo-quyen")), unit_id="dong-da", items=[{"target_id": "t3", "score": 8, "reason": "Trễ"}])
    e.review(cmd(head("ngo-quyen")), unit_id="lien-bao", items=[])
    return e


def test_the_timers_remind_once_per_due_time_and_close_a_stage_at_its_due_time_only():
    e = new_round()
    assert e.remind(cmd(SYSTEM, SELF_DUE - timedelta(days=1)), stage="self_assessment")
    assert not e.remind(cmd(SYSTEM, SELF_DUE - timedelta(hours=1)), stage="self_assessment")
    with pytest.raises(InvalidTransition):
        e.close_stage(cmd(SYSTEM, SELF_DUE - timedelta(seconds=1)), stage="self_assessment")
    assert e.close_stage(cmd(SYSTEM, SELF_DUE), stage="self_assessment")
    assert e.stage == "review"
    assert not e.close_stage(cmd(SYSTEM, SELF_DUE), stage="self_assessment")


def test_a_late_self_assessment_is_refused_or_marked_late_by_the_rounds_policy():
    strict, lenient = new_round(), new_round(late_submissions="mark_late")
    late = SELF_DUE + timedelta(hours=1)
    with pytest.raises(InvalidTransition):
        strict.self_assess(cmd(head("lien-bao"), late), unit_id="lien-bao", items=[{"target_id": "t4", "score": 5}])
    assert lenient.self_assess(cmd(head("lien-bao"), late), unit_id="lien-bao", items=[{"target_id": "t4", "score": 5}])
    assert lenient.unit_state("lien-bao")["self_assessed_late"]
    with pytest.raises(InvalidTransition):  # not after the review has closed
        lenient.self_assess(cmd(head("lien-bao"), REVIEW_DUE + timedelta(hours=1)), unit_id="lien-bao",
                            items=[{"target_id": "t4", "score": 4}])


def test_the_standing_committee_extends_a_stage_that_has_not_closed_with_a_reason():
    e = new_round()
    with pytest.raises(NotAllowed):
        e.extend(cmd(SECRETARIAT), stage="self_assessment", due=SELF_DUE + timedelta(days=1), reason="x")
    with pytest.raises(BadInput):
        e.extend(cmd(COMMITTEE), stage="self_assessment", due=SELF_DUE + timedelta(days=1), reason=" ")
    with pytest.raises(BadInput):
        e.extend(cmd(COMMITTEE), stage="self_assessment", due=SELF_DUE - timedelta(days=1), reason="sớm hơn")
    assert e.extend(cmd(COMMITTEE), stage="self_assessment", due=REVIEW_DUE + timedelta(days=1), reason="Lũ lụt")
    assert e.self_assessment_due == e.review_due == REVIEW_DUE + timedelta(days=1)
    assert e.extensions[0]["reason"] == "Lũ lụt"
    e.close_stage(cmd(SYSTEM, REVIEW_DUE + timedelta(days=1)), stage="self_assessment")
    with pytest.raises(InvalidTransition):
        e.extend(cmd(COMMITTEE, REVIEW_DUE + timedelta(days=1)), stage="self_assessment",
                 due=REVIEW_DUE + timedelta(days=3), reason="lại")


def test_a_proposal_failing_a_criterion_names_it_with_its_figures_and_records_nothing():
    e = assessed_and_reviewed()
    version = e.version
    with pytest.raises(BadInput, match="score 80 % < 95 % required for Cờ thi đua"):
        e.propose(cmd(head("ngo-quyen")), cluster_id="cum-1", collectives=[{"unit_id": "dong-da", "form_id": "co-thi-dua"}])
    with pytest.raises(BadInput, match="1 overdue target"):
        e.propose(cmd(head("ngo-quyen")), cluster_id="cum-1", collectives=[{"unit_id": "dong-da", "form_id": "giay-khen"}])
    with pytest.raises(BadInput, match="rank 3 > 1 required for Cờ thi đua"):  # the flag goes to the best only
        e.propose(cmd(head("ngo-quyen")), cluster_id="cum-1", collectives=[
            {"unit_id": "ngo-quyen", "form_id": "co-thi-dua"}, {"unit_id": "lien-bao", "form_id": "co-thi-dua"}])
    with pytest.raises(BadInput, match="is for individuals"):
        e.propose(cmd(head("ngo-quyen")), cluster_id="cum-1", collectives=[{"unit_id": "ngo-quyen", "form_id": "ca-nhan"}])
    with pytest.raises(NotAllowed):
        e.propose(cmd(head("dong-da")), cluster_id="cum-1", collectives=[{"unit_id": "ngo-quyen", "form_id": "co-thi-dua"}])
    assert e.version == version and e.proposals == {}


def test_a_unit_not_yet_reviewed_is_not_proposed():
    e = new_round()
    with pytest.raises(InvalidTransition):
        e.propose(cmd(head("ngo-quyen")), cluster_id="cum-1", collectives=[{"unit_id": "lien-bao", "form_id": "giay-khen"}])


def test_approval_takes_only_proposals_closes_the_round_and_an_award_is_revoked_once():
    e = assessed_and_reviewed()
    person = {"name": "Nguyễn Văn An", "unit_id": "lien-bao", "position": "Chủ tịch", "form_id": "ca-nhan",
              "achievements": "Dẫn đầu phong trào"}
    assert e.propose(cmd(head("ngo-quyen")), cluster_id="cum-1", individuals=[person], collectives=[
        {"unit_id": "ngo-quyen", "form_id": "co-thi-dua"}, {"unit_id": "lien-bao", "form_id": "giay-khen"}])
    with pytest.raises(NotAllowed):
        e.approve(cmd(SECRETARIAT), decision_number="1205-QĐ/TU", issued_on=date(2022, 12, 30))
    with pytest.raises(BadInput, match="was not proposed"):
        e.approve(cmd(COMMITTEE), decision_number="1205-QĐ/TU", issued_on=date(2022, 12, 30),
                  awards=[{"unit_id": "dong-da", "form_id": "giay-khen"}])
    assert e.approve(cmd(COMMITTEE), decision_number="1205-QĐ/TU", issued_on=date(2022, 12, 30),
                     awards=[{"unit_id": "ngo-quyen", "form_id": "co-thi-dua"},
                             {"unit_id": "lien-bao", "form_id": "ca-nhan", "name": "Nguyễn Văn An"}])
    assert e.stage == "closed" and sorted(e.awards) == ["tong-ket-2022:1", "tong-ket-2022:2"]
    for late in (lambda: e.self_assess(cmd(head("lien-bao")), unit_id="lien-bao", items=[]),
                 lambda: e.review(cmd(head("ngo-quyen")), unit_id="lien-bao", items=[]),
                 lambda: e.propose(cmd(head("ngo-quyen")), cluster_id="cum-1"),
                 lambda: e.approve(cmd(COMMITTEE), decision_number="x", issued_on=date(2022, 12, 31)),
                 lambda: e.extend(cmd(COMMITTEE), stage="review", due=REVIEW_DUE + timedelta(days=9), reason="x")):
        with pytest.raises(InvalidTransition):
            late()
    assert e.revoke(cmd(COMMITTEE), award_id="tong-ket-2022:1", reason="Hồ sơ không trung thực")
    assert e.to_state()["awards"][0]["revoked"]["reason"] == "Hồ sơ không trung thực"
    with pytest.raises(InvalidTransition):
        e.revoke(cmd(COMMITTEE), award_id="tong-ket-2022:1", reason="lại")
    with pytest.raises(BadInput):
        e.revoke(cmd(COMMITTEE), award_id="tong-ket-2022:9", reason="không có")
    assert evaluation_of_award("tong-ket-2022:1") == "tong-ket-2022"
    with pytest.raises(BadInput):
        evaluation_of_award("no-number")


# ------------------------------------------------------------------ properties
@st.composite
def standings(draw):
    """One cluster of 2..6 units with reviewed scores out of 10 and some overdue/late targets."""
    n = draw(st.integers(2, 6))
    return {f"u{i}": Standing(f"u{i}", "c", D(draw(st.integers(0, 10))), D(10), D("0.5"),
                              draw(st.integers(0, 2)), draw(st.integers(0, 2))) for i in range(n)}


FORMS = st.builds(RewardForm, id=st.just("f"), name=st.just("Hình thức"), recipient=st.just("collective"),
                  scope=st.just("cluster"), max_awards=st.integers(1, 6),
                  min_score_ratio=st.sampled_from([D(0), D("0.5"), D("0.95"), D(1)]), max_overdue=st.integers(0, 2),
                  max_late=st.integers(0, 2), top_rank=st.none() | st.integers(1, 3))


@settings(max_examples=200, deadline=None)
@given(standings(), FORMS)
def test_property_a_unit_failing_every_criterion_is_never_accepted_and_one_meeting_them_is(units, form):
    from thidua.domain.evaluation_rules import check_proposals

    rules = RewardRules((form,))
    for unit in units.values():
        rank = ranks_in_scope(form, unit, units.values())
        ratio = unit.score / unit.max_score
        meets = (ratio >= form.min_score_ratio and unit.overdue <= form.max_overdue and unit.late <= form.max_late
                 and (form.top_rank is None or rank <= form.top_rank))
        assert (failed_criterion(form, unit, rank) is None) == meets
        proposal = [{"unit_id": unit.unit_id, "form_id": "f"}]
        if meets:
            check_proposals(rules, proposal, "collective", "c", units, {})
        else:
            with pytest.raises(BadInput):
                check_proposals(rules, proposal, "collective", "c", units, {})


@settings(max_examples=200, deadline=None)
@given(standings(), FORMS)
def test_property_equal_reviewed_scores_share_a_rank_and_the_rules_treat_them_alike(units, form):
    listed = list(units.values())
    for a in listed:
        for b in listed:
            if (a.score, a.completion_rate) == (b.score, b.completion_rate):
                assert ranks_in_scope(form, a, listed) == ranks_in_scope(form, b, listed)
                if (a.overdue, a.late) == (b.overdue, b.late):  # the same standing: the same verdict
                    verdict_a = failed_criterion(form, a, ranks_in_scope(form, a, listed))
                    verdict_b = failed_criterion(form, b, ranks_in_scope(form, b, listed))
                    assert verdict_a == verdict_b


@settings(max_examples=100, deadline=None)
@given(standings(), FORMS)
def test_property_the_criteria_a_unit_meets_are_those_a_proposal_of_it_passes(units, form):
    from thidua.domain.evaluation_rules import criteria_met

    met = criteria_met(RewardRules((form,)), units)
    for unit in units.values():
        assert ("f" in met[unit.unit_id]) == (failed_criterion(form, unit, ranks_in_scope(form, unit, units.values()))
                                              is None)
