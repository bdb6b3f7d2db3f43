"""The daily digest (DESIGN.md "Notifications"): overdue and stale targets per unit, to the
secretariat, once per campaign and local day.

- Under time skipping: a target's deadline passes on its workflow's virtual clock, then
  DailyDigestWorkflow (run on the same time-skipping server) records the digest; the
  outbox gives `digest.daily` to every secretariat member and no one else; a second run
  the same day records nothing.
- The schedules, against a real dev server: one per open campaign, at 07:00 in the
  campaign's time zone (described by the client), created once, deleted when the
  campaign closes.
"""

from __future__ import annotations

import secrets
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import asyncpg
from temporalio.worker import Worker

from thidua.dburl import asyncpg_dsn
from thidua.domain.digest import Digest, digest_uuid
from thidua.domain.user import User
from thidua.domain.values import Role
from thidua.projections.projector import Projector
from thidua.workflows.client import TargetGateway, assign_request
from thidua.workflows.digest_activities import DigestActivities
from thidua.workflows.digest_schedules import DIGEST_HOUR, DigestSchedules, schedule_id
from thidua.workflows.digest_workflow import DailyDigestWorkflow, DigestRequest
from thidua.workflows.worker import build_worker, workflow_runner
from tests.integration.conftest import SECRETARIAT, eventually, new_id, unit_head


def _user(seed, role: Role, unit_id: str | None = None) -> str:  # type: ignore[no-untyped-def]
    user_id = new_id(str(role))
    seed.app.save_changes(User.create(seed._cmd(), user_id=user_id, name=user_id, role=role, unit_id=unit_id,
                                      token_hash="x", bootstrap=True))
    return user_id


async def _catch_up(database_url: str) -> None:
    projector = Projector(database_url)
    try:
        await projector.catch_up()
    finally:
        await projector.close()


async def _digest_rows(database_url: str, campaign_id: str) -> list[tuple[str, str, str, str]]:
    """(channel, recipient, the recipient's role, link); the session's database holds other
    tests' people too, so the test checks roles as well as its own people."""
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        rows = await conn.fetch(
            "SELECT n.channel, n.recipient, (SELECT role FROM notification_recipients r WHERE r.user_id = n.recipient "
            "ORDER BY position DESC LIMIT 1), n.link FROM notifications n WHERE n.kind = 'digest.daily' "
            "AND n.campaign_id = $1 ORDER BY n.channel, n.recipient", campaign_id)
    finally:
        await conn.close()
    return [tuple(r) for r in rows]


async def test_the_digest_under_time_skipping_reaches_the_secretariat_once(time_skipping, seed, database_url):
    ts = time_skipping
    campaign = seed.campaign(stale_after="P90D")
    late_unit, fine_unit = seed.unit(), seed.unit()
    secretaries = sorted(_user(seed, Role.SECRETARIAT) for _ in range(2))
    bystanders = [_user(seed, Role.STANDING_COMMITTEE), _user(seed, Role.UNIT_HEAD, late_unit)]
    today = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).date()
    targets = {}
    for unit, days in ((late_unit, 5), (fine_unit, 60)):
        result = await ts.gateway.assign(assign_request(
            SECRETARIAT, new_id("assign"), campaign, unit_id=unit, title=f"Chỉ tiêu {unit}", area="gpmb",
            deadline=today + timedelta(days=days), points=10))
        targets[unit] = result.target["id"]
        await ts.gateway.command(targets[unit], "start", unit_head(unit), new_id("start"))
    # six virtual days on the late target's clock: its deadline passes, the other's does not
    await ts.fast_forward(targets[late_unit], timedelta(days=6))
    await eventually(lambda: "DeadlinePassed" in seed.event_types(targets[late_unit]), what="the deadline to pass")
    await _catch_up(database_url)

    queue = f"digest-ts-{secrets.token_hex(3)}"
    activities = DigestActivities(asyncpg_dsn(database_url), seed.app)
    worker = Worker(ts.client, task_queue=queue, workflows=[DailyDigestWorkflow], activities=activities.all(),
                    workflow_runner=workflow_runner(True))
    try:
        async with worker:
            first = await ts.client.execute_workflow(DailyDigestWorkflow.run, DigestRequest(campaign),
                                                     id=new_id("digest"), task_queue=queue)
            again = await ts.client.execute_workflow(DailyDigestWorkflow.run, DigestRequest(campaign),
                                                     id=new_id("digest"), task_queue=queue)
    finally:
        await activities.close()
    day = today.isoformat()
    assert (first, again) == (f"recorded {day}", f"already {day}")
    digest = seed.app.load(Digest, digest_uuid(campaign, day), "digest")
    assert digest.units == [{"unit_id": late_unit, "overdue": [targets[late_unit]], "stale": []}]

    await _catch_up(database_url)
    rows = await _digest_rows(database_url, campaign)
    assert {(channel, role, link) for channel, _, role, link in rows} == {
        ("inbox", "secretariat", f"/v1/campaigns/{campaign}/digests/{day}")}
    recipients = [r[1] for r in rows]
    assert len(recipients) == len(set(recipients))  # once each
    assert set(secretaries) <= set(recipients) and not set(recipients) & set(bystanders)


