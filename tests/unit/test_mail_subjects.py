"""Every declared kind's Vietnamese subject arrives as it was written: long non-ASCII
subjects are not folded (Python's folding dropped the space between encoded words)."""

from __future__ import annotations

from datetime import datetime, timezone
from email import message_from_bytes
from email.policy import default

import pytest

from thidua.domain.notifications import NOTICES
from thidua.workflows.mail import _WIRE, Mailer


@pytest.mark.parametrize("notice", NOTICES, ids=lambda n: n.kind)
def test_the_subject_and_the_lines_survive_the_wire(notice):
    note = {"kind": notice.kind, "link": "/v1/targets/t1", "occurred_at": datetime(2026, 12, 3, tzinfo=timezone.utc),
            "notification_id": "n1", "campaign_id": "vinh-yen-2022", "target_id": "t1"}
    lines = ("Phường Ngô Quyền: 2 chỉ tiêu quá hạn, 1 chỉ tiêu lâu chưa cập nhật",)
    wire = Mailer("smtp://127.0.0.1:25", "thidua@thidua.test", "https://thidua.test").message(
        "a@thidua.test", note, lines).as_bytes(policy=_WIRE)
    back = message_from_bytes(wire, policy=default)
    assert back["Subject"] == f"[Thi đua] {notice.title_vi}"
    assert lines[0] in back.get_body(("plain",)).get_content()


def test_an_escalation_says_how_long_it_has_waited():
    from datetime import timedelta

    from thidua.workflows.mail import escalation_age_line

    assert escalation_age_line(timedelta(days=8, hours=3, minutes=5)) == "Kiến nghị đã chờ xử lý 8 ngày 3 giờ"
    assert escalation_age_line(timedelta(hours=5)) == "Kiến nghị đã chờ xử lý 5 giờ"
