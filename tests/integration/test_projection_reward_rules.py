"""Reward rules on the projected scoreboards: the live board, boards as of a time
before and after the rules took effect, a campaign-wide form that moves another
cluster's marks, and a rebuild that gives the same boards."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import asyncpg

from thidua.domain.scoring import RewardForm, RewardRules
from thidua.domain.values import SYSTEM
from thidua.projections import queries
from thidua.projections.projector import Projector
from thidua.projections.rebuild import rebuild
from tests.integration.projection_conftest import (  # noqa: F401  (fixtures)
    COMMITTEE,
    World,
    head_of,
    scratch_app,
    scratch_database,
)
from thidua.dburl import asyncpg_dsn

FLAG = RewardForm("co-thi-dua", "Cờ thi đua", "collective", "cluster", 1, Decimal("0.95"), 0, 0, 1)
MERIT = RewardForm("bang-khen", "Bằng khen", "collective", "campaign", 1, Decimal("0.9"), 0, 5, None)
PERSON = RewardForm("ca-nhan", "Giấy khen cá nhân", "individual", "cluster", 3, Decimal(0), 0, 0, None)


def marks(board: dict) -> dict[str, list[str]]:
    return {u["unit_id"]: u["eligible_forms"] for c in board["clusters"] for u in c["units"] if u["reward_candidate"]}


def complete(world: World, k: int) -> None:
    target = world.targets[k]
    world.touch(target)
    target.start(world.cmd(head_of(target.unit_id)))
    target.complete(world.cmd(head_of(target.unit_id)), result="đạt")


async def caught_up(database_url: str) -> None:
    projector = Projector(database_url, batch_size=37)
    await projector.catch_up()
    await projector.close()


async def test_the_boards_follow_the_rules_in_force_and_a_rebuild_gives_the_same_boards(scratch_database, scratch_app):
    world = World(scratch_app)  # k0: u0 u1 u2, k1: u3 u4 u5; target k belongs to u(k % 6)
    u = world.unit_ids
    for k in range(12):
        world.assign(k)
    for k in (0, 6, 3, 9, 1):  # u0 and u3 complete everything on time, u1 half of it
        complete(world, k)
    overdue = world.targets[2]  # u2 misses a deadline
    world.clock = overdue.deadline_at + timedelta(hours=1)
    overdue.mark_overdue(world.cmd(SYSTEM), deadline_at=overdue.deadline_at)
    world.touch(overdue)
    before_rules = world.clock
    world.campaign.change_rules(world.cmd(COMMITTEE), RewardRules((FLAG, MERIT, PERSON)),
                                effective_at=before_rules + timedelta(days=1))
    world.touch(world.campaign)
    world.save()
    await caught_up(scratch_database)
    pool = await asyncpg.create_pool(asyncpg_dsn(scratch_database), min_size=1, max_size=2)
    try:
        live = await queries.scoreboard(pool, world.campaign_id)
        # u0 (20 of 20) and u3 (17.5 of 17.5) lead their clusters; u0 is the best of the campaign
        assert marks(live) == {u[0]: ["co-thi-dua", "bang-khen"], u[3]: ["co-thi-dua"]}
        earlier = await queries.scoreboard(pool, world.campaign_id, as_of=before_rules)
        assert marks(earlier) == {u[0]: [], u[3]: []}  # no rules yet: the first of each cluster, no form named
        later = before_rules + timedelta(days=2)
        assert (await queries.scoreboard(pool, world.campaign_id, as_of=later))["clusters"] == live["clusters"]

        # u4 completes everything: now the best of the campaign, so k0's u0 loses the Bằng khen
        # although nothing happened in k0
        for k in (4, 10):
            complete(world, k)
        world.save()
        await caught_up(scratch_database)
        live = await queries.scoreboard(pool, world.campaign_id)
        assert marks(live) == {u[0]: ["co-thi-dua"], u[4]: ["co-thi-dua", "bang-khen"]}
        one = await queries.scoreboard(pool, world.campaign_id, cluster_id="k1", as_of=world.clock + timedelta(days=3))
        assert one["clusters"] == [c for c in live["clusters"] if c["cluster_id"] == "k1"]
        what_if = await queries.what_if(pool, world.campaign_id, world.campaign.scoring, cluster_id="k0")
        assert what_if["clusters"] == [c for c in live["clusters"] if c["cluster_id"] == "k0"]

        boards = [await queries.scoreboard(pool, world.campaign_id, as_of=at)
                  for at in (before_rules, later, world.clock + timedelta(days=3))]
        await rebuild(scratch_database)
        assert (await queries.scoreboard(pool, world.campaign_id))["clusters"] == live["clusters"]
        assert [await queries.scoreboard(pool, world.campaign_id, as_of=at)
                for at in (before_rules, later, world.clock + timedelta(days=3))] == boards
    finally:
        await pool.close()
