"""The paper trail on the Target aggregate (pure domain): who may write which kind of
comment, coordinating units and cluster leads as readers, evidence files and the
completion that names them, and the notices comments raise."""

from __future__ import annotations

import hashlib
from types import SimpleNamespace

import pytest

from thidua.domain import Actor, NotAllowed, Role, Status
from thidua.domain import lifecycle as lc
from thidua.domain.errors import BadInput, InvalidTransition
from thidua.domain.notifications import BY_EVENT
from thidua.domain.permissions import may_read_history, may_read_target
from tests.unit.test_domain_builders import (
    INSPECTOR,
    OTHER_HEAD,
    OTHER_UNIT,
    OWNER_HEAD,
    OWNER_UNIT,
    SECRETARIAT,
    STANDING_COMMITTEE,
    Clock,
    cmd,
    event_names,
    target_in,
)

COORD_UNIT = "dong-da"
COORD_HEAD = Actor("head-dong-da", "Bí thư phường Đống Đa", Role.UNIT_HEAD, COORD_UNIT)
PDF = "application/pdf"
DIGEST = hashlib.sha256(b"bien ban").hexdigest()


def coordinated_target(clock: Clock) -> object:
    target = target_in(Status.ESCALATED, clock)
    target.resolve(cmd(STANDING_COMMITTEE, clock.tick()), directive="Đống Đa phối hợp",
                   coordinating_unit_ids=[COORD_UNIT])
    return target


ALLOWED = [
    (SECRETARIAT, "urge"), (SECRETARIAT, "comment"), (SECRETARIAT, "reply"),
    (STANDING_COMMITTEE, "directive"), (STANDING_COMMITTEE, "comment"),
    (OWNER_HEAD, "comment"), (OWNER_HEAD, "reply"), (COORD_HEAD, "reply"), (COORD_HEAD, "comment"),
]
REFUSED = [
    (OWNER_HEAD, "directive"), (OWNER_HEAD, "urge"), (SECRETARIAT, "directive"), (STANDING_COMMITTEE, "urge"),
    (COORD_HEAD, "urge"), (INSPECTOR, "comment"), (OTHER_HEAD, "comment"), (OTHER_HEAD, "reply"),
]


@pytest.mark.parametrize(("actor", "kind"), ALLOWED, ids=lambda v: getattr(v, "id", v))
def test_a_reader_writes_the_kinds_its_role_may(actor: Actor, kind: str) -> None:
    clock = Clock()
    target = coordinated_target(clock)
    assert target.comment(cmd(actor, clock.tick()), kind=kind, body="Nội dung") is True
    assert event_names(target)[-1] == "Commented" and target.comment_count == 1


@pytest.mark.parametrize(("actor", "kind"), REFUSED, ids=lambda v: getattr(v, "id", v))
def test_other_kinds_and_other_people_are_refused_and_nothing_is_recorded(actor: Actor, kind: str) -> None:
    clock = Clock()
    target = coordinated_target(clock)
    version = target.version
    with pytest.raises(NotAllowed):
        target.comment(cmd(actor, clock.tick()), kind=kind, body="Nội dung")
    assert target.version == version and target.comment_count == 0


def test_the_heads_of_the_cluster_lead_units_comment_when_the_activity_names_them() -> None:
    clock = Clock()
    target = target_in(Status.IN_PROGRESS, clock)
    with pytest.raises(NotAllowed):
        target.comment(cmd(OTHER_HEAD, clock.tick()), kind="comment", body="Cụm trưởng nhắc")
    assert target.comment(cmd(OTHER_HEAD, clock.tick()), kind="comment", body="Cụm trưởng nhắc",
                          audience=[OTHER_UNIT])


