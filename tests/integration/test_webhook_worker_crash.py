"""`thidua worker` SIGKILLed while a webhook is being delivered: a new worker delivers
every notification; a receiver sees nothing lost, and a repeat only under the same id."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import threading
from typing import Any

import psycopg
from standardwebhooks.webhooks import Webhook as Verifier
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from thidua.domain.user import User
from thidua.domain.values import Role
from thidua.domain.webhook import Webhook
from thidua.projections.projector import Projector
from tests.e2e.conftest import ServerThread
from tests.integration.conftest import eventually
from tests.integration.projection_conftest import (  # noqa: F401  (fixtures)
    SECRETARIAT,
    World,
    create_read_models,
    scratch_app,
    scratch_database,
)
from tests.integration.test_workflow_worker_crash import discard, log_of, start_worker_process
from tests.integration.webhook_world import SECRET, escalate, escalation_for


class Receiver:
    """Holds the first request until `release` is set; answers 204 to every request."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.release = threading.Event()
        self.app = Starlette(routes=[Route("/hook", self.handle, methods=["POST"])])

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        with self.lock:
            self.requests.append((dict(request.headers), body))
            first = len(self.requests) == 1
        if first:
            await asyncio.to_thread(self.release.wait, 120)
        return Response(status_code=204)

    def seen(self) -> list[tuple[dict[str, str], bytes]]:
        with self.lock:
            return list(self.requests)


def outbox_rows(database_url: str) -> list[Any]:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT notification_id, status FROM notifications WHERE channel = 'webhook'").fetchall()


async def test_a_worker_killed_mid_delivery_loses_nothing(scratch_database, scratch_app, temporal_address):
    receiver = Receiver()
    server = ServerThread(receiver.app).start()
    world = World(scratch_app, units=4)
    world.touch(User.create(world.cmd(SECRETARIAT), user_id=f"sc-{world.tag}", name="BTV",
                            role=Role.STANDING_COMMITTEE, unit_id=None, token_hash="x", bootstrap=True))
    hook_id = f"wh-{world.tag}"
    await create_read_models(scratch_database)
    with psycopg.connect(scratch_database) as conn:
        conn.execute("INSERT INTO webhook_secrets VALUES (%s, %s)", (hook_id, SECRET))
    world.touch(Webhook.register(world.cmd(SECRETARIAT), webhook_id=hook_id, url=f"{server.url}/hook",
                                 campaign_id=world.campaign_id, kinds=["target.escalated"]))
    world.save()
    for k in range(3):
        escalate(world, world.assign(k))
    world.save()
    projector = Projector(scratch_database)
    await projector.catch_up()
    await projector.close()
    expected = {str(r[0]) for r in outbox_rows(scratch_database)}
    assert len(expected) == 3

    queue = f"wh-crash-{secrets.token_hex(3)}"
    env = {"THIDUA_WEBHOOKS_ALLOW_PRIVATE": "true"}
    doomed = start_worker_process(scratch_database, temporal_address, queue, **env)
    successor = None
    try:
        await eventually(lambda: receiver.seen(), timeout=60, what="a delivery in flight")
        os.killpg(doomed.pid, signal.SIGKILL)
        doomed.wait(timeout=10)
        receiver.release.set()
        successor = start_worker_process(scratch_database, temporal_address, queue, **env)
        rows = await eventually(
            lambda: all(status == "delivered" for _, status in outbox_rows(scratch_database)) and outbox_rows(
                scratch_database), timeout=120, what="every notification delivered")
        assert len(rows) == 3
        ids = [Verifier(SECRET).verify(body, headers)["id"] for headers, body in receiver.seen()]
        assert set(ids) == expected  # none lost; any repeat is one of them, by id
        assert all(headers["webhook-id"] in expected for headers, _ in receiver.seen())
    except BaseException:
        print(log_of(doomed), log_of(successor) if successor else "")
        raise
    finally:
        receiver.release.set()
        discard(doomed)
        if successor is not None:
            discard(successor)
        server.stop()


async def test_a_receiver_that_never_takes_it_is_given_up_after_the_window(scratch_database, scratch_app,
                                                                          temporal_address):
    """Retries stop when the delivery window ends (a day in production, two seconds
    here): the row is marked failed and the log's last attempt says no retry follows."""
    from temporalio.client import Client

    from thidua.workflows.webhook_worker import WebhookService
    from thidua.workflows.converter import data_converter

    async def refuse(request: Request) -> Response:
        return Response(status_code=503)

    server = ServerThread(Starlette(routes=[Route("/hook", refuse, methods=["POST"])])).start()
    world = World(scratch_app, units=4)
    hook_id = f"wh-{world.tag}"
    await escalation_for(world, scratch_database, {hook_id: f"{server.url}/hook"})

    client = await Client.connect(temporal_address, data_converter=data_converter)
    service = WebhookService(client, scratch_app, scratch_database, f"wh-fail-{secrets.token_hex(3)}",
                             allow_private=True, initial_interval_ms=300, window_s=2, poll_interval=0.3)
    await service.__aenter__()
    try:
        def failed() -> Any:
            with psycopg.connect(scratch_database) as conn:
                return conn.execute("SELECT status FROM notifications WHERE recipient = %s", (hook_id,)).fetchone() \
                    == ("failed",)

        await eventually(failed, timeout=60, what="the notification given up")
        with psycopg.connect(scratch_database) as conn:
            log = conn.execute("SELECT attempt, status_code, outcome, next_retry_at FROM webhook_deliveries "
                               "WHERE webhook_id = %s ORDER BY attempt", (hook_id,)).fetchall()
        assert log and all(code == 503 for _, code, _, _ in log)
        assert log[-1][2] == "failed" and log[-1][3] is None
        assert all(outcome == "retrying" and at is not None for _, _, outcome, at in log[:-1])
    finally:
        await service.shutdown()
        server.stop()
