"""A store written when the domain was the top-level package `domain` still loads once
it is installed as `thidua.domain`: its events name their classes `domain.<module>:...`
(in the topic column and, for a created aggregate, in the state's originator_topic).

The store is made here by writing events now and respelling their topics the old way.
"""

from __future__ import annotations

import asyncpg
import pytest

from thidua.domain.application import EVENTS_TABLE, new_application
from thidua.domain.target import Target
from thidua.domain.topics import LEGACY_PACKAGE, PACKAGE, stored_topics
from thidua.projections import queries
from thidua.projections.audit import verify
from thidua.projections.projector import Projector
from tests.integration.projection_conftest import (  # noqa: F401  (fixtures)
    World,
    head_of,
    scratch_app,
    scratch_database,
)
from thidua.dburl import asyncpg_dsn, eventsourcing_env

RESPELL = f"""
UPDATE {EVENTS_TABLE} SET
  topic = $2 || substr(topic, length($1) + 1),
  state = convert_to(replace(convert_from(state, 'UTF8'), '"' || $1 || '.', '"' || $2 || '.'), 'UTF8')
WHERE topic LIKE $1 || '.%'
"""


@pytest.fixture(scope="module")
async def legacy_store(scratch_app, scratch_database: str) -> World:  # type: ignore[no-untyped-def]
    world = World(scratch_app)
    for k in range(4):
        target = world.assign(k)
        target.start(world.cmd(head_of(target.unit_id)))
    world.save()
    conn = await asyncpg.connect(asyncpg_dsn(scratch_database))
    try:
        await conn.execute(RESPELL, PACKAGE, LEGACY_PACKAGE)
        topics = {row[0].partition(":")[0].split(".")[0] for row in await conn.fetch(f"SELECT topic FROM {EVENTS_TABLE}")}
    finally:
        await conn.close()
    assert topics == {LEGACY_PACKAGE}
    return world


def test_the_aggregates_load_from_old_topics(legacy_store: World, scratch_database: str) -> None:
    app = new_application(eventsourcing_env(scratch_database))  # a fresh one: nothing cached
    try:
        for written in legacy_store.targets:
            loaded = app.repository.get(written.id)
            assert type(loaded) is Target
            assert (loaded.version, loaded.status, loaded.title) == (written.version, written.status, written.title)
        assert app.get_campaign(legacy_store.campaign_id).name == legacy_store.campaign.name
    finally:
        app.close()


async def test_the_projector_and_the_audit_chain_read_old_topics(legacy_store: World, scratch_database: str) -> None:
    projector = Projector(scratch_database)
    try:
        await projector.catch_up()
    finally:
        await projector.close()
    pool = await asyncpg.create_pool(asyncpg_dsn(scratch_database), min_size=1, max_size=2)
    try:
        for written in legacy_store.targets:
            row = await queries.get_target(pool, str(written.id))
            assert row is not None and row["status"] == written.status.value
    finally:
        await pool.close()
    assert (await verify(scratch_database))["ok"] is True


def test_a_query_by_topic_matches_the_old_spelling_too() -> None:
    assert stored_topics(Target.Assigned)[-1] == f"{LEGACY_PACKAGE}.target:Target.Assigned"
