"""`thidua projections rebuild`: new tables are built beside the live ones, which keep
serving, and swapped in one transaction."""

from __future__ import annotations

import asyncio

import asyncpg

from thidua.projections import queries
from thidua.projections.audit import verify
from thidua.projections.identity import IdentityCache
from thidua.projections.pipeline import EventReader
from thidua.projections.projector import Projector
from thidua.bootstrap import rebuild_projections
from thidua.projections.rebuild import rebuild
from thidua.projections.schema import analyze_if_unplanned
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
            assert everything["groups"] == ["catalog", "targets", "escalations", "audit_log", "cascade", "evaluations"]
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
    assert rebuild_projections(settings, "no-such-model") == 2
    assert rebuild_projections(settings, "audit_log") == 0
    assert asyncio.run(verify(scratch_database))["ok"]


async def test_a_rebuilt_audit_trail_places_moved_targets_in_their_new_unit(scratch_database, scratch_app):
    """A rebuild fills the audit trail without replaying aggregates (it follows each
    target's unit through the stored events): a target reassigned, or moved by the
    Standing Committee's resolution, is recorded under its new unit, as live."""
    world = World(scratch_app)
    moved = {}
    for k in range(6):
        t = world.assign(1000 + k)
        n = len(world.targets) - 1
        if k % 2:
            ops = ["reassign"]
        else:
            ops = ["start", "block", "escalate", "resolve_reassign"]
        for op in ops:
            assert world.apply(op, n, 5), op
        moved[str(t.id)] = t.unit_id
    world.save()
    projector = Projector(scratch_database)
    try:
        assert await projector.catch_up() == scratch_app.max_position()
    finally:
        await projector.close()
    conn = await asyncpg.connect(asyncpg_dsn(scratch_database))
    try:
        live = await read_models(conn, "public")
        last_unit = {}
        for row in await conn.fetch("SELECT aggregate_id, unit_id FROM audit_log WHERE aggregate_type = 'target' "
                                    "ORDER BY position"):
            last_unit[row["aggregate_id"]] = row["unit_id"]
    finally:
        await conn.close()
    assert {tid: last_unit[tid] for tid in moved} == moved
    assert live["audit_log"] == (await fresh_rebuild(scratch_database))["audit_log"]


async def test_a_table_without_statistics_is_analyzed_once(scratch_database, scratch_app):
    """Without statistics the planner expects a few thousand events after any position
    and sorts all of them for every batch; where autovacuum is off nothing else gathers
    them, so rebuilds and catch-ups do (once: a second call finds them fresh)."""
    conn = await asyncpg.connect(asyncpg_dsn(scratch_database))
    try:
        await conn.execute("CREATE TABLE public.unplanned AS SELECT g AS id FROM generate_series(1, 5000) g")
        assert await analyze_if_unplanned(conn, "public.unplanned") is True
        assert await conn.fetchval(
            "SELECT reltuples FROM pg_class WHERE oid = 'public.unplanned'::regclass") == 5000
        assert await analyze_if_unplanned(conn, "public.unplanned") is False
    finally:
        await conn.execute("DROP TABLE IF EXISTS public.unplanned")
        await conn.close()


async def test_following_identities_from_the_middle_of_the_store_loads_what_came_before(
    scratch_database, scratch_app
):
    """A rebuild's catch-up starts the audit trail's identity cache cold, mid-store: it
    loads each aggregate's earlier events and places later events as a cache that saw
    everything does."""
    world = World(scratch_app)
    for k in range(4):
        world.assign(2000 + k)
        n = len(world.targets) - 1
        for op in ["reassign"] if k % 2 else ["start", "block", "escalate", "resolve_reassign"]:
            assert world.apply(op, n, 5), op
    world.save()
    conn = await asyncpg.connect(asyncpg_dsn(scratch_database))
    try:
        rows = await EventReader(conn).read(conn, 0, 1_000_000)
        whole = IdentityCache().apply(0, rows, [])
        middle = len(rows) // 2
        cold = IdentityCache()
        later = rows[middle:]
        history = await cold.history(conn, cold.needed(rows[middle - 1].position, later))
        tail = cold.apply(rows[middle - 1].position, later, history)
    finally:
        await conn.close()
    assert [s.identity for s in tail] == [s.identity for s in whole[middle:]]
    assert any(s.event_type in ("Reassigned", "Resolved") for s in tail)
