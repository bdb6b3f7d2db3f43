"""The one place that wires everything: settings -> event store -> Temporal client -> app.

Processes (`thidua worker|projector|api|up`) and tests build their parts here, so a
test swaps a part (a database URL, a Temporal address) in one spot.
With no DATABASE_URL the embedded PostgreSQL under $THIDUA_DATA_DIR/pg is started
(or attached, when another thidua process already runs it); with no
TEMPORAL_ADDRESS the embedded Temporal dev server under $THIDUA_DATA_DIR/temporal.
"""

from __future__ import annotations

import atexit
import time
import logging
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


def resolve_temporal_address(settings: Settings, *, headless: bool = True) -> str:
    """TEMPORAL_ADDRESS, or the embedded dev server (adopted when already running)."""
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
    # Processes that start together (api, worker, projector under `thidua up`) race on
    # CREATE TABLE IF NOT EXISTS, which PostgreSQL can refuse with "tuple concurrently
    # updated": that one is worth a few retries, nothing else is.
    for attempt in range(1, 6):
        try:
            return new_application(env)
        except Exception as exc:
            if attempt == 5 or "concurrently" not in str(exc):
                raise
            log.warning("creating the event store tables raced another process; retrying")
            time.sleep(0.2 * attempt)
    raise AssertionError("unreachable")


async def temporal_client(address: str, namespace: str) -> Client:
    from workflows.client import connect

    return await connect(address, namespace)
