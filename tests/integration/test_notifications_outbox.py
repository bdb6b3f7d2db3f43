"""The outbox: each declared event reaches its recipients once, in the inbox, and
projecting again writes nothing new and forgets nothing read."""

from __future__ import annotations

import asyncpg
import pytest

from thidua.domain.notifications import INBOX, notification_id
from thidua.domain.user import User
from thidua.domain.values import SYSTEM, Role
from thidua.projections.projector import Projector
from tests.integration.projection_conftest import (  # noqa: F401  (fixtures)
    COMMITTEE,
    SECRETARIAT,
    World,
    fresh_rebuild,
    head_of,
    run,
    scratch_app,
    scratch_database,
)
from thidua.dburl import asyncpg_dsn


def make_user(world: World, user_id: str, role: Role, unit_id: str | None = None) -> User:
    user = User.create(world.cmd(SECRETARIAT), user_id=user_id, name=user_id, role=role, unit_id=unit_id,
                       token_hash="x", bootstrap=True)
    world.touch(user)
    return user


async def inbox(database_url: str) -> dict[tuple[str, str], list[tuple]]:
    """(kind, recipient) -> rows, for the inbox channel."""
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        rows = await conn.fetch("SELECT notification_id, kind, recipient, position, read_at FROM notifications "
                                "WHERE channel = 'inbox' ORDER BY position, kind, recipient")
    finally:
        await conn.close()
    out: dict[tuple[str, str], list[tuple]] = {}
    for r in rows:
        out.setdefault((r["kind"], r["recipient"]), []).append(tuple(r))
    return out


def test_each_kind_reaches_its_recipients_once(scratch_database, scratch_app):
    world = World(scratch_app, units=6)
    tag = world.tag
    sc = [make_user(world, f"sc{i}-{tag}", Role.STANDING_COMMITTEE) for i in range(3)]
    owner_unit, coord_unit, other_unit = world.unit_ids[0], world.unit_ids[1], world.unit_ids[2]
    owner = make_user(world, f"head-{owner_unit}", Role.UNIT_HEAD, owner_unit)
    coord = make_user(world, f"head-{coord_unit}", Role.UNIT_HEAD, coord_unit)
    bystander = make_user(world, f"head-{other_unit}", Role.UNIT_HEAD, other_unit)
    make_user(world, f"sec-{tag}", Role.SECRETARIAT)
    sc[2].revoke(world.cmd(SECRETARIAT), reason="nghỉ hưu")
    world.save()

    target = world.assign(0)
    head = head_of(owner_unit)
    target.start(world.cmd(head))
    target.block(world.cmd(head), reason="thiếu kinh phí")
    target.escalate(world.cmd(head), reason="xin hỗ trợ")
    target.remind_escalation(world.cmd(SYSTEM), escalation_no=1, reminder_no=1)
    target.resolve(world.cmd(COMMITTEE), directive="cấp bổ sung", coordinating_unit_ids=[coord_unit])
    target.complete(world.cmd(head), result="đạt")
    target.reopen(world.cmd(SECRETARIAT), reason="chưa đạt")
    world.touch(target)
    world.save()

    async def scenario() -> None:
        projector = Projector(scratch_database, batch_size=3)  # several batches
        try:
            await projector.catch_up()
        finally:
            await projector.close()
        got = await inbox(scratch_database)
        mine = {key: rows for key, rows in got.items()
                if key[1] in {u.user_id for u in (*sc, owner, coord, bystander)}}
        members = [sc[0].user_id, sc[1].user_id]  # sc[2] was revoked before
        expected = {
            **{("target.escalated", m): 1 for m in members},
            **{("escalation.reminder", m): 1 for m in members},
            ("escalation.resolved", owner.user_id): 1,
            ("target.directive", coord.user_id): 1,
            ("target.returned", owner.user_id): 1,
        }
        assert {key: len(rows) for key, rows in mine.items()} == expected
        # the id is the declared stable one
        row = mine[("target.escalated", members[0])][0]
        assert row[0] == notification_id(row[3], "target.escalated", INBOX, members[0])

    run(scenario())


def test_projecting_again_writes_nothing_new_and_keeps_what_was_read(scratch_database, scratch_app):
    world = World(scratch_app, units=4)
    member = make_user(world, f"sc-{world.tag}", Role.STANDING_COMMITTEE)
    world.save()
    for k in range(3):
        world.lifecycle(world.assign(k), k)
    world.save()

    async def scenario() -> None:
        projector = Projector(scratch_database)
        conn = await asyncpg.connect(asyncpg_dsn(scratch_database))
        try:
            await projector.catch_up()
            before = await inbox(scratch_database)
            mine = before[("target.escalated", member.user_id)]
            assert len(mine) == 3
            await conn.execute("UPDATE notifications SET read_at = now() WHERE notification_id = $1", mine[0][0])
            # The outbox projects everything again from the start (a tracking row moved
            # back, a batch retried): the same ids, nothing added, the read mark kept.
            await conn.execute("UPDATE projection_tracking SET position = 0 WHERE name = 'notifications'")
            await projector.close()
            projector = Projector(scratch_database)
            await projector.catch_up()
            after = await inbox(scratch_database)
            assert {k: [r[:4] for r in v] for k, v in after.items()} == {
                k: [r[:4] for r in v] for k, v in before.items()}
            assert after[("target.escalated", member.user_id)][0][4] is not None
            # and a projection from scratch gives the same rows
            fresh = await fresh_rebuild(scratch_database)
            live = await conn.fetch("SELECT notification_id FROM notifications")
            assert {str(r[0]) for r in fresh["notifications"]} == {str(r[0]) for r in live}
        finally:
            await projector.close()
            await conn.close()

    run(scenario())


def test_a_rebuild_of_the_read_models_leaves_the_outbox_alone(scratch_database, scratch_app):
    """`thidua projections rebuild` rebuilds every read model but the outbox, which keeps
    its delivery state; asking for the outbox by name is refused with why."""
    from thidua.projections.rebuild import rebuild

    world = World(scratch_app, units=4)
    member = make_user(world, f"sc-{world.tag}", Role.STANDING_COMMITTEE)
    world.save()
    world.lifecycle(world.assign(1), 1)
    world.save()

    async def scenario() -> None:
        projector = Projector(scratch_database)
        conn = await asyncpg.connect(asyncpg_dsn(scratch_database))
        try:
            await projector.catch_up()
            await conn.execute("UPDATE notifications SET status = 'delivered', delivered_at = now(), "
                               "read_at = now() WHERE recipient = $1", member.user_id)
            before = await conn.fetch("SELECT * FROM notifications ORDER BY notification_id")
            result = await rebuild(scratch_database, None, processes=1)
            assert "notifications" not in result["groups"]
            assert await conn.fetch("SELECT * FROM notifications ORDER BY notification_id") == before
            with pytest.raises(ValueError, match="never rebuilt"):
                await rebuild(scratch_database, "webhook_deliveries")
        finally:
            await projector.close()
            await conn.close()

    run(scenario())
