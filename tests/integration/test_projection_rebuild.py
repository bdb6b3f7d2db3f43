"""`thidua projections rebuild`: new tables are built beside the live ones, which keep
serving, and swapped in one transaction."""

from __future__ import annotations

import asyncio

import asyncpg

from projections import queries
from projections.audit import verify
from projections.projector import Projector
from projections.rebuild import main as rebuild_main
from projections.rebuild import rebuild
from tests.integration.projection_conftest import (  # noqa: F401  (fixtures)
    World,
    assert_same_models,
    fresh_rebuild,
    read_models,
    scratch_app,
    scratch_database,
)
from thidua.dburl import asyncpg_dsn
from thidua.settings import Settings


async def test_a_rebuild_swaps_in_new_tables_while_the_old_ones_serve_and_the_projector_runs(
    scratch_database, scratch_app
):
    world = World(scratch_app)
    for k in range(300):
        world.lifecycle(world.assign(k), k)
    world.save()
    pool = await asyncpg.create_pool(asyncpg_dsn(scratch_database), min_size=2, max_size=4)
    stop = asyncio.Event()
    reads = []

    async def keep_reading() -> None:
        while not stop.is_set():
            page = await queries.list_targets(pool, world.campaign_id, limit=50)
            board = await queries.scoreboard(pool, world.campaign_id)
            audit = await queries.list_audit(pool, limit=20)
            assert len(page["items"]) == 50 and len(audit["items"]) == 20
            assert [len(c["units"]) for c in board["clusters"]] == [3, 3]
            reads.append(1)
            await asyncio.sleep(0.01)

    def keep_writing() -> None:
        for k in range(300, 360):
            world.lifecycle(world.assign(k), k)
            world.save()

    try:
        async with Projector(scratch_database, batch_size=500):
            assert await queries.wait_for_position(pool, scratch_app.max_position(), timeout=60)
            reader = asyncio.create_task(keep_reading())
            writer = asyncio.create_task(asyncio.to_thread(keep_writing))
            one = await rebuild(scratch_database, "scoreboard")
            assert one["groups"] == ["targets"] and "scoreboard" in one["tables"]
            everything = await rebuild(scratch_database)
            assert everything["groups"] == ["catalog", "targets", "escalations", "audit_log"]
            await writer
            assert await queries.wait_for_position(pool, scratch_app.max_position(), timeout=60)
            stop.set()
            await reader  # re-raises a failed read
            assert len(reads) > 3
        async with pool.acquire() as conn:
            live = await read_models(conn, "public")
            leftovers = await conn.fetchval(
                "SELECT count(*) FROM pg_namespace WHERE nspname IN ('thidua_rebuild', 'thidua_retired')"
            )
        assert leftovers == 0
        assert_same_models(live, await fresh_rebuild(scratch_database))
        assert (await verify(pool))["ok"]
    finally:
        stop.set()
        await pool.close()


def test_the_rebuild_command_names_what_it_rebuilt_and_refuses_unknown_names(scratch_database, scratch_app):
    settings = Settings(database_url=scratch_database)
    assert rebuild_main(settings, "no-such-model") == 2
    assert rebuild_main(settings, "audit_log") == 0
    assert asyncio.run(verify(scratch_database))["ok"]
