"""The Evaluation aggregate: a round with frozen system scores, the units' self-assessments
and the cluster's review, and the refusals that record nothing."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from thidua.domain.application import new_application
from thidua.domain.errors import BadInput, CommandIdReused, InvalidTransition, NotAllowed
from thidua.domain.commandlog import event_meta, fingerprint
from thidua.domain.evaluation import FROZEN_CHUNK_TARGETS, ClusterLeads, Evaluation, FrozenUnit, target_chunks
from thidua.domain.values import Actor, Command, Role
from thidua.projections.evaluations import unit_body

D = Decimal
PERIOD_END = datetime(2022, 12, 15, 17, 0, tzinfo=timezone.utc)
SELF_DUE = PERIOD_END + timedelta(days=5)
REVIEW_DUE = PERIOD_END + timedelta(days=10)
SECRETARIAT = Actor("van-phong", "Văn phòng Thành ủy", Role.SECRETARIAT)
COMMITTEE = Actor("bt", "Bí thư Thành ủy", Role.STANDING_COMMITTEE)


def head(unit_id: str) -> Actor:
    return Actor(f"head-{unit_id}", f"Bí thư {unit_id}", Role.UNIT_HEAD, unit_id)


UNITS = (
    FrozenUnit("ngo-quyen", "cum-1", D("15"), D("20"), {"t1": D("10"), "t2": D("10")}),
    FrozenUnit("dong-da", "cum-1", D("8"), D("10"), {"t3": D("10")}),
    FrozenUnit("lien-bao", "cum-1", D("0"), D("5"), {"t4": D("5")}),
)
CUM_1 = ClusterLeads("cum-1", "ngo-quyen", "dong-da")
_n = iter(range(1, 10_000))


def cmd(actor: Actor, at: datetime = PERIOD_END + timedelta(days=1), command_id: str | None = None) -> Command:
    return Command(command_id or f"c-{next(_n)}", actor, at)


def new_round(**overrides) -> Evaluation:
    kwargs = {"evaluation_id": "tong-ket-2022", "campaign_id": "vinh-yen-2022", "name": "Tổng kết năm 2022",
              "period_end": PERIOD_END, "self_assessment_due": SELF_DUE, "review_due": REVIEW_DUE,
              "units": UNITS, "clusters": [CUM_1], **overrides}
    return Evaluation.create(cmd(SECRETARIAT, PERIOD_END + timedelta(hours=1)), **kwargs)


def test_a_round_freezes_the_system_scores_and_reads_them_back():
    evaluation = new_round()
    state = evaluation.to_state()
    assert [(u["unit_id"], u["system_score"], u["max_score"], u["self_score"]) for u in state["units"]] == [
        ("dong-da", 8.0, 10.0, None), ("lien-bao", 0.0, 5.0, None), ("ngo-quyen", 15.0, 20.0, None)]
    assert evaluation.frozen("ngo-quyen").target_points == {"t1": D("10"), "t2": D("10")}


@pytest.mark.parametrize("overrides", [
    {"self_assessment_due": PERIOD_END},                       # not after the period's end
    {"review_due": SELF_DUE - timedelta(seconds=1)},           # the review before self-assessment closes
    {"period_end": datetime(2022, 12, 15)},                    # no UTC offset
    {"clusters": []},                                          # a unit of no cluster
    {"name": " "},
])
def test_a_bad_round_is_refused(overrides):
    with pytest.raises(BadInput):
        new_round(**overrides)


def test_only_the_secretariat_creates_a_round():
    with pytest.raises(NotAllowed):
        Evaluation.create(cmd(COMMITTEE), evaluation_id="x", campaign_id="c", name="x", period_end=PERIOD_END,
                          self_assessment_due=SELF_DUE, review_due=REVIEW_DUE, units=UNITS, clusters=[CUM_1])


def test_a_unit_head_assesses_its_own_unit_again_until_the_due_time():
    evaluation = new_round()
    items = [{"target_id": "t1", "score": 10, "note": "Hoàn thành"}, {"target_id": "t2", "score": "7.5"}]
    assert evaluation.self_assess(cmd(head("ngo-quyen")), unit_id="ngo-quyen", items=items, summary="Tự đánh giá")
    assert evaluation.self_assess(cmd(head("ngo-quyen")), unit_id="ngo-quyen", items=items[:1])
    assert evaluation.to_state()["units"][2]["self_score"] == 10.0
    with pytest.raises(InvalidTransition) as late:
        evaluation.self_assess(cmd(head("ngo-quyen"), SELF_DUE + timedelta(seconds=1)), unit_id="ngo-quyen",
                               items=items)
    assert late.value.state == "self_assessment_closed"


@pytest.mark.parametrize("actor, unit_id, items, error", [
    (head("dong-da"), "ngo-quyen", [{"target_id": "t1", "score": 1}], NotAllowed),   # another unit's head
    (SECRETARIAT, "ngo-quyen", [{"target_id": "t1", "score": 1}], NotAllowed),
    (head("ngo-quyen"), "ngo-quyen", [{"target_id": "t1", "score": 11}], BadInput),  # above the target's points
    (head("ngo-quyen"), "ngo-quyen", [{"target_id": "t1", "score": -1}], BadInput),
    (head("ngo-quyen"), "ngo-quyen", [{"target_id": "t3", "score": 1}], BadInput),   # a target of another unit
    (head("ngo-quyen"), "ngo-quyen", [{"target_id": "t1", "score": 1}, {"target_id": "t1", "score": 2}], BadInput),
])
def test_a_bad_self_assessment_is_refused_and_records_nothing(actor, unit_id, items, error):
    evaluation = new_round()
    created = evaluation.version
    with pytest.raises(error):
        evaluation.self_assess(cmd(actor), unit_id=unit_id, items=items)
    assert evaluation.version == created and evaluation.self_assessments == {}


def test_the_cluster_head_reviews_and_its_deputy_reviews_the_heads_own_unit():
    evaluation = new_round()
    evaluation.self_assess(cmd(head("ngo-quyen")), unit_id="ngo-quyen",
                           items=[{"target_id": "t1", "score": 10}, {"target_id": "t2", "score": 10}])
    evaluation.self_assess(cmd(head("lien-bao")), unit_id="lien-bao", items=[{"target_id": "t4", "score": 5}])

    with pytest.raises(NotAllowed):  # nobody reviews themselves
        evaluation.review(cmd(head("ngo-quyen")), unit_id="ngo-quyen", items=[{"target_id": "t1", "score": 10}])
    with pytest.raises(BadInput, match="needs a reason"):
        evaluation.review(cmd(head("dong-da")), unit_id="ngo-quyen",
                          items=[{"target_id": "t1", "score": 10}, {"target_id": "t2", "score": 6}])
    assert evaluation.review(cmd(head("dong-da")), unit_id="ngo-quyen", items=[
        {"target_id": "t1", "score": 10}, {"target_id": "t2", "score": 6, "reason": "Chưa có biên bản nghiệm thu"}])
    with pytest.raises(NotAllowed):  # lien-bao is reviewed by the head (ngo-quyen), not the deputy
        evaluation.review(cmd(head("dong-da")), unit_id="lien-bao", items=[{"target_id": "t4", "score": 5}])
    assert evaluation.review(cmd(head("ngo-quyen")), unit_id="lien-bao", items=[{"target_id": "t4", "score": 5}])

    state = {u["unit_id"]: u for u in evaluation.to_state()["units"]}
    assert (state["ngo-quyen"]["system_score"], state["ngo-quyen"]["self_score"],
            state["ngo-quyen"]["reviewed_score"]) == (15.0, 20.0, 16.0)
    with pytest.raises(InvalidTransition) as unassessed:
        evaluation.review(cmd(head("ngo-quyen")), unit_id="dong-da", items=[{"target_id": "t3", "score": 5}])
    assert unassessed.value.state == "not_self_assessed"
    with pytest.raises(InvalidTransition):
        evaluation.review(cmd(head("dong-da"), REVIEW_DUE + timedelta(seconds=1)), unit_id="ngo-quyen",
                          items=[{"target_id": "t1", "score": 10}])


def test_a_command_id_is_applied_once_and_cannot_carry_other_arguments():
    evaluation = new_round()
    again = cmd(head("lien-bao"), command_id="self-1")
    assert evaluation.self_assess(again, unit_id="lien-bao", items=[{"target_id": "t4", "score": 5}])
    assert not evaluation.self_assess(again, unit_id="lien-bao", items=[{"target_id": "t4", "score": 5}])
    with pytest.raises(CommandIdReused):
        evaluation.self_assess(again, unit_id="lien-bao", items=[{"target_id": "t4", "score": 4}])


def test_a_round_round_trips_through_the_event_store():
    app = new_application({})
    evaluation = new_round()
    evaluation.self_assess(cmd(head("ngo-quyen")), unit_id="ngo-quyen", items=[{"target_id": "t1", "score": "9.5"}])
    app.save_changes(evaluation)
    stored = app.repository.get(evaluation.id)
    assert stored.to_state() == evaluation.to_state()
    assert stored.period_end == PERIOD_END and stored.frozen("dong-da") == evaluation.frozen("dong-da")


def many_targets(unit_id: str, count: int, points: str = "10") -> dict[str, Decimal]:
    return {f"{unit_id}-t{n:05d}": D(points) for n in range(count)}


def test_a_big_round_is_one_save_of_a_created_event_and_chunks_of_its_targets():
    big = FrozenUnit("ngo-quyen", "cum-1", D("0"), D("25000"), many_targets("ngo-quyen", 2_500),
                     {"ngo-quyen-t00000": D("10")})
    small = FrozenUnit("dong-da", "cum-1", D("8"), D("10"), many_targets("dong-da", 1_600))
    evaluation = new_round(units=(big, small))
    events = evaluation.collect_events()
    assert [type(e).__name__ for e in events] == ["Created", "TargetsFrozen", "TargetsFrozen", "TargetsFrozen"]
    assert all("target_points" not in u for u in events[0].units)  # the Created event carries no targets
    sizes = [sum(len(group["target_ids"]) for group in e.groups) for e in events[1:]]
    assert sizes == [FROZEN_CHUNK_TARGETS, FROZEN_CHUNK_TARGETS, 4_100 - 2 * FROZEN_CHUNK_TARGETS]
    # Every target is frozen once, with its points and system score, whatever the chunks.
    assert evaluation.frozen("ngo-quyen").target_points == big.target_points
    assert evaluation.frozen("dong-da").target_points == small.target_points
    assert evaluation.frozen("ngo-quyen").target_scores["ngo-quyen-t00000"] == 10  # a score not given is 0
    assert evaluation.frozen("ngo-quyen").target_scores["ngo-quyen-t00001"] == 0
    # The creating command is answered with the round after its last chunk.
    assert evaluation.created_by == events[0].command_id
    assert evaluation.version_of_command(events[0].command_id) == evaluation.version == 4
    with pytest.raises(BadInput, match="0..10"):
        evaluation.self_assess(cmd(head("ngo-quyen")), unit_id="ngo-quyen",
                               items=[{"target_id": "ngo-quyen-t02499", "score": 11}])


def test_chunks_group_targets_by_points_and_score_and_split_big_groups():
    units = [FrozenUnit("a", "cum-1", D(0), D(0), many_targets("a", 3), {"a-t00001": D(5)}),
             FrozenUnit("b", "cum-1", D(0), D(0), {}),
             FrozenUnit("c", "cum-1", D(0), D(0), many_targets("c", 4, "2.5"), dict.fromkeys(many_targets("c", 4), D(1)))]
    chunks = target_chunks(units, size=2)
    assert [[(g["unit_id"], g["points"], g["score"], g["target_ids"]) for g in chunk] for chunk in chunks] == [
        [("a", "10", "0", ["a-t00000", "a-t00002"])],
        [("a", "10", "5", ["a-t00001"]), ("c", "2.5", "1", ["c-t00000"])],
        [("c", "2.5", "1", ["c-t00001", "c-t00002"])],
        [("c", "2.5", "1", ["c-t00003"])]]


def test_a_round_stored_with_its_targets_in_the_created_event_still_loads():
    """Rounds recorded before the targets moved to TargetsFrozen events carry every
    unit's `target_points` and `target_scores` in their Created event."""
    app = new_application({})
    command = cmd(SECRETARIAT, PERIOD_END + timedelta(hours=1), "old-create")
    old_units = [u.to_dict() for u in sorted(UNITS, key=lambda u: u.unit_id)]
    old_units[2]["target_scores"] = {"t1": "10", "t2": "5"}
    assert "target_points" in old_units[0]
    payload = {"evaluation_id": "tong-ket-2021", "campaign_id": "vinh-yen-2021", "name": "Tổng kết năm 2021",
               "period_end": PERIOD_END, "self_assessment_due": SELF_DUE, "review_due": REVIEW_DUE,
               "units": old_units, "clusters": {"cum-1": {"head_unit_id": "ngo-quyen", "deputy_unit_id": "dong-da"}},
               "rules": [], "late_submissions": "refuse"}
    old = Evaluation(**payload, **event_meta(command, fingerprint("create_evaluation", **payload)))
    app.save_changes(old)
    stored = app.repository.get(old.id)
    assert stored.version == 1 and stored.created_by == "old-create"
    assert stored.frozen("ngo-quyen").target_points == {"t1": D("10"), "t2": D("10")}
    assert stored.frozen("ngo-quyen").target_scores == {"t1": D("10"), "t2": D("5")}
    assert [i["system_score"] for i in unit_body(stored, "ngo-quyen")["items"]] == [10.0, 5.0]
    assert stored.to_state()["units"] == new_round().to_state()["units"]
    stored.self_assess(cmd(head("ngo-quyen")), unit_id="ngo-quyen", items=[{"target_id": "t1", "score": 9}])
    with pytest.raises(BadInput, match="0..10"):
        stored.self_assess(cmd(head("ngo-quyen")), unit_id="ngo-quyen", items=[{"target_id": "t2", "score": 11}])
    assert stored.self_score("ngo-quyen") == 9
