"""The `evaluations` read model and the freeze it starts from, on real PostgreSQL:
the frozen scores are the scoreboard's as-of board; a change of the past recorded after
the freeze leaves the round as it was frozen; projecting batch by batch gives the rows a
rebuild from scratch gives."""

from __future__ import annotations

from datetime import date, timedelta

import asyncpg

from thidua.domain.evaluation import ClusterLeads, Evaluation
from thidua.domain.values import SYSTEM
from thidua.projections import queries
from thidua.projections.evaluation_freeze import freeze_round
from thidua.projections.projector import Projector
from tests.integration.projection_conftest import (  # noqa: F401  (fixtures)
    COMMITTEE,
    SECRETARIAT,
    World,
    fresh_rebuild,
    head_of,
    read_models,
    scratch_app,
    scratch_database,
)
from tests.integration.test_projection_reward_rules import FLAG, MERIT, PERSON, complete
from thidua.dburl import asyncpg_dsn
from thidua.domain.scoring import RewardRules


async def caught_up(database_url: str) -> None:
    projector = Projector(database_url, batch_size=7)
    await projector.catch_up()
    await projector.close()


async def test_a_round_is_frozen_from_the_as_of_board_and_its_read_model_equals_a_rebuild(scratch_database,
                                                                                          scratch_app):
    world = World(scratch_app)
    world.campaign.change_rules(world.cmd(COMMITTEE), RewardRules((FLAG, MERIT, PERSON)))
    world.touch(world.campaign)
    for k in range(12):
        world.assign(k)
    for k in (0, 6, 3, 9, 1):
        complete(world, k)
    late = world.targets[2]
    world.clock = late.deadline_at + timedelta(hours=1)
    late.mark_overdue(world.cmd(SYSTEM), deadline_at=late.deadline_at)
    world.touch(late)
    world.save()
    period_end = world.clock + timedelta(minutes=1)
    await caught_up(scratch_database)

    pool = await asyncpg.create_pool(asyncpg_dsn(scratch_database), min_size=1, max_size=2)
    try:
        frozen = await freeze_round(pool, world.campaign_id, period_end)
        board = await queries.scoreboard(pool, world.campaign_id, as_of=period_end)
    finally:
        await pool.close()
    as_of = {u["unit_id"]: u for c in board["clusters"] for u in c["units"]}
    assert {u.unit_id: float(u.score) for u in frozen.units} == {k: v["score"] for k, v in as_of.items()}
    assert {u.unit_id: float(u.max_score) for u in frozen.units} == {k: v["max_score"] for k, v in as_of.items()}
    assert sum(len(u.target_points) for u in frozen.units) == 12
    overdue_unit = next(u for u in frozen.units if u.unit_id == late.unit_id)
    assert overdue_unit.overdue == 1

    e = Evaluation.create(world.cmd(SECRETARIAT), evaluation_id=f"tk-{world.tag}", campaign_id=world.campaign_id,
                          name="Tổng kết", period_end=period_end, self_assessment_due=period_end + timedelta(days=5),
                          review_due=period_end + timedelta(days=10), units=frozen.units, clusters=frozen.clusters,
                          rules=frozen.rules)
    world.touch(e)
    world.save()
    frozen_state = e.to_state()["units"]

    # The past changes after the freeze: the overdue target's deadline is extended back
    # over the period's end and it is completed; the round keeps what it froze.
    late.extend_deadline(world.cmd(COMMITTEE), new_deadline=late.deadline + timedelta(days=30), reason="gia hạn")
    late.start(world.cmd(head_of(late.unit_id)))
    late.complete(world.cmd(head_of(late.unit_id)), result="xong")
    world.touch(late)
    for unit in frozen.units:
        head = head_of(unit.unit_id)
        items = [{"target_id": t, "score": str(p)} for t, p in unit.target_points.items()]
        e.self_assess(world.cmd(head), unit_id=unit.unit_id, items=items, summary="tự chấm")
    world.touch(e)
    world.save()
    await caught_up(scratch_database)
    leads = {c.cluster_id: c for c in frozen.clusters}
    for unit in frozen.units:
        reviewer = head_of(ClusterLeads.reviewer_of(leads[unit.cluster_id], unit.unit_id))
        first = next(iter(unit.target_points), None)
        items = [] if first is None else [{"target_id": first, "score": "0", "reason": "thiếu minh chứng"}]
        e.review(world.cmd(reviewer), unit_id=unit.unit_id, items=items)
    world.touch(e)
    world.save()
    best = max(frozen.units, key=lambda u: e.reviewed_score(u.unit_id))
    head_unit = leads[best.cluster_id].head_unit_id
    e.propose(world.cmd(head_of(head_unit)), cluster_id=best.cluster_id, individuals=[
        {"name": "Trần Thị Bình", "unit_id": best.unit_id, "position": "Bí thư", "form_id": "ca-nhan",
         "achievements": "Dẫn đầu"}])
    e.approve(world.cmd(COMMITTEE), decision_number="99-QĐ/TU", issued_on=date(2022, 12, 30))
    e.revoke(world.cmd(COMMITTEE), award_id=f"tk-{world.tag}:1", reason="sai sự thật")
    world.touch(e)
    world.save()
    await caught_up(scratch_database)
    assert [(u["unit_id"], u["system_score"]) for u in e.to_state()["units"]] == [
        (u["unit_id"], u["system_score"]) for u in frozen_state]

    conn = await asyncpg.connect(asyncpg_dsn(scratch_database))
    try:
        live = await read_models(conn, "public")
        row = await conn.fetchrow("SELECT state, body FROM evaluations WHERE evaluation_id = $1", f"tk-{world.tag}")
        award = await conn.fetchrow("SELECT revoked_reason FROM awards WHERE award_id = $1", f"tk-{world.tag}:1")
    finally:
        await conn.close()
    assert row["state"] == "closed" and award["revoked_reason"] == "sai sự thật"
    rebuilt = await fresh_rebuild(scratch_database)
    for table in ("evaluations", "awards", "notifications"):
        assert live[table] == rebuilt[table], table
