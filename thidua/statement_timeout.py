"""A bound on how long one SQL statement may run on the write connections.

A stalled PostgreSQL (a table lock held by someone else, an I/O stall) must end in a clear
error the caller retries, not in a thread or request blocked for as long as the stall
lasts. eventsourcing bounds only the wait for the events table's lock
(POSTGRES_LOCK_TIMEOUT); its datastore has no setting for a statement timeout, so the
factory below passes PostgreSQL's `statement_timeout` to every connection of its pool
as a startup option (`-c statement_timeout=...`, sent once when the connection is made,
no extra round trip). PostgreSQL cancels a statement that runs longer; its transaction
rolls back, so nothing is half-written.

The API's asyncpg pool takes the same bound (`asyncpg_server_settings`). The projector's
own connections take none: a rebuild's long queries must not be cut.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.postgres import PostgresFactory

from thidua.dburl import STATEMENT_TIMEOUT_ENV

__all__ = ["STATEMENT_TIMEOUT_ENV", "BoundedPostgresFactory", "asyncpg_server_settings", "statement_timeout_ms"]


def statement_timeout_ms(seconds: float) -> int:
    """PostgreSQL's unit; 0 is PostgreSQL's "no bound"."""
    return max(0, round(seconds * 1000))


def asyncpg_server_settings(seconds: float) -> dict[str, str]:
    """`server_settings` for asyncpg.connect / create_pool."""
    return {"statement_timeout": str(statement_timeout_ms(seconds))}


class BoundedPostgresFactory(PostgresFactory):
    """eventsourcing's PostgreSQL factory whose connections carry a statement timeout."""

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        raw = self.env.get(STATEMENT_TIMEOUT_ENV) or "0"
        try:
            seconds = float(raw)
        except ValueError:
            raise OSError(f"{STATEMENT_TIMEOUT_ENV} must be a number of seconds, got {raw!r}") from None
        if seconds > 0:
            # The pool opens lazily (on the first query), so every connection it makes
            # carries the option.
            kwargs = self.datastore.pool.kwargs
            assert isinstance(kwargs, dict)
            kwargs["options"] = f"-c statement_timeout={statement_timeout_ms(seconds)}"
