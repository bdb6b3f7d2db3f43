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

from bench.services import postgres_server
from tests.databases import fresh_database
from thidua.dburl import eventsourcing_env


def _short_tmpdir(prefix: str) -> Path:
    # Unix socket paths must stay under 108 bytes: pytest's tmp_path can be too deep.
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp" if os.path.isdir("/tmp") else None))


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """URL of a server to create databases on, chosen as the benchmarks choose theirs:
    $DATABASE_URL, else a local server at 127.0.0.1:5432 (user root) if it answers, else
    an embedded PostgreSQL for the session."""
    data_dir = _short_tmpdir("thd")
    try:
        with postgres_server(data_dir) as url:
            yield url
    finally:
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
    from thidua.workflows.search_attributes import CLI_TYPES

    data_dir = _short_tmpdir("thdt")
    server = EmbeddedTemporal(data_dir, headless=True, search_attributes=CLI_TYPES).start()
    try:
        yield server.address
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
