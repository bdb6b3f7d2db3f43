"""Free text the domain records must fit PostgreSQL's text and jsonb (no NUL character)."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from thidua.domain import Actor, BadInput, Command, Role, Target

SECRETARIAT = Actor("sec-1", "Văn phòng Thành ủy", Role.SECRETARIAT)
HEAD = Actor("head-1", "Trưởng phòng", Role.UNIT_HEAD, unit_id="ngo-quyen")
AT = datetime(2022, 3, 1, 2, 0, tzinfo=timezone.utc)


def _target(title: str = "Giải phóng mặt bằng dự án đường Nguyễn Tất Thành") -> Target:
    return Target.assign(
        Command("assign-1", SECRETARIAT, AT), campaign_id="vinh-yen-2022", unit_id="ngo-quyen",
        title=title, area="GPMB", deadline=date(2022, 9, 30), points=10, timezone="Asia/Ho_Chi_Minh",
    )


def test_a_title_with_a_nul_character_is_refused_by_name():
    with pytest.raises(BadInput) as refused:
        _target("Giải phóng\x00mặt bằng")
    assert refused.value.field == "title"


def test_a_blocking_reason_with_a_nul_character_is_refused_and_records_nothing():
    target = _target()
    with pytest.raises(BadInput) as refused:
        target.block(Command("block-1", HEAD, AT), reason="dân chưa\x00 đồng thuận")
    assert refused.value.field == "reason"
    assert target.version == 1


def test_an_optional_note_with_a_nul_character_is_refused_too():
    target = _target()
    with pytest.raises(BadInput) as refused:
        target.start(Command("start-1", HEAD, AT), note="bắt đầu\x00")
    assert refused.value.field == "note"
