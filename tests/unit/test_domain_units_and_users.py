"""The organisation-wide unit registry and the API's users (only a token hash is kept)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from thidua.domain import SYSTEM, Actor, BadInput, InvalidTransition, NotAllowed, Role, Unit, User, unit_uuid, user_uuid
from tests.unit.test_domain_builders import EVERYONE, SECRETARIAT, STANDING_COMMITTEE, Clock, cmd

AT = datetime(2022, 2, 1, 2, 0, tzinfo=timezone.utc)


def ngo_quyen(clock: Clock) -> Unit:
    return Unit.register(
        cmd(SECRETARIAT, clock.now), unit_id="ngo-quyen", name="Đảng bộ phường Ngô Quyền", kind="ward",
        head_name="Nguyễn Văn A",
    )


def test_the_secretariat_registers_a_unit_with_its_head():
    unit = ngo_quyen(Clock(AT))

    assert unit.id == unit_uuid("ngo-quyen")
    assert unit.to_state() == {
        "id": "ngo-quyen", "name": "Đảng bộ phường Ngô Quyền", "kind": "ward", "head_name": "Nguyễn Văn A",
        "version": 1, "updated_at": AT.isoformat(),
    }
    registered = unit.pending_events[-1]
    assert (registered.actor, registered.occurred_at) == (SECRETARIAT, AT)


def test_updating_a_unit_records_a_change_and_the_same_details_record_nothing():
    clock = Clock(AT)
    unit = ngo_quyen(clock)
    same = {"name": "Đảng bộ phường Ngô Quyền", "kind": "ward", "head_name": "Nguyễn Văn A"}
    assert unit.update(cmd(SECRETARIAT, clock.tick()), **same) is False
    at = clock.tick()
    assert unit.update(cmd(SECRETARIAT, at, "put-1"), **{**same, "head_name": "Trần Thị B"}) is True
    assert unit.update(cmd(SECRETARIAT, clock.tick(), "put-1"), **{**same, "head_name": "Trần Thị B"}) is False

    assert (unit.head_name, unit.version, unit.updated_at) == ("Trần Thị B", 2, at)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"unit_id": "ngô quyền"}, "unit_id"), ({"name": ""}, "name"), ({"kind": " "}, "kind")],
)
def test_a_unit_needs_a_slug_id_a_name_and_a_kind(kwargs, field):
    details = {"unit_id": "ngo-quyen", "name": "Ngô Quyền", "kind": "ward", **kwargs}
    with pytest.raises(BadInput) as refused:
        Unit.register(cmd(SECRETARIAT, AT), **details)
    assert refused.value.field == field


def test_only_the_secretariat_keeps_the_registry():
    clock = Clock(AT)
    unit = ngo_quyen(clock)
    for actor in EVERYONE:
        if actor is SECRETARIAT:
            continue
        with pytest.raises(NotAllowed):
            Unit.register(cmd(actor, AT), unit_id="x", name="x", kind="x")
        with pytest.raises(NotAllowed):
            unit.update(cmd(actor, clock.tick()), name="x", kind="x")


# ------------------------------------------------------------------ users
def make_user(role=Role.UNIT_HEAD, unit_id="ngo-quyen", actor: Actor = SECRETARIAT, **kw) -> User:
    return User.create(
        cmd(actor, AT), user_id="u-ngo-quyen", name="Bí thư phường Ngô Quyền", role=role, unit_id=unit_id,
        token_hash="sha256:abc", **kw,
    )


def test_a_unit_head_user_acts_for_its_unit():
    user = make_user()
    assert user.id == user_uuid("u-ngo-quyen")
    assert user.as_actor() == Actor("u-ngo-quyen", "Bí thư phường Ngô Quyền", Role.UNIT_HEAD, "ngo-quyen")
    assert user.to_state() == {
        "id": "u-ngo-quyen", "name": "Bí thư phường Ngô Quyền", "role": "unit_head", "unit_id": "ngo-quyen",
        "revoked": False, "login": None, "email": None, "active": False,
    }
    assert "token" not in user.to_state() and "token_hash" not in user.to_state()


@pytest.mark.parametrize(
    ("role", "unit_id", "field"),
    [
        (Role.UNIT_HEAD, None, "unit_id"),
        (Role.INSPECTOR, "ngo-quyen", "unit_id"),
        (Role.SYSTEM, None, "role"),
        ("mayor", None, "role"),
    ],
)
def test_a_user_has_a_real_role_and_a_unit_exactly_when_a_unit_head(role, unit_id, field):
    with pytest.raises(BadInput) as refused:
        make_user(role=role, unit_id=unit_id)
    assert refused.value.field == field


def test_only_the_secretariat_makes_users_except_the_very_first_one():
    with pytest.raises(NotAllowed):
        make_user(actor=STANDING_COMMITTEE)
    first = make_user(role="secretariat", unit_id=None, actor=SYSTEM, bootstrap=True)
    assert first.role == Role.SECRETARIAT


def test_revoking_a_user_is_recorded_once():
    user = make_user()
    revoke = cmd(SECRETARIAT, AT, "revoke-1")
    assert user.revoke(revoke, reason="Chuyển công tác")
    assert user.revoked and user.version == 2
    assert user.revoke(revoke, reason="Chuyển công tác") is False
    with pytest.raises(InvalidTransition) as refused:
        user.revoke(cmd(SECRETARIAT, AT), reason="again")
    assert refused.value.state == "revoked"
    with pytest.raises(NotAllowed):
        make_user().revoke(cmd(STANDING_COMMITTEE, AT))
