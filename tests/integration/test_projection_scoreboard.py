"""Scoreboards (current, as of an instant, what if) are the domain's scoring of the
events, computed from the read models without replaying the store."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from decimal import Decimal
from unittest.mock import ANY

import asyncpg
import pytest

from thidua.api.scoreboards import ScoreboardCache
from thidua.domain.campaign import campaign_uuid
from thidua.domain.scoring import Adjustment, ScoredTarget
from thidua.domain.scoring import scoreboard as domain_scoreboard
from thidua.domain.target import Target
from thidua.domain.values import ScoringScale
from thidua.projections import queries
from thidua.projections.projector import Projector
from tests.integration.projection_conftest import (  # noqa: F401  (fixtures)
    OPS,
    World,
    scratch_app,
    scratch_database,
)
from thidua.dburl import asyncpg_dsn


@pytest.fixture(scope="module")
def world(scratch_app) -> World:
    rng = random.Random(11)
    w = World(scratch_app, parents=True)  # parents count in no unit's board
    for k in range(30):
        w.assign(k)
    for i in range(700):
        w.apply(rng.choice(OPS), rng.randrange(1000), rng.randrange(0, 16 * 60))
        if i % 97 == 0:
            w.save()
    w.save()
    return w


@pytest.fixture
async def pool(scratch_database, world):
    projector = Projector(scratch_database, batch_size=53)
    await projector.catch_up()
    await projector.close()
    p = await asyncpg.create_pool(asyncpg_dsn(scratch_database), min_size=1, max_size=2)
    yield p
    await p.close()


def domain_board(app, world: World, at: datetime | None, scale: ScoringScale | None = None) -> list[dict]:
    """What the domain says: replay this campaign's events that occurred up to `at`
    and score them with thidua.domain.scoring (current unit names; the scale in force at `at`)."""
    aggregates: dict = {}
    parents: set[str] = set()  # the city's own targets count in no unit's board, at any time
    for n in app.recorder.select_notifications(1, 10**7):
        event = app.mapper.to_domain_event(n)
        if type(event).__name__ == "Assigned" and getattr(event, "parent_id", None):
            parents.add(event.parent_id)
        if at is None or event.occurred_at <= at:
            aggregates[n.originator_id] = event.mutate(aggregates.get(n.originator_id))
    campaign = aggregates.get(campaign_uuid(world.campaign_id))
    if campaign is None:
        return []
    facts = [
        ScoredTarget(t.unit_id, t.points, t.report_class, t.status)
        for t in aggregates.values()
        if isinstance(t, Target) and t.campaign_id == world.campaign_id and str(t.id) not in parents
    ]
    bonuses = [Adjustment(a["unit_id"], a["points"], a["reason"]) for a in campaign.adjustments]
    names = {u: app.get_unit(u).name for u in world.unit_ids}
    latest = app.get_campaign(world.campaign_id)
    in_force = scale or latest.scale_at(at)
    rules = latest.rules_at(at)  # the live board (at None): the latest rules, as for the scale
    return [b.to_dict() for b in domain_scoreboard(campaign.clusters.values(), facts, bonuses, in_force, names,
                                                    rules)]


def event_times(app, world: World) -> list[datetime]:
    """When each event of this world's campaign, units and targets occurred."""
    ids = {t.id for t in world.targets} | {u.id for u in world.units.values()} | {world.campaign.id}
    return sorted(
        app.mapper.to_domain_event(n).occurred_at
        for n in app.recorder.select_notifications(1, 10**7)
        if n.originator_id in ids
    )


async def test_the_current_scoreboard_is_the_domain_scoring_of_all_events(pool, world, scratch_app):
    board = await queries.scoreboard(pool, world.campaign_id)
    assert board["clusters"] == domain_board(scratch_app, world, None)
    assert {c["cluster_id"] for c in board["clusters"]} == {"k0", "k1"}
    one = await queries.scoreboard(pool, world.campaign_id, cluster_id="k1")
    assert one["clusters"] == [c for c in board["clusters"] if c["cluster_id"] == "k1"]
    assert await queries.scoreboard(pool, "no-such-campaign") is None


async def test_a_scoreboard_as_of_an_instant_equals_the_domain_scoring_of_the_events_up_to_it(
    pool, world, scratch_app
):
    rng = random.Random(3)
    times = event_times(scratch_app, world)
    instants = [times[0] - timedelta(days=1), times[-1] + timedelta(days=1)]
    for t in rng.sample(times, 8):
        instants += [t, t - timedelta(microseconds=1)]
    for at in instants:
        board = await queries.scoreboard(pool, world.campaign_id, as_of=at)
        assert board["as_of"] == at.isoformat()
        assert board["clusters"] == domain_board(scratch_app, world, at), f"as of {at}"
    latest = await queries.scoreboard(pool, world.campaign_id, as_of=times[-1] + timedelta(days=1))
    assert latest["clusters"] == (await queries.scoreboard(pool, world.campaign_id))["clusters"]


async def test_what_if_scores_under_a_proposed_scale_and_records_nothing(pool, world, scratch_app):
    proposed = ScoringScale(on_time=Decimal("3"), late=Decimal("2"), reward_slots=2)
    before = (await queries.max_event_position(pool), await queries.scoreboard(pool, world.campaign_id))
    board = await queries.what_if(pool, world.campaign_id, proposed)
    assert board["clusters"] == domain_board(scratch_app, world, None, scale=proposed)
    assert board["scoring"] == {"on_time": 3.0, "late": 2.0, "reward_slots": 2}
    after = (await queries.max_event_position(pool), await queries.scoreboard(pool, world.campaign_id))
    assert after[0] == before[0] and after[1]["clusters"] == before[1]["clusters"]
    assert await queries.what_if(pool, "no-such-campaign", proposed) is None


async def test_the_api_serves_a_board_from_memory_until_the_read_models_move_on(pool, world, scratch_app, scratch_database):
    # Last in this module: it adds a target to the shared world.
    cache = ScoreboardCache()
    known, clusters, version = await queries.scoreboard_context(pool, world.campaign_id)
    assert known and clusters == ["k0", "k1"]
    served = json.loads(await cache.body(pool, world.campaign_id, None, None, version))
    board = await queries.scoreboard(pool, world.campaign_id)
    assert served["clusters"] == board["clusters"] and served["position"] == board["position"]
    assert datetime.fromisoformat(served["as_of"]).tzinfo is not None  # the time of the request
    assert json.loads(await cache.body(pool, world.campaign_id, None, None, version)) == {**served, "as_of": ANY}

    at = event_times(scratch_app, world)[len(event_times(scratch_app, world)) // 2]
    past = json.loads(await cache.body(pool, world.campaign_id, "k1", at, version))
    assert past["clusters"] == [c for c in domain_board(scratch_app, world, at) if c["cluster_id"] == "k1"]

    world.assign(1000)
    world.save()
    projector = Projector(scratch_database, batch_size=53)
    await projector.catch_up()
    await projector.close()
    newer = (await queries.scoreboard_context(pool, world.campaign_id))[2]
    assert newer != version
    now = json.loads(await cache.body(pool, world.campaign_id, None, None, newer))
    assert now["clusters"] == domain_board(scratch_app, world, None) != served["clusters"]
    assert now["position"] > served["position"]
    assert await cache.body(pool, "no-such-campaign", None, None, newer) is None
