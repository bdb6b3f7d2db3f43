"""The daily digest's domain: recorded by the system only, one per campaign and local day
(a deterministic id and command id), and what it counts."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from thidua.domain.digest import Digest, digest_command_id, digest_link, digest_uuid
from thidua.domain.errors import NotAllowed
from thidua.domain.values import SYSTEM, Actor, Command, Role
from thidua.workflows.digest_activities import units_of

AT = datetime(2026, 12, 3, 0, 0, tzinfo=timezone.utc)
UNITS = [{"unit_id": "ngo-quyen", "overdue": ["t1", "t2"], "stale": ["t2"]},
         {"unit_id": "dong-da", "overdue": [], "stale": ["t3"]}]


def test_the_system_records_one_digest_per_campaign_and_day():
    cmd = Command(digest_command_id("vy", "2026-12-03"), SYSTEM, AT)
    digest = Digest.record(cmd, campaign_id="vy", day="2026-12-03", as_of=AT.isoformat(), units=UNITS)
    assert digest.id == digest_uuid("vy", "2026-12-03") != digest_uuid("vy", "2026-12-04")
    assert digest.counts == (2, 2)
    assert digest_link("vy", "2026-12-03") == "/v1/campaigns/vy/digests/2026-12-03"
    assert digest_command_id("vy", "2026-12-03") == digest_command_id("vy", "2026-12-03")


def test_nobody_but_the_system_records_a_digest():
    person = Actor("sec", "Văn phòng", Role.SECRETARIAT)
    with pytest.raises(NotAllowed):
        Digest.record(Command("c1", person, AT), campaign_id="vy", day="2026-12-03", as_of=AT.isoformat(),
                      units=UNITS)


def test_units_with_nothing_to_report_are_left_out_in_order():
    rows = [{"unit_id": "a", "target_id": "t1", "late": True, "stale": False},
            {"unit_id": "a", "target_id": "t2", "late": True, "stale": True},
            {"unit_id": "b", "target_id": "t3", "late": False, "stale": False},
            {"unit_id": "c", "target_id": "t4", "late": False, "stale": True}]
    assert units_of(rows) == [{"unit_id": "a", "overdue": ["t1", "t2"], "stale": ["t2"]},
                              {"unit_id": "c", "overdue": [], "stale": ["t4"]}]
