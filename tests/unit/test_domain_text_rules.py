"""Loose text and loose numbers: one form for every text (NFC), invisible characters
refused in keys and ids and dropped from titles, durations well formed and at least one
second, and `-0` is 0."""

from __future__ import annotations

import unicodedata
from datetime import date, timedelta
from decimal import Decimal

import pytest

from thidua.domain import BadInput, Policy, Target
from thidua.domain.commandlog import normalize_text
from thidua.domain.values import to_decimal
from tests.unit.test_campaign import CREATED_AT, new_campaign
from tests.unit.test_domain_builders import SECRETARIAT, STANDING_COMMITTEE, Clock, cmd

NFC_TITLE = "Hoàn thành GPMB đường Nguyễn Tất Thành"
NFD_TITLE = unicodedata.normalize("NFD", NFC_TITLE)


def assign(key: str, title: str = NFC_TITLE, at=CREATED_AT) -> Target:
    return Target.assign(cmd(SECRETARIAT, at), campaign_id="vinh-yen-2022", unit_id="ngo-quyen", title=title,
                         area="GPMB", deadline=date(2022, 9, 30), points=Decimal(5), timezone="Asia/Ho_Chi_Minh",
                         key=key)


def test_a_key_typed_in_nfc_or_nfd_names_the_same_target():
    assert NFD_TITLE != NFC_TITLE
    nfc, nfd = assign("Đường-" + NFC_TITLE[:5]), assign(unicodedata.normalize("NFD", "Đường-" + NFC_TITLE[:5]))
    assert nfc.id == nfd.id and nfc.key == nfd.key


@pytest.mark.parametrize("invisible", ["\u200b", "\u200d", "\u202e", "\u2066", "\ufeff"])
def test_a_key_or_an_id_with_an_invisible_character_is_refused(invisible):
    with pytest.raises(BadInput) as refused:
        assign(f"934{invisible}-01")
    assert refused.value.field == "key"
    with pytest.raises(BadInput) as refused:
        new_campaign(campaign_id=f"vinh-yen{invisible}-2022")
    assert refused.value.field == "id"


def test_titles_are_kept_in_nfc_without_invisible_characters():
    target = assign("k-1", title="\u202e" + NFD_TITLE + "\u200b")
    assert target.title == NFC_TITLE
    assert normalize_text("a\u200bb\u202ec") == "abc"


@pytest.mark.parametrize("text", ["P1DT", "PT0.5S", "PT0.000001S", "pt1s"])
def test_a_new_policy_duration_must_be_well_formed_and_at_least_a_second(text):
    with pytest.raises(BadInput) as refused:
        new_campaign(policy=Policy(resolution_sla=text))
    assert refused.value.field == "policy.resolution_sla"
    campaign = new_campaign()
    with pytest.raises(BadInput) as refused:
        campaign.change_policy(cmd(SECRETARIAT, CREATED_AT), Policy(escalate_after=text))
    assert refused.value.field == "policy.escalate_after"


def test_a_policy_of_one_second_is_taken_and_one_read_back_from_an_event_still_loads():
    clock = Clock(CREATED_AT)
    campaign = new_campaign(clock)
    assert campaign.change_policy(cmd(SECRETARIAT, clock.tick()), Policy(escalate_after="PT1S"))
    # what an older store may hold: loaded as it is, refused only when a command brings it
    assert Policy(escalate_after="PT0.5S").duration("escalate_after") == timedelta(milliseconds=500)


def test_minus_zero_is_zero():
    assert str(to_decimal("-0", "points")) == "0"
    assert str(to_decimal("-0.00", "points")) == "0.00"
    assert str(assign("k-2").points) == "5"
    target = Target.assign(cmd(SECRETARIAT, CREATED_AT), campaign_id="vinh-yen-2022", unit_id="ngo-quyen",
                           title="t", area="a", deadline=date(2022, 9, 30), points="-0",
                           timezone="Asia/Ho_Chi_Minh", key="k-3")
    assert str(target.points) == "0"
    campaign = new_campaign()
    with pytest.raises(BadInput):  # a bonus of nothing is refused whatever its sign
        campaign.award_bonus(cmd(STANDING_COMMITTEE, CREATED_AT), "ngo-quyen", "-0", "thưởng")
