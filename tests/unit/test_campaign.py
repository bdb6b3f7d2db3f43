"""The Campaign aggregate (đợt thi đua): period and time zone, clusters, decisions,
policy, scoring scale with its history, bonuses and deductions, closing."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from thidua.domain import (
    BadInput,
    Campaign,
    CampaignClosed,
    Cluster,
    CommandIdReused,
    Decision,
    InvalidTransition,
    NotAllowed,
    Policy,
    ScoringScale,
    campaign_uuid,
)
from tests.unit.test_domain_builders import (
    EVERYONE,
    INSPECTOR,
    OWNER_HEAD,
    SECRETARIAT,
    STANDING_COMMITTEE,
    Clock,
    cmd,
)

CREATED_AT = datetime(2022, 2, 15, 2, 0, tzinfo=timezone.utc)
PERIOD = {"starts_on": date(2022, 3, 1), "ends_on": date(2022, 12, 31)}
CLUSTER_1 = Cluster("cum-1", "Cụm thi đua số 1", "ngo-quyen", "dong-da", ("lien-bao", "tich-son"))
CLUSTER_2 = Cluster("cum-2", "Cụm thi đua số 2", "hoi-hop", "khai-quang", ("dong-tam",))
DECISION_934 = Decision("934-QĐ/TU", date(2022, 2, 15), "Ban Thường vụ Thành ủy", "Giao chỉ tiêu năm 2022")


def new_campaign(clock: Clock | None = None, **overrides) -> Campaign:
    clock = clock or Clock(CREATED_AT)
    kwargs = {"campaign_id": "vinh-yen-2022", "name": "Đợt cao điểm thi đua Vĩnh Yên 2022", **PERIOD, **overrides}
    return Campaign.create(cmd(SECRETARIAT, clock.now), **kwargs)


def with_clusters(clock: Clock) -> Campaign:
    campaign = new_campaign(clock)
    campaign.set_cluster(cmd(SECRETARIAT, clock.tick()), CLUSTER_1)
    campaign.set_cluster(cmd(SECRETARIAT, clock.tick()), CLUSTER_2)
    return campaign


def last_event(campaign: Campaign):
    return campaign.pending_events[-1]


# ------------------------------------------------------------------ creation
def test_a_new_campaign_has_its_period_the_hanoi_time_zone_and_the_default_rules():
    campaign = new_campaign()

    assert campaign.id == campaign_uuid("vinh-yen-2022")
    assert (campaign.starts_on, campaign.ends_on) == (date(2022, 3, 1), date(2022, 12, 31))
    assert campaign.timezone == "Asia/Ho_Chi_Minh"
    assert campaign.policy == Policy("P3D", "P7D", "P14D")
    assert campaign.scoring == ScoringScale(Decimal("1.0"), Decimal("0.5"), 1)
    assert campaign.clusters == {} and campaign.decisions == {} and campaign.adjustments == []
    assert not campaign.closed
    created = last_event(campaign)
    assert (created.actor, created.occurred_at) == (SECRETARIAT, CREATED_AT)


def test_a_deadline_date_of_the_campaign_ends_at_23_59_59_in_its_time_zone():
    assert new_campaign().deadline_end(date(2022, 12, 31)) == datetime(2022, 12, 31, 16, 59, 59, tzinfo=timezone.utc)
    tokyo = new_campaign(timezone="Asia/Tokyo")
    assert tokyo.deadline_end(date(2022, 12, 31)) == datetime(2022, 12, 31, 14, 59, 59, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"ends_on": date(2022, 2, 28)}, "ends_on"),
        ({"starts_on": "2022-03-01"}, "starts_on"),
        ({"ends_on": datetime(2022, 12, 31, tzinfo=timezone.utc)}, "ends_on"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"campaign_id": "vĩnh yên 2022"}, "id"),
        ({"campaign_id": ""}, "id"),
        ({"name": "  "}, "name"),
    ],
)
def test_a_campaign_with_bad_details_is_refused_naming_the_field(bad, field):
    with pytest.raises(BadInput) as refused:
        new_campaign(**bad)
    assert refused.value.field == field


def test_only_the_secretariat_sets_up_a_campaign():
    for actor in EVERYONE:
        if actor is SECRETARIAT:
            continue
        with pytest.raises(NotAllowed):
            Campaign.create(cmd(actor, CREATED_AT), campaign_id="x", name="x", **PERIOD)


def test_creating_the_same_campaign_again_is_a_replay_and_other_details_are_refused():
    campaign = new_campaign()
    same = {"campaign_id": "vinh-yen-2022", "name": "Đợt cao điểm thi đua Vĩnh Yên 2022", **PERIOD,
            "timezone": "Asia/Ho_Chi_Minh", "policy": None, "scoring": None}
    campaign.check_same_creation(cmd(SECRETARIAT, CREATED_AT), **same)
    with pytest.raises(CommandIdReused):
        campaign.check_same_creation(cmd(SECRETARIAT, CREATED_AT), **{**same, "name": "Khác"})


# ------------------------------------------------------------------ clusters
def test_a_cluster_has_a_head_a_deputy_and_members_and_the_head_and_deputy_are_members():
    clock = Clock(CREATED_AT)
    campaign = with_clusters(clock)

    assert campaign.clusters["cum-1"].unit_ids == ("ngo-quyen", "dong-da", "lien-bao", "tich-son")
    assert campaign.cluster_of("dong-da") == "cum-1"
    assert campaign.cluster_of("dong-tam") == "cum-2"
    assert campaign.cluster_of("thanh-tru") is None
    assert last_event(campaign).cluster == CLUSTER_2


def test_a_cluster_head_cannot_also_be_its_deputy():
    with pytest.raises(BadInput) as refused:
        Cluster("cum-3", "Cụm 3", "ngo-quyen", "ngo-quyen")
    assert refused.value.field == "deputy_unit_id"


def test_a_unit_belongs_to_at_most_one_cluster_of_a_campaign():
    clock = Clock(CREATED_AT)
    campaign = with_clusters(clock)
    versions = campaign.version
    poaching = Cluster("cum-3", "Cụm 3", "thanh-tru", "dinh-trung", ("lien-bao",))

    with pytest.raises(BadInput) as refused:
        campaign.set_cluster(cmd(SECRETARIAT, clock.tick()), poaching)
    assert refused.value.details["unit_id"] == "lien-bao"
    assert refused.value.details["cluster_id"] == "cum-1"
    assert campaign.version == versions and "cum-3" not in campaign.clusters


def test_redefining_a_cluster_frees_the_units_it_no_longer_lists():
    clock = Clock(CREATED_AT)
    campaign = with_clusters(clock)
    smaller = Cluster("cum-1", "Cụm thi đua số 1", "ngo-quyen", "dong-da", ("tich-son",))
    assert campaign.set_cluster(cmd(SECRETARIAT, clock.tick()), smaller)
    assert campaign.set_cluster(
        cmd(SECRETARIAT, clock.tick()), Cluster("cum-3", "Cụm 3", "thanh-tru", "lien-bao")
    )
    assert campaign.cluster_of("lien-bao") == "cum-3"


def test_putting_a_cluster_that_is_already_there_records_nothing():
    clock = Clock(CREATED_AT)
    campaign = with_clusters(clock)
    version = campaign.version
    assert campaign.set_cluster(cmd(SECRETARIAT, clock.tick()), CLUSTER_1) is False
    assert campaign.version == version


def test_a_cluster_needs_a_slug_id_and_a_name_and_only_the_secretariat_sets_it():
    clock = Clock(CREATED_AT)
    campaign = new_campaign(clock)
    for bad in (Cluster("cụm 1", "x", "a", "b"), Cluster("cum-1", " ", "a", "b")):
        with pytest.raises(BadInput):
            campaign.set_cluster(cmd(SECRETARIAT, clock.tick()), bad)
    with pytest.raises(NotAllowed):
        campaign.set_cluster(cmd(STANDING_COMMITTEE, clock.tick()), CLUSTER_1)


# ------------------------------------------------------------------ decisions
def test_decisions_are_recorded_once_by_number():
    clock = Clock(CREATED_AT)
    campaign = new_campaign(clock)
    assert campaign.record_decision(cmd(SECRETARIAT, clock.tick()), DECISION_934)
    assert campaign.decisions == {"934-QĐ/TU": DECISION_934}
    assert campaign.record_decision(cmd(SECRETARIAT, clock.tick()), DECISION_934) is False
    with pytest.raises(BadInput):
        campaign.record_decision(
            cmd(SECRETARIAT, clock.tick()), Decision("934-QĐ/TU", date(2022, 2, 21), "Ban Thường vụ Thành ủy")
        )
    assert campaign.version == 2


@pytest.mark.parametrize(
    "make",
    [
        lambda: Decision(" ", date(2022, 2, 15), "BTV"),
        lambda: Decision("937", date(2022, 2, 21), ""),
        lambda: Decision("937", "2022-02-21", "BTV"),
    ],
)
def test_a_decision_needs_a_number_an_issuer_and_an_issue_date(make):
    campaign = new_campaign()
    with pytest.raises(BadInput):
        campaign.record_decision(cmd(SECRETARIAT, CREATED_AT + timedelta(hours=1)), make())


# ------------------------------------------------------------------ policy
@pytest.mark.parametrize(
    ("text", "expected"),
    [("P3D", timedelta(days=3)), ("PT2S", timedelta(seconds=2)), ("P1DT12H", timedelta(hours=36)),
     ("P2W", timedelta(days=14)), ("PT0.5S", timedelta(milliseconds=500))],
)
def test_policy_durations_are_iso_8601(text, expected):
    policy = Policy(escalate_after=text, resolution_sla=text, stale_after=text)
    assert policy.duration("escalate_after") == expected
    assert policy.to_dict() == {"escalate_after": text, "resolution_sla": text, "stale_after": text,
                                "acceptance_required": False, "acceptance_sla": "P7D"}


@pytest.mark.parametrize("text", ["3 days", "", "P", "P1M", "P1Y", "PT0S", "-P1D", "P3X", "P9999999999999D", None])
def test_a_duration_that_is_not_iso_8601_positive_days_to_seconds_is_refused(text):
    with pytest.raises(BadInput) as refused:
        Policy(resolution_sla=text)
    assert refused.value.field == "policy.resolution_sla"


def test_a_policy_change_is_an_event_by_the_secretariat():
    clock = Clock(CREATED_AT)
    campaign = new_campaign(clock)
    fast = Policy("PT2S", "PT5S", "PT10S")
    assert campaign.change_policy(cmd(SECRETARIAT, clock.tick()), fast)
    assert campaign.policy == fast
    assert type(last_event(campaign)).__name__ == "PolicyChanged"
    with pytest.raises(NotAllowed):
        campaign.change_policy(cmd(STANDING_COMMITTEE, clock.tick()), Policy())


# ------------------------------------------------------------------ scoring scale
@pytest.mark.parametrize(
    "kwargs",
    [
        {"on_time": -1},
        {"late": "-0.1"},
        {"on_time": "0.4", "late": "0.5"},
        {"on_time": "một"},
        {"late": "NaN"},
        {"on_time": "Infinity"},
        {"reward_slots": -1},
        {"reward_slots": 101},
        {"reward_slots": 1.5},
        {"reward_slots": True},
    ],
)
def test_a_scoring_scale_that_makes_no_sense_is_refused(kwargs):
    with pytest.raises(BadInput):
        ScoringScale(**kwargs)


def test_a_scoring_scale_accepts_numbers_as_text_and_keeps_them_exact():
    scale = ScoringScale(on_time="1.2", late=0.6, reward_slots=3)
    assert (scale.on_time, scale.late, scale.reward_slots) == (Decimal("1.2"), Decimal("0.6"), 3)


def test_a_scale_change_takes_effect_at_its_effective_time_and_as_of_reads_the_scale_then_in_force():
    clock = Clock(CREATED_AT)
    campaign = new_campaign(clock)
    original = campaign.scoring
    stricter = ScoringScale(on_time=Decimal("1.0"), late=Decimal("0.25"))
    effective = datetime(2022, 7, 1, tzinfo=timezone.utc)
    assert campaign.change_scoring(cmd(STANDING_COMMITTEE, clock.tick()), stricter, effective_at=effective)

    assert campaign.scale_at(CREATED_AT) == original
    assert campaign.scale_at(effective - timedelta(seconds=1)) == original
    assert campaign.scale_at(effective) == stricter
    assert campaign.scale_at(None) == stricter
    assert last_event(campaign).effective_at == effective


def test_a_scale_change_without_an_effective_time_takes_effect_when_it_is_made():
    clock = Clock(CREATED_AT)
    campaign = new_campaign(clock)
    at = clock.tick()
    campaign.change_scoring(cmd(SECRETARIAT, at), ScoringScale(reward_slots=2))
    assert campaign.scale_at(at - timedelta(seconds=1)).reward_slots == 1
    assert campaign.scale_at(at).reward_slots == 2


def test_scale_changes_recorded_out_of_order_are_read_in_effective_order():
    clock = Clock(CREATED_AT)
    campaign = new_campaign(clock)
    july, april = datetime(2022, 7, 1, tzinfo=timezone.utc), datetime(2022, 4, 1, tzinfo=timezone.utc)
    campaign.change_scoring(cmd(SECRETARIAT, clock.tick()), ScoringScale(late="0.3"), effective_at=july)
    campaign.change_scoring(cmd(SECRETARIAT, clock.tick()), ScoringScale(late="0.4"), effective_at=april)

    assert campaign.scale_at(datetime(2022, 5, 1, tzinfo=timezone.utc)).late == Decimal("0.4")
    assert campaign.scale_at(datetime(2022, 8, 1, tzinfo=timezone.utc)).late == Decimal("0.3")
    assert campaign.scoring.late == Decimal("0.3")


def test_a_scale_change_needs_an_effective_time_with_an_offset():
    campaign = new_campaign()
    with pytest.raises(BadInput) as refused:
        campaign.change_scoring(cmd(SECRETARIAT, CREATED_AT), ScoringScale(), effective_at=datetime(2022, 7, 1))
    assert refused.value.field == "effective_at"


# ------------------------------------------------------------------ bonuses and deductions
def test_the_standing_committee_awards_bonuses_and_deductions_with_reasons():
    clock = Clock(CREATED_AT)
    campaign = with_clusters(clock)
    at = clock.tick()
    campaign.award_bonus(cmd(STANDING_COMMITTEE, at), "lien-bao", "2.5", reason="Sáng kiến số hóa hồ sơ GPMB")
    campaign.award_bonus(cmd(STANDING_COMMITTEE, clock.tick()), "dong-tam", -3, reason="Để phát sinh vi phạm đất đai")

    assert campaign.adjustments[0] == {
        "unit_id": "lien-bao", "points": Decimal("2.5"), "reason": "Sáng kiến số hóa hồ sơ GPMB",
        "awarded_at": at, "awarded_by": STANDING_COMMITTEE.id,
    }
    assert campaign.adjustments[1]["points"] == Decimal("-3")
    assert type(last_event(campaign)).__name__ == "BonusAwarded"


@pytest.mark.parametrize(
    ("unit", "points", "reason", "field"),
    [
        ("lien-bao", 0, "x", "points"),
        ("lien-bao", 10001, "x", "points"),
        ("lien-bao", "nhiều", "x", "points"),
        ("lien-bao", 1, "  ", "reason"),
        ("thanh-tru", 1, "x", "unit_id"),  # in no cluster of this campaign
    ],
)
def test_a_bonus_needs_a_sensible_amount_a_reason_and_a_unit_of_the_campaign(unit, points, reason, field):
    clock = Clock(CREATED_AT)
    campaign = with_clusters(clock)
    with pytest.raises(BadInput) as refused:
        campaign.award_bonus(cmd(STANDING_COMMITTEE, clock.tick()), unit, points, reason)
    assert refused.value.field == field
    assert campaign.adjustments == []


def test_only_the_standing_committee_awards_points():
    clock = Clock(CREATED_AT)
    campaign = with_clusters(clock)
    for actor in (SECRETARIAT, INSPECTOR, OWNER_HEAD):
        with pytest.raises(NotAllowed):
            campaign.award_bonus(cmd(actor, clock.tick()), "lien-bao", 1, "x")


def test_a_replayed_bonus_is_awarded_once():
    clock = Clock(CREATED_AT)
    campaign = with_clusters(clock)
    bonus = cmd(STANDING_COMMITTEE, clock.tick(), "bonus-1")
    assert campaign.award_bonus(bonus, "lien-bao", 1, "Sáng kiến")
    assert campaign.award_bonus(bonus, "lien-bao", 1, "Sáng kiến") is False
    with pytest.raises(CommandIdReused):
        campaign.award_bonus(bonus, "lien-bao", 2, "Sáng kiến")
    assert len(campaign.adjustments) == 1


# ------------------------------------------------------------------ closing
def test_a_closed_campaign_refuses_every_change():
    clock = Clock(CREATED_AT)
    campaign = with_clusters(clock)
    assert campaign.close(cmd(SECRETARIAT, clock.tick()), reason="Tổng kết đợt thi đua")
    version = campaign.version
    changes = [
        lambda c: campaign.set_cluster(c, Cluster("cum-9", "Cụm 9", "x", "y")),
        lambda c: campaign.record_decision(c, DECISION_934),
        lambda c: campaign.change_policy(c, Policy("P1D")),
        lambda c: campaign.change_scoring(c, ScoringScale(late="0.1")),
        lambda c: campaign.close(c),
    ]
    for change in changes:
        with pytest.raises(InvalidTransition) as refused:
            change(cmd(SECRETARIAT, clock.tick()))
        assert refused.value.state == "closed"
    with pytest.raises(InvalidTransition):
        campaign.award_bonus(cmd(STANDING_COMMITTEE, clock.tick()), "lien-bao", 1, "x")
    assert campaign.version == version and campaign.closed


def test_a_closed_campaign_names_its_closure_in_the_refusal():
    clock = Clock(CREATED_AT)
    campaign = new_campaign(clock)
    campaign.close(cmd(SECRETARIAT, clock.tick()))
    with pytest.raises(CampaignClosed) as refused:
        campaign.check_open("start")
    assert refused.value.to_dict() == {"kind": "campaign_closed", "command": "start", "state": "closed",
                                       "campaign_id": "vinh-yen-2022",
                                       "message": "cannot start: campaign 'vinh-yen-2022' is closed"}


def test_only_the_standing_committee_reopens_a_closed_campaign_with_a_reason():
    clock = Clock(CREATED_AT)
    campaign = new_campaign(clock)
    with pytest.raises(InvalidTransition) as not_closed:
        campaign.reopen(cmd(STANDING_COMMITTEE, clock.tick()), reason="Gia hạn")
    assert not_closed.value.state == "open"
    campaign.close(cmd(SECRETARIAT, clock.tick()))
    for actor in (SECRETARIAT, INSPECTOR, OWNER_HEAD):
        with pytest.raises(NotAllowed):
            campaign.reopen(cmd(actor, clock.tick()), reason="Gia hạn")
    with pytest.raises(BadInput):
        campaign.reopen(cmd(STANDING_COMMITTEE, clock.tick()), reason="  ")
    assert campaign.closed

    reopen = cmd(STANDING_COMMITTEE, clock.tick(), "reopen-1")
    assert campaign.reopen(reopen, reason="Gia hạn đến hết quý I")
    version = campaign.version
    assert not campaign.closed and campaign.to_state()["closed"] is False
    assert campaign.reopen(reopen, reason="Gia hạn đến hết quý I") is False  # a replay
    with pytest.raises(CommandIdReused):
        campaign.reopen(reopen, reason="Khác")
    assert campaign.change_policy(cmd(SECRETARIAT, clock.tick()), Policy("P1D"))  # open again
    events = campaign.collect_events()
    reopened = [e for e in events if type(e).__name__ == "Reopened"]
    assert len(reopened) == 1 and reopened[0].reason == "Gia hạn đến hết quý I"
    assert reopened[0].originator_version == version


def test_the_campaign_shows_itself_in_the_contract_shape():
    clock = Clock(CREATED_AT)
    campaign = with_clusters(clock)
    campaign.record_decision(cmd(SECRETARIAT, clock.tick()), DECISION_934)
    shown = campaign.to_state()

    assert shown["id"] == "vinh-yen-2022"
    assert shown["starts_on"] == "2022-03-01" and shown["ends_on"] == "2022-12-31"
    assert shown["timezone"] == "Asia/Ho_Chi_Minh"
    assert shown["policy"] == {"escalate_after": "P3D", "resolution_sla": "P7D", "stale_after": "P14D",
                               "acceptance_required": False, "acceptance_sla": "P7D"}
    assert shown["scoring"] == {"on_time": 1.0, "late": 0.5, "reward_slots": 1}
    assert shown["decisions"][0]["issued_on"] == "2022-02-15"
    assert shown["clusters"][0]["member_unit_ids"] == ["ngo-quyen", "dong-da", "lien-bao", "tich-son"]
    assert shown["version"] == 4 and shown["closed"] is False
