"""A save of megabytes whose LOCK TABLE has to wait for another writer completes once the
lock is granted. Through psycopg's pipeline (eventsourcing's own insert) it hung for good:
the server, waiting on the lock, read nothing; psycopg left the rest of the INSERT in
libpq's output buffer and waited for results; the server, lock granted, waited for the
rest (`ClientRead`). thidua's factory inserts without the pipeline (thidua.statement_timeout).
The save runs in a thread joined with a bound, so a regression fails instead of hanging."""

from __future__ import annotations

import os
import threading
import time
import uuid

import psycopg
from eventsourcing.persistence import StoredEvent

from thidua.dburl import asyncpg_dsn
from thidua.domain.application import EVENTS_TABLE
from thidua.event_store import domain_application
from thidua.statement_timeout import UnpipelinedApplicationRecorder

# More than the socket buffers hold on loopback, so that part of the INSERT is still in
# libpq's buffer when the server starts reading again (random: no compression helps).
PAYLOAD_BYTES = 20_000_000


def _wait_for_lock_waiter(conn: psycopg.Connection, database: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'",
                           (database,)).fetchone()
        if row and row[0]:
            return
        time.sleep(0.05)
    raise AssertionError("the save never waited on the events table's lock")


def test_a_large_save_that_waited_for_the_table_lock_completes(database_url):
    app = domain_application(database_url, {"POSTGRES_LOCK_TIMEOUT": "0"})
    try:
        recorder = app.recorder
        assert isinstance(recorder, UnpipelinedApplicationRecorder)
        event = StoredEvent(originator_id=uuid.uuid4(), originator_version=1, topic="tests:Large",
                            state=os.urandom(PAYLOAD_BYTES))
        outcome: dict[str, object] = {}

        def save() -> None:
            try:
                outcome["ids"] = recorder.insert_events([event])
            except Exception as exc:  # reported by the assertion below
                outcome["error"] = exc

        dsn = asyncpg_dsn(database_url)
        with psycopg.connect(dsn) as holder, psycopg.connect(dsn, autocommit=True) as watcher:
            holder.execute(f"LOCK TABLE {EVENTS_TABLE} IN EXCLUSIVE MODE")
            saver = threading.Thread(target=save, daemon=True)
            saver.start()
            _wait_for_lock_waiter(watcher, holder.info.dbname)
            time.sleep(1)  # let the client fill the socket while the server reads nothing
            holder.rollback()  # the lock is released
        saver.join(120)
        assert not saver.is_alive(), "the save hung after the table lock was released"
        assert "error" not in outcome, outcome.get("error")
        ids = outcome["ids"]
        assert isinstance(ids, list) and len(ids) == 1
        stored = recorder.select_events(event.originator_id)
        assert [bytes(e.state) for e in stored] == [event.state]
    finally:
        app.close()
