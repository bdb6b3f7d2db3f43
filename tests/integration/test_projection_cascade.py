"""The cascade read model: a parent's rollup follows its children event by event, in
batches of any size, and equals what a rebuild from scratch gives."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import asyncpg

from thidua.domain.target import Target
from thidua.domain.values import SYSTEM
from thidua.projections import tree_queries
from thidua.projections.projector import Projector
from tests.integration.projection_conftest import (  # noqa: F401  (fixtures)
    SECRETARIAT,
    World,
    assert_same_models,
    fresh_rebuild,
    head_of,
    read_models,
    scratch_app,
    scratch_database,
)
from thidua.dburl import asyncpg_dsn


def _child(world: World, parent: Target, k: int, points: int, deadline: date) -> Target:
    unit = world.unit_ids[k % len(world.unit_ids)]
    child = Target.assign(world.cmd(SECRETARIAT), campaign_id=world.campaign_id, unit_id=unit, title=f"Con {k}",
                          area="GPMB", deadline=deadline, points=Decimal(points), timezone="Asia/Ho_Chi_Minh",
                          key=f"{world.tag}-child-{k}", parent_id=str(parent.id))
    world.targets.append(child)
    world.touch(child)
    return child


async def test_the_rollup_incrementally_equals_a_rebuild(scratch_database, scratch_app):
    world = World(scratch_app)
    parent = world.assign(0)
    on_time = _child(world, parent, 1, 10, date(2022, 12, 31))
    late = _child(world, parent, 2, 20, date(2022, 1, 2))  # before the world's clock: late
    open_one = _child(world, parent, 3, 30, date(2022, 12, 31))
    cancelled = _child(world, parent, 4, 40, date(2022, 12, 31))
    world.save()
    conn = await asyncpg.connect(asyncpg_dsn(scratch_database))
    try:
        projector = Projector(scratch_database, batch_size=3)  # small batches: a rollup spans several
        try:
            for child, action in ((on_time, "complete"), (late, "complete"), (open_one, "progress"),
                                  (cancelled, "cancel")):
                head = head_of(child.unit_id)
                if action == "complete":
                    child.complete(world.cmd(head), result="xong")
                elif action == "progress":
                    child.report_progress(world.cmd(head), percent=Decimal(50))
                else:
                    child.cancel(world.cmd(SECRETARIAT), reason="bỏ")
                world.touch(child)
                world.save()
                await projector.catch_up()
            pool = await asyncpg.create_pool(asyncpg_dsn(scratch_database), min_size=1, max_size=2)
            try:
                rollup = await tree_queries.rollup(pool, parent.id)
            finally:
                await pool.close()
            assert rollup == {"children": 4, "completed_on_time": 1, "completed_late": 1,
                              "in_progress_within_deadline": 1, "overdue": 0, "cancelled": 1, "open": 1,
                              # (10 x 100 + 20 x 100 + 30 x 50) / 60: cancelled children left out
                              "percent": 75.0}
            # The parent completes by itself (the cascade's system command) late: a child was.
            open_one.complete(world.cmd(head_of(open_one.unit_id)))
            world.touch(open_one)
            parent.complete_by_children(world.cmd(SYSTEM), late=True, children=[
                {"target_id": str(c.id), "position": 1, "report_class": str(c.report_class)}
                for c in (on_time, late, open_one, cancelled)])
            world.touch(parent)
            world.save()
            await projector.catch_up()
        finally:
            await projector.close()
        links = await conn.fetchrow("SELECT status, report_class FROM public.target_links WHERE target_id = $1",
                                    parent.id)
        assert (links["status"], links["report_class"]) == ("completed", "completed_late")
        assert_same_models(await read_models(conn, "public"), await fresh_rebuild(scratch_database))
    finally:
        await conn.close()
