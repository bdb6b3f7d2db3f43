"""What a command's answer means during a PostgreSQL outage (issue 15, item 9; docs/api.md,
"503 and 202"):

- **503: not applied.** The API could not hand the command over (here: PostgreSQL gone
  before its checks). Nothing is stored later on its behalf.
- **202: handed over, outcome unknown.** The command reached its target's workflow, which
  retries the save until PostgreSQL answers: it may be stored later, once. Repeating the
  request with the same Idempotency-Key reads the outcome.

Before, both were a 503, and a 503 was sometimes stored minutes later.

The outage is real and its own: a throwaway PostgreSQL server, with the worker and the
projector as processes on it, whose database is made unreachable (every connection ended, new
ones refused) while a command is in flight, then reachable again.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from tests.databases import fresh_database
from tests.e2e.conftest import Person, make_person, register_unit, unique
from tests.e2e.test_resilience import served
from tests.integration.test_workflow_worker_crash import discard, start_worker_process
from thidua.api.idempotency import command_id_for
from thidua.bootstrap import build_api, create_user
from thidua.dburl import asyncpg_dsn
from thidua.embedded import EmbeddedPostgres
from thidua.event_store import domain_application
from thidua.settings import Settings
from thidua.workflows.client import TargetGateway, connect

ANSWER_WITHIN = timedelta(seconds=6)  # the API's wait for a workflow's answer in this test
OUTAGE_SECONDS = 12  # longer than that wait


@pytest.fixture
def throwaway_postgres() -> Iterator[str]:
    """A PostgreSQL server of this test's own (embedded): its outage touches nothing else."""
    work = Path(tempfile.mkdtemp(prefix="thdo", dir="/tmp"))  # short: the socket lives there
    server = EmbeddedPostgres(work / "pg").start()
    try:
        yield server.url
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture
def outage_stack(throwaway_postgres: str, temporal_address: str) -> Iterator[Settings]:
    """A database on that server with `thidua worker` and `thidua projector` running on it."""
    with fresh_database(throwaway_postgres, "thidua_outage") as url:
        settings = Settings(database_url=url, temporal_address=temporal_address, log_level="WARNING",
                            task_queue=f"outage-{secrets.token_hex(3)}")
        children = [start_worker_process(url, temporal_address, settings.task_queue, command=command)
                    for command in (("thidua.cli", "worker"), ("thidua.cli", "projector"))]
        try:
            yield settings
        finally:
            for child in children:
                discard(child)


class Outage:
    """The database unreachable: new connections refused, open ones ended."""

    def __init__(self, server_url: str, database_url: str) -> None:
        self.server_url = server_url
        self.dbname = psycopg.conninfo.conninfo_to_dict(asyncpg_dsn(database_url))["dbname"]

    def _admin(self, *statements: sql.Composable) -> None:
        with psycopg.connect(self.server_url, autocommit=True) as conn:
            for statement in statements:
                conn.execute(statement)

    def begin(self) -> None:
        name = sql.Identifier(self.dbname)
        self._admin(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(name),
                    sql.SQL("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = {}"
                            " AND pid <> pg_backend_pid()").format(sql.Literal(self.dbname)))

    def end(self) -> None:
        self._admin(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(sql.Identifier(self.dbname)))


def stored_command_ids(settings: Settings, tid: str) -> list[str]:
    app = domain_application(settings.database_url)
    try:
        return [e.command_id for e in app.repository.event_store.get(app.get_target(tid).id)]
    finally:
        app.close()


async def until(probe, timeout: float = 90.0):  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not (value := await probe()):
        assert asyncio.get_running_loop().time() < deadline, "not in time"
        await asyncio.sleep(0.5)
    return value


