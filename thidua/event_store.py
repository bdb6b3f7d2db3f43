"""Open the domain application on a PostgreSQL event store.

Below every process (the API, the worker, the projector and the CLI open the store the
same way) and above the domain: it adds what the domain leaves out on purpose, the
database driver and the URL -> eventsourcing settings mapping.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import psycopg

from thidua.domain.application import ThiduaApplication, new_application
from thidua.dburl import asyncpg_dsn, eventsourcing_env
from thidua.logs import REQUEST_ID

log = logging.getLogger("thidua")

# Processes that start together (api, worker, projector under `thidua up` or compose)
# each create the event store's tables with CREATE TABLE IF NOT EXISTS, which PostgreSQL
# does not serialise: two at once can fail with "duplicate key value violates unique
# constraint pg_type_typname_nsp_index" or "tuple concurrently updated". One at a time,
# the later ones find the tables there.
_EVENT_STORE_DDL_LOCK_KEY = 0x7468_6964_7545  # "thiduE": the event store's DDL


def domain_application(database_url: str, env_overrides: dict[str, str] | None = None) -> ThiduaApplication:
    """The application on `database_url`, its tables created if missing.

    `env_overrides`: extra eventsourcing settings (e.g. the API's shorter
    POSTGRES_CONNECT_TIMEOUT, so a request fails fast when PostgreSQL is down)."""
    env = {**eventsourcing_env(database_url), **(env_overrides or {})}
    with _event_store_ddl_lock(database_url, connect_timeout=int(env.get("POSTGRES_CONNECT_TIMEOUT") or 10)):
        app = new_application(env)
    # Each event stored while serving a request carries that request's id (the API's
    # middleware and the worker's interceptors set it in the logging context).
    app.request_id_source = REQUEST_ID.get
    return app


@contextlib.contextmanager
def _event_store_ddl_lock(database_url: str, connect_timeout: int) -> Iterator[None]:
    """Hold a session advisory lock while the application creates its tables. When the
    lock cannot be had (PostgreSQL unreachable), go on without it: creating the
    application then fails with eventsourcing's own error, as callers expect."""
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
