"""An operation's id comes from its command: the same command finds the same operation,
a command id reused for another request does not."""

from __future__ import annotations

import re

from thidua.workflows.campaign_operation_messages import CLOSE, POLICY, operation_id_for

POLICY_ARGS = {"escalate_after": "P3D", "resolution_sla": "P7D", "stale_after": "P14D"}


def test_the_same_command_names_the_same_operation():
    first = operation_id_for("k-1", POLICY, "vinh-yen-2022", dict(POLICY_ARGS))
    again = operation_id_for("k-1", POLICY, "vinh-yen-2022", dict(reversed(list(POLICY_ARGS.items()))))
    assert first == again and first.startswith("op-k-1.")
    assert re.fullmatch(r"op-[A-Za-z0-9._-]+", first)  # what GET /v1/operations/{id} accepts


def test_a_command_id_reused_for_another_request_names_another_operation():
    base = operation_id_for("k-1", CLOSE, "vinh-yen-2022", {"reason": None})
    assert operation_id_for("k-1", CLOSE, "vinh-yen-2022", {"reason": "Kết thúc"}) != base
    assert operation_id_for("k-1", CLOSE, "phuc-yen-2022", {"reason": None}) != base
    assert operation_id_for("k-1", POLICY, "vinh-yen-2022", {"reason": None}) != base
    assert operation_id_for("k-2", CLOSE, "vinh-yen-2022", {"reason": None}) != base
