"""The projector prepares the next batch while it writes the one before: a batch
prepared ahead is used only when the store and the read models are where it expects,
and a catch-up that goes this way ends exactly where a fresh rebuild does."""

from __future__ import annotations

import logging

import asyncpg
import pytest

from thidua.projections.audit import verify
from thidua.projections.projector import Projector
from thidua.projections.schema import GROUPS, ensure_schema, qident
from tests.integration.projection_conftest import (  # noqa: F401  (fixtures)
    World,
    assert_same_models,
    fresh_rebuild,
    read_models,
    scratch_app,
    scratch_database,
)
from thidua.dburl import asyncpg_dsn


@pytest.fixture(scope="module")
def busy_store(scratch_database, scratch_app) -> str:
    world = World(scratch_app)
    for k in range(40):
        world.lifecycle(world.assign(k), k)
        if k % 9 == 0:
            world.apply("rename_unit", k, 5)
            world.apply("bonus", k, 5)
    world.save()
    return scratch_database


async def _reset_read_models(conn: asyncpg.Connection) -> None:
    """What an operator does to re-project everything: empty tables, positions 0."""
    await ensure_schema(conn)
    tables = ", ".join(f"public.{qident(t)}" for ts in GROUPS.values() for t in ts)
    await conn.execute(f"TRUNCATE {tables}")
    await conn.execute("UPDATE public.projection_tracking SET position = 0")


async def test_a_batch_prepared_ahead_is_dropped_when_the_read_models_moved_under_it(busy_store):
    projector = Projector(busy_store, batch_size=40)
    conn = await asyncpg.connect(asyncpg_dsn(busy_store))
    try:
        await projector.step()
        await projector.step()  # the third batch is being prepared now
        await _reset_read_models(conn)
        await projector.catch_up()
        await projector.close()
        assert_same_models(await read_models(conn, "public"), await fresh_rebuild(busy_store))
        assert (await verify(busy_store))["ok"] is True
    finally:
        await conn.close()


async def test_a_trail_cut_while_the_projector_runs_is_continued_and_the_cut_is_named(busy_store):
    conn = await asyncpg.connect(asyncpg_dsn(busy_store))
    try:
        await _reset_read_models(conn)
        projector = Projector(busy_store, batch_size=40)
        await projector.step()
        await projector.step()  # the third batch was prepared from the chain in memory
        cut = await conn.fetchval("SELECT min(position) FROM audit_log")
        await conn.execute("DELETE FROM audit_log")
        await projector.catch_up()  # the prepared batch no longer follows the trail: prepared again
        await projector.close()
        verdict = await verify(busy_store)
        assert verdict["ok"] is False and verdict["first_bad_position"] == cut
        assert verdict["checked"] == 0
    finally:
        await conn.close()


async def test_a_projector_starting_on_empty_read_models_builds_them_in_bulk_then_follows_the_store(
    busy_store, scratch_app, monkeypatch, caplog
):
    import thidua.projections.projector as projector_module

    monkeypatch.setattr(projector_module, "BULK_BUILD_MIN_EVENTS", 1)  # the store here is small
    monkeypatch.setattr(projector_module, "BULK_PROGRESS_EVERY", 0.0)
    caplog.set_level(logging.INFO, logger="thidua.projector")
    conn = await asyncpg.connect(asyncpg_dsn(busy_store))
    try:
        await _reset_read_models(conn)
        projector = Projector(busy_store, batch_size=40)
        await projector.catch_up()
        assert_same_models(await read_models(conn, "public"), await fresh_rebuild(busy_store))
        # an operator watching a long build sees how far it got
        assert any(m.startswith("building the read models in bulk: at position") for m in caplog.messages)
        world = World(scratch_app)
        world.lifecycle(world.assign(1), 1)
        world.save()
        await projector.catch_up()  # from here on, batch by batch
        await projector.close()
        assert_same_models(await read_models(conn, "public"), await fresh_rebuild(busy_store))
    finally:
        await conn.close()


async def test_two_processes_verify_a_long_trail_as_one_does(busy_store):
    conn = await asyncpg.connect(asyncpg_dsn(busy_store))
    try:
        await _reset_read_models(conn)
        projector = Projector(busy_store, batch_size=100)
        await projector.catch_up()
        await projector.close()
        alone = await verify(conn)  # a connection: one process
        assert alone["ok"] is True
        assert await verify(busy_store, split_min=1) == alone
        # a forged row in the part the second process checks, then in the first part
        count = await conn.fetchval("SELECT count(*) FROM audit_log")
        positions = [r["position"] for r in await conn.fetch("SELECT position FROM audit_log ORDER BY position")]
        for forged in (positions[int(count * 0.9)], positions[int(count * 0.1)]):
            name = await conn.fetchval("SELECT actor_name FROM audit_log WHERE position = $1", forged)
            await conn.execute("UPDATE audit_log SET actor_name = 'someone else' WHERE position = $1", forged)
            try:
                verdict = await verify(busy_store, split_min=1)
                assert verdict == await verify(conn)
                assert verdict["first_bad_position"] == forged and verdict["checked"] == positions.index(forged)
            finally:
                await conn.execute("UPDATE audit_log SET actor_name = $2 WHERE position = $1", forged, name)
    finally:
        await conn.close()


