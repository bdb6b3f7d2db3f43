"""Turn a PostgreSQL URL into what each library wants.

eventsourcing reads discrete POSTGRES_* settings; asyncpg and psycopg take the URL.
A Unix-socket URL (`postgresql://postgres:@/postgres?host=/dir`) is what the
embedded server gives, so `host` in the query string wins over the netloc.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit, urlunsplit

# The statement timeout on the event store's connections (read by
# thidua.statement_timeout's factory, whose PERSISTENCE_MODULE topic this is): seconds,
# "0" or unset for no bound.
STATEMENT_TIMEOUT_ENV = "POSTGRES_STATEMENT_TIMEOUT"
DEFAULT_STATEMENT_TIMEOUT_SECONDS = 30.0
FACTORY_TOPIC = "thidua.statement_timeout:BoundedPostgresFactory"


def eventsourcing_env(database_url: str, *, schema: str | None = None,
                      statement_timeout: float = DEFAULT_STATEMENT_TIMEOUT_SECONDS) -> dict[str, str]:
    parts = urlsplit(database_url)
    query = parse_qs(parts.query)
    host = query.get("host", [parts.hostname or "127.0.0.1"])[0]
    port = query.get("port", [str(parts.port or 5432)])[0]
    env = {
        # eventsourcing's PostgreSQL factory, with a statement timeout on its connections.
        "PERSISTENCE_MODULE": FACTORY_TOPIC,
        "POSTGRES_DBNAME": unquote(parts.path.lstrip("/")) or "postgres",
        "POSTGRES_HOST": host,
        "POSTGRES_PORT": port,
        "POSTGRES_USER": unquote(parts.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(parts.password or ""),
        "CREATE_TABLE": "y",
        # A write waits at most this many seconds for the events table's lock (a stalled
        # or locked PostgreSQL): an error then, retried by the caller, rather than a
        # thread blocked for as long as the stall lasts.
        "POSTGRES_LOCK_TIMEOUT": "5",
        # And no statement runs longer than this (thidua.statement_timeout): a stall that
        # is not a lock wait ends in an error too, its transaction rolled back.
        STATEMENT_TIMEOUT_ENV: str(statement_timeout),
    }
    if schema:
        env["POSTGRES_SCHEMA"] = schema
    return env


def with_database(database_url: str, dbname: str) -> str:
    """The same server, another database."""
    parts = urlsplit(database_url)
    return urlunsplit(parts._replace(path="/" + dbname))


def asyncpg_dsn(database_url: str) -> str:
    """asyncpg accepts `postgresql://` URLs with `?host=/dir` for sockets as they are."""
    parts = urlsplit(database_url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    scheme = "postgresql"
    return urlunsplit(parts._replace(scheme=scheme, query=urlencode(query)))


def dsn_of_eventsourcing_env(env: Any) -> str:
    """The URL back from eventsourcing's POSTGRES_* settings (`eventsourcing_env`'s
    inverse), for a process that holds only the domain application (the worker's
    activities that read the read models with asyncpg)."""
    host = env.get("POSTGRES_HOST") or "127.0.0.1"
    user = quote(env.get("POSTGRES_USER") or "postgres", safe="")
    password = quote(env.get("POSTGRES_PASSWORD") or "", safe="")
    dbname = quote(env.get("POSTGRES_DBNAME") or "postgres", safe="")
    port = env.get("POSTGRES_PORT") or "5432"
    if host.startswith("/"):  # a Unix socket directory
        return f"postgresql://{user}:{password}@/{dbname}?{urlencode({'host': host, 'port': port})}"
    return f"postgresql://{user}:{password}@{host}:{port}/{dbname}"
