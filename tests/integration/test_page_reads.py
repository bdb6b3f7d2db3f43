"""The pages' shared reads (thidua.api.web.page_reads) against the real read models: what a
page is answered from what it decoded before is what a fresh read answers, and a change
shows at the next read."""

from __future__ import annotations

from types import SimpleNamespace

import asyncpg
import pytest

from thidua.api.web import page_reads
from thidua.projections import paper, queries
from thidua.projections.projector import Projector
from tests.integration.projection_conftest import (  # noqa: F401  (fixtures)
    COMMITTEE,
    SECRETARIAT,
    World,
    scratch_app,
    scratch_database,
)
from thidua.dburl import asyncpg_dsn


async def _project(database_url: str) -> None:
    projector = Projector(database_url)
    await projector.catch_up()
    await projector.close()


@pytest.fixture
async def services(scratch_database):
    await _project(scratch_database)
    pool = await asyncpg.create_pool(asyncpg_dsn(scratch_database), min_size=1, max_size=3)
    yield SimpleNamespace(pool=pool, extras={})
    await pool.close()


async def test_campaign_and_unit_names_follow_their_rows(scratch_app, scratch_database, services) -> None:
    world = World(scratch_app)
    await _project(scratch_database)
    pool = services.pool
    before = await page_reads.campaign(services, world.campaign_id)
    assert before == await queries.get_campaign(pool, world.campaign_id)
    assert await page_reads.campaign(services, world.campaign_id) == before  # kept, not decoded again
    assert await page_reads.campaign(services, "no-such-campaign") is None
    shown = [world.unit_ids[1], world.unit_ids[4], "no-such-unit"]
    assert await page_reads.unit_names(services, shown) == await queries.unit_names(pool, shown)
    assert await page_reads.unit_names(services, None) == await queries.unit_names(pool)

    world.campaign.award_bonus(world.cmd(COMMITTEE), world.unit_ids[0], 2, "sáng kiến")
    world.touch(world.campaign)
    unit = world.units[world.unit_ids[1]]
    unit.update(world.cmd(SECRETARIAT), name="Đơn vị đổi tên", kind="phường")
    world.touch(unit)
    world.save()
    await _project(scratch_database)

    fresh = await queries.get_campaign(pool, world.campaign_id)
    assert await page_reads.campaign(services, world.campaign_id) == fresh
    assert fresh != before
    names = await page_reads.unit_names(services, shown)
    assert names == {world.unit_ids[1]: "Đơn vị đổi tên", world.unit_ids[4]: f"Đơn vị {world.unit_ids[4]}"}
    assert await page_reads.unit_names(services, None) == await queries.unit_names(pool)


async def test_the_names_of_units_past_the_first_500(scratch_app, scratch_database, services) -> None:
    """A store of the country's size has thousands of units: a page names any of them
    (issue 16: the labels came from the first 500 units in id order, later ones showed ids)."""
    world = World(scratch_app, units=520)
    await _project(scratch_database)
    pool = services.pool
    late = max(world.unit_ids)
    assert await pool.fetchval("SELECT count(*) FROM public.units WHERE unit_id < $1", late) >= 500
    assert await page_reads.unit_names(services, [late, world.unit_ids[0]]) == {
        late: f"Đơn vị {late}", world.unit_ids[0]: f"Đơn vị {world.unit_ids[0]}"}
    every = await page_reads.unit_names(services, None)
    assert len(every) >= 520 and every[late] == f"Đơn vị {late}"

    # Renamed: the next read under the catalog's new mark shows the new name.
    world.units[late].update(world.cmd(SECRETARIAT), name="Phường cuối", kind="phường")
    world.touch(world.units[late])
    world.save()
    assert (await page_reads.unit_names(services, [late]))[late] == f"Đơn vị {late}"  # not projected yet
    await _project(scratch_database)
    assert await page_reads.unit_names(services, [late]) == {late: "Phường cuối"}
    assert (await page_reads.unit_names(services, None))[late] == "Phường cuối"


async def test_paper_lists_follow_the_target_version(scratch_app, scratch_database, services) -> None:
    world = World(scratch_app)
    target = world.assign(1)
    target.comment(world.cmd(SECRETARIAT), kind="urge", body="đề nghị báo cáo tiến độ")
    world.save()
    await _project(scratch_database)
    tid = str(target.id)

    comments, evidence = await page_reads.paper_lists(services, tid, target.version, 200)
    expected = await paper.target_paper(services.pool, tid, 200)
    assert (comments, evidence) == (expected[0]["items"], expected[1]["items"])
    assert [c["body"] for c in comments] == ["đề nghị báo cáo tiến độ"]

    # A version the trail does not hold yet (its projection trails the row): read, not kept.
    target.comment(world.cmd(COMMITTEE), kind="directive", body="hoàn thành trong quý")
    world.touch(target)
    world.save()
    ahead = await page_reads.paper_lists(services, tid, target.version, 200)
    assert [c["body"] for c in ahead[0]] == ["đề nghị báo cáo tiến độ"]
    await _project(scratch_database)
    comments, _ = await page_reads.paper_lists(services, tid, target.version, 200)
    assert [c["body"] for c in comments] == ["đề nghị báo cáo tiến độ", "hoàn thành trong quý"]