async def test_the_digest_counts_a_target_without_progress_for_the_stale_period_as_stale(seed, database_url,
                                                                                        temporal_client):
    campaign = seed.campaign(stale_after="P14D")
    unit = seed.unit()
    queue = f"digest-{secrets.token_hex(3)}"
    async with build_worker(temporal_client, seed.app, queue, graceful_shutdown_timeout=timedelta(seconds=3)):
        gateway = TargetGateway(temporal_client, queue, answer_timeout=timedelta(seconds=45))
        result = await gateway.assign(assign_request(
            SECRETARIAT, new_id("assign"), campaign, unit_id=unit, title="Chỉ tiêu chậm", area="gpmb",
            deadline=date.today() + timedelta(days=90), points=5))
    tid = result.target["id"]
    await _catch_up(database_url)
    activities = DigestActivities(asyncpg_dsn(database_url), seed.app)
    try:
        worker = Worker(temporal_client, task_queue=queue + "-d", workflows=[DailyDigestWorkflow],
                        activities=activities.all(), workflow_runner=workflow_runner(True))
        async with worker:
            soon = (datetime.now(timezone.utc) + timedelta(days=13)).isoformat()
            later = datetime.now(timezone.utc) + timedelta(days=15)
            assert (await temporal_client.execute_workflow(
                DailyDigestWorkflow.run, DigestRequest(campaign, soon), id=new_id("digest"),
                task_queue=queue + "-d")).startswith("nothing ")
            recorded = await temporal_client.execute_workflow(
                DailyDigestWorkflow.run, DigestRequest(campaign, later.isoformat()), id=new_id("digest"),
                task_queue=queue + "-d")
    finally:
        await activities.close()
    day = later.astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).date().isoformat()
    assert recorded == f"recorded {day}"
    assert seed.app.load(Digest, digest_uuid(campaign, day), "digest").units == [
        {"unit_id": unit, "overdue": [], "stale": [tid]}]


async def test_each_open_campaign_has_a_schedule_at_seven_in_its_time_zone(seed, database_url, temporal_client):
    hanoi = seed.campaign(tz="Asia/Ho_Chi_Minh")
    paris = seed.campaign(tz="Europe/Paris")
    await _catch_up(database_url)
    queue = f"digest-sched-{secrets.token_hex(3)}"
    schedules = DigestSchedules(temporal_client, asyncpg_dsn(database_url), queue)
    mine = {hanoi: "Asia/Ho_Chi_Minh", paris: "Europe/Paris"}
    try:
        await schedules.reconcile()
        for campaign, tz in mine.items():
            described = await temporal_client.get_schedule_handle(schedule_id(queue, campaign)).describe()
            assert described.schedule.spec.time_zone_name == tz
            assert described.schedule.action.workflow == "DailyDigest"
            assert described.schedule.action.task_queue == queue
            upcoming = described.info.next_action_times
            assert upcoming, "the schedule has upcoming runs"
            for at in upcoming:
                local = at.astimezone(ZoneInfo(tz))
                assert (local.hour, local.minute, local.second) == (DIGEST_HOUR, 0, 0)
            days = [at.astimezone(ZoneInfo(tz)).date() for at in upcoming[:2]]
            if len(days) == 2:
                assert days[1] - days[0] == timedelta(days=1)
        # reconciling again changes nothing for them
        assert await schedules.reconcile() == 0
        # a closed campaign loses its schedule
        seed.close_campaign(paris)
        await _catch_up(database_url)
        await schedules.reconcile()
        assert await _exists(temporal_client, schedule_id(queue, hanoi))
        assert not await _exists(temporal_client, schedule_id(queue, paris))
    finally:
        for campaign in mine:
            try:
                await temporal_client.get_schedule_handle(schedule_id(queue, campaign)).delete()
            except Exception:
                pass


async def _exists(client, sid: str) -> bool:  # type: ignore[no-untyped-def]
    from temporalio.service import RPCError

    try:
        await client.get_schedule_handle(sid).describe()
        return True
    except RPCError:
        return False
