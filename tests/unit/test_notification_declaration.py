"""The declaration of what is notified to whom, and the docs table made from it."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from thidua.domain import digest as digest_module
from thidua.domain import evaluation as evaluation_module
from thidua.domain import target as target_module
from thidua.domain.notifications import (
    BY_EVENT,
    KINDS,
    NOTICES,
    Audience,
    Directory,
    markdown_table,
    notification_id,
    recipients,
    round_recipients,
)

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "notifications.md"
DESIGN_KINDS = {"target.escalated", "escalation.reminder", "escalation.resolved", "target.directive", "target.urged",
                "target.overdue", "target.stale", "target.returned", "target.awaiting_acceptance",
                "evaluation.opened", "evaluation.due_soon", "award.approved", "award.revoked", "digest.daily"}


def test_every_kind_is_one_of_the_contract_and_every_event_exists():
    assert set(KINDS) <= DESIGN_KINDS
    assert len(set(KINDS)) == len(KINDS)
    for notice in NOTICES:
        for name in notice.events:
            aggregate, _, event = name.partition(".")
            owner = {"Target": target_module.Target, "Digest": digest_module.Digest,
                     "Evaluation": evaluation_module.Evaluation}[aggregate]
            assert event in _event_names(owner), name


def directory() -> Directory:
    d = Directory()
    d.set("sc1", "standing_committee", None, False)
    d.set("sc2", "standing_committee", None, False)
    d.set("sc-gone", "standing_committee", None, True)
    d.set("h-a", "unit_head", "a", False)
    d.set("h-a2", "unit_head", "a", False)
    d.set("h-b", "unit_head", "b", False)
    d.set("h-c", "unit_head", "c", False)
    d.set("h-x", "unit_head", "x", False)
    d.set("sec", "secretariat", None, False)
    return d


# Target of unit "a", reassigned to "b" by a resolution that names "c" as coordinating.
EXPECTED = {
    Audience.STANDING_COMMITTEE: ["sc1", "sc2"],
    Audience.UNIT_HEADS: ["h-a", "h-a2", "h-b"],
    Audience.COORDINATING_HEADS: ["h-c"],
    Audience.SECRETARIAT: ["sec"],
}


def _event_names(aggregate: type) -> set[str]:
    return {name for name, value in vars(aggregate).items() if isinstance(value, type)}


TARGET_NOTICES = [n for n in NOTICES if n.events[0].startswith("Target.")]
ROUND_NOTICES = [n for n in NOTICES if n.events[0].startswith("Evaluation.")]


@pytest.mark.parametrize("notice", ROUND_NOTICES, ids=lambda n: n.kind)
def test_a_rounds_notice_reaches_the_heads_of_the_units_it_names(notice):
    assert round_recipients(notice, directory(), ["a", "c"]) == ["h-a", "h-a2", "h-c"]
    assert notice.audience in (Audience.ROUND_HEADS, Audience.AWARDED_HEADS)


@pytest.mark.parametrize("notice", TARGET_NOTICES, ids=lambda n: n.kind)
def test_each_kind_reaches_its_audience_and_no_one_else(notice):
    event = SimpleNamespace(coordinating_unit_ids=["c"])
    got = recipients(notice, directory(), unit_before="a", unit_after="b", event=event)
    assert got == EXPECTED[notice.audience]


def test_a_target_that_stays_with_its_unit_notifies_its_heads_once():
    notice = BY_EVENT["Target.DeadlinePassed"][0]
    assert recipients(notice, directory(), unit_before="a", unit_after="a", event=None) == ["h-a", "h-a2"]


def test_ids_are_stable_and_distinct_per_recipient_and_channel():
    assert notification_id(7, "target.escalated", "inbox", "sc1") == notification_id(7, "target.escalated", "inbox",
                                                                                      "sc1")
    ids = {notification_id(7, "target.escalated", ch, who) for ch in ("inbox", "webhook") for who in ("sc1", "sc2")}
    assert len(ids) == 4


def test_the_docs_table_is_the_declaration():
    text = DOC.read_text(encoding="utf-8")
    found = re.search(r"<!-- notifications-table -->\n(.*?)<!-- /notifications-table -->", text, re.S)
    assert found, "docs/notifications.md lacks the generated table markers"
    assert found.group(1) == markdown_table(), "regenerate with: python -c 'from thidua.domain.notifications import " \
                                               "markdown_table; print(markdown_table())'"
