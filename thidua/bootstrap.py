"""The composition root: each process (api, worker, projector) and each operator command
is built here from the settings, so a test swaps a part (a database URL, a Temporal
address, a ready-made domain application) in one spot.

With no DATABASE_URL the embedded PostgreSQL under $THIDUA_DATA_DIR/pg is started (or
attached, when another thidua process already runs it); with no TEMPORAL_ADDRESS the
embedded Temporal dev server under $THIDUA_DATA_DIR/temporal.

The packages below never import this module: they take their parts as arguments.
Each process imports only its own package (inside the function that builds it): the
projector loads neither Temporal nor FastAPI, the worker no FastAPI.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from thidua import heap, tracing
from thidua.dburl import asyncpg_dsn
from thidua.embedded import EmbeddedPostgres, EmbeddedTemporal
from thidua.event_store import domain_application
from thidua.settings import Settings
from thidua.statement_timeout import STATEMENT_TIMEOUT_ENV, asyncpg_server_settings

if TYPE_CHECKING:
    from fastapi import FastAPI

    from thidua.domain.application import ThiduaApplication

log = logging.getLogger("thidua")

_embedded: dict[str, Any] = {}

# A request must not hang for minutes when PostgreSQL is gone: eventsourcing retries a
# failed query up to 10 times, each waiting this long for a connection (default 30 s).
API_STORE_ENV = {"POSTGRES_CONNECT_TIMEOUT": "3"}


def store_timeouts(settings: Settings) -> dict[str, str]:
    """The event store's statement timeout from the settings (thidua.statement_timeout)."""
    return {STATEMENT_TIMEOUT_ENV: str(settings.statement_timeout)}


# ----------------------------------------------------------------- PostgreSQL and Temporal
def resolve_database_url(settings: Settings) -> str:
    """DATABASE_URL, or the embedded PostgreSQL (started once per process)."""
    if settings.database_url:
        return settings.database_url
    pg = _embedded.get("pg")
    if pg is None:
        pg = EmbeddedPostgres(settings.data_dir).start()
        _embedded["pg"] = pg
        atexit.register(pg.stop)
    return pg.url


def resolve_temporal_address(settings: Settings, *, headless: bool = True, adopt_orphans: bool = True) -> str:
    """TEMPORAL_ADDRESS, or the embedded dev server (adopted when already running; with
    `adopt_orphans=False` one that no live process holds is stopped and launched anew)."""
    if settings.temporal_address:
        return settings.temporal_address
    server = _embedded.get("temporal")
    if server is None:
        # Here, not at the top: only the processes that talk to Temporal load its SDK.
        from thidua.workflows.search_attributes import CLI_TYPES

        server = EmbeddedTemporal(
            settings.data_dir / "temporal",
            port=settings.temporal_port,
            ui_port=settings.temporal_ui_port,
            headless=headless,
            namespace=settings.temporal_namespace,
            adopt_orphans=adopt_orphans,
            search_attributes=CLI_TYPES,  # what operators query target workflows by
        ).start()
        _embedded["temporal"] = server
    return server.address


def embedded_service(name: str) -> Any:
    """The embedded service ("pg" or "temporal") this process started, or None."""
    return _embedded.get(name)


def stop_embedded() -> None:
    """Stop the embedded services this process started (`thidua up` on exit)."""
    for key in ("temporal", "pg"):
        service = _embedded.pop(key, None)
        if service is not None:
            service.stop()


# ----------------------------------------------------------------------------- the API
def build_api(
    settings: Settings,
    *,
    domain_app: Any = None,
    pool: Any = None,
    database_url: str | None = None,
    gateway: Any = None,
    temporal_client: Any = None,
    temporal_address: str | None = None,
    span_exporter: Any = None,
    **app_options: Any,
) -> FastAPI:
    """The API app. Parts given are used as they are (and left open); the others are
    built in the app's lifespan, on the serving loop, and closed with it.
    `span_exporter`: where its traces go instead of the configured exporter (a test's).
    `app_options` go to `thidua.api.app.create_app` (auth_cache_ttl, position_wait_seconds,
    settle_heap)."""
    # Imported here, not at the top: only the API process loads FastAPI (see above).
    import anyio

    from thidua.api.app import ApiParts, create_app
    from thidua.workflows.client import TargetGateway, connect

    traces = tracing.tracer_provider(settings, "api", span_exporter)  # None: traces off

    async def parts(stack: contextlib.AsyncExitStack) -> ApiParts:
        nonlocal database_url
        app, connection_pool, target_gateway, client = domain_app, pool, gateway, temporal_client
        if database_url is None and (app is None or connection_pool is None):
            database_url = await anyio.to_thread.run_sync(resolve_database_url, settings)
        if app is None:
            app = await anyio.to_thread.run_sync(
                domain_application, database_url, {**API_STORE_ENV, **store_timeouts(settings)})
            stack.callback(app.close)
        if connection_pool is None:
            connection_pool = await api_connection_pool(database_url, settings)
            stack.push_async_callback(connection_pool.close)
        if target_gateway is None:
            if client is None:
                address = temporal_address or await anyio.to_thread.run_sync(resolve_temporal_address, settings)
                client = await connect(address, settings.temporal_namespace,
                                       interceptors=tracing.temporal_interceptors(traces))
            target_gateway = TargetGateway(client, settings.task_queue)
        if client is None:
            client = getattr(target_gateway, "client", None)
        stack.callback(tracing.shutdown, traces)
        return ApiParts(domain_app=app, pool=connection_pool, gateway=target_gateway, temporal_client=client)

    return create_app(settings, parts=parts, tracer_provider=traces, **app_options)


