"""Coordinating units at assignment enter the assignment's fingerprint only when some are
named: an assignment stored before the field existed is replayed, not refused."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from thidua.domain.errors import CommandIdReused
from thidua.domain.target import Target
from thidua.domain.values import Actor, Command, Role

SECRETARIAT = Actor(id="u-sec", name="Văn phòng", role=Role.SECRETARIAT)
DETAILS = {"campaign_id": "c-2022", "unit_id": "phuong-ngo-quyen", "title": "GPMB", "area": "GPMB",
           "deadline": date(2022, 9, 30), "points": 10, "timezone": "Asia/Ho_Chi_Minh", "key": "934-01"}
# What the assignment above was fingerprinted as before coordinating units could be named.
FINGERPRINT_BEFORE = "d05576da1e930900f7dca668e3cef953"


def command() -> Command:
    return Command("assign-1", SECRETARIAT, datetime(2022, 3, 1, tzinfo=UTC))


def test_an_assignment_naming_none_keeps_the_fingerprint_it_had_before() -> None:
    target = Target.assign(command(), **DETAILS)
    assert target.applied["assign-1"][0] == FINGERPRINT_BEFORE
    assert target.coordinating_unit_ids == []
    assert target.is_same_assignment(command(), **DETAILS, coordinating_unit_ids=[])


def test_units_named_at_assignment_coordinate_once_each_and_make_it_another_assignment() -> None:
    target = Target.assign(command(), **DETAILS, coordinating_unit_ids=["phuong-tich-son", "phuong-tich-son"])
    assert target.coordinating_unit_ids == ["phuong-tich-son"]
    assert target.applied["assign-1"][0] != FINGERPRINT_BEFORE
    assert target.is_same_assignment(command(), **DETAILS, coordinating_unit_ids=["phuong-tich-son"])
    with pytest.raises(CommandIdReused):
        target.is_same_assignment(command(), **DETAILS)
