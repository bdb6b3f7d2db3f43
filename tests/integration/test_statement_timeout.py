"""A statement held up longer than THIDUA_STATEMENT_TIMEOUT fails with PostgreSQL's clear
"canceling statement due to statement timeout" and writes nothing (issue 15, item 1):
on the event store's write connections (the API's and the worker's domain application)
and on the API's asyncpg pool. The stall is made as in test_postgres_stall.py: another
connection holds the events table's lock; the lock timeout is lifted so that only the
statement timeout can end the wait."""

from __future__ import annotations

import asyncpg
import psycopg
import pytest
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import PersistenceError

from thidua.bootstrap import api_connection_pool
from thidua.dburl import asyncpg_dsn
from thidua.domain.application import EVENTS_TABLE
from thidua.event_store import domain_application
from thidua.settings import Settings
from thidua.statement_timeout import STATEMENT_TIMEOUT_ENV

BOUND_SECONDS = 1


class Note(Aggregate):
    """Two events in one save: a half-written save would leave one of them behind."""

    @event("Written")
    def __init__(self, text: str) -> None:
        self.text = text

    @event("Amended")
    def amend(self, text: str) -> None:
        self.text = text


def stored_events_of(database_url: str, originator_id: object) -> int:
    with psycopg.connect(asyncpg_dsn(database_url)) as conn:
        row = conn.execute(f"SELECT count(*) FROM {EVENTS_TABLE} WHERE originator_id = %s",
                           (originator_id,)).fetchone()
    assert row is not None
    return int(row[0])


def test_an_event_store_write_held_up_longer_than_the_bound_fails_and_writes_nothing(database_url):
    app = domain_application(database_url, {"POSTGRES_LOCK_TIMEOUT": "0", STATEMENT_TIMEOUT_ENV: str(BOUND_SECONDS)})
    try:
        note = Note("bản nháp")
        note.amend("bản sửa")
        with psycopg.connect(asyncpg_dsn(database_url)) as stall:
            stall.execute(f"LOCK TABLE {EVENTS_TABLE} IN ACCESS EXCLUSIVE MODE")
            with pytest.raises(PersistenceError, match="statement timeout"):
                app.save(note)
            stall.rollback()  # the stall ends
        assert stored_events_of(database_url, note.id) == 0

        # Once the stall is over the same connections write again, both events of a save.
        later = Note("bản nháp")
        later.amend("bản sửa")
        app.save(later)
        assert stored_events_of(database_url, later.id) == 2
        assert app.repository.get(later.id).text == "bản sửa"
    finally:
        app.close()


def test_the_event_store_connections_carry_the_configured_bound(database_url):
    app = domain_application(database_url, {STATEMENT_TIMEOUT_ENV: "2.5"})
    try:
        with app.recorder.datastore.transaction(commit=False) as curs:
            curs.execute("SHOW statement_timeout")
            assert curs.fetchone()["statement_timeout"] == "2500ms"
    finally:
        app.close()


async def test_an_api_pool_statement_held_up_longer_than_the_bound_fails_and_writes_nothing(database_url):
    pool = await api_connection_pool(database_url, Settings(statement_timeout=BOUND_SECONDS))
    try:
        async with pool.acquire() as conn:
            await conn.execute("CREATE TABLE IF NOT EXISTS statement_timeout_probe (n int)")
            await conn.execute("TRUNCATE statement_timeout_probe")
        with psycopg.connect(asyncpg_dsn(database_url)) as stall:
            stall.execute("LOCK TABLE statement_timeout_probe IN ACCESS EXCLUSIVE MODE")
            async with pool.acquire() as conn:
                with pytest.raises(asyncpg.QueryCanceledError, match="statement timeout"):
                    async with conn.transaction():
                        await conn.execute("INSERT INTO statement_timeout_probe VALUES (1)")
                        await conn.execute("INSERT INTO statement_timeout_probe VALUES (2)")
            stall.rollback()
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM statement_timeout_probe") == 0
            await conn.execute("DROP TABLE statement_timeout_probe")
    finally:
        await pool.close()
