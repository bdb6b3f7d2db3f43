"""Fixtures shared by every test directory (unit, integration, e2e).

Session-scoped, all lazy (a service starts only if some test asks for it):
- `postgres_server_url`: a PostgreSQL server to create test databases on;
- `database_url`: a fresh, empty database on it for the session (dropped at the end);
- `es_env`: the eventsourcing `Application(env=...)` settings for `database_url`;
- `temporal_address`: `host:port` of a Temporal dev server started for the session.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.databases import fresh_database
from thidua.dburl import eventsourcing_env

LOCAL_POSTGRES_URL = "postgresql://root@127.0.0.1:5432/postgres"


def _answers(url: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=2, autocommit=True) as conn:
            conn.execute("select 1")
        return True
    except Exception:
        return False


def _short_tmpdir(prefix: str) -> Path:
    # Unix socket paths must stay under 108 bytes: pytest's tmp_path can be too deep.
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp" if os.path.isdir("/tmp") else None))


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """URL of a server to create databases on: $DATABASE_URL, else a local server at
    127.0.0.1:5432 (user root) if it answers, else an embedded PostgreSQL for the session."""
    url = os.environ.get("DATABASE_URL", "").strip()
    if url:
        yield url
        return
    if _answers(LOCAL_POSTGRES_URL):
        yield LOCAL_POSTGRES_URL
        return

    from thidua.embedded import EmbeddedPostgres

    data_dir = _short_tmpdir("thd")
    server = EmbeddedPostgres(data_dir).start()
    try:
        yield server.url
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def database_url(postgres_server_url: str) -> Iterator[str]:
    """A fresh database `thidua_test_<hex>` for this session; dropped (WITH FORCE) at the end."""
    with fresh_database(postgres_server_url, "thidua_test") as url:
        yield url


@pytest.fixture(scope="session")
def es_env(database_url: str) -> dict[str, str]:
    """eventsourcing settings (PERSISTENCE_MODULE, POSTGRES_*) for `Application(env=es_env)`."""
    return eventsourcing_env(database_url)


@pytest.fixture(scope="session")
def temporal_address() -> Iterator[str]:
    """`127.0.0.1:PORT` of a headless Temporal dev server (namespace "default") for the session."""
    from thidua.embedded import EmbeddedTemporal

    data_dir = _short_tmpdir("thdt")
    server = EmbeddedTemporal(data_dir, headless=True).start()
    try:
        yield server.address
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
