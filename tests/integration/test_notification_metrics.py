"""Delivery metrics, scraped: the worker counts each delivery attempt's outcome by channel
(`thidua_notification_deliveries`, on the Temporal SDK's Prometheus exporter that
THIDUA_WORKER_METRICS_ADDRESS turns on), here for a real receiver that fails once, then
takes it, and one that is gone (410: given up)."""

from __future__ import annotations

import re
import secrets
import threading

import httpx
import psycopg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from thidua.embedded import free_port
from thidua.metrics import temporal_runtime
from tests.e2e.conftest import ServerThread
from tests.integration.conftest import eventually
from tests.integration.projection_conftest import World, scratch_app, scratch_database  # noqa: F401  (fixtures)
from tests.integration.webhook_world import escalation_for


def value(text: str, name: str, **labels: str) -> float:
    """The sample of `name` (with or without a `_total` suffix) whose labels include `labels`."""
    for line in text.splitlines():
        found = re.match(rf"^{name}(?:_total)?\{{(.*)\}} ([0-9.e+]+)$", line)
        if found and all(f'{k}="{v}"' in found.group(1) for k, v in labels.items()):
            return float(found.group(2))
    return 0.0


async def test_the_worker_counts_deliveries_by_channel_and_outcome(scratch_database, scratch_app, temporal_address):
    from temporalio.client import Client

    from thidua.workflows.converter import data_converter
    from thidua.workflows.webhook_worker import WebhookService

    lock = threading.Lock()
    seen: dict[str, int] = {}

    async def handle(request: Request) -> Response:
        with lock:
            seen[request.url.path] = seen.get(request.url.path, 0) + 1
            n = seen[request.url.path]
        if request.url.path == "/gone":
            return Response(status_code=410)
        return Response(status_code=500 if n == 1 else 204)

    server = ServerThread(Starlette(routes=[Route("/{p:path}", handle, methods=["POST"])])).start()
    world = World(scratch_app, units=4)
    await escalation_for(world, scratch_database, {f"wh-ok-{world.tag}": f"{server.url}/flaky",
                                                   f"wh-gone-{world.tag}": f"{server.url}/gone"})

    address = f"127.0.0.1:{free_port()}"
    client = await Client.connect(temporal_address, data_converter=data_converter, runtime=temporal_runtime(address))
    service = WebhookService(client, scratch_app, scratch_database, f"wh-metrics-{secrets.token_hex(3)}",
                             allow_private=True, initial_interval_ms=200, poll_interval=0.3)
    await service.__aenter__()
    try:
        def settled() -> bool:
            with psycopg.connect(scratch_database) as conn:
                rows = conn.execute("SELECT recipient, status FROM notifications WHERE channel = 'webhook'").fetchall()
            return dict(rows) == {f"wh-ok-{world.tag}": "delivered", f"wh-gone-{world.tag}": "failed"}

        await eventually(settled, timeout=60, what="one delivered, one given up")

        def scraped() -> str | None:
            text = httpx.get(f"http://{address}/metrics", timeout=5).text
            return text if value(text, "thidua_notification_deliveries", channel="webhook", outcome="failed") else None

        text = await eventually(scraped, timeout=30, what="the metrics exported")
        assert value(text, "thidua_notification_deliveries", channel="webhook", outcome="retry") == 1
        assert value(text, "thidua_notification_deliveries", channel="webhook", outcome="delivered") == 1
        assert value(text, "thidua_notification_deliveries", channel="webhook", outcome="gone") == 1
        assert value(text, "thidua_notification_deliveries", channel="webhook", outcome="failed") == 1
    finally:
        await service.shutdown()
        server.stop()
