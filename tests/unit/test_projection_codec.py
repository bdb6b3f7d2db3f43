"""Pure parts of the projections: the hash chain's bytes, audit payloads, names."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
from uuid import uuid4

import pytest

from thidua.domain.application import EVENTS_TABLE
from thidua.domain.target import Target
from thidua.domain.user import User
from thidua.domain.values import Actor, Command, Role
from thidua.projections.codec import (
    GENESIS_HASH,
    canonical_event,
    chain_hash,
    chain_step,
    event_changes,
    event_names,
    event_reason,
    jsonable,
)
from thidua.projections.pipeline import Stored, _gap_free, _gap_free_prefix
from thidua.projections.schema import GROUPS, resolve_groups
from thidua.store_names import EVENTS_TABLE as LIGHT_EVENTS_TABLE

SEC = Actor("sec", "Secretariat", Role.SECRETARIAT)
AT = datetime(2022, 3, 1, 8, 0, tzinfo=timezone.utc)


def test_the_light_name_of_the_events_table_is_the_domains():
    # `thidua.store_names` spells it for processes that do not import the domain
    assert LIGHT_EVENTS_TABLE == EVENTS_TABLE


def test_the_canonical_bytes_change_with_every_part_of_a_stored_event():
    oid = uuid4()
    base = (7, oid, 3, "thidua.domain.target:Target.Blocked", b'{"reason":"x"}')
    variants = [
        (8, oid, 3, base[3], base[4]),
        (7, uuid4(), 3, base[3], base[4]),
        (7, oid, 4, base[3], base[4]),
        (7, oid, 3, "thidua.domain.target:Target.Started", base[4]),
        (7, oid, 3, base[3], b'{"reason":"y"}'),
        # moving bytes between topic and state must not give the same bytes
        (7, oid, 3, base[3] + "{", b'"reason":"x"}'),
    ]
    canon = canonical_event(*base)
    assert canon == canonical_event(*base)
    assert all(canonical_event(*v) != canon for v in variants)


def test_the_fast_chain_step_is_the_hash_of_the_canonical_bytes():
    oid = uuid4()
    for prev in (GENESIS_HASH, "ab" * 32):
        for position, version, topic, state in ((1, 1, "t", b""), (2**40, 7, "thidua.domain.target:Target.Blocked", b"{}" * 900)):
            expected = chain_hash(prev, canonical_event(position, oid, version, topic, state))
            assert chain_step(bytes.fromhex(prev), position, oid, version, topic, state).hex() == expected


def test_each_hash_depends_on_the_one_before():
    canon = canonical_event(1, uuid4(), 1, "t", b"s")
    first = chain_hash(GENESIS_HASH, canon)
    assert len(first) == 64 and first != chain_hash("ff" * 32, canon)
    assert chain_hash(first, canon) != first


def test_an_audit_entry_records_what_the_event_changed_and_never_a_token_hash():
    user = User.create(Command("c1", SEC, AT), user_id="u1", name="Insp", role=Role.INSPECTOR, unit_id=None,
                       token_hash="secret-hash", login="insp", activation_hash="activation-hash",
                       activation_expires=AT)
    created = user.collect_events()[0]
    changes = event_changes(created)
    assert changes == {"user_id": "u1", "name": "Insp", "role": "inspector", "unit_id": None, "login": "insp",
                       "email": None, "activation_expires": AT.isoformat()}
    assert "secret-hash" not in str(changes) and "activation-hash" not in str(changes)
    assert event_names(created) == ("user", "Created")


def test_a_target_event_gives_its_fields_as_json_and_its_reason():
    target = Target.assign(
        Command("c1", SEC, AT), campaign_id="c", unit_id="u", title="T", area="a", deadline=date(2022, 4, 1),
        points=Decimal("2.5"), timezone="Asia/Ho_Chi_Minh",
    )
    head = Actor("h", "Head", Role.UNIT_HEAD, "u")
    target.block(Command("c2", head, AT), reason="no funds", help_needed="money")
    assigned, blocked = target.collect_events()
    assert event_names(blocked) == ("target", "Blocked")
    assert event_changes(blocked) == {"reason": "no funds", "help_needed": "money"}
    assert event_reason(blocked) == "no funds"
    changes = event_changes(assigned)
    assert changes["points"] == 2.5 and changes["deadline"] == "2022-04-01"
    assert changes["deadline_at"] == "2022-04-01T16:59:59+00:00"
    assert jsonable({"d": Decimal("1.5"), "t": (1, 2), "r": Role.INSPECTOR}) == {"d": 1.5, "t": [1, 2], "r": "inspector"}


def _rows(*positions: int) -> list[Stored]:
    return [Stored(p, uuid4(), 1, "t", b"") for p in positions]


def test_reading_stops_before_a_gap_that_may_still_fill():
    assert _gap_free(3, _rows(4, 5, 6))
    assert not _gap_free(3, _rows(4, 6))
    assert not _gap_free(3, _rows(5))
    assert [r.position for r in _gap_free_prefix(3, _rows(4, 5, 7, 8))] == [4, 5]
    assert _gap_free_prefix(3, _rows(5, 6)) == []


def test_read_models_are_named_by_group_or_table():
    assert resolve_groups(None) == [g for g in GROUPS if g != "notifications"]
    assert resolve_groups("scoreboard") == ["targets"]
    assert resolve_groups("units") == ["catalog"]
    assert resolve_groups("audit") == ["audit_log"]
    with pytest.raises(ValueError, match="unknown read model"):
        resolve_groups("nope")
