"""The one place that wires everything: settings -> event store -> Temporal client -> app.

Processes (`thidua worker|projector|api|up`) and tests build their parts here, so a
test swaps a part (a database URL, a Temporal address) in one spot.
With no DATABASE_URL the embedded PostgreSQL under $THIDUA_DATA_DIR/pg is started
(or attached, when another thidua process already runs it); with no
TEMPORAL_ADDRESS the embedded Temporal dev server under $THIDUA_DATA_DIR/temporal.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

from thidua.dburl import eventsourcing_env
from thidua.settings import Settings

if TYPE_CHECKING:
    from domain.application import ThiduaApplication
    from temporalio.client import Client

log = logging.getLogger("thidua")

_embedded: dict[str, object] = {}


def resolve_database_url(settings: Settings) -> str:
    """DATABASE_URL, or the embedded PostgreSQL (started once per process)."""
    if settings.database_url:
        return settings.database_url
    from thidua.embedded import EmbeddedPostgres

    pg = _embedded.get("pg")
    if pg is None:
        pg = EmbeddedPostgres(settings.data_dir).start()
        _embedded["pg"] = pg
        atexit.register(pg.stop)
    return pg.url  # type: ignore[attr-defined]


def resolve_temporal_address(settings: Settings, *, headless: bool = True, adopt_orphans: bool = True) -> str:
    """TEMPORAL_ADDRESS, or the embedded dev server (adopted when already running; with
    `adopt_orphans=False` one that no live process holds is stopped and launched anew)."""
    if settings.temporal_address:
        return settings.temporal_address
    from thidua.embedded import EmbeddedTemporal

    server = _embedded.get("temporal")
    if server is None:
        server = EmbeddedTemporal(
            settings.data_dir / "temporal",
            port=settings.temporal_port,
            ui_port=settings.temporal_ui_port,
            headless=headless,
            namespace=settings.temporal_namespace,
            adopt_orphans=adopt_orphans,
        ).start()
        _embedded["temporal"] = server
    return server.address  # type: ignore[attr-defined]


def stop_embedded() -> None:
    """Stop the embedded services this process started (`thidua up` on exit)."""
    for key in ("temporal", "pg"):
        service = _embedded.pop(key, None)
        if service is not None:
            service.stop()  # type: ignore[attr-defined]


def domain_application(database_url: str, env_overrides: dict[str, str] | None = None) -> ThiduaApplication:
    """`env_overrides`: extra eventsourcing settings (e.g. the API's shorter
    POSTGRES_CONNECT_TIMEOUT, so a request fails fast when PostgreSQL is down)."""
    from domain.application import new_application

    env = {**eventsourcing_env(database_url), **(env_overrides or {})}
    with _event_store_ddl_lock(database_url, connect_timeout=int(env.get("POSTGRES_CONNECT_TIMEOUT") or 10)):
        return new_application(env)


# Processes that start together (api, worker, projector under `thidua up` or compose)
# each create the event store's tables with CREATE TABLE IF NOT EXISTS, which PostgreSQL
# does not serialise: two at once can fail with "duplicate key value violates unique
# constraint pg_type_typname_nsp_index" or "tuple concurrently updated" (both seen at
# startup). One at a time, the later ones find the tables there.
_EVENT_STORE_DDL_LOCK_KEY = 0x7468_6964_7545  # "thiduE": the event store's DDL


@contextlib.contextmanager
def _event_store_ddl_lock(database_url: str, connect_timeout: int) -> Iterator[None]:
    """Hold a session advisory lock while the application creates its tables. When the
    lock cannot be had (PostgreSQL unreachable), go on without it: creating the
    application then fails with eventsourcing's own error, as callers expect."""
    import psycopg

    from thidua.dburl import asyncpg_dsn

    try:
        conn = psycopg.connect(asyncpg_dsn(database_url), autocommit=True, connect_timeout=connect_timeout)
    except psycopg.Error as exc:
        log.debug("no advisory lock for creating the event store's tables: %s", exc)
        yield
        return
    try:
        conn.execute("SELECT pg_advisory_lock(%s)", (_EVENT_STORE_DDL_LOCK_KEY,))
        yield
    finally:
        conn.close()  # ends the session, and with it the lock


async def temporal_client(address: str, namespace: str) -> Client:
    from workflows.client import connect

    return await connect(address, namespace)
