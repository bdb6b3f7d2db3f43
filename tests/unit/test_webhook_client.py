"""The delivery client keeps few idle connections: httpcore checks every pooled connection on
each request, so a pool left holding a burst's connections made every later POST dearer
(docs/benchmarks.md, N.delivery_rate)."""

from __future__ import annotations

import asyncio

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.e2e.conftest import ServerThread
from thidua.workflows.webhook_activities import KEEPALIVE, PER_RECEIVER, WebhookActivities


async def _hook(request: Request) -> Response:
    await request.body()
    await asyncio.sleep(0.05)  # the burst's requests overlap
    return Response(status_code=204)


async def test_a_burst_to_one_receiver_leaves_at_most_the_keepalive_connections_open():
    server = ServerThread(Starlette(routes=[Route("/hook", _hook, methods=["POST"])])).start()
    activities = WebhookActivities("postgresql://unused", None, allow_private=True)
    http = activities._client()
    try:
        # as many at once as a batch sends to one webhook
        answers = await asyncio.gather(*(http.post(f"{server.url}/hook", content=b"{}") for _ in range(PER_RECEIVER)))
        assert [a.status_code for a in answers] == [204] * PER_RECEIVER
        pool = http._transport._pool  # type: ignore[attr-defined]
        assert 0 < len(pool.connections) <= KEEPALIVE
        assert all(c.is_idle() for c in pool.connections)
    finally:
        await activities.close()
        server.stop()
