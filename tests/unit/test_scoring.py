"""Scoring (thang điểm) worked by hand.

Cluster 1 of the Vĩnh Yên drive: head Ngô Quyền, deputy Đống Đa, members Liên Bảo and
Tích Sơn. Default scale: on time x1.0, late x0.5, overdue and open x0, cancelled counts in
neither the score nor the maximum; one reward slot.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from thidua.domain import SYSTEM, Cluster, ReportClass, ScoringScale, Status
from thidua.domain.scoring import (
    COUNT_KEYS,
    Adjustment,
    ScoredTarget,
    count_classes,
    rank_units,
    scoreboard,
    unit_score,
    what_if,
)
from tests.unit.test_campaign import with_clusters
from tests.unit.test_domain_builders import (
    DEADLINE_AT,
    OWNER_HEAD,
    SECRETARIAT,
    STANDING_COMMITTEE,
    Clock,
    cmd,
    target_in,
)

D = Decimal
ON_TIME, LATE = ReportClass.COMPLETED_ON_TIME, ReportClass.COMPLETED_LATE
OPEN, OVERDUE, CANCELLED = ReportClass.IN_PROGRESS_WITHIN_DEADLINE, ReportClass.OVERDUE, ReportClass.CANCELLED
CLUSTER = Cluster("cum-1", "Cụm thi đua số 1", "ngo-quyen", "dong-da", ("lien-bao", "tich-son"))
DEFAULT = ScoringScale()


def fact(unit: str, points: str | int, report_class: ReportClass, status: Status | None = None) -> ScoredTarget:
    if status is None:
        status = {ON_TIME: Status.COMPLETED, LATE: Status.COMPLETED, CANCELLED: Status.CANCELLED}.get(
            report_class, Status.IN_PROGRESS
        )
    return ScoredTarget(unit, D(points), report_class, status)


NGO_QUYEN = [
    fact("ngo-quyen", 10, ON_TIME),   # 10 x 1.0 = 10
    fact("ngo-quyen", 8, LATE),       #  8 x 0.5 =  4
    fact("ngo-quyen", 6, OVERDUE),    #  6 x 0   =  0
    fact("ngo-quyen", 4, OPEN),       #  4 x 0   =  0
    fact("ngo-quyen", 20, CANCELLED),  # excluded from score and maximum
]
CLUSTER_TARGETS = [
    *NGO_QUYEN,
    fact("dong-da", 10, ON_TIME),                                   # 10, rate 1/1
    fact("lien-bao", 10, ON_TIME), fact("lien-bao", 10, OVERDUE),  # 10, rate 1/2
    fact("tich-son", 20, LATE),                                     # 10, rate 1/1
]
ADJUSTMENTS = [
    Adjustment("ngo-quyen", D("2.5"), "Sáng kiến số hóa hồ sơ GPMB"),
    Adjustment("ngo-quyen", D("-1"), "Báo cáo chậm"),
]


def test_a_units_score_is_points_times_factor_of_its_class():
    score = unit_score("ngo-quyen", NGO_QUYEN, [], DEFAULT)

    assert score.score == D("14.0")              # 10 + 4 + 0 + 0
    assert score.max_score == D("28.0")          # 10 + 8 + 6 + 4: the cancelled 20 is not in it
    assert score.completion_rate == D("0.5000")  # 2 completed of 4 that count
    assert score.bonus == 0
    assert dict(score.counts) == {
        "completed_on_time": 1, "completed_late": 1, "in_progress_within_deadline": 1, "overdue": 1,
        "blocked": 0, "escalated": 0, "cancelled": 1, "awaiting_acceptance": 0,
    }


def test_bonuses_add_and_deductions_subtract():
    score = unit_score("ngo-quyen", NGO_QUYEN, ADJUSTMENTS, DEFAULT)
    assert score.bonus == D("1.5")
    assert score.score == D("15.5")      # 14 + 2.5 - 1
    assert score.max_score == D("28.0")  # bonuses do not raise the maximum


def test_a_cancelled_target_counts_in_neither_score_nor_maximum_nor_rate():
    only_cancelled = unit_score("dong-da", [fact("dong-da", 50, CANCELLED)], [], DEFAULT)
    assert (only_cancelled.score, only_cancelled.max_score, only_cancelled.completion_rate) == (0, 0, 0)
    assert only_cancelled.counts["cancelled"] == 1

    with_cancelled = unit_score("ngo-quyen", NGO_QUYEN, [], DEFAULT)
    without = unit_score("ngo-quyen", NGO_QUYEN[:-1], [], DEFAULT)
    assert (with_cancelled.score, with_cancelled.max_score, with_cancelled.completion_rate) == (
        without.score, without.max_score, without.completion_rate,
    )


def test_the_maximum_follows_the_on_time_factor():
    generous = ScoringScale(on_time=D("1.2"), late=D("0.6"))
    score = unit_score("ngo-quyen", NGO_QUYEN, [], generous)
    assert score.score == D("16.8")       # 10 x 1.2 + 8 x 0.6
    assert score.max_score == D("33.6")   # 28 x 1.2


def test_blocked_and_escalated_targets_are_counted_besides_their_class():
    counts = count_classes([
        fact("lien-bao", 5, OPEN, Status.BLOCKED),
        fact("lien-bao", 5, OVERDUE, Status.ESCALATED),
        fact("lien-bao", 5, OPEN, Status.ASSIGNED),
    ])
    assert counts["blocked"] == 1 and counts["escalated"] == 1
    assert counts["in_progress_within_deadline"] == 2 and counts["overdue"] == 1
    assert set(counts) == set(COUNT_KEYS)


def test_a_unit_with_no_targets_scores_nothing():
    score = unit_score("tich-son", [], [], DEFAULT)
    assert (score.score, score.max_score, score.completion_rate) == (0, 0, 0)


# ------------------------------------------------------------------ ranking
def ranked(board) -> list[tuple[str, Decimal, Decimal, int, bool]]:
    return [(u.unit_id, u.score, u.completion_rate, u.rank, u.reward_candidate) for u in board.units]


def test_a_cluster_is_ranked_by_score_then_completion_rate_and_equal_units_share_a_rank():
    (board,) = scoreboard([CLUSTER], CLUSTER_TARGETS, ADJUSTMENTS, DEFAULT)

    assert board.cluster_id == "cum-1" and board.name == "Cụm thi đua số 1"
    assert ranked(board) == [
        ("ngo-quyen", D("15.5"), D("0.5"), 1, True),
        ("dong-da", D("10"), D("1"), 2, False),    # ties tich-son on score and rate: they share rank 2
        ("tich-son", D("10"), D("1"), 2, False),
        ("lien-bao", D("10"), D("0.5"), 4, False),  # same score, lower completion rate
    ]


def test_the_top_reward_slots_of_each_cluster_are_reward_candidates():
    (board,) = scoreboard([CLUSTER], CLUSTER_TARGETS, ADJUSTMENTS, ScoringScale(reward_slots=2))
    # dong-da and tich-son share rank 2: a tie is not broken, so both are within two slots
    assert [u.unit_id for u in board.units if u.reward_candidate] == ["ngo-quyen", "dong-da", "tich-son"]
    (none,) = scoreboard([CLUSTER], CLUSTER_TARGETS, ADJUSTMENTS, ScoringScale(reward_slots=0))
    assert not any(u.reward_candidate for u in none.units)


def test_rank_units_never_breaks_a_full_tie_and_lists_the_tied_units_by_name():
    a = unit_score("a-unit", [fact("a-unit", 5, ON_TIME)], [], DEFAULT, name="Phường Tích Sơn")
    b = unit_score("b-unit", [fact("b-unit", 5, ON_TIME)], [], DEFAULT, name="Phường Liên Bảo")
    c = unit_score("c-unit", [fact("c-unit", 5, LATE)], [], DEFAULT, name="Phường Hội Hợp")
    ranked_units = rank_units([a, b, c], 1)
    assert [(u.unit_id, u.rank, u.reward_candidate) for u in ranked_units] == [
        ("b-unit", 1, True), ("a-unit", 1, True), ("c-unit", 3, False)]


def test_each_cluster_ranks_only_its_own_units_and_units_outside_every_cluster_are_not_ranked():
    second = Cluster("cum-2", "Cụm thi đua số 2", "hoi-hop", "khai-quang")
    targets = [*CLUSTER_TARGETS, fact("hoi-hop", 5, LATE), fact("thanh-tru", 100, ON_TIME)]
    boards = scoreboard([second, CLUSTER], targets, [], DEFAULT, unit_names={"hoi-hop": "Phường Hội Hợp"})

    assert [b.cluster_id for b in boards] == ["cum-1", "cum-2"]
    assert [(u.unit_id, u.name, u.score, u.rank) for u in boards[1].units] == [
        ("hoi-hop", "Phường Hội Hợp", D("2.5"), 1),
        ("khai-quang", "khai-quang", D("0"), 2),
    ]
    assert "thanh-tru" not in {u.unit_id for b in boards for u in b.units}


def test_the_scoreboard_has_the_contract_shape():
    (board,) = scoreboard([CLUSTER], CLUSTER_TARGETS, ADJUSTMENTS, DEFAULT)
    shown = board.to_dict()
    first = shown["units"][0]
    assert set(shown) == {"cluster_id", "name", "units"}
    assert {"unit_id", "name", "score", "max_score", "completion_rate", "rank", "reward_candidate", "counts"} <= set(first)
    assert (first["score"], first["max_score"], first["completion_rate"]) == (15.5, 28.0, 0.5)
    assert set(first["counts"]) == set(COUNT_KEYS)


# ------------------------------------------------------------------ what if
def test_what_if_ranks_under_a_proposed_scale_and_touches_nothing():
    targets, adjustments = list(CLUSTER_TARGETS), list(ADJUSTMENTS)
    before = scoreboard([CLUSTER], targets, adjustments, DEFAULT)
    lenient = ScoringScale(on_time=D("1"), late=D("1"))

    (proposed,) = what_if([CLUSTER], targets, adjustments, lenient)

    # late work now earns full points: Tích Sơn's 20 late points overtake Ngô Quyền
    assert ranked(proposed) == [
        ("tich-son", D("20"), D("1"), 1, True),
        ("ngo-quyen", D("19.5"), D("0.5"), 2, False),
        ("dong-da", D("10"), D("1"), 3, False),
        ("lien-bao", D("10"), D("0.5"), 4, False),
    ]
    assert (targets, adjustments) == (CLUSTER_TARGETS, ADJUSTMENTS)
    assert scoreboard([CLUSTER], targets, adjustments, DEFAULT) == before


def test_what_if_on_a_campaign_records_nothing_on_it():
    clock = Clock()
    campaign = with_clusters(clock)
    version, scale = campaign.version, campaign.scoring
    what_if(campaign.clusters.values(), CLUSTER_TARGETS, [], ScoringScale(late="1.0"))
    assert (campaign.version, campaign.scoring, len(campaign.pending_events)) == (version, scale, 3)


# ------------------------------------------------------------------ from real targets
def facts_of(target) -> ScoredTarget:
    return ScoredTarget(target.unit_id, target.points, target.report_class, target.status)


def test_scores_from_targets_driven_through_their_lifecycle():
    clock = Clock()
    on_time = target_in(Status.COMPLETED, clock)                       # 10 points, on time
    late = target_in(Status.IN_PROGRESS, clock)
    late.complete(cmd(OWNER_HEAD, DEADLINE_AT + timedelta(days=1)))     # 10 x 0.5
    overdue = target_in(Status.ESCALATED, clock)
    overdue.mark_overdue(cmd(SYSTEM, DEADLINE_AT + timedelta(seconds=1)), deadline_at=DEADLINE_AT)
    cancelled = target_in(Status.IN_PROGRESS, clock)
    cancelled.cancel(cmd(SECRETARIAT, clock.tick()), reason="Điều chỉnh chỉ tiêu")
    reopened = target_in(Status.COMPLETED, clock)
    reopened.reopen(cmd(STANDING_COMMITTEE, clock.tick()), reason="Chưa đạt")  # open again: 0

    score = unit_score("ngo-quyen", [facts_of(t) for t in (on_time, late, overdue, cancelled, reopened)], [], DEFAULT)

    assert score.score == D("15.0")
    assert score.max_score == D("40.0")
    assert score.completion_rate == D("0.5000")
    assert score.counts["escalated"] == 1 and score.counts["overdue"] == 1 and score.counts["cancelled"] == 1


@pytest.mark.parametrize("points", ["0", "0.25", "999999.99"])
def test_points_stay_exact_decimals(points):
    score = unit_score("dong-da", [replace(fact("dong-da", 1, ON_TIME), points=D(points))], [], DEFAULT)
    assert score.score == D(points) * D("1.0")
