"""The outbox dispatcher hands rows to Temporal a batch per workflow: each row in one batch,
a crash between starting a batch's workflow and marking its rows repeats the same start,
and in a batch a receiver that hangs does not hold up the others' deliveries."""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from typing import Any

import asyncpg
import psycopg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from temporalio.client import Client

from tests.e2e.conftest import ServerThread
from tests.integration.conftest import eventually
from tests.integration.projection_conftest import (  # noqa: F401  (fixtures)
    create_read_models,
    scratch_app,
    scratch_database,
)
from tests.integration.webhook_world import SECRET
from thidua.dburl import asyncpg_dsn
from thidua.domain.notifications import WEBHOOK, notification_id
from thidua.workflows.converter import data_converter
from thidua.workflows.webhook_batch import batch_workflow_id
from thidua.workflows.webhook_dispatch import Dispatcher

_positions = iter(range(1_000_000, 2_000_000, 100))


def outbox(database_url: str, hooks: dict[str, str], rows_per_hook: int) -> list[str]:
    """`hooks`: webhook id -> URL; `rows_per_hook` pending rows each, all of one event
    position after the other rows of the module. Returns the rows' ids in claim order."""
    start = next(_positions)
    now = datetime.now(timezone.utc)
    rows = [(notification_id(start + i, "target.escalated", WEBHOOK, hook), "target.escalated", WEBHOOK, hook,
             start + i, now, "c", None, "/v1/x", "pending") for hook in hooks for i in range(rows_per_hook)]
    with psycopg.connect(database_url) as conn:
        for hook, url in hooks.items():
            conn.execute("INSERT INTO webhooks (webhook_id, position, url, campaign_id, kinds, active) "
                         "VALUES (%s, 0, %s, NULL, 'target.escalated', true)", (hook, url))
            conn.execute("INSERT INTO webhook_secrets VALUES (%s, %s)", (hook, SECRET))
        conn.cursor().executemany(
            "INSERT INTO notifications (notification_id, kind, channel, recipient, position, occurred_at, "
            "campaign_id, target_id, link, status) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", rows)
    return [str(r[0]) for r in sorted(rows, key=lambda r: (r[4], str(r[0])))]


def claims(database_url: str, ids: list[str]) -> dict[str, tuple[Any, Any]]:
    """Each row's batch id and whether it is marked dispatched."""
    with psycopg.connect(database_url) as conn:
        return {str(n): (str(b) if b else None, d is not None) for n, b, d in conn.execute(
            "SELECT notification_id, batch_id, dispatched_at FROM notifications WHERE notification_id = ANY(%s)",
            ([*ids],)).fetchall()}


