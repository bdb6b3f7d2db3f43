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

The factory's recorders also write their events without psycopg's pipeline mode. With it
(eventsourcing's insert: LOCK TABLE, NOTIFY, INSERT, then a sync), a save of megabytes
(an evaluation round, an import's batch) whose LOCK TABLE had to wait hung for good:
while the server waited on the lock it read nothing, the socket filled, psycopg left the
rest of the INSERT in libpq's output buffer and went on to wait for results, and the
server, lock granted, waited for the rest of the INSERT (`ClientRead`), which never came.
The statement timeout above did not end it. tests/integration/test_event_store_large_save.py
holds a save on the lock that way. Without the pipeline each statement is sent whole
before its result is read; on a local server that costs no more than the pipeline did
(docs/benchmarks.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresFactory, PostgresProcessRecorder
from eventsourcing.utils import retry

from thidua.dburl import STATEMENT_TIMEOUT_ENV

__all__ = ["STATEMENT_TIMEOUT_ENV", "BoundedPostgresFactory", "UnpipelinedApplicationRecorder",
           "UnpipelinedProcessRecorder", "asyncpg_server_settings", "statement_timeout_ms"]


def statement_timeout_ms(seconds: float) -> int:
    """PostgreSQL's unit; 0 is PostgreSQL's "no bound"."""
    return max(0, round(seconds * 1000))


def asyncpg_server_settings(seconds: float) -> dict[str, str]:
    """`server_settings` for asyncpg.connect / create_pool."""
    return {"statement_timeout": str(statement_timeout_ms(seconds))}


class _UnpipelinedInsert(PostgresApplicationRecorder):
    """eventsourcing's insert_events, the same statements in the same transaction, each
    sent and answered in turn rather than pipelined (see the module's docstring)."""

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        if self.datastore.enable_db_functions:
            return super().insert_events(stored_events, **kwargs)
        notification_ids: Sequence[int] | None = None
        with self.datastore.get_connection() as conn, conn.transaction():
            with conn.cursor() as curs:
                self._insert_events(curs, stored_events, **kwargs)  # the process recorder's tracking row
            if stored_events:
                with conn.cursor() as curs:
                    self._insert_stored_events(curs, stored_events, **kwargs)
                    notification_ids = self._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        return notification_ids


class UnpipelinedApplicationRecorder(_UnpipelinedInsert):
    pass


class UnpipelinedProcessRecorder(_UnpipelinedInsert, PostgresProcessRecorder):
    pass


class BoundedPostgresFactory(PostgresFactory):
    """eventsourcing's PostgreSQL factory whose connections carry a statement timeout and
    whose recorders insert without pipeline mode."""

    application_recorder_class = UnpipelinedApplicationRecorder
    process_recorder_class = UnpipelinedProcessRecorder

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
