"""`create_app`: the one place the API's parts are wired together.

Hand it the parts you have (a domain application, an asyncpg pool, a Temporal client
or gateway); whatever is missing is built in the lifespan, on the serving event loop,
from the settings (`thidua.wiring`). Parts it built, it also closes.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from fastapi.routing import APIRoute

from api.auth import TokenVerifier
from api.deps import Replay, replay_response, route_is_guarded
from api.idempotency import IdempotencyStore
from api.importing import ImportRow
from api.metrics import ApiMetrics
from api.edge import AllowedMethods, RefuseNulCharacters
from api.middleware import BodySizeLimit, ErrorGuard, RequestMetrics
from api.problems import install_problem_handlers
from api.routes import campaigns, operations, reports, session, system, targets
from api.services import Services
from api import users
from thidua.settings import Settings

log = logging.getLogger("thidua.api")

# A request must not hang for minutes when PostgreSQL is gone: eventsourcing retries a
# failed query up to 10 times, each waiting this long for a connection (default 30 s).
API_STORE_ENV = {"POSTGRES_CONNECT_TIMEOUT": "3"}

PUBLIC_PATHS = frozenset({"/healthz", "/metrics"}) | session.PUBLIC_PATHS

DESCRIPTION = """
thidua tracks the targets of an emulation campaign (đợt thi đua).

* **Auth**: `Authorization: Bearer <token>`; tokens come from `thidua users create` (the first
  secretariat user) and `POST /v1/users`. People sign in with `POST /v1/session` instead: its
  cookie authenticates reads, and changes that also send `X-CSRF-Token`.
* **Errors** are RFC 9457 `application/problem+json`.
* **Commands** accept `Idempotency-Key` (≤ 200 characters): a replay answers as the first time and
  records nothing; the same key with another request is a 422.
