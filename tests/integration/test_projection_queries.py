"""The API's read queries: shapes, filters, keyset pages, read-your-writes."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import asyncpg
import pytest

from thidua.domain.values import parse_duration
from thidua.projections import queries
from thidua.projections.projector import Projector
from tests.integration.projection_conftest import (  # noqa: F401  (fixtures)
    COMMITTEE,
    OPS,
    World,
    head_of,
    scratch_app,
    scratch_database,
)
from thidua.dburl import asyncpg_dsn


@pytest.fixture(scope="module")
def world(scratch_app) -> World:
    rng = random.Random(5)
    w = World(scratch_app)
    for k in range(25):
        w.assign(k)
    for k in range(12):
        w.lifecycle(w.assign(100 + k), k)
    for _ in range(500):
        w.apply(rng.choice(OPS), rng.randrange(1000), rng.randrange(0, 16 * 60))
    # a few escalations left open
    for k in range(4):
        t = w.assign(200 + k)
        t.block(w.cmd(head_of(t.unit_id)), reason=f"vướng mặt bằng {k}")
        t.escalate(w.cmd(head_of(t.unit_id)))
    w.save()
    return w


@pytest.fixture
async def pool(scratch_database, world):
    projector = Projector(scratch_database)
    await projector.catch_up()
    await projector.close()
    p = await asyncpg.create_pool(asyncpg_dsn(scratch_database), min_size=1, max_size=3)
    yield p
    await p.close()


async def all_pages(fetch, **kwargs) -> list:
    items, after = [], None
    while True:
        page = await fetch(**kwargs, after=after)
        items += page["items"]
        after = page["next_after"]
        if after is None:
            return items


async def test_a_target_reads_as_the_domain_shows_it(pool, world, scratch_app):
    for t in world.targets[:10]:
        assert await queries.get_target(pool, str(t.id)) == scratch_app.get_target(t.id).to_state()
    assert await queries.get_target(pool, "not-a-uuid") is None


async def test_targets_are_listed_page_by_page_and_filtered(pool, world, scratch_app):
    current = {str(t.id): scratch_app.get_target(t.id) for t in world.targets}
    cid = world.campaign_id

    async def listing(**filters):
        return await all_pages(lambda after, **kw: queries.list_targets(pool, cid, limit=7, after=after, **kw),
                               **filters)

    everything = await listing()
    assert [t["id"] for t in everything] == sorted(current)
    unit = world.unit_ids[2]
    assert {t["id"] for t in await listing(unit_id=unit)} == {i for i, t in current.items() if t.unit_id == unit}
    cluster = set(world.clusters[1])
    assert {t["id"] for t in await listing(cluster_id="k1")} == {
        i for i, t in current.items() if t.unit_id in cluster
    }
    for status in ("assigned", "in_progress", "blocked", "escalated", "completed", "cancelled"):
        assert {t["id"] for t in await listing(status=status)} == {
            i for i, t in current.items() if str(t.status) == status
        }
    for report_class in ("completed_on_time", "completed_late", "in_progress_within_deadline", "overdue"):
        assert {t["id"] for t in await listing(report_class=report_class)} == {
            i for i, t in current.items() if str(t.report_class) == report_class
        }
    assert {t["id"] for t in await listing(overdue=True)} == {i for i, t in current.items() if t.overdue}
    assert (await queries.list_targets(pool, cid, cluster_id="no-such-cluster"))["items"] == []


async def test_campaigns_and_units(pool, world):
    campaign = await queries.get_campaign(pool, world.campaign_id)
    assert campaign["id"] == world.campaign_id
    assert campaign["policy"] == {"escalate_after": "P3D", "resolution_sla": "P7D", "stale_after": "P14D",
                                  "acceptance_required": False, "acceptance_sla": "P7D"}
    assert set(campaign["scoring"]) == {"on_time", "late", "reward_slots"}
    clusters = {c["cluster_id"]: c for c in campaign["clusters"]}
    assert clusters["k1"]["member_unit_ids"] == world.clusters[1]
    assert clusters["k1"]["head_unit_id"] == world.clusters[1][0]
    listed = await all_pages(lambda after: queries.list_campaigns(pool, limit=1, after=after))
    assert world.campaign_id in [c["id"] for c in listed]
    units = await all_pages(lambda after: queries.list_units(pool, limit=4, after=after))
    mine = {u["id"]: u for u in units if u["id"] in world.unit_ids}
    assert set(mine) == set(world.unit_ids)
    assert mine[world.unit_ids[0]]["name"] == world.units[world.unit_ids[0]].name
    assert await queries.get_campaign(pool, "no-such-campaign") is None


async def test_the_escalation_queue_is_oldest_first_with_ages_and_sla(pool, world, scratch_app):
    cid = world.campaign_id

    async def listing(state):
        return await all_pages(lambda after: queries.list_escalations(pool, cid, state, limit=3, after=after))

    open_ones, resolved, everything = await listing("open"), await listing("resolved"), await listing("all")
    expected_open = sorted(
        (t.escalation["opened_at"], str(t.id))
        for t in (scratch_app.get_target(x.id) for x in world.targets)
        if t.escalation and str(t.escalation["state"]) == "open"
    )
    assert [(datetime.fromisoformat(e["opened_at"]), e["target_id"]) for e in open_ones] == expected_open
    assert len(open_ones) >= 4 and resolved
    assert len(everything) == len(open_ones) + len(resolved)
    sla = parse_duration("P7D")
    for e in everything:
        assert datetime.fromisoformat(e["sla_due_at"]) == datetime.fromisoformat(e["opened_at"]) + sla
        assert e["trigger"] in ("auto", "requested") and e["age_seconds"] >= 0
        assert e["cluster_id"] in ("k0", "k1", None)
    for e in resolved:
        assert e["resolved_at"] is not None
        age = datetime.fromisoformat(e["resolved_at"]) - datetime.fromisoformat(e["opened_at"])
        assert e["age_seconds"] == age.total_seconds()
    last = open_ones[-1]
    assert last["reason"].startswith("vướng mặt bằng") and last["state"] == "open"
    assert await queries.list_escalations(pool, "no-such-campaign", "open") is None


async def test_the_audit_trail_filters_by_target_unit_actor_and_time(pool, world):
    target = world.targets[0]
    history = await all_pages(lambda after: queries.target_history(pool, target.id, limit=2, after_position=after))
    assert [e["aggregate_version"] for e in history] == list(range(1, len(history) + 1))
    assert {e["target_id"] for e in history} == {str(target.id)}
    unit = world.unit_ids[1]
    by_unit = await all_pages(lambda after: queries.list_audit(pool, unit_id=unit, limit=50, after_position=after))
    assert by_unit and {e["unit_id"] for e in by_unit} == {unit}
    by_actor = (await queries.list_audit(pool, actor_id=COMMITTEE.id, limit=500))["items"]
    assert by_actor and {e["actor"]["id"] for e in by_actor} == {COMMITTEE.id}
    since = world.clock - timedelta(days=30)
    recent = (await queries.list_audit(pool, since=since, limit=500))["items"]
    assert recent and all(datetime.fromisoformat(e["occurred_at"]) >= since for e in recent)
    older = (await queries.list_audit(pool, until=since, limit=5))["items"]
    assert all(datetime.fromisoformat(e["occurred_at"]) < since for e in older)
    positions = [e["position"] for e in recent]
    assert positions == sorted(positions)


async def test_reads_wait_for_their_own_writes(pool, world, scratch_app, scratch_database):
    head = await queries.max_event_position(pool)
    assert head == scratch_app.max_position()
    assert await queries.wait_for_position(pool, head, timeout=0.5)
    assert set(await queries.projection_positions(pool)) == {
        "catalog", "targets", "scoreboard", "escalations", "audit_log", "notifications", "cascade", "evaluations"
    }
    t = world.targets[-1]
    t.resolve(world.cmd(COMMITTEE), directive="giải phóng mặt bằng")
    position = scratch_app.save_changes(t)
    assert not await queries.wait_for_position(pool, position, timeout=0.2)  # nobody projects yet
    async with Projector(scratch_database, poll_interval=30):  # woken by NOTIFY, not by polling
        assert await queries.wait_for_position(pool, position, timeout=5)
        assert (await queries.get_target(pool, t.id))["status"] == "in_progress"
        t.complete(world.cmd(head_of(t.unit_id)))
        position = scratch_app.save_changes(t)
        assert await queries.wait_for_position(pool, position, timeout=5)
        assert (await queries.get_target(pool, t.id))["status"] == "completed"