async def api_connection_pool(database_url: str, settings: Settings) -> Any:
    """The API's asyncpg pool: its statements bounded by the settings' statement timeout."""
    import asyncpg

    return await asyncpg.create_pool(
        asyncpg_dsn(database_url), min_size=1, max_size=10, command_timeout=30, reset=_keep_session,
        server_settings=asyncpg_server_settings(settings.statement_timeout),
    )


async def _keep_session(connection: Any) -> None:
    """The pool's reset on release. asyncpg's default sends `SELECT pg_advisory_unlock_all();
    CLOSE ALL; UNLISTEN *; RESET ALL` after every use: one more round trip per query. The
    API's pooled connections keep no session state (no SET, LISTEN, cursors or session
    locks; the idempotency lock is transaction-scoped), and asyncpg itself still rolls
    back an open transaction before calling this."""


def serve_api(settings: Settings) -> None:
    """`thidua api`: the database and Temporal are resolved before uvicorn starts (the
    embedded services, when unset); the pool and the client in the app's lifespan."""
    from thidua.api.serving import METRICS_PATH, run, servers  # only the API process serves HTTP (see above)

    app = build_api(settings, database_url=resolve_database_url(settings),
                    temporal_address=resolve_temporal_address(settings), settle_heap=True)
    log.info("serving the API on http://%s:%s (docs at /docs)", settings.api_host, settings.api_port)
    if settings.api_metrics_address:
        log.info("API metrics at http://%s%s", settings.api_metrics_address, METRICS_PATH)
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises the Ctrl-C it handled
        run(servers(app, settings))


def create_user(settings: Settings, *, name: str, role: str, unit_id: str | None, login: str | None = None,
                email: str | None = None) -> dict[str, Any]:
    """`thidua users create`: works with no user yet (this is how the first one is made)."""
    from thidua.api.users import create_user_cli, public_url  # the API's rules for a user (see the module's docstring)

    app = domain_application(resolve_database_url(settings), store_timeouts(settings))
    try:
        return create_user_cli(app, name=name, role=role, unit_id=unit_id, login=login, email=email,
                               base_url=public_url(settings))
    finally:
        app.close()


# --------------------------------------------------------------------------- the worker
async def run_worker(settings: Settings, stop: asyncio.Event | None = None, *,
                     activities: Callable[[ThiduaApplication], Any] | None = None,
                     span_exporter: Any = None) -> None:
    """`thidua worker`: until `stop` is set (or SIGTERM/SIGINT), then a graceful shutdown.
    `activities`: builds the target activities from the store (a test swaps them here);
    `span_exporter`: where its traces go instead of the configured exporter (a test's)."""
    # Only the worker process loads Temporal's worker (see the module's docstring).
    from thidua.metrics import temporal_runtime
    from thidua.workflows import worker
    from thidua.workflows.client import connect
    from thidua.workflows.mail import Mailer
    from thidua.workflows.webhook_worker import WebhookService

    heap.limit_malloc_arenas()  # before the activity and Temporal threads start
    database_url = await asyncio.to_thread(resolve_database_url, settings)
    app: ThiduaApplication = await asyncio.to_thread(
        domain_application, database_url, {**worker.AGGREGATE_CACHE_ENV, **store_timeouts(settings)})
    traces = tracing.tracer_provider(settings, "worker", span_exporter)  # None: traces off
    try:
        address = await asyncio.to_thread(resolve_temporal_address, settings)
        # The SDK's Prometheus exporter, when THIDUA_WORKER_METRICS_ADDRESS is set.
        client = await connect(address, settings.temporal_namespace,
                               runtime=temporal_runtime(settings.worker_metrics_address),
                               interceptors=tracing.temporal_interceptors(traces))
        if settings.worker_metrics_address:
            log.info("worker metrics (Temporal SDK) at http://%s/metrics", settings.worker_metrics_address)
        mail = Mailer(settings.smtp_url, settings.smtp_from, settings.public_url) if settings.smtp_url else None
        deliveries = WebhookService(client, app, database_url, settings.task_queue,
                                    allow_private=settings.webhooks_allow_private,
                                    workflow_runner=worker.workflow_runner(settings.workflow_sandbox), mail=mail)
        await worker.run_worker(settings, app, client, stop, deliveries=deliveries,
                                activities=None if activities is None else activities(app), database_url=database_url)
    finally:
        tracing.shutdown(traces)
        app.close()


# ------------------------------------------------------------------------ the projector
def run_projector(settings: Settings) -> None:
    """`thidua projector`."""
    from thidua.projections.projector import serve  # only the projector process (see the module's docstring)

    asyncio.run(serve(resolve_database_url(settings), metrics_address=settings.projector_metrics_address,
                      heartbeat_seconds=settings.heartbeat_seconds))


def verify_audit(settings: Settings) -> dict[str, Any]:
    """`thidua audit verify`."""
    from thidua.projections.audit import verify  # as run_projector

    return asyncio.run(verify(resolve_database_url(settings)))


def rebuild_projections(settings: Settings, name: str | None) -> int:
    """`thidua projections rebuild [NAME]`: exit status 0 on success, 2 for an unknown name."""
    from thidua.projections.rebuild import main  # as run_projector

    return main(lambda: resolve_database_url(settings), name)