* **Reads** accept `min_position=N` (the `position` a command answered with) to read your own writes.
* **Lists** are paginated with `limit` (≤ 500) and the opaque `next_cursor`.
"""


async def _keep_session(connection: Any) -> None:
    """The pool's reset on release. asyncpg's default sends `SELECT pg_advisory_unlock_all();
    CLOSE ALL; UNLISTEN *; RESET ALL` after every use: one more round trip per query. The
    API's pooled connections keep no session state (no SET, LISTEN, cursors or session
    locks; the idempotency lock is transaction-scoped), and asyncpg itself still rolls
    back an open transaction before calling this."""


def create_app(
    settings: Settings | None = None,
    *,
    domain_app: Any = None,
    pool: Any = None,
    database_url: str | None = None,
    gateway: Any = None,
    temporal_client: Any = None,
    temporal_address: str | None = None,
    auth_cache_ttl: float = 5.0,
    position_wait_seconds: float = 5.0,
    settle_heap: bool = False,
) -> FastAPI:
    metrics = ApiMetrics()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            services = await _build_services(
                stack, settings=settings, domain_app=domain_app, pool=pool, database_url=database_url,
                gateway=gateway, temporal_client=temporal_client, temporal_address=temporal_address,
                metrics=metrics, auth_cache_ttl=auth_cache_ttl, position_wait_seconds=position_wait_seconds,
            )
            app.state.services = services
            if settle_heap:  # a serving process (not a test's app): see thidua/heap.py
                from thidua import heap

                heap.settle()
            try:
                yield
            finally:
                app.state.services = None

    app = FastAPI(
        title="thidua",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
        # Readable operation ids for generated clients: the route's name (`block_target`).
        generate_unique_id_function=lambda route: route.name,
    )
    app.state.services = None
    install_problem_handlers(app)

    @app.exception_handler(Replay)
    async def _replay(request: Request, exc: Replay) -> Response:
        return replay_response(exc)

    for router in (system.router, users.router, session.router, campaigns.router, operations.router,
                   targets.router, reports.router):
        app.include_router(router)
    from api.web import mount as mount_web

    mount_web(app)
    _check_every_route_is_guarded(app)
    _install_openapi(app)

    # Last added runs first: metrics see every request, the guard every exception,
    # and the size limit stops a large body before anything reads it.
    app.add_middleware(BodySizeLimit)
    app.add_middleware(AllowedMethods)
    app.add_middleware(RefuseNulCharacters)
    app.add_middleware(ErrorGuard)
    app.add_middleware(RequestMetrics, metrics=metrics)
    return app


async def _build_services(
    stack: contextlib.AsyncExitStack, *, settings: Settings | None, domain_app: Any, pool: Any,
    database_url: str | None, gateway: Any, temporal_client: Any, temporal_address: str | None,
    metrics: ApiMetrics, auth_cache_ttl: float, position_wait_seconds: float,
) -> Services:
    from thidua import wiring
    from thidua.settings import get_settings

    settings = settings or get_settings()
    if database_url is None and (domain_app is None or pool is None):
        database_url = await anyio.to_thread.run_sync(wiring.resolve_database_url, settings)
    if domain_app is None:
        domain_app = await anyio.to_thread.run_sync(wiring.domain_application, database_url, API_STORE_ENV)
        stack.callback(domain_app.close)
    if pool is None:
        import asyncpg

        from thidua.dburl import asyncpg_dsn

        pool = await asyncpg.create_pool(asyncpg_dsn(database_url), min_size=1, max_size=10, command_timeout=30,
                                         reset=_keep_session)
        stack.push_async_callback(pool.close)
    if gateway is None:
        from workflows.client import TargetGateway

        if temporal_client is None:
            address = temporal_address or await anyio.to_thread.run_sync(wiring.resolve_temporal_address, settings)
            temporal_client = await wiring.temporal_client(address, settings.temporal_namespace)
        gateway = TargetGateway(temporal_client, settings.task_queue)
    if temporal_client is None:
        temporal_client = getattr(gateway, "client", None)
    # The projector owns the read models, but the API must never meet a missing table
    # when it starts first; creating them is idempotent and serialised by an advisory lock.
    from projections.schema import ensure_schema

    await ensure_schema(pool)
    idempotency = IdempotencyStore(pool)
    await idempotency.ensure_table()
    from api.sessions import LoginThrottle, SessionStore

    sessions = SessionStore(pool)
    await sessions.ensure_table()
    return Services(
        sessions=sessions, throttle=LoginThrottle(),
        domain_app=domain_app, pool=pool, gateway=gateway, temporal_client=temporal_client,
        verifier=TokenVerifier(domain_app, ttl=auth_cache_ttl), idempotency=idempotency, metrics=metrics,
        task_queue=settings.task_queue, position_wait_seconds=position_wait_seconds,
        operation_wait_seconds=settings.operation_wait_seconds,
    )


def api_routes(app: FastAPI) -> list[APIRoute]:
    """Every API route of the app, including those of included routers (which this
    FastAPI keeps behind `_IncludedRouter` entries in `app.routes`)."""
    found: list[APIRoute] = []
    stack = list(app.routes)
    while stack:
        route = stack.pop(0)
        if isinstance(route, APIRoute):
            found.append(route)
        elif hasattr(route, "original_router"):
            stack.extend(route.original_router.routes)
    return found


def _check_every_route_is_guarded(app: FastAPI) -> None:
    """No route can forget authentication: refuse to build an app where one does."""
    routes = api_routes(app)
    if not routes:
        raise RuntimeError("the app has no API routes")
    for route in routes:
        # Web pages (outside /v1) check the session themselves and send strangers to sign-in.
        if not route.path.startswith("/v1/"):
            continue
        if route.path not in PUBLIC_PATHS and not route_is_guarded(route.dependant):
            raise RuntimeError(f"route {sorted(route.methods)} {route.path} does not depend on authenticate")


def _install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        row_schema = ImportRow.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, definition in row_schema.pop("$defs", {}).items():
            components.setdefault(name, definition)
        components["ImportRow"] = row_schema
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
