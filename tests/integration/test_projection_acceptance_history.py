"""The read models of acceptance and of the past brought from old records: projected
incrementally they equal a fresh rebuild, and the scoreboard as of a past instant counts
a completion awaiting acceptance apart, and a migrated target where it was then."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import asyncpg

from thidua.domain.history import PastAction, play
from thidua.domain.values import SYSTEM, Command, Policy
from thidua.projections import queries
from thidua.projections.projector import Projector
from tests.integration.projection_conftest import (  # noqa: F401  (fixtures)
    SECRETARIAT,
    World,
    assert_same_models,
    fresh_rebuild,
    head_of,
    read_models,
    run,
    scratch_app,
    scratch_database,
)
from thidua.dburl import asyncpg_dsn

NOW = datetime(2026, 12, 1, tzinfo=timezone.utc)


def counts_of(board: dict, unit: str) -> dict[str, int]:
    return next(u["counts"] for c in board["clusters"] for u in c["units"] if u["unit_id"] == unit)


def test_acceptance_and_migrated_history_project_as_a_rebuild_does(scratch_database, scratch_app):
    world = World(scratch_app)
    unit = world.unit_ids[0]
    head = head_of(unit)
    target = world.assign(0)
    reported_at = world.clock + timedelta(days=1)
    target.complete(Command("c-1", head, reported_at), acceptance_required=True)
    target.remind_acceptance(Command("r-1", SYSTEM, reported_at + timedelta(days=3)), report_no=1, reminder_no=1)
    target.return_completion(Command("ret-1", SECRETARIAT, reported_at + timedelta(days=4)), reason="Thiếu minh chứng")
    target.complete(Command("c-2", head, reported_at + timedelta(days=5)), acceptance_required=True)
    accepted_at = reported_at + timedelta(days=8)
    target.accept(Command("a-1", SECRETARIAT, accepted_at))
    world.save()

    other = world.unit_ids[1]
    past = [
        PastAction(2, "old-1", "assign", datetime(2022, 2, 22, 1, tzinfo=timezone.utc), "Văn phòng",
                   {"unit_id": other, "title": "Chỉnh trang đô thị", "area": "Đô thị", "deadline": date(2022, 6, 30),
                    "points": 10}),
        PastAction(3, "old-1", "start", datetime(2022, 3, 1, 1, tzinfo=timezone.utc), "Bí thư", {}),
        PastAction(4, "old-1", "complete", datetime(2022, 7, 20, 9, tzinfo=timezone.utc), "Bí thư", {}),
    ]
    played, error = play("old-1", None, past, campaign_id=world.campaign_id, timezone="Asia/Ho_Chi_Minh",
                         policy=Policy(), importer=SECRETARIAT, import_id="imp", now=NOW)
    assert error is None
    scratch_app.save_changes(played.target)

    async def scenario() -> None:
        projector = Projector(scratch_database, batch_size=3)
        try:
            await projector.catch_up()
        finally:
            await projector.close()
        pool = await asyncpg.create_pool(asyncpg_dsn(scratch_database), min_size=1, max_size=2)
        try:
            waiting = await queries.scoreboard(pool, world.campaign_id, as_of=reported_at + timedelta(hours=1))
            assert counts_of(waiting, unit)["awaiting_acceptance"] == 1
            assert counts_of(waiting, unit)["completed_on_time"] == 0
            done = await queries.scoreboard(pool, world.campaign_id, as_of=accepted_at + timedelta(hours=1))
            assert counts_of(done, unit)["awaiting_acceptance"] == 0
            may = await queries.scoreboard(pool, world.campaign_id, as_of=datetime(2022, 5, 1, tzinfo=timezone.utc))
            assert counts_of(may, other)["in_progress_within_deadline"] == 1
            july = await queries.scoreboard(pool, world.campaign_id, as_of=datetime(2022, 7, 10, tzinfo=timezone.utc))
            assert counts_of(july, other)["overdue"] == 1  # its deadline passed on 30/06, as the records say
            conn = await pool.acquire()
            try:
                live = await read_models(conn, "public")
            finally:
                await pool.release(conn)
        finally:
            await pool.close()
        assert_same_models(live, await fresh_rebuild(scratch_database))

    run(scenario())
