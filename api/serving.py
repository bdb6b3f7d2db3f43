"""Serving the API over HTTP: the public server and, when `/metrics` has an address of its
own (THIDUA_API_METRICS_ADDRESS), a second server for it. Used by `thidua api`
(thidua.bootstrap.serve_api) only."""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from thidua.api.problems import problem_response
from thidua.settings import Settings, split_address

METRICS_PATH = "/metrics"


def split_metrics(app: ASGIApp) -> tuple[ASGIApp, ASGIApp]:
    """The app without /metrics (404), and an app with only /metrics, for a separate address
    (THIDUA_API_METRICS_ADDRESS). Both are the same app underneath: one state, one registry,
    one lifespan (run by the public server only)."""

    async def public(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].rstrip("/") == METRICS_PATH:
            await _not_found(scope, receive, send)
            return
        await app(scope, receive, send)

    async def metrics_only(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == METRICS_PATH:
            await app(scope, receive, send)
            return
        await _not_found(scope, receive, send)

    return public, metrics_only


async def _not_found(scope: Scope, receive: Receive, send: Send) -> None:
    response = problem_response(404, instance=scope.get("path", ""), detail="nothing is served here")
    await response(scope, receive, send)


def servers(app: ASGIApp, settings: Settings) -> list[uvicorn.Server]:
    """The public server, and the metrics server when /metrics has an address of its own."""
    common: dict[str, Any] = dict(
        log_level=settings.log_level.lower(),
        # uvicorn's records go through thidua's handler (thidua.logs); the RequestId
        # middleware logs each request with its id, so uvicorn's own access log is off.
        log_config=None,
        access_log=False,
        proxy_headers=True,
        server_header=False,
    )
    public, metrics_only = split_metrics(app) if settings.api_metrics_address else (app, None)
    found = [uvicorn.Server(uvicorn.Config(
        public, host=settings.api_host, port=settings.api_port, **common,
        # Bound the work one client can hold open.
        limit_concurrency=1000,
        timeout_keep_alive=5,
        timeout_graceful_shutdown=10,
    ))]
    if metrics_only is not None and settings.api_metrics_address:
        host, port = split_address(settings.api_metrics_address)
        found.append(uvicorn.Server(uvicorn.Config(metrics_only, host=host, port=port, lifespan="off", **common)))
    return found


async def serve(found: list[uvicorn.Server]) -> None:
    """Run the servers until the first (public) one stops (SIGINT/SIGTERM), then the others."""
    public, *others = found
    side = [asyncio.create_task(server.serve()) for server in others]
    try:
        await public.serve()
    finally:
        for server in others:
            server.should_exit = True
        await asyncio.gather(*side, return_exceptions=True)


def run(found: list[uvicorn.Server]) -> None:
    """`serve` on uvloop's event loop when it is installed (uvicorn[standard] brings it), as
    `uvicorn.run` would pick: its loop, socket transports and callbacks are C, where a page
    request's time outside the app (reading requests, asyncpg's replies) otherwise goes."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - an install without uvicorn's extras
        loop_factory = None
    else:
        loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(serve(found))
