"""The audit trail is a hash chain over the event store: verification recomputes it and
names the first position where the store and the trail disagree."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from collections.abc import AsyncIterator

import asyncpg
import pytest

from thidua.projections import audit, audit_check, evidence_files, processes, queries
from thidua.projections.audit import verify
from thidua.bootstrap import verify_audit
from thidua.projections.codec import EVENTS
from thidua.projections.projector import Projector
from tests.integration.projection_conftest import (  # noqa: F401  (fixtures)
    World,
    head_of,
    scratch_app,
    scratch_database,
)
from thidua.dburl import asyncpg_dsn
from thidua.settings import Settings


@pytest.fixture(scope="module")
def audited_store(scratch_database, scratch_app) -> str:
    world = World(scratch_app)
    for k in range(30):
        world.lifecycle(world.assign(k), k)
    world.save()
    return scratch_database


@pytest.fixture
async def conn(audited_store) -> AsyncIterator[asyncpg.Connection]:
    projector = Projector(audited_store)
    await projector.catch_up()
    await projector.close()
    connection = await asyncpg.connect(asyncpg_dsn(audited_store))
    yield connection
    await connection.close()


async def position_of(conn: asyncpg.Connection, event_type: str, nth: int = 0) -> int:
    rows = await conn.fetch("SELECT position FROM audit_log WHERE event_type = $1 ORDER BY position", event_type)
    return rows[nth]["position"]


async def assert_untouched(conn: asyncpg.Connection) -> None:
    verdict = await queries.verify_audit(conn)
    head = await conn.fetchrow("SELECT position, hash FROM audit_log ORDER BY position DESC LIMIT 1")
    count = await conn.fetchval("SELECT count(*) FROM audit_log")
    assert verdict == {"ok": True, "checked": count, "head_hash": head["hash"], "first_bad_position": None,
                       "files": {"checked": verdict["files"]["checked"], "bad": []}}


async def assert_first_bad(conn: asyncpg.Connection, position: int) -> None:
    verdict = await queries.verify_audit(conn)
    assert verdict["ok"] is False
    assert verdict["first_bad_position"] == position
    # everything before the bad position was checked, and the head is the last good hash
    before = await conn.fetchrow(
        "SELECT count(*) AS n, (SELECT hash FROM audit_log WHERE position < $1 ORDER BY position DESC LIMIT 1) AS h "
        "FROM audit_log WHERE position < $1",
        position,
    )
    assert verdict["checked"] == before["n"]
    assert verdict["head_hash"] == before["h"]


async def test_an_untouched_store_verifies(conn, audited_store):
    await assert_untouched(conn)
    # `thidua audit verify` is synchronous (it runs its own event loop)
    verdict = await asyncio.to_thread(verify_audit, Settings(database_url=audited_store))
    assert verdict["ok"] is True


async def test_a_changed_stored_event_is_named(conn):
    position = await position_of(conn, "Blocked", 7)
    state = await conn.fetchval(f"SELECT state FROM {EVENTS} WHERE notification_id = $1", position)
    forged = state.replace("thiếu kinh phí".encode(), "đủ kinh phí".encode())
    assert forged != state
    await conn.execute(f"UPDATE {EVENTS} SET state = $2 WHERE notification_id = $1", position, forged)
    try:
        await assert_first_bad(conn, position)
    finally:
        await conn.execute(f"UPDATE {EVENTS} SET state = $2 WHERE notification_id = $1", position, state)
    await assert_untouched(conn)


async def test_the_checking_processes_name_the_first_bad_position_in_either_part(conn, audited_store, caplog):
    # From a DSN with split_min=1 the trail is checked by `CHECKERS` processes, a part each:
    # a row changed in the first part or in the last is named as one process names it.
    total = await conn.fetchval("SELECT count(*) FROM audit_log")
    early = await conn.fetchval("SELECT min(position) FROM audit_log WHERE event_type = 'Started'")
    late = await conn.fetchval("SELECT max(position) FROM audit_log WHERE event_type = 'Started'")
    assert early < total // 2 < late
    for position in (late, early):
        original = await conn.fetchval("SELECT actor_role FROM audit_log WHERE position = $1", position)
        await conn.execute("UPDATE audit_log SET actor_role = 'secretariat' WHERE position = $1", position)
        try:
            verdict = await verify(audited_store, split_min=1)
            before = await conn.fetchval("SELECT count(*) FROM audit_log WHERE position < $1", position)
            assert (verdict["ok"], verdict["first_bad_position"], verdict["checked"]) == (False, position, before)
        finally:
            await conn.execute("UPDATE audit_log SET actor_role = $2 WHERE position = $1", position, original)
    verdict = await verify(audited_store, split_min=1)
    assert (verdict["ok"], verdict["checked"]) == (True, total)
    assert "verifying process failed" not in caplog.text  # the processes checked, not this one


async def test_parts_handed_out_one_at_a_time_name_the_first_bad_position(conn, audited_store, monkeypatch, caplog):
    # Parts of a few events, handed out to the checking processes as they answer: each
    # part continues the chain from the trail's row before it, a tampered row in a middle
    # part is named with every row before it counted, and a bad part stops the handing out.
    monkeypatch.setattr(audit, "MIN_PART", 7)
    asked = []

    async def ask(self, line):
        asked.append(self)
        return await real_ask(self, line)

    real_ask = processes.Child.ask
    monkeypatch.setattr(processes.Child, "ask", ask)
    total = await conn.fetchval("SELECT count(*) FROM audit_log")
    verdict = await verify(audited_store, split_min=1)
    assert (verdict["ok"], verdict["checked"], verdict["first_bad_position"]) == (True, total, None)
    assert len(asked) > 2 * audit.CHECKERS and len(set(asked)) == audit.CHECKERS  # many parts, every process
    positions = [await position_of(conn, "Started", nth) for nth in (3, 11, 20)]
    originals = {p: await conn.fetchval("SELECT reason FROM audit_log WHERE position = $1", p) for p in positions}
    try:
        for position in reversed(positions):  # the last first: each run names the earliest tampered so far
            await conn.execute("UPDATE audit_log SET reason = 'forged' WHERE position = $1", position)
            verdict = await verify(audited_store, split_min=1)
            before = await conn.fetchval("SELECT count(*) FROM audit_log WHERE position < $1", position)
            assert (verdict["ok"], verdict["first_bad_position"], verdict["checked"]) == (False, position, before)
    finally:
        for position, reason in originals.items():
            await conn.execute("UPDATE audit_log SET reason = $2 WHERE position = $1", position, reason)
    assert "verifying process failed" not in caplog.text


async def test_a_part_whose_process_died_is_checked_here(conn, audited_store, monkeypatch, caplog):
    # A checking process that answers nothing (killed, crashed): its part is checked by
    # the verifying process itself, and the verdict is the same.
    monkeypatch.setattr(audit, "MIN_PART", 50)
    asked = []

    async def dies(self, line):  # the second part asked: the process is killed first
        asked.append(line)
        if len(asked) == 2:
            self.process.kill()
        return await real_ask(self, line)

    real_ask = processes.Child.ask
    monkeypatch.setattr(processes.Child, "ask", dies)
    total = await conn.fetchval("SELECT count(*) FROM audit_log")
    verdict = await verify(audited_store, split_min=1)
    assert (verdict["ok"], verdict["checked"], verdict["first_bad_position"]) == (True, total, None)
    assert "verifying process failed" in caplog.text and len(asked) >= 2


async def test_pages_come_in_position_order_whatever_the_plan(conn):
    # The page query has no ORDER BY (its full join would sort every page): with the merge
    # join turned off PostgreSQL hashes, and a trail row whose event is gone comes last in
    # its page; the check still names it at its position.
    await conn.execute("SET enable_mergejoin = off")
    try:
        plan = "\n".join(r[0] for r in await conn.fetch("EXPLAIN " + audit_check._PAGE_SQL, 0, 10**6))
        assert "Hash Full Join" in plan
        await assert_untouched(conn)
        position = await position_of(conn, "Completed", 2)
        row = await conn.fetchrow(f"DELETE FROM {EVENTS} WHERE notification_id = $1 RETURNING *", position)
        try:
            rows = await conn.fetch(audit_check._PAGE_SQL, 0, 10**6)
            assert rows[-1]["position"] == position  # (as PostgreSQL gives them)
            await assert_first_bad(conn, position)
        finally:
            await conn.execute(
                f"INSERT INTO {EVENTS} (originator_id, originator_version, topic, state, notification_id) "
                "VALUES ($1, $2, $3, $4, $5)",
                row["originator_id"], row["originator_version"], row["topic"], row["state"], row["notification_id"],
            )
    finally:
        await conn.execute("RESET enable_mergejoin")
    await assert_untouched(conn)


async def test_a_long_answer_of_a_second_process_is_read_whole():
    # A checker's answer names the evidence files of its part: far more than asyncio's
    # default line limit at the country's size. (json.tool answers line for line.)
    child = await processes.start("json.tool", ["--json-lines", "--compact"], {"PYTHONUNBUFFERED": "1"}, stdin=True)
    try:
        files = {f"{n:064x}": n for n in range(5000)}
        answer = await child.ask(json.dumps(files).encode() + b"\n")
        assert len(answer) > 1 << 16 and json.loads(answer) == files
        child.close_input()
        assert await child.result() == b""
    finally:
        await child.stop()


async def test_a_deleted_audit_row_is_named(conn):
    position = await position_of(conn, "Completed", 3)
    row = await conn.fetchrow("DELETE FROM audit_log WHERE position = $1 RETURNING *", position)
    try:
        await assert_first_bad(conn, position)
    finally:
        columns = list(row.keys())
        await conn.execute(
            f"INSERT INTO audit_log ({', '.join(columns)}) VALUES ({', '.join(f'${i + 1}' for i in range(len(columns)))})",
            *row.values(),
        )
    await assert_untouched(conn)


async def test_two_swapped_events_are_named_at_the_first(conn):
    first, second = await position_of(conn, "Started", 4), await position_of(conn, "Escalated", 9)
    assert first < second

    async def swap() -> None:
        async with conn.transaction():
            await conn.execute(f"UPDATE {EVENTS} SET notification_id = -1 WHERE notification_id = $1", first)
            await conn.execute(f"UPDATE {EVENTS} SET notification_id = $1 WHERE notification_id = $2", first, second)
            await conn.execute(f"UPDATE {EVENTS} SET notification_id = $1 WHERE notification_id = -1", second)

    await swap()
    try:
        await assert_first_bad(conn, first)
    finally:
        await swap()
    await assert_untouched(conn)


async def test_a_deleted_stored_event_is_named(conn):
    position = await position_of(conn, "Resolved", 2)
    row = await conn.fetchrow(f"DELETE FROM {EVENTS} WHERE notification_id = $1 RETURNING *", position)
    try:
        await assert_first_bad(conn, position)
    finally:
        await conn.execute(
            f"INSERT INTO {EVENTS} (originator_id, originator_version, topic, state, notification_id) "
            "VALUES ($1, $2, $3, $4, $5)",
            row["originator_id"], row["originator_version"], row["topic"], row["state"], row["notification_id"],
        )
    await assert_untouched(conn)


async def test_an_audit_row_that_names_another_actor_or_reason_is_named(conn):
    position = await position_of(conn, "Cancelled", 1)
    original = await conn.fetchrow("SELECT actor_name, reason FROM audit_log WHERE position = $1", position)
    await conn.execute("UPDATE audit_log SET actor_name = 'someone else' WHERE position = $1", position)
    try:
        await assert_first_bad(conn, position)
    finally:
        await conn.execute("UPDATE audit_log SET actor_name = $2 WHERE position = $1", position,
                           original["actor_name"])
    await conn.execute("UPDATE audit_log SET reason = 'no reason' WHERE position = $1", position)
    try:
        await assert_first_bad(conn, position)
    finally:
        await conn.execute("UPDATE audit_log SET reason = $2 WHERE position = $1", position, original["reason"])
    await assert_untouched(conn)


async def test_an_audit_row_that_shows_other_changes_or_another_request_is_named(conn):
    position = await position_of(conn, "Blocked", 1)
    original = await conn.fetchrow("SELECT changes::text AS changes, request_id FROM audit_log WHERE position = $1",
                                   position)
    tampered = [
        '{"reason": "thiếu kinh phí", "help_needed": "nothing"}',  # a value changed
        '{"reason": "thiếu kinh phí"}',  # a change left out
        '{"reason": "thiếu kinh phí", "help_needed": null, "extra": 1}',  # one added
    ]
    for changes in tampered:
        await conn.execute("UPDATE audit_log SET changes = $2::json WHERE position = $1", position, changes)
        try:
            await assert_first_bad(conn, position)
        finally:
            await conn.execute("UPDATE audit_log SET changes = $2::json WHERE position = $1", position,
                               original["changes"])
    await conn.execute("UPDATE audit_log SET request_id = 'req-elsewhere' WHERE position = $1", position)
    try:
        await assert_first_bad(conn, position)
    finally:
        await conn.execute("UPDATE audit_log SET request_id = $2 WHERE position = $1", position,
                           original["request_id"])
    await assert_untouched(conn)


async def test_audit_entries_say_who_did_what_when_and_why(conn):
    position = await position_of(conn, "Blocked", 0)
    entry = (await queries.list_audit(conn, after_position=position - 1, limit=1))["items"][0]
    assert entry["position"] == position
    assert entry["event_type"] == "Blocked" and entry["aggregate_type"] == "target"
    assert entry["actor"]["role"] == "unit_head"
    assert entry["reason"] == "thiếu kinh phí"
    assert entry["changes"] == {"reason": "thiếu kinh phí", "help_needed": None}
    assert entry["command_id"] and entry["occurred_at"].startswith("2022-")
    previous = (await queries.list_audit(conn, after_position=position - 2, limit=1))["items"][0]
    assert entry["prev_hash"] == previous["hash"]


async def test_the_files_the_events_reference_are_rehashed_in_either_process(conn, audited_store, scratch_app):
    # (last in this module: the file stays referenced by the store it shares)
    content = b"%PDF-1.7\n" + os.urandom(3000)
    digest = hashlib.sha256(content).hexdigest()
    await evidence_files.ensure_tables(conn)
    await conn.execute(f"INSERT INTO {evidence_files.FILES} (sha256, size, content_type, chunks) VALUES ($1, $2, $3, 1)",
                       digest, len(content), "application/pdf")
    await conn.execute(f"INSERT INTO {evidence_files.CHUNKS} (sha256, seq, data) VALUES ($1, 0, $2)", digest, content)
    world = World(scratch_app)
    target = world.assign(0)
    target.attach_evidence(world.cmd(head_of(target.unit_id)), sha256=digest, name="x.pdf", size=len(content),
                           content_type="application/pdf")
    position = world.save()
    projector = Projector(audited_store)
    await projector.catch_up()
    await projector.close()
    # one process (a connection), and two (the file's event in the second one's part)
    for verdict in (await verify(conn), await verify(audited_store, split_min=1)):
        assert verdict["ok"] is True and verdict["files"] == {"checked": 1, "bad": []}
    await conn.execute(f"UPDATE {evidence_files.CHUNKS} SET data = $2 WHERE sha256 = $1", digest, content[:-1] + b"!")
    try:
        for verdict in (await verify(conn), await verify(audited_store, split_min=1)):
            assert verdict["ok"] is False and verdict["first_bad_position"] is None
            assert verdict["files"] == {"checked": 1, "bad": [{"sha256": digest, "position": position,
                                                                "problem": "changed"}]}
    finally:
        await conn.execute(f"UPDATE {evidence_files.CHUNKS} SET data = $2 WHERE sha256 = $1", digest, content)
    await assert_untouched(conn)
