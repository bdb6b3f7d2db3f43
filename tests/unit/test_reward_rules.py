"""Reward rules (quy chế khen thưởng): which units the scoreboard marks as reward
candidates, worked by hand and as properties over any board; and the Campaign's
`RulesChanged` event with its effective time."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thidua.domain import Cluster, ReportClass, ScoringScale, Status
from thidua.domain.errors import BadInput, NotAllowed
from thidua.domain.scoring import (
    CAMPAIGN,
    CLUSTER,
    COLLECTIVE,
    INDIVIDUAL,
    RewardForm,
    RewardRules,
    ScoredTarget,
    scoreboard,
    shared_ranks,
)
from tests.unit.test_campaign import CREATED_AT, with_clusters
from tests.unit.test_domain_builders import OWNER_HEAD, SECRETARIAT, STANDING_COMMITTEE, Clock, cmd

D = Decimal
ON_TIME, LATE = ReportClass.COMPLETED_ON_TIME, ReportClass.COMPLETED_LATE
OPEN, OVERDUE = ReportClass.IN_PROGRESS_WITHIN_DEADLINE, ReportClass.OVERDUE
STATUS = {ON_TIME: Status.COMPLETED, LATE: Status.COMPLETED, OPEN: Status.IN_PROGRESS, OVERDUE: Status.IN_PROGRESS}


def form(form_id: str = "co-thi-dua", *, recipient: str = COLLECTIVE, scope: str = CLUSTER, max_awards: int = 1,
         min_score_ratio: str = "0.95", max_overdue: int = 0, max_late: int = 100,
         top_rank: int | None = 1) -> RewardForm:
    return RewardForm(form_id, form_id.replace("-", " ").title(), recipient, scope, max_awards, D(min_score_ratio),
                      max_overdue, max_late, top_rank)


def facts(unit: str, *classes: ReportClass, points: int = 10) -> list[ScoredTarget]:
    return [ScoredTarget(unit, D(points), c, STATUS[c]) for c in classes]


CUM_1 = Cluster("cum-1", "Cụm 1", "ngo-quyen", "dong-da", ("lien-bao", "tich-son"))
CUM_2 = Cluster("cum-2", "Cụm 2", "hoi-hop", "khai-quang")
TARGETS = [
    *facts("ngo-quyen", ON_TIME, ON_TIME, ON_TIME, OVERDUE),  # 30 / 40 = 75 %, one overdue: best of cum-1
    *facts("dong-da", ON_TIME, ON_TIME, LATE),                 # 25 / 30 = 83 %, nothing overdue
    *facts("lien-bao", ON_TIME, ON_TIME),                      # 20 / 20 = 100 %
    *facts("tich-son", OVERDUE, OVERDUE),                      # 0 %
    *facts("hoi-hop", ON_TIME, ON_TIME, ON_TIME),              # 30 / 30
    *facts("khai-quang", ON_TIME, LATE),                       # 15 / 20 = 75 %
]


def marks(boards) -> dict[str, tuple[str, ...]]:
    return {u.unit_id: u.eligible_forms for b in boards for u in b.units if u.reward_candidate}


# ------------------------------------------------------------------ by hand
def test_the_top_unit_is_no_candidate_when_it_misses_every_form():
    flag = form(top_rank=1, max_overdue=0, min_score_ratio="0.7")
    boards = scoreboard([CUM_1, CUM_2], TARGETS, [], ScoringScale(), rules=RewardRules((flag,)))
    cum_1 = {u.unit_id: u for u in boards[0].units}
    assert cum_1["ngo-quyen"].rank == 1 and not cum_1["ngo-quyen"].reward_candidate  # one overdue target
    assert marks(boards) == {"hoi-hop": ("co-thi-dua",)}  # the flag is for rank 1 only: nobody else in cum-1


def test_each_form_checks_ratio_overdue_late_and_rank_and_gives_at_most_max_awards_per_scope():
    rules = RewardRules((
        form("bang-khen", min_score_ratio="0.8", max_overdue=0, max_late=0, top_rank=None, max_awards=2),
        form("giay-khen", min_score_ratio="0.7", max_overdue=1, top_rank=3, max_awards=5),
        form("ca-nhan", recipient=INDIVIDUAL, min_score_ratio="0", top_rank=None, max_awards=9),
    ))
    boards = scoreboard([CUM_1, CUM_2], TARGETS, [], ScoringScale(), rules=rules)
    assert marks(boards) == {
        "lien-bao": ("bang-khen", "giay-khen"),  # 100 %, none late
        "dong-da": ("giay-khen",),               # one late completion: no Bằng khen
        "ngo-quyen": ("giay-khen",),             # 75 %, one overdue allowed by Giấy khen
        "hoi-hop": ("bang-khen", "giay-khen"),
        "khai-quang": ("giay-khen",),
    }  # tich-son meets nothing; the individual form marks no unit


def test_a_campaign_scope_form_ranks_across_clusters():
    rules = RewardRules((form("bang-khen-ubnd", scope=CAMPAIGN, min_score_ratio="0.9", top_rank=None,
                              max_awards=1),))
    boards = scoreboard([CUM_1, CUM_2], TARGETS, [], ScoringScale(), rules=rules)
    # hoi-hop (30, 100 %) is ahead of lien-bao (20, 100 %) in the whole campaign
    assert marks(boards) == {"hoi-hop": ("bang-khen-ubnd",)}


def test_a_tie_that_would_overflow_the_places_gives_the_form_to_neither():
    both = [*facts("ngo-quyen", ON_TIME), *facts("dong-da", ON_TIME), *facts("lien-bao", LATE)]
    flag = form(min_score_ratio="0", top_rank=None, max_awards=1)
    (board,) = scoreboard([CUM_1], both, [], ScoringScale(), rules=RewardRules((flag,)))
    assert [(u.unit_id, u.rank) for u in board.units][:2] == [("dong-da", 1), ("ngo-quyen", 1)]
    assert marks([board]) == {}  # and not the third either: it is not better than the tied pair
    (two,) = scoreboard([CUM_1], both, [], ScoringScale(),
                        rules=RewardRules((form(min_score_ratio="0", top_rank=None, max_awards=2),)))
    assert set(marks([two])) == {"ngo-quyen", "dong-da"}


def test_without_rules_the_reward_slots_decide_and_no_form_is_named():
    boards = scoreboard([CUM_1], TARGETS, [], ScoringScale(reward_slots=1))
    assert [(u.unit_id, u.reward_candidate, u.eligible_forms) for u in boards[0].units if u.reward_candidate] == [
        ("ngo-quyen", True, ())]


@pytest.mark.parametrize("change, field", [
    ({"min_score_ratio": D("1.01")}, "forms.min_score_ratio"),
    ({"min_score_ratio": D("-0.1")}, "forms.min_score_ratio"),
    ({"min_score_ratio": "abc"}, "forms.min_score_ratio"),
    ({"max_awards": -1}, "forms.max_awards"),
    ({"max_overdue": -1}, "forms.max_overdue"),
    ({"max_late": True}, "forms.max_late"),
    ({"top_rank": 0}, "forms.top_rank"),
    ({"recipient": "team"}, "forms.for"),
    ({"scope": "province"}, "forms.scope"),
    ({"id": "has space"}, "forms.id"),
    ({"name": " "}, "forms.name"),
])
def test_a_bad_form_is_refused_naming_its_field(change, field):
    fields = {**form().__dict__, **change}
    with pytest.raises(BadInput) as refused:
        RewardForm(**fields)
    assert refused.value.field == field


def test_form_ids_must_be_unique():
    with pytest.raises(BadInput, match="giay-khen repeated"):
        RewardRules((form("giay-khen"), form("giay-khen", max_awards=3)))


def test_a_form_survives_its_dict_form():
    f = form("giay-khen", scope=CAMPAIGN, top_rank=None, min_score_ratio="0.85")
    assert RewardForm.from_dict(f.to_dict()) == f


# ------------------------------------------------------------------ properties
CLASSES = st.sampled_from([ON_TIME, LATE, OPEN, OVERDUE])
UNIT_IDS = [f"u{i}" for i in range(8)]


@st.composite
def campaigns(draw):
    """1..3 clusters over up to 8 units, each unit with 0..5 targets, and 1..4 forms."""
    units = draw(st.lists(st.sampled_from(UNIT_IDS), min_size=2, max_size=8, unique=True))
    cuts = sorted(draw(st.lists(st.integers(1, len(units) - 1), max_size=2, unique=True)))
    groups = [units[a:b] for a, b in zip([0, *cuts], [*cuts, len(units)]) if b - a >= 2] or [units]
    clusters = [Cluster(f"c{i}", f"Cụm {i}", g[0], g[1], tuple(g[2:])) for i, g in enumerate(groups)]
    targets = [ScoredTarget(u, D(draw(st.sampled_from([1, 5, 10]))), c, STATUS[c])
               for u in units for c in draw(st.lists(CLASSES, max_size=5))]
    forms = draw(st.lists(st.builds(
        RewardForm, id=st.sampled_from(["f1", "f2", "f3", "f4"]), name=st.just("Hình thức"),
        recipient=st.sampled_from([COLLECTIVE, COLLECTIVE, INDIVIDUAL]), scope=st.sampled_from([CLUSTER, CAMPAIGN]),
        max_awards=st.integers(0, 4), min_score_ratio=st.sampled_from([D(0), D("0.5"), D("0.95"), D(1)]),
        max_overdue=st.integers(0, 2), max_late=st.integers(0, 2), top_rank=st.none() | st.integers(1, 4),
    ), min_size=1, max_size=4, unique_by=lambda f: f.id))
    return clusters, targets, RewardRules(tuple(forms))


@settings(max_examples=150, deadline=None)
@given(campaigns())
def test_property_no_unit_that_meets_no_criterion_is_ever_a_candidate(case):
    clusters, targets, rules = case
    boards = scoreboard(clusters, targets, [], ScoringScale(), rules=rules)
    everyone = [u for b in boards for u in b.units]
    campaign_rank = shared_ranks(everyone)
    forms = {f.id: f for f in rules.forms}
    for board in boards:
        for u in board.units:
            assert u.reward_candidate == bool(u.eligible_forms)
            for form_id in u.eligible_forms:
                f = forms[form_id]
                rank = campaign_rank[u.unit_id] if f.scope == CAMPAIGN else u.rank
                assert f.recipient == COLLECTIVE
                assert f.criteria_met(u, rank)
                assert u.counts["overdue"] <= f.max_overdue and u.counts["completed_late"] <= f.max_late
                assert u.max_score > 0 and u.score / u.max_score >= f.min_score_ratio or f.min_score_ratio == 0


@settings(max_examples=150, deadline=None)
@given(campaigns())
def test_property_never_more_candidates_than_max_awards_per_scope(case):
    clusters, targets, rules = case
    boards = scoreboard(clusters, targets, [], ScoringScale(), rules=rules)
    for f in rules.forms:
        scopes = [[u for b in boards for u in b.units]] if f.scope == CAMPAIGN else [list(b.units) for b in boards]
        for scope in scopes:
            assert sum(f.id in u.eligible_forms for u in scope) <= f.max_awards


@settings(max_examples=150, deadline=None)
@given(campaigns())
def test_property_equal_scores_share_a_rank_and_get_the_same_forms(case):
    clusters, targets, rules = case
    boards = scoreboard(clusters, targets, [], ScoringScale(), rules=rules)
    for board in boards:
        for a in board.units:
            for b in board.units:
                if (a.score, a.completion_rate) == (b.score, b.completion_rate):
                    assert a.rank == b.rank
                    if (a.counts["overdue"], a.counts["completed_late"], a.max_score) == \
                            (b.counts["overdue"], b.counts["completed_late"], b.max_score):
                        assert a.eligible_forms == b.eligible_forms  # a tie is never broken
                elif (a.score, a.completion_rate) > (b.score, b.completion_rate):
                    assert a.rank < b.rank
        better = [sum((o.score, o.completion_rate) > (u.score, u.completion_rate) for o in board.units)
                  for u in board.units]
        assert [u.rank for u in board.units] == [n + 1 for n in better]


@settings(max_examples=200, deadline=None)
@given(campaigns())
def test_property_a_board_does_not_depend_on_the_unit_ids(case):
    """Renaming every unit id (same names) moves no mark: ids break no tie."""
    clusters, targets, rules = case
    rename = {u: f"z{9 - int(u[1:])}" for u in UNIT_IDS}
    names = {u: f"Đơn vị {u}" for u in UNIT_IDS}
    renamed_clusters = [Cluster(c.cluster_id, c.name, rename[c.head_unit_id], rename[c.deputy_unit_id],
                                tuple(rename[u] for u in c.unit_ids)) for c in clusters]
    renamed_targets = [ScoredTarget(rename[t.unit_id], t.points, t.report_class, t.status) for t in targets]
    before = scoreboard(clusters, targets, [], ScoringScale(), names, rules)
    after = scoreboard(renamed_clusters, renamed_targets, [], ScoringScale(),
                       {rename[u]: n for u, n in names.items()}, rules)
    shown = [[(u.name, u.rank, u.eligible_forms) for u in b.units] for b in before]
    assert shown == [[(u.name, u.rank, u.eligible_forms) for u in b.units] for b in after]


# ------------------------------------------------------------------ the Campaign's event
JULY = datetime(2022, 7, 1, tzinfo=timezone.utc)


def test_rules_changed_is_an_event_with_an_effective_time_and_replays_as_the_same_command():
    clock = Clock(CREATED_AT)
    campaign = with_clusters(clock)
    rules = RewardRules((form(), form("giay-khen", top_rank=None, max_awards=3, min_score_ratio="0.8")))
    change = cmd(SECRETARIAT, clock.tick(), command_id="rules-1")
    assert campaign.change_rules(change, rules, effective_at=JULY)
    assert not campaign.change_rules(change, rules, effective_at=JULY)  # the same command again
    assert campaign.rules_at(JULY - timedelta(seconds=1)) == RewardRules()
    assert campaign.rules_at(JULY) == rules and campaign.rules == rules
    event = campaign.collect_events()[-1]
    assert type(event).__name__ == "RulesChanged" and event.effective_at == JULY
    assert event.actor == SECRETARIAT and event.command_id == "rules-1"
    assert campaign.to_state()["rules"]["forms"][0]["for"] == "collective"


def test_later_rules_take_over_from_their_effective_time_whatever_order_they_were_recorded_in():
    clock = Clock(CREATED_AT)
    campaign = with_clusters(clock)
    april, strict, loose = datetime(2022, 4, 1, tzinfo=timezone.utc), RewardRules((form(),)), RewardRules(
        (form(min_score_ratio="0.5"),))
    campaign.change_rules(cmd(STANDING_COMMITTEE, clock.tick()), strict, effective_at=JULY)
    campaign.change_rules(cmd(STANDING_COMMITTEE, clock.tick()), loose, effective_at=april)
    assert campaign.rules_at(april) == loose and campaign.rules_at(JULY) == strict and campaign.rules == strict


def test_only_the_office_may_change_the_rules_and_a_naive_time_is_refused():
    clock = Clock(CREATED_AT)
    campaign = with_clusters(clock)
    with pytest.raises(NotAllowed):
        campaign.change_rules(cmd(OWNER_HEAD, clock.tick()), RewardRules((form(),)))
    with pytest.raises(BadInput):
        campaign.change_rules(cmd(SECRETARIAT, clock.tick()), RewardRules((form(),)),
                              effective_at=datetime(2022, 7, 1))
    assert campaign.rules == RewardRules()
