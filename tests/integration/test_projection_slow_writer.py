"""The projector never advances past an event whose transaction has not committed."""

from __future__ import annotations

import asyncio

import asyncpg

from thidua.domain.values import SYSTEM
from thidua.projections import queries
from thidua.projections.codec import EVENTS
from thidua.projections.projector import Projector
from tests.integration.projection_conftest import (  # noqa: F401  (fixtures)
    World,
    head_of,
    scratch_app,
    scratch_database,
)
from thidua.dburl import asyncpg_dsn

INSERT = (
    f"INSERT INTO {EVENTS} (originator_id, originator_version, topic, state) VALUES ($1, $2, $3, $4) "
    "RETURNING notification_id"
)


def stored_events_of(app, target):
    """The stored form of a target's pending events, as the application would write them."""
    return [app.mapper.to_stored_event(e) for e in target.collect_events()]


async def insert(conn: asyncpg.Connection, stored) -> int:
    return await conn.fetchval(INSERT, stored.originator_id, stored.originator_version, stored.topic, stored.state)


async def test_an_event_held_open_by_a_slow_writer_is_projected_once_it_commits(scratch_database, scratch_app):
    app = scratch_app
    world = World(app)
    slow_target, other_target = world.assign(1), world.assign(2)
    world.save()
    dsn = asyncpg_dsn(scratch_database)
    projector = Projector(scratch_database)
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    slow = await asyncpg.connect(dsn)
    try:
        await projector.catch_up()

        # The slow writer follows eventsourcing's protocol (table lock, insert) and then
        # takes its time before committing.
        slow_target.start(world.cmd(head_of(slow_target.unit_id)))
        tx = slow.transaction()
        await tx.start()
        await slow.execute(f"LOCK TABLE {EVENTS} IN EXCLUSIVE MODE")
        slow_position = await insert(slow, stored_events_of(app, slow_target)[0])

        # Meanwhile another command is saved by the application (it queues behind the lock).
        other_target.start(world.cmd(head_of(other_target.unit_id)))
        other_save = asyncio.create_task(asyncio.to_thread(app.save_changes, other_target))
        await asyncio.sleep(0.2)
        await projector.catch_up()
        assert min((await queries.projection_positions(pool)).values()) < slow_position
        assert (await queries.get_target(pool, slow_target.id))["status"] == "assigned"

        await tx.commit()
        other_position = await other_save
        assert other_position > slow_position
        await projector.catch_up()
        assert await queries.wait_for_position(pool, other_position, timeout=1)
        assert (await queries.get_target(pool, slow_target.id))["status"] == "in_progress"
        assert (await queries.get_target(pool, other_target.id))["status"] == "in_progress"
        history = await queries.target_history(pool, slow_target.id)
        assert [e["event_type"] for e in history["items"]] == ["Assigned", "Started"]
    finally:
        await slow.close()
        await pool.close()
        await projector.close()


async def test_a_later_commit_does_not_carry_the_projector_past_an_earlier_open_insert(
    scratch_database, scratch_app
):
    """Writers that do not serialise on the table lock can commit out of id order;
    the projector waits at the gap instead of skipping it."""
    app = scratch_app
    world = World(app)
    early, late = world.assign(3), world.assign(4)
    world.save()
    dsn = asyncpg_dsn(scratch_database)
    projector = Projector(scratch_database)
    writer_a, writer_b = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    try:
        await projector.catch_up()
        early.block(world.cmd(head_of(early.unit_id)), reason="chờ vốn")
        late.mark_overdue(world.cmd(SYSTEM, late.deadline_at - world.clock), deadline_at=late.deadline_at)

        tx_a = writer_a.transaction()
        await tx_a.start()
        early_position = await insert(writer_a, stored_events_of(app, early)[0])
        late_position = await insert(writer_b, stored_events_of(app, late)[0])  # autocommit
        assert late_position > early_position

        await projector.catch_up()  # sees the later event above a gap that is still open
        positions = await queries.projection_positions(pool)
        assert max(positions.values()) < early_position
        assert (await queries.get_target(pool, late.id))["overdue"] is False

        await tx_a.commit()
        await projector.catch_up()
        assert min((await queries.projection_positions(pool)).values()) == late_position
        assert (await queries.get_target(pool, early.id))["status"] == "blocked"
        assert (await queries.get_target(pool, late.id))["overdue"] is True
        verdict = await queries.verify_audit(pool)
        assert verdict["ok"], verdict
    finally:
        await writer_a.close()
        await writer_b.close()
        await pool.close()
        await projector.close()
