"""Throwaway databases for tests: every run creates its own and drops it at the end."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from thidua.dburl import with_database


@contextmanager
def fresh_database(server_url: str, prefix: str = "thidua_test") -> Iterator[str]:
    """A new database `<prefix>_<hex>` on the server; dropped WITH (FORCE) afterwards."""
    import psycopg
    from psycopg import sql

    name = f"{prefix}_{secrets.token_hex(6)}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield with_database(server_url, name)
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