async def test_the_bulk_build_of_empty_read_models_fills_the_outbox_too_and_never_replaces_a_used_one(
    busy_store, scratch_app, monkeypatch
):
    """Batch by batch, the outbox would go over every event again once the others are
    built; while it has delivered nothing there is nothing to forget, so it is built with
    them. A rebuild that finds it used (rows written, read, delivered) leaves it alone."""
    import thidua.projections.projector as projector_module
    from thidua.domain.user import User
    from thidua.domain.values import Role
    from thidua.projections.rebuild import rebuild
    from tests.integration.projection_conftest import SECRETARIAT

    world = World(scratch_app)
    member = User.create(world.cmd(SECRETARIAT), user_id=f"sc-{world.tag}", name="Ủy viên", role=Role.STANDING_COMMITTEE,
                         unit_id=None, token_hash="x", bootstrap=True)
    world.touch(member)
    world.save()
    for k in range(3):
        world.lifecycle(world.assign(k), k)
    world.save()
    monkeypatch.setattr(projector_module, "BULK_BUILD_MIN_EVENTS", 1)
    built: list[dict] = []

    async def spy(*args, **kwargs):
        built.append(await rebuild(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(projector_module, "rebuild", spy)
    conn = await asyncpg.connect(asyncpg_dsn(busy_store))
    try:
        await _reset_read_models(conn)
        projector = Projector(busy_store, batch_size=40)
        await projector.catch_up()
        await projector.close()
        assert "notifications" in built[0]["groups"]
        assert await conn.fetchval("SELECT count(*) FROM notifications WHERE recipient = $1", member.user_id)
        assert_same_models(await read_models(conn, "public"), await fresh_rebuild(busy_store))
        await conn.execute("UPDATE notifications SET read_at = now() WHERE recipient = $1", member.user_id)
        before = await conn.fetch("SELECT * FROM notifications ORDER BY notification_id")
        again = await rebuild(busy_store, outbox=True, processes=1)
        assert "notifications" not in again["groups"] and "targets" in again["groups"]
        assert await conn.fetch("SELECT * FROM notifications ORDER BY notification_id") == before
    finally:
        await conn.close()


async def test_a_bulk_build_prepares_ahead_and_a_dropped_batch_loses_no_deferred_target_row(busy_store, monkeypatch):
    """A rebuild writes each target's row once, late (`defer_rows`), and prepares the next
    batch while it writes one. A batch prepared ahead that took the waiting rows and is
    then dropped (the read models moved, or its preparation failed) gives them back:
    the rebuilt tables are the ones a build in one batch gives."""
    from thidua.projections.engine import Engine
    from thidua.projections.rebuild import build_into_schema
    from thidua.projections.targets import TargetsProjection

    monkeypatch.setattr(TargetsProjection, "MAX_DEFERRED", 5)  # rows taken every few batches
    take = Engine._take_ahead
    seen = {"ahead": 0, "dropped": 0}

    async def drop_some(self, start):
        ready = await take(self, start)
        if ready is not None:
            seen["ahead"] += 1
            if ready.rows.get("targets") is not None and ready.rows["targets"].targets and seen["dropped"] < 3:
                seen["dropped"] += 1
                return None  # as when the read models moved under it
        return ready

    monkeypatch.setattr(Engine, "_take_ahead", drop_some)
    dsn = asyncpg_dsn(busy_store)
    conn, side, ahead = [await asyncpg.connect(dsn) for _ in range(3)]
    try:
        await build_into_schema(conn, side, "thidua_ahead", list(GROUPS), batch_size=7, ahead=ahead)
        built = await read_models(conn, "thidua_ahead")
        await conn.execute("DROP SCHEMA thidua_ahead CASCADE")
    finally:
        for c in (ahead, side, conn):
            await c.close()
    monkeypatch.setattr(Engine, "_take_ahead", take)
    assert seen["ahead"] > 10 and seen["dropped"] == 3
    assert built["targets"]
    assert_same_models(built, await fresh_rebuild(busy_store))
