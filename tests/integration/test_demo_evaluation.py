"""The demo's evaluation rounds on the real stack (PostgreSQL, Temporal, projector): after
`thidua demo` has loaded the drive, one round is done (self-assessments, reviews with a few
scores cut back with a reason, proposals, the Standing Committee's decision with awards to
units and people) and one is open for self-assessment; loading again changes nothing."""

from __future__ import annotations

import secrets
from datetime import date, timedelta
from pathlib import Path

import asyncpg

from tests.integration.projection_conftest import scratch_app, scratch_database  # noqa: F401  (fixtures)
from thidua import demo, demo_paper
from thidua import demo_data as D
from thidua.dburl import asyncpg_dsn
from thidua.domain.values import Status
from thidua.projections import evidence_files, tree_queries
from thidua.domain.evaluation import Evaluation, evaluation_uuid


def round_of(app, evaluation_id: str) -> Evaluation:  # type: ignore[no-untyped-def]
    return app.repository.get(evaluation_uuid(evaluation_id))


async def test_the_demo_ends_a_round_and_opens_another(scratch_app, scratch_database, temporal_client,
                                                       tmp_path: Path) -> None:
    """On a database of its own: the demo loads only into a store without other campaigns."""
    from thidua.projections.projector import Projector
    from thidua.workflows.client import TargetGateway
    from thidua.workflows.worker import build_worker

    workflow_app = scratch_app
    queue = f"wf-demo-{secrets.token_hex(3)}"
    gateway = TargetGateway(temporal_client, queue, answer_timeout=timedelta(seconds=45))
    async with build_worker(temporal_client, scratch_app, queue, graceful_shutdown_timeout=timedelta(seconds=3)), \
            Projector(scratch_database, poll_interval=0.2):
        await demo.load(workflow_app, gateway, tmp_path)
        done = round_of(workflow_app, "tong-ket-2022")
        assert done.stage == "closed" and done.decision["number"] == "1250-QĐ/TU"
        kinds = {a["kind"] for a in done.awards.values()}
        assert kinds == {"collective", "individual"}
        reasons = [i["reason"] for r in done.reviews.values() for i in r["items"].values() if i["reason"]]
        assert reasons, "some self-assessed scores were cut back with a reason"
        assert len(done.self_assessments) == len(D.UNIT_HEADS)
        # the year-end round (tổng kết) is the 2022 drive's, done after that drive closed
        assert done.campaign_id == D.HISTORY_CAMPAIGN_ID and workflow_app.get_campaign(D.HISTORY_CAMPAIGN_ID).closed
        open_ = round_of(workflow_app, "so-ket-dot-hien-tai")
        assert open_.stage == "self_assessment" and len(open_.self_assessments) == 3
        assert open_.campaign_id == D.CAMPAIGN_ID
        await assert_the_paper_trail(workflow_app, scratch_database)
        version = (done.version, open_.version)
        await demo.load(workflow_app, gateway, tmp_path)  # complete: nothing more
    assert (round_of(workflow_app, "tong-ket-2022").version, round_of(workflow_app, "so-ket-dot-hien-tai").version) == version
    await assert_the_city_targets_roll_up_their_children(scratch_database)


async def assert_the_city_targets_roll_up_their_children(database_url: str) -> None:
    """The city's own targets under 529, each with the unit targets under 934/937 that make
    it concrete, rolled up (the decision tree page and the city-targets view read this)."""
    from thidua.projections.projector import Projector

    projector = Projector(database_url)
    try:
        await projector.catch_up()
    finally:
        await projector.close()
    pool = await asyncpg.create_pool(asyncpg_dsn(database_url), min_size=1, max_size=1)
    try:
        parents = await tree_queries.parents(pool, D.CAMPAIGN_ID)
        tree = await tree_queries.decision_tree(pool, D.CAMPAIGN_ID, "529")
    finally:
        await pool.close()
    assert sorted(p["key"] for p in parents) == sorted(p.key for p in D.PARENT_TARGETS)
    for parent in parents:
        children = [t for t in D.TARGETS if D.parent_key_of(t) == parent["key"]]
        assert parent["rollup"]["children"] == len(children) > 0
        assert parent["rollup"]["completed_on_time"] + parent["rollup"]["completed_late"] >= 1
    roots = {t["key"]: t for t in tree}
    for fact in D.PARENT_TARGETS:
        assert {c["key"] for c in roots[fact.key]["children"]} == {
            t.key for t in D.TARGETS if D.parent_key_of(t) == fact.key}


async def assert_the_paper_trail(app, database_url: str) -> None:  # type: ignore[no-untyped-def]
    """Comments, an urge, a directive and a reply on the current drive; the returned
    target's evidence files stored and readable back byte for byte."""
    plans = demo.plan_targets(demo.anchor_day(app, date.today()))
    for remark in demo_paper.REMARKS:
        plan = next(p for p in plans if p.scenario == remark.story)
        target = app.get_target(plan.target_id)
        assert f"demo:{plan.fact.key}:{remark.what}" in target.applied and target.comment_count >= 1
        if remark.kind == "urge":
            assert target.last_urge["body"] == remark.body
    returned = next(p for p in plans if p.scenario == demo.RETURNED_FOR_EVIDENCE)
    target = app.get_target(returned.target_id)
    assert target.status == Status.COMPLETED
    assert {f["name"] for f in target.evidence_files.values()} == {f.name for f in demo_paper.RETURNED_EVIDENCE}
    pool = await asyncpg.create_pool(asyncpg_dsn(database_url), min_size=1, max_size=1)
    try:
        for file in demo_paper.RETURNED_EVIDENCE:
            stored = await evidence_files.stat(pool, file.args()["sha256"])
            assert stored is not None and stored.content_type == file.content_type
            assert b"".join([chunk async for chunk in evidence_files.chunks(pool, stored)]) == file.data
    finally:
        await pool.close()