async def dispatch(dispatcher: Dispatcher, database_url: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        while await dispatcher.dispatch_once(conn):
            pass
    finally:
        await conn.close()


async def test_rows_are_claimed_a_batch_per_workflow(scratch_database, temporal_address):
    await create_read_models(scratch_database)
    ids = outbox(scratch_database, {f"wh-{secrets.token_hex(3)}": "http://127.0.0.1:9/hook"}, 5)
    client = await Client.connect(temporal_address, data_converter=data_converter)
    # no worker polls this queue: the workflows wait as started
    dispatcher = Dispatcher(client, asyncpg_dsn(scratch_database), f"wh-dispatch-{secrets.token_hex(3)}",
                            batch_size=2)
    await dispatch(dispatcher, scratch_database)
    claimed = claims(scratch_database, ids)
    assert all(marked for _, marked in claimed.values())
    batches = [ids[0], ids[2], ids[4]]  # in order, two a batch, each named after its first row
    assert [claimed[i][0] for i in ids] == [batches[0]] * 2 + [batches[1]] * 2 + [batches[2]]
    for batch in batches:
        handle = client.get_workflow_handle(batch_workflow_id(batch))
        started = (await handle.fetch_history()).events[0].workflow_execution_started_event_attributes
        given = data_converter.payload_converter.from_payloads(started.input.payloads)[0]
        assert given["notification_ids"] == [i for i in ids if claimed[i][0] == batch]
        await handle.terminate("test over")


async def test_a_crash_between_start_and_mark_repeats_the_same_start(scratch_database, temporal_address):
    await create_read_models(scratch_database)
    ids = outbox(scratch_database, {f"wh-{secrets.token_hex(3)}": "http://127.0.0.1:9/hook"}, 3)
    client = await Client.connect(temporal_address, data_converter=data_converter)
    dispatcher = Dispatcher(client, asyncpg_dsn(scratch_database), f"wh-dispatch-{secrets.token_hex(3)}")
    await dispatch(dispatcher, scratch_database)
    first = client.get_workflow_handle(batch_workflow_id(ids[0]))
    run_id = (await first.describe()).run_id
    # the dispatcher died after the start, before the mark; meanwhile more rows came
    with psycopg.connect(scratch_database) as conn:
        conn.execute("UPDATE notifications SET dispatched_at = NULL WHERE notification_id = ANY(%s)", (ids,))
    later = outbox(scratch_database, {f"wh-{secrets.token_hex(3)}": "http://127.0.0.1:9/hook"}, 2)
    await dispatch(dispatcher, scratch_database)  # "already started" is no failure
    claimed = claims(scratch_database, ids + later)
    assert {claimed[i] for i in ids} == {(ids[0], True)}  # the same batch, now marked
    assert {claimed[i] for i in later} == {(later[0], True)}  # the newcomers in a batch of their own
    assert (await first.describe()).run_id == run_id  # one workflow for the first batch, not two
    for batch in (ids[0], later[0]):
        await client.get_workflow_handle(batch_workflow_id(batch)).terminate("test over")


class Receivers:
    """`/hang` holds every request until `release` is set; `/ok` answers 204 at once."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.hanging = 0
        self.oks = 0
        self.lock = threading.Lock()
        self.app = Starlette(routes=[Route("/hang", self.hang, methods=["POST"]),
                                     Route("/ok", self.ok, methods=["POST"])])

    async def hang(self, request: Request) -> Response:
        await request.body()
        with self.lock:
            self.hanging += 1
        await asyncio.to_thread(self.release.wait, 60)
        return Response(status_code=204)

    async def ok(self, request: Request) -> Response:
        await request.body()
        with self.lock:
            self.oks += 1
        return Response(status_code=204)


def _statuses(conn: psycopg.Connection, hook: str) -> set[str]:
    return {s for (s,) in conn.execute("SELECT status FROM notifications WHERE recipient = %s", (hook,)).fetchall()}


@asynccontextmanager
async def slow_and_quick(scratch_database: str, scratch_app: Any, temporal_address: str, queue: str,
                         **options: Any) -> AsyncIterator[tuple[Receivers, str, str, Client, dict[str, str]]]:
    """A delivery service (the worker's dispatcher and batches) beside a receiver whose
    `/hang` holds POSTs until released and whose `/ok` answers at once: yields the
    receivers, the slow and quick webhooks' ids, the Temporal client and their URLs."""
    from thidua.workflows.webhook_worker import WebhookService

    await create_read_models(scratch_database)
    receivers = Receivers()
    server = ServerThread(receivers.app).start()
    slow, quick = f"wh-slow-{secrets.token_hex(3)}", f"wh-quick-{secrets.token_hex(3)}"
    client = await Client.connect(temporal_address, data_converter=data_converter)
    service = WebhookService(client, scratch_app, scratch_database, f"{queue}-{secrets.token_hex(3)}",
                             allow_private=True, poll_interval=0.3, **options)
    await service.__aenter__()
    try:
        yield receivers, slow, quick, client, {slow: f"{server.url}/hang", quick: f"{server.url}/ok"}
    finally:
        receivers.release.set()
        await service.shutdown()
        server.stop()


async def test_in_a_batch_a_hanging_receiver_holds_up_no_other(scratch_database, scratch_app, temporal_address):
    async with slow_and_quick(scratch_database, scratch_app, temporal_address, "wh-batch") as (
            receivers, slow, quick, _client, hooks):
        ids = outbox(scratch_database, hooks, 3)
        with psycopg.connect(scratch_database) as conn:
            def status(hook: str) -> set[str]:
                return _statuses(conn, hook)

            # the quick receiver's rows are delivered (and logged) while the slow one's hang
            await eventually(lambda: receivers.hanging >= 3 and status(quick) == {"delivered"}, timeout=60,
                             what="the quick receiver's rows delivered beside the hanging ones")
            assert status(slow) == {"pending"}
            assert len({claims(scratch_database, ids)[i][0] for i in ids}) == 1  # all in one batch
            receivers.release.set()
            await eventually(lambda: status(slow) == {"delivered"}, timeout=60, what="the slow rows delivered")
            log = conn.execute("SELECT attempt, status_code, outcome FROM webhook_deliveries "
                               "WHERE webhook_id = %s", (quick,)).fetchall()
        assert log == [(1, 204, "delivered")] * 3


async def test_a_first_try_that_runs_out_of_time_goes_on_as_an_activity(scratch_database, scratch_app,
                                                                        temporal_address, monkeypatch):
    """The batch's first try is a local activity, bounded; past its bound the same try runs
    as an ordinary activity: the rows that hung are posted again (same ids), the rows
    already delivered are not."""
    from temporalio.api.enums.v1 import EventType

    from thidua.workflows import webhook_batch
    from thidua.workflows.worker import workflow_runner

    monkeypatch.setattr(webhook_batch, "LOCAL_TIMEOUT", webhook_batch.timedelta(seconds=2))
    # unsandboxed, as `thidua worker` runs it, so the shorter bound applies
    async with slow_and_quick(scratch_database, scratch_app, temporal_address, "wh-local",
                              workflow_runner=workflow_runner(False)) as (receivers, slow, quick, client, hooks):
        ids = outbox(scratch_database, hooks, 2)
        # the local try's POSTs to the slow receiver are cut at 2 s; the activity posts them again
        await eventually(lambda: receivers.hanging >= 4, timeout=60, what="the slow rows posted again by the activity")
        receivers.release.set()
        with psycopg.connect(scratch_database) as conn:
            def status(hook: str) -> set[str]:
                return _statuses(conn, hook)

            await eventually(lambda: status(slow) == {"delivered"}, timeout=60, what="the slow rows delivered")
            assert status(quick) == {"delivered"}
        assert receivers.oks == 2  # the quick rows once each
        batch = claims(scratch_database, ids)[ids[0]][0]
        history = await client.get_workflow_handle(batch_workflow_id(batch)).fetch_history()
        kinds = [e.event_type for e in history.events]
        assert EventType.EVENT_TYPE_MARKER_RECORDED in kinds and EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED in kinds
