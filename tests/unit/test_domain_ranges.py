"""Dates and times outside a sane range are refused by the domain, wherever they enter:
a year-1 time once answered 200 and stopped every read model."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from thidua.domain import BadInput, Decision, Target
from thidua.domain.values import MAX_YEAR, MIN_YEAR, Actor, Command, Role, ScoringScale
from tests.unit.test_campaign import CREATED_AT, new_campaign
from tests.unit.test_domain_builders import SECRETARIAT, STANDING_COMMITTEE, Clock, cmd

PLUS_7 = timezone(timedelta(hours=7))
MINUS_12 = timezone(timedelta(hours=-12))


@pytest.mark.parametrize("effective_at", [
    datetime(1, 1, 1, tzinfo=PLUS_7),                      # before year 1 in UTC
    datetime(9999, 12, 31, 23, 59, 59, tzinfo=MINUS_12),   # after year 9999 in UTC
    datetime(MIN_YEAR - 1, 6, 1, tzinfo=timezone.utc),
    datetime(MAX_YEAR + 1, 6, 1, tzinfo=timezone.utc),
])
def test_a_scoring_change_effective_outside_the_years_is_refused(effective_at):
    campaign = new_campaign()
    with pytest.raises(BadInput) as refused:
        campaign.change_scoring(cmd(STANDING_COMMITTEE, CREATED_AT), ScoringScale(), effective_at=effective_at)
    assert refused.value.field == "effective_at"
    assert not campaign.pending_events[1:]


@pytest.mark.parametrize("effective_at", [
    datetime(2022, 2, 28, 16, 59, 59, tzinfo=timezone.utc),  # 23:59:59 in Hà Nội the day before
    datetime(2023, 1, 1, 0, 0, 0, tzinfo=PLUS_7),            # the day after the last
])
def test_a_scoring_change_effective_outside_the_campaigns_period_is_refused(effective_at):
    campaign = new_campaign()  # 2022-03-01 .. 2022-12-31, Asia/Ho_Chi_Minh
    with pytest.raises(BadInput, match="period") as refused:
        campaign.change_scoring(cmd(STANDING_COMMITTEE, CREATED_AT), ScoringScale(), effective_at=effective_at)
    assert refused.value.field == "effective_at"


def test_a_scoring_change_effective_on_the_first_and_last_moment_of_the_period_is_taken():
    clock = Clock(CREATED_AT)
    campaign = new_campaign(clock)
    first = datetime(2022, 3, 1, 0, 0, 0, tzinfo=PLUS_7)
    last = datetime(2022, 12, 31, 23, 59, 59, tzinfo=PLUS_7)
    assert campaign.change_scoring(cmd(STANDING_COMMITTEE, clock.tick()), ScoringScale(late="0.4"), effective_at=first)
    assert campaign.change_scoring(cmd(STANDING_COMMITTEE, clock.tick()), ScoringScale(late="0.3"), effective_at=last)


@pytest.mark.parametrize(("starts_on", "ends_on", "field"), [
    (date(1, 1, 1), date(2022, 12, 31), "starts_on"),
    (date(2022, 1, 1), date(9999, 12, 31), "ends_on"),
    (date(2022, 1, 1), date(2032, 1, 1), "ends_on"),  # more than ten years
])
def test_a_campaign_period_outside_the_years_or_longer_than_ten_years_is_refused(starts_on, ends_on, field):
    with pytest.raises(BadInput) as refused:
        new_campaign(starts_on=starts_on, ends_on=ends_on)
    assert refused.value.field == field


def test_a_ten_year_campaign_is_taken():
    assert new_campaign(starts_on=date(2022, 1, 1), ends_on=date(2031, 12, 31)).ends_on == date(2031, 12, 31)


def test_a_deadline_or_a_decision_date_outside_the_years_is_refused():
    with pytest.raises(BadInput) as refused:
        Target.assign(cmd(SECRETARIAT, CREATED_AT), campaign_id="vinh-yen-2022", unit_id="ngo-quyen",
                      title="Chỉ tiêu", area="kinh tế", deadline=date(3000, 1, 1), points=Decimal(1),
                      timezone="Asia/Ho_Chi_Minh", key="k-1")
    assert refused.value.field == "deadline"
    with pytest.raises(BadInput) as refused:
        new_campaign().record_decision(cmd(SECRETARIAT, CREATED_AT), Decision("1/QĐ", date(1, 1, 1), "UBND"))
    assert refused.value.field == "issued_on"


def test_a_command_time_outside_the_years_is_refused():
    actor = Actor("sec-1", "Thư ký", Role.SECRETARIAT)
    with pytest.raises(BadInput) as refused:
        Command("c-1", actor, datetime(1, 1, 1, tzinfo=PLUS_7))
    assert refused.value.field == "at"