def test_an_urge_is_kept_for_the_top_of_the_page_and_a_cancelled_target_takes_no_comment() -> None:
    clock = Clock()
    target = target_in(Status.IN_PROGRESS, clock)
    target.comment(cmd(SECRETARIAT, clock.tick()), kind="urge", body="Đề nghị báo cáo")
    assert target.to_state()["last_urge"]["body"] == "Đề nghị báo cáo"
    cancelled = target_in(Status.CANCELLED, clock)
    with pytest.raises(InvalidTransition):
        cancelled.comment(cmd(SECRETARIAT, clock.tick()), kind="comment", body="Sau khi hủy")


def test_a_comment_over_the_cap_is_refused() -> None:
    with pytest.raises(BadInput):
        lc.COMMENT.parse({"kind": "comment", "body": "x" * (lc.MAX_COMMENT_LENGTH + 1)})
    clock = Clock()
    with pytest.raises(BadInput):
        target_in(Status.ASSIGNED, clock).comment(cmd(SECRETARIAT, clock.tick()), kind="comment",
                                                  body="x" * (lc.MAX_COMMENT_LENGTH + 1))


def test_evidence_is_attached_by_the_owner_and_named_by_the_completion() -> None:
    clock = Clock()
    target = target_in(Status.IN_PROGRESS, clock)
    for stranger in (COORD_HEAD, OTHER_HEAD, SECRETARIAT, INSPECTOR):
        with pytest.raises(NotAllowed):
            target.attach_evidence(cmd(stranger, clock.tick()), sha256=DIGEST, name="a.pdf", size=8,
                                   content_type=PDF)
    with pytest.raises(BadInput):
        target.attach_evidence(cmd(OWNER_HEAD, clock.tick()), sha256=DIGEST, name="a.exe", size=8,
                               content_type="application/x-msdownload")
    target.attach_evidence(cmd(OWNER_HEAD, clock.tick()), sha256=DIGEST, name="bien-ban.pdf", size=8,
                           content_type=PDF)
    assert target.evidence_files[DIGEST]["name"] == "bien-ban.pdf"
    with pytest.raises(BadInput) as refused:
        target.complete(cmd(OWNER_HEAD, clock.tick()), result="Xong", evidence_sha256=["b" * 64])
    assert refused.value.field == "evidence_sha256"
    target.complete(cmd(OWNER_HEAD, clock.tick()), result="Xong", evidence_sha256=[DIGEST])
    assert target.to_state()["evidence_sha256"] == [DIGEST]


def test_coordinating_units_read_the_target_and_its_history_and_strangers_do_not() -> None:
    assert may_read_target(COORD_HEAD, OWNER_UNIT, coordinating=[COORD_UNIT])
    assert may_read_history(COORD_HEAD, OWNER_UNIT, coordinating=[COORD_UNIT])
    assert not may_read_target(COORD_HEAD, OWNER_UNIT)
    assert not may_read_history(OTHER_HEAD, OWNER_UNIT, coordinating=[COORD_UNIT])


def test_comments_raise_the_urge_and_directive_notices_by_their_kind() -> None:
    notices = BY_EVENT["Target.Commented"]
    raised = {kind: [n.kind for n in notices if n.raised_by(SimpleNamespace(kind=kind))]
              for kind in ("comment", "reply", "urge", "directive")}
    assert raised == {"comment": [], "reply": [], "urge": ["target.urged"], "directive": ["target.directive"]}


def test_the_page_offers_only_the_kinds_this_person_may_write() -> None:
    assert lc.comment_kinds_for(OWNER_HEAD, OWNER_UNIT) == ["comment", "reply"]
    assert lc.comment_kinds_for(SECRETARIAT, OWNER_UNIT) == ["comment", "reply", "urge"]
    assert lc.comment_kinds_for(STANDING_COMMITTEE, OWNER_UNIT) == ["comment", "reply", "directive"]
    assert lc.comment_kinds_for(COORD_HEAD, OWNER_UNIT, [COORD_UNIT]) == ["comment", "reply"]
    assert lc.comment_kinds_for(INSPECTOR, OWNER_UNIT) == []
