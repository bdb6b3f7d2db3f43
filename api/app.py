"""`create_app`: the API's routes, middleware and lifespan.

The parts it serves with (a domain application, an asyncpg pool, a Temporal gateway
and client) come from `parts`, called in the lifespan on the serving event loop (the
Temporal client is bound to the loop that made it). `thidua.bootstrap.build_api` is
what builds them from the settings, and closes what it built.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from fastapi.routing import APIRoute

from thidua.api.auth import TokenVerifier
from thidua.api.deps import Replay, replay_response, route_is_guarded
from thidua.api.docs import install_docs
from thidua.api.idempotency import IdempotencyStore
from thidua.api.importing import ImportRow
from thidua.api.metrics import ApiMetrics
from thidua.api.edge import AllowedMethods, RefuseNulCharacters
from thidua.api.middleware import BodySizeLimit, ErrorGuard, RequestId, RequestMetrics, body_limit_for
from thidua.api.problems import install_problem_handlers
from thidua.api.route_index import index_routes, prepare_routes
from thidua.api.routes import (
    campaigns, cascade, digests, evaluations, history, notifications, operations, paper, reports, rules, session, system, targets, webhooks,
)
from thidua.api.services import Services
from thidua.api.sessions import LoginThrottle, SessionStore

# One client address may fail ten times as many bearer tokens as one user id (a shared office address).
TOKEN_ADDRESS_FACTOR = 10
from thidua.api.web import mount as mount_web
from thidua.api.web.render import load_templates
from thidua.api import users
from thidua.projections.schema import ensure_schema
from thidua import heap
from thidua.settings import Settings, get_settings

log = logging.getLogger("thidua.api")

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


@dataclass(frozen=True)
class ApiParts:
    """What the API serves with; built by `thidua.bootstrap.build_api` (or a test)."""

    domain_app: Any  # thidua.domain.application.ThiduaApplication
    pool: Any  # asyncpg.Pool
    gateway: Any  # thidua.workflows.client.TargetGateway
    temporal_client: Any | None


# Builds the parts on the serving loop; whatever it must close later it pushes on the stack.
PartsFactory = Callable[[contextlib.AsyncExitStack], Awaitable[ApiParts]]


def create_app(
    settings: Settings | None = None,
    *,
    parts: PartsFactory | None = None,
    auth_cache_ttl: float = 5.0,
    position_wait_seconds: float = 5.0,
    settle_heap: bool = False,
    tracer_provider: Any = None,
) -> FastAPI:
    """The app; `parts` may be omitted only by callers that never start it (e.g. to
    list its routes). `tracer_provider`: OpenTelemetry's, for a span per request (see
    thidua.tracing); None leaves FastAPI's telemetry off altogether."""
    metrics = ApiMetrics()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if parts is None:
            raise RuntimeError("this app has no parts to serve with: build it with thidua.bootstrap.build_api")
        async with contextlib.AsyncExitStack() as stack:
            services = await _services(
                await parts(stack), settings=settings or get_settings(), metrics=metrics,
                auth_cache_ttl=auth_cache_ttl, position_wait_seconds=position_wait_seconds,
            )
            app.state.services = services
            prepare_routes(app)
            if settle_heap:  # a serving process (not a test's app): see thidua/heap.py
                load_templates()  # compiled before the first views, and frozen with the rest
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
        docs_url=None,  # served by install_docs, from installed assets instead of a CDN
        redoc_url=None,
        # Readable operation ids for generated clients: the route's name (`block_target`).
        generate_unique_id_function=lambda route: route.name,
        telemetry=_telemetry(tracer_provider),
    )
    app.state.services = None
    install_problem_handlers(app)

    @app.exception_handler(Replay)
    async def _replay(request: Request, exc: Replay) -> Response:
        return replay_response(exc)

    for router in (system.router, users.router, session.router, campaigns.router, operations.router,
                   rules.router, targets.router, paper.router, cascade.router, reports.router, notifications.router, webhooks.router,
                   digests.router, history.router, evaluations.router):
        app.include_router(router)
    mount_web(app)
    _check_every_route_is_guarded(app)
    _install_openapi(app)
    install_docs(app)
    index_routes(app)

    # Last added runs first: the request id is set before anything logs and is on every
    # answer, metrics see every request, the guard every exception, and the size limit
    # stops a large body before anything reads it.
    evidence_max_bytes = (settings or get_settings()).evidence_max_bytes
    app.add_middleware(BodySizeLimit, limit_for=lambda path: body_limit_for(path, evidence_max_bytes))
    app.add_middleware(AllowedMethods)
    app.add_middleware(RefuseNulCharacters)
    app.add_middleware(ErrorGuard)
    app.add_middleware(RequestMetrics, metrics=metrics)
    app.add_middleware(RequestId)
    origins = (settings or get_settings()).cors_origins
    if origins:
        # Outermost, so a browser's preflight is answered here. Bearer tokens only
        # (no credentials mode): the session cookie stays for the API's own pages.
        app.add_middleware(
            CORSMiddleware, allow_origins=origins, allow_credentials=False,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Location", "Retry-After", "Idempotent-Replayed"],
        )
    return app


def _telemetry(tracer_provider: Any) -> dict[str, Any]:
    """FastAPI's own OpenTelemetry: request and operation spans on our provider when traces
    are on (no metrics or logs through it: /metrics and the JSON logs have those); when
    off, off, even if something set a global provider."""
    if tracer_provider is None:
        return {"tracing": False, "metrics": False, "logs": False}
    return {"tracer_provider": tracer_provider, "metrics": False, "logs": False,
            "exclude": lambda scope: scope.get("path") in ("/healthz", "/metrics")}


async def _services(
    parts: ApiParts, *, settings: Settings, metrics: ApiMetrics, auth_cache_ttl: float, position_wait_seconds: float,
) -> Services:
    # The projector owns the read models, but the API must never meet a missing table
    # when it starts first; creating them is idempotent and serialised by an advisory lock.
    await ensure_schema(parts.pool)
    idempotency = IdempotencyStore(parts.pool)
    await idempotency.ensure_table()
    sessions = SessionStore(parts.pool, cache_ttl=auth_cache_ttl)
    await sessions.ensure_table()
    return Services(
        sessions=sessions, throttle=LoginThrottle(),
        token_throttle=LoginThrottle.for_tokens(settings.auth_failures_per_minute, TOKEN_ADDRESS_FACTOR),
        heartbeat_seconds=settings.heartbeat_seconds,
        domain_app=parts.domain_app, pool=parts.pool, gateway=parts.gateway, temporal_client=parts.temporal_client,
        verifier=TokenVerifier(parts.domain_app, ttl=auth_cache_ttl), idempotency=idempotency, metrics=metrics,
        task_queue=settings.task_queue, position_wait_seconds=position_wait_seconds,
        operation_wait_seconds=settings.operation_wait_seconds,
        extras={"webhooks_allow_private": settings.webhooks_allow_private,
                "evidence_max_bytes": settings.evidence_max_bytes},
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