async def test_a_503_is_never_applied_and_a_202_is_applied_at_most_once_and_read_by_retrying(
    outage_stack: Settings, throwaway_postgres: str
) -> None:
    settings = outage_stack
    client = await connect(settings.temporal_address, settings.temporal_namespace)
    app = build_api(settings, gateway=TargetGateway(client, settings.task_queue, answer_timeout=ANSWER_WITHIN),
                    temporal_client=client)
    async with served(app) as http:
        made = await asyncio.to_thread(create_user, settings, name="Văn phòng", role="secretariat", unit_id=None)
        secretariat = Person(http, made["id"], made["role"], made["token"])
        unit = unique("phuong-dong-tam")
        await register_unit(secretariat, unit, "Phường Đống Đa")
        cid = unique("mat-dien")
        assert (await secretariat.post("/v1/campaigns", {
            "id": cid, "name": "Mất kết nối", "starts_on": "2022-01-01",
            "ends_on": (date.today() + timedelta(days=365)).isoformat()})).status_code == 201
        assigned = await secretariat.post(f"/v1/campaigns/{cid}/targets", {
            "key": unique("k"), "unit_id": unit, "title": "Chuyển đổi số", "area": "CĐS",
            "deadline": (date.today() + timedelta(days=90)).isoformat(), "points": 3})
        assert assigned.status_code == 201, assigned.text
        tid = assigned.json()["target"]["id"]
        head = await make_person(secretariat, name="Bí thư", role="unit_head", unit_id=unit)
        assert (await head.post(f"/v1/targets/{tid}/start", {})).status_code == 200

        def progress(key: str):  # type: ignore[no-untyped-def]
            return head.post(f"/v1/targets/{tid}/progress", {"note": key}, headers={"Idempotency-Key": key})

        outage = Outage(throwaway_postgres, settings.database_url)
        # A command in flight when PostgreSQL goes: held at its save by a lock on the events
        # table (the API's checks read other tables), then the database goes away.
        lock = psycopg.connect(asyncpg_dsn(settings.database_url))
        lock.execute("LOCK TABLE thidua_events IN EXCLUSIVE MODE")
        in_flight = asyncio.create_task(progress("trong-luc-mat"))
        await asyncio.sleep(2)
        assert not in_flight.done()
        outage.begin()  # ends the lock's connection too
        lock.close()
        try:
            during = await progress("khi-da-mat")
            assert during.status_code == 503, during.text
            assert during.headers["content-type"].startswith("application/problem+json")

            pending = await in_flight
            assert pending.status_code == 202, pending.text
            assert pending.json() == {"status": "pending", "command_id": command_id_for(head.id, "trong-luc-mat"),
                                      "detail": pending.json()["detail"]}
            assert int(pending.headers["Retry-After"]) >= 1
            await asyncio.sleep(max(0.0, OUTAGE_SECONDS - ANSWER_WITHIN.total_seconds() - 2))
        finally:
            outage.end()

        # The 202's command is stored once PostgreSQL is back (the workflow kept trying) ...
        handed = command_id_for(head.id, "trong-luc-mat")
        refused = command_id_for(head.id, "khi-da-mat")
        await until(lambda: asyncio.to_thread(lambda: handed in stored_command_ids(settings, tid)))
        # ... and the same request again reads its outcome, storing nothing more.
        retried = await until(lambda: _answered(progress("trong-luc-mat")))
        assert retried.status_code == 200, retried.text
        # The 503's command never is, however long one waits for a late save.
        await asyncio.sleep(5)
        ids = await asyncio.to_thread(stored_command_ids, settings, tid)
        assert ids.count(handed) == 1 and refused not in ids
        # Sent again, it is applied now, once.
        assert (await progress("khi-da-mat")).status_code == 200
        ids = await asyncio.to_thread(stored_command_ids, settings, tid)
        assert ids.count(handed) == 1 and ids.count(refused) == 1


async def _answered(request):  # type: ignore[no-untyped-def]
    """The response once it is no longer pending or unavailable (the stack is recovering)."""
    response = await request
    return response if response.status_code not in (202, 503) else None
