"""One event that a read model cannot apply stops that read model alone.

The poison is a scoring change whose `effective_at` is in year 1 (UTC+7, so before year
1 in UTC): written straight into the store through the event's own method (the domain
command refuses it now), as an accepted request once did. The catalog cannot store such
a time; the other read models can apply it and must go on.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from uuid import uuid4

import asyncpg
import httpx
import pytest

from thidua.bootstrap import build_api
from thidua.domain.application import EVENTS_TABLE, new_application
from thidua.domain.commandlog import event_meta
from thidua.domain.values import ScoringScale
from thidua.projections import faults, queries
from thidua.projections.projector import Projector
from thidua.projections.rebuild import main as rebuild_main
from thidua.projections.rebuild import rebuild
from thidua.projections.schema import TRACKING_ROWS
from tests.integration.projection_conftest import (  # noqa: F401  (fixtures)
    COMMITTEE,
    World,
    create_read_models,
    scratch_app,
    scratch_database,
)
from tests.databases import fresh_database
from thidua.dburl import asyncpg_dsn, eventsourcing_env
from thidua.settings import Settings

YEAR_ONE = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=7)))


def write_poison(world: World) -> int:
    """A ScoringChanged event no PostgreSQL timestamptz can hold; its position."""
    cmd = world.cmd(COMMITTEE)
    world.campaign._scoring_changed(scoring=ScoringScale(), effective_at=YEAR_ONE, **event_meta(cmd, "poison"))
    world.touch(world.campaign)
    return world.save()


@pytest.fixture(scope="module")
def poisoned(scratch_app) -> tuple[World, int, int]:
    world = World(scratch_app)
    for k in range(20):
        world.lifecycle(world.assign(k), k)
    world.save()
    poison = write_poison(world)
    for k in range(20, 30):
        world.lifecycle(world.assign(k), k)
    head = world.save()
    return world, poison, head


async def positions(conn: asyncpg.Connection) -> dict[str, int]:
    rows = await conn.fetch("SELECT name, position FROM public.projection_tracking")
    return {r["name"]: r["position"] for r in rows}


async def test_the_read_model_that_cannot_apply_an_event_stops_alone_and_says_why(
    scratch_database, poisoned, caplog
):
    world, poison, head = poisoned
    caplog.set_level(logging.WARNING, logger="thidua.projector")
    conn = await asyncpg.connect(asyncpg_dsn(scratch_database))
    projector = Projector(scratch_database, batch_size=50)
    try:
        await projector.catch_up()
        at = await positions(conn)
        # The catalog stopped just before the poison; every other read model reached the head.
        assert at["catalog"] < poison
        for group, rows in TRACKING_ROWS.items():
            if group != "catalog":
                assert all(at[row] == head for row in rows), (group, at)
        [fault] = await faults.stopped(conn)
        assert (fault["name"], fault["position"]) == ("catalog", poison)
        assert fault["topic"].endswith("ScoringChanged") and fault["originator_version"] == world.campaign.version
        assert "out of range" in fault["reason"]
        assert projector.stopped["catalog"].position == poison
        assert any("read model stopped" in r.getMessage() and f"position {poison}" in r.getMessage()
                   for r in caplog.records)

        # Readers of the other read models are not held back by the stopped one.
        pool = await asyncpg.create_pool(asyncpg_dsn(scratch_database), min_size=1, max_size=2)
        try:
            assert await queries.wait_for_position(pool, head, timeout=5)
            page = await queries.list_targets(pool, world.campaign_id, limit=100)
            assert len(page["items"]) == 30
        finally:
            await pool.close()

        # New events keep flowing to the others.
        world.lifecycle(world.assign(30), 30)
        later = world.save()
        await projector.catch_up()
        assert (await positions(conn))["targets"] == later
    finally:
        await projector.close()
        await conn.close()


async def test_a_new_projector_tries_the_stopped_read_model_again_and_stops_it_at_the_same_event(
    scratch_database, poisoned
):
    _, poison, _ = poisoned
    conn = await asyncpg.connect(asyncpg_dsn(scratch_database))
    projector = Projector(scratch_database, batch_size=50)
    try:
        await conn.execute("DELETE FROM public.projection_faults")
        await projector.catch_up()
        [fault] = await faults.stopped(conn)
        assert (fault["name"], fault["position"]) == ("catalog", poison)
    finally:
        await projector.close()
        await conn.close()


async def test_healthz_is_degraded_naming_the_read_model_the_position_and_why_and_metrics_say_it(
    scratch_database, poisoned, temporal_address
):
    _, poison, _ = poisoned
    app = build_api(Settings(database_url=scratch_database, temporal_address=temporal_address, log_level="WARNING"),
                    database_url=scratch_database, temporal_address=temporal_address)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
            health = await client.get("/healthz")
            metrics = await client.get("/metrics")
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "degraded" and body["checks"]["read_models"] == "degraded"
    [stopped] = body["stopped_read_models"]
    assert stopped["read_model"] == "catalog" and stopped["position"] == poison
    assert stopped["event_type"] == "ScoringChanged" and "out of range" in stopped["reason"]
    assert 'thidua_read_model_stopped{projection="catalog"} 1.0' in metrics.text
    assert 'thidua_read_model_stopped{projection="targets"} 0.0' in metrics.text
    assert f'thidua_read_model_stopped_position{{projection="catalog"}} {float(poison)}' in metrics.text


async def test_a_rebuild_names_the_event_it_cannot_apply(scratch_database, poisoned, capsys):
    _, poison, _ = poisoned
    with pytest.raises(faults.PoisonEvent) as raised:
        await rebuild(scratch_database, "catalog", batch_size=50)
    assert raised.value.fault.position == poison and raised.value.fault.group == "catalog"
    assert f"position {poison}" in str(raised.value) and "ScoringChanged" in str(raised.value)


@pytest.mark.parametrize("name", ["catalog", None])  # None: every read model, the audit trail in a second process
def test_the_rebuild_command_prints_the_event_and_fails(scratch_database, poisoned, capsys, name):
    _, poison, _ = poisoned
    assert rebuild_main(lambda: scratch_database, name) == 1
    err = capsys.readouterr().err
    assert "rebuild failed" in err and f"position {poison}" in err and "catalog" in err


async def test_a_rebuild_that_applies_the_event_clears_the_fault(scratch_database, poisoned):
    """Rebuilding the read models that can apply the poison leaves the catalog's fault;
    only a group that passed the event loses its row."""
    conn = await asyncpg.connect(asyncpg_dsn(scratch_database))
    try:
        await conn.execute(
            "INSERT INTO public.projection_faults (name, position, reason) VALUES ('escalations', 1, 'old') "
            "ON CONFLICT (name) DO NOTHING")
        await rebuild(scratch_database, "escalations", batch_size=50)
        assert [r["name"] for r in await faults.stopped(conn)] == ["catalog"]
    finally:
        await conn.close()


async def test_an_event_no_read_model_can_decode_stops_each_at_that_event_with_what_came_before_applied(
    postgres_server_url,
):
    """An event of an unknown type (written with SQL): every read model stops at it, each
    having applied everything before it, the scoreboards included."""
    with fresh_database(postgres_server_url, "thidua_proj") as url:
        app = new_application(eventsourcing_env(url))
        try:
            world = World(app)
            for k in range(12):
                world.lifecycle(world.assign(k), k)
            before = world.save()
            conn = await asyncpg.connect(asyncpg_dsn(url))
            projector = Projector(url, batch_size=50)
            try:
                await create_read_models(url)
                poison = await conn.fetchval(
                    f"INSERT INTO {EVENTS_TABLE} (originator_id, originator_version, topic, state) "
                    "VALUES ($1, 1, 'thidua.domain.target:Target.Nonsense', $2) RETURNING notification_id",
                    uuid4(), b'{"x": 1}')
                assert poison == before + 1
                await projector.catch_up()
                stopped = await faults.stopped(conn)
                assert {(f["name"], f["position"]) for f in stopped} == {(g, poison) for g in TRACKING_ROWS}
                assert all("Nonsense" in f["reason"] for f in stopped)
                assert set((await positions(conn)).values()) == {before}
            finally:
                await projector.close()
                await conn.close()
        finally:
            app.close()
