"""One Temporal Schedule per open campaign starts its DailyDigestWorkflow at 07:00 in the
campaign's time zone (Temporal handles daylight saving and the zone's rules).

Kept by the worker (`DigestSchedules.run`, beside the webhook delivery): at start and
every `interval` it reads the campaigns read model and creates the schedule of each open
campaign that has none, moves one whose campaign changed time zone, and deletes the
schedule of a closed campaign. Each step is idempotent (schedule id `digest-<task queue>-<campaign>`),
so several workers, or a restart, reconcile to the same schedules. A new campaign gets
its schedule within `interval` of its creation.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import asyncpg
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from thidua.workflows.digest_workflow import DailyDigestWorkflow, DigestRequest

log = logging.getLogger("thidua.digest")

DIGEST_HOUR = 7


def schedule_id(task_queue: str, campaign_id: str) -> str:
    """Named by the queue too: deployments (or test runs) sharing a namespace keep apart."""
    return f"digest-{task_queue}-{campaign_id}"


def digest_schedule(campaign_id: str, tz: str, task_queue: str) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(DailyDigestWorkflow.run, DigestRequest(campaign_id),
                                           id=schedule_id(task_queue, campaign_id), task_queue=task_queue),
        spec=ScheduleSpec(calendars=[ScheduleCalendarSpec(hour=[ScheduleRange(DIGEST_HOUR)],
                                                          minute=[ScheduleRange(0)], second=[ScheduleRange(0)])],
                          time_zone_name=tz),
        # a worker down at 07:00 still sends the morning's digest when it is back the same day
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=timedelta(hours=12)),
    )


class DigestSchedules:
    def __init__(self, client: Client, dsn: str, task_queue: str, *, interval: float = 60.0) -> None:
        self.client = client
        self.dsn = dsn
        self.queue = task_queue
        self.interval = interval
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def reconcile(self) -> int:
        """Make the schedules match the campaigns; how many were created, moved or deleted."""
        conn = await asyncpg.connect(self.dsn)
        try:
            campaigns = await conn.fetch("SELECT campaign_id, timezone, closed FROM campaigns ORDER BY campaign_id")
        except asyncpg.UndefinedTableError:
            return 0  # the projector has not made the read models yet: nothing to schedule
        finally:
            await conn.close()
        changed = 0
        for c in campaigns:
            if c["closed"]:
                changed += await self._delete(c["campaign_id"])
            else:
                changed += await self._ensure(c["campaign_id"], c["timezone"])
        return changed

    async def _ensure(self, campaign_id: str, tz: str) -> int:
        wanted = digest_schedule(campaign_id, tz, self.queue)
        try:
            await self.client.create_schedule(schedule_id(self.queue, campaign_id), wanted)
            return 1
        except ScheduleAlreadyRunningError:
            pass
        handle = self.client.get_schedule_handle(schedule_id(self.queue, campaign_id))
        have = await handle.describe()
        if have.schedule.spec.time_zone_name == tz:
            return 0

        def update(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=wanted)

        await handle.update(update)
        return 1

    async def _delete(self, campaign_id: str) -> int:
        try:
            await self.client.get_schedule_handle(schedule_id(self.queue, campaign_id)).delete()
            return 1
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return 0
            raise

    async def run(self) -> None:
        while not self._stop.is_set():
            try:
                await self.reconcile()
            except Exception:  # the database or Temporal away: the next round tries again
                log.exception("could not reconcile the daily digest schedules")
            try:
                await asyncio.wait_for(self._stop.wait(), self.interval)
            except TimeoutError:
                pass

