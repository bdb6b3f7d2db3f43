"""A PostgreSQL stall (the events table locked for longer than a command may take) ends
in errors that clear by themselves: once the lock is gone every target takes commands
again within a bound, and nothing is lost or applied twice.

What went wrong before: Temporal cancelled the timed-out synchronous activity by raising
inside its thread, which could leave eventsourcing's per-aggregate lock held; every later
command on that target then blocked a worker thread for good."""

from __future__ import annotations

import asyncio
import secrets
import time
from datetime import date, timedelta

import psycopg

from tests.integration.conftest import SECRETARIAT, new_id, unit_head
from tests.integration.test_workflow_worker_crash import discard, start_worker_process
from thidua.dburl import asyncpg_dsn
from thidua.workflows.client import TargetGateway, assign_request
from thidua.workflows.errors import ServiceUnavailable

STALL_SECONDS = 25  # longer than a command's activity may take (ACTIVITY_TIMEOUT)
RECOVERY_BOUND = 60  # seconds within which every target must take a command again


async def test_after_a_stall_every_target_takes_commands_again_and_nothing_is_lost(
    database_url, temporal_address, temporal_client, seed
):
    queue = f"wf-stall-{secrets.token_hex(3)}"
    campaign, unit = seed.campaign(), seed.unit()
    head = unit_head(unit)
    gateway = TargetGateway(temporal_client, queue, answer_timeout=timedelta(seconds=90))
    worker = start_worker_process(database_url, temporal_address, queue)
    try:
        targets = []
        for n in range(4):
            assigned = await gateway.assign(assign_request(
                SECRETARIAT, new_id("assign"), campaign, unit_id=unit, title=f"Nhiệm vụ {n}", area="admin",
                deadline=date.today() + timedelta(days=30), points=2,
            ))
            targets.append(assigned.target["id"])
            await gateway.command(targets[-1], "start", head, new_id("start"))

        during = {tid: new_id("during") for tid in targets}
        with psycopg.connect(asyncpg_dsn(database_url)) as lock:
            lock.execute("LOCK TABLE thidua_events IN ACCESS EXCLUSIVE MODE")
            in_flight = [asyncio.create_task(gateway.command(tid, "report_progress", head, during[tid],
                                                             {"note": "giữa lúc kẹt"})) for tid in targets]
            await asyncio.sleep(STALL_SECONDS)
            lock.rollback()  # the stall ends

        answered = await asyncio.gather(*in_flight, return_exceptions=True)
        assert all(isinstance(a, ServiceUnavailable) or a.target["status"] == "in_progress" for a in answered), \
            answered

        started = time.monotonic()
        after = {}
        for tid in targets:
            after[tid] = new_id("after")
            result = await asyncio.wait_for(
                gateway.command(tid, "report_progress", head, after[tid], {"note": "đã thông"}), RECOVERY_BOUND)
            assert result.target["status"] == "in_progress"
        assert time.monotonic() - started < RECOVERY_BOUND

        for tid in targets:
            events = seed.events(tid)
            ids = [e.command_id for e in events]
            assert ids.count(after[tid]) == 1
            assert ids.count(during[tid]) <= 1  # an answer of 503 may still have been applied once
            # ... and a retry of it now is answered from the store, adding nothing
            again = await gateway.command(tid, "report_progress", head, during[tid], {"note": "giữa lúc kẹt"})
            assert [e.command_id for e in seed.events(tid)].count(during[tid]) == 1
            assert again.target["id"] == tid
    finally:
        discard(worker)
