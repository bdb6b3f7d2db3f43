"""Checking the audit trail against the event store, page by page: the work of
`thidua.projections.audit.verify`, and the entry point of its checking processes.

PostgreSQL joins each event to its row, compares their identities (id, version, event
type) and recomputes the row's hash from its prev_hash and the event's canonical bytes
(`sealed`); Python follows the links (each prev_hash is the hash of the row before) and
compares who/when/what/why with the stored payload. Measured per 1,000 events (page
query and check, one process, on the shared 2 cores): hashing in Python instead
(`codec.chain_step` over the event's columns) cost the checking process ≈ 9 ms more
(three more columns to decode, the digests) and saved PostgreSQL ≈ 2.5; PostgreSQL
following the links itself (a `lag` window) cost it ≈ 1.5 more than Python does.

This module imports only what checking needs (asyncpg and the codec's parsing): the
checking processes run it, and importing the domain cost each ≈ 0.5 s of CPU before
its first page.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg

from thidua.projections import evidence_files
from thidua.projections.codec import (
    EVENTS,
    CHAIN_TAG,
    GENESIS_HASH,
    StoredDecoder,
    dumps,
    parse_json,
    stored_changes,
    stored_instant,
    stored_reason,
)

# The canonical bytes of `codec.canonical_event`, built by PostgreSQL from the stored
# columns (same layout: tag, position, id, version, topic length and bytes, state length
# and bytes, big-endian). The projection hashes with `codec.chain_step`, so a trail it
# wrote verifies only while the two agree (as every verification test checks).
_CANONICAL_SQL = (
    "'\\x" + CHAIN_TAG.hex() + "'::bytea || int8send(e.notification_id) || uuid_send(e.originator_id) "
    "|| int8send(e.originator_version::bigint) || int4send(length(convert_to(e.topic, 'UTF8'))) "
    "|| convert_to(e.topic, 'UTF8') "
    "|| int8send(octet_length(e.state)::bigint) || e.state"
)

# One page of the store with the trail's rows beside it, in position order (a row
# missing: its columns are NULL). `sealed`: the row names this event and its hash is
# sha256(its prev_hash || the event's canonical bytes).
_PAGE_SQL = f"""
SELECT e.notification_id,
       a.originator_id = e.originator_id AND a.aggregate_version = e.originator_version
         AND right(e.topic, length(a.event_type) + 1) = '.' || a.event_type
         AND a.hash = encode(sha256(decode(a.prev_hash, 'hex') || {_CANONICAL_SQL}), 'hex') AS sealed,
       e.state, a.prev_hash, a.hash,
       a.occurred_at, a.actor_id, a.actor_name, a.actor_role, a.command_id, a.reason,
       a.changes::text AS changes, a.request_id,
       e.topic LIKE '{evidence_files.REFERENCING_TOPICS}' AS references_file
FROM {EVENTS} e
LEFT JOIN public.audit_log a ON a.position = e.notification_id AND a.position > $1 AND a.position <= $2
WHERE e.notification_id > $1 AND e.notification_id <= $2
ORDER BY e.notification_id
"""
_TRAIL_ROWS_SQL = "SELECT count(*) FROM public.audit_log WHERE position > $1 AND position <= $2"
_ORPHAN_SQL = f"""
SELECT min(a.position) FROM public.audit_log a
WHERE a.position > $1 AND a.position <= $2
  AND NOT EXISTS (SELECT 1 FROM {EVENTS} e WHERE e.notification_id = a.position)
"""
# The chain hash the trail holds at or before a position: where a part's check starts.
HEAD_SQL = "SELECT hash FROM public.audit_log WHERE position <= $1 ORDER BY position DESC LIMIT 1"


def payload_reader(plain_store: bool) -> Callable[[bytes], dict[str, Any]]:
    """Stored state -> its JSON object. `plain_store` (neither cipher nor compressor
    configured, as `is_plain` says): parsed directly, without building the
    application's mapper (which imports the domain)."""
    if not plain_store:
        return StoredDecoder().payload

    def payload(state: bytes) -> dict[str, Any]:
        data = parse_json(state)
        if type(data) is not dict:
            raise ValueError("stored state is not a JSON object")
        return data

    return payload


def is_plain(decoder: StoredDecoder) -> bool:
    return not decoder.cipher and not decoder.compressor


def _content_matches(row: Any, data: dict[str, Any]) -> bool:
    """Who, when, what and why of the audit row are what the stored payload says
    (row: a `_PAGE_SQL` record, data: its parsed payload). Written for speed: it runs once
    per stored event."""
    try:
        actor = data.get("actor")
        actor = actor.get("_data_") if type(actor) is dict else None
        if type(actor) is dict:
            if not (row[6] == str(actor["id"]) and row[7] == str(actor["name"]) and row[8] == str(actor["role"])):
                return False
        elif not (row[6] == row[7] == row[8] == "unknown"):
            return False
        occurred_at = stored_instant(data.get("occurred_at")) or stored_instant(data.get("timestamp"))
        if occurred_at != row[5] or (data.get("command_id") or "") != row[9] or stored_reason(data) != row[10]:
            return False
        if data.get("request_id") != row[12]:
            return False
        return _changes_match(row[11], data)
    except Exception:  # an undecodable payload matches nothing
        return False


def _changes_match(text: str, data: dict[str, Any]) -> bool:
    """The row's `changes` (the JSON text `dumps(stored_changes(data))` wrote, or a jsonb
    column's reformatting of it) says what `stored_changes(data)` says: compared parsed
    (a dict comparison, in C), and only when that fails as the exact text (values that do
    not survive JSON, such as NaN, still match as written)."""
    shown = parse_json(text)  # (text: the page query casts the column)
    if type(shown) is not dict:
        return False
    changes = stored_changes(data)
    return shown == changes or text == dumps(changes)


class Pager:
    """Pages of `_PAGE_SQL` over (after, bound], the next one read on another connection
    (same snapshot) while the current one is checked."""

    def __init__(self, conns: list[asyncpg.Connection], bound: int, page: int, after: int = 0) -> None:
        self.conns, self.bound, self.page = conns, bound, page
        self.first = self.after = after
        self.turn = 0

    def _next_task(self) -> asyncio.Task[tuple[list[Any], int | None]] | None:
        if self.after >= self.bound:
            return None
        lo, hi = self.after, min(self.after + self.page, self.bound)
        self.after = hi
        conn = self.conns[self.turn % len(self.conns)]
        self.turn += 1
        return asyncio.ensure_future(self._read(conn, lo, hi))

    async def _read(self, conn: asyncpg.Connection, lo: int, hi: int) -> tuple[list[Any], int | None]:
        """The page's rows, and the first trail row in it that has no event (if any)."""
        rows = await conn.fetch(_PAGE_SQL, lo, hi)
        matched = sum(1 for r in rows if r[4] is not None)
        if await conn.fetchval(_TRAIL_ROWS_SQL, lo, hi) == matched:
            return rows, None
        return rows, await conn.fetchval(_ORPHAN_SQL, lo, hi)

    async def __aiter__(self) -> AsyncIterator[tuple[list[Any], int | None]]:
        task = self._next_task()
        try:
            while task is not None:
                rows = await task
                task = self._next_task()  # the database works on it while we check these
                yield rows
        finally:
            if task is not None:
                task.cancel()
                try:
                    await task
                except BaseException:
                    pass


async def check(
    pages: Pager, payload: Callable[[bytes], dict[str, Any]], files: dict[str, int] | None = None
) -> tuple[int, int | None]:
    """(rows that verified, the first bad position or None). `files`: filled with the
    evidence files the verified events reference (digest -> first position).

    A row verifies when it names its event, links to the row before it (its prev_hash
    is that row's hash; for the first row of the part, the trail's last hash before
    it, itself checked by whoever checks the part before), its hash is
    sha256(prev_hash || the event's canonical bytes), and its content is the payload's."""
    head_hex = await pages.conns[0].fetchval(HEAD_SQL, pages.first) or GENESIS_HASH
    checked = 0
    async for rows, orphan in pages:
        for i, row in enumerate(rows):
            if i % 500 == 499:
                await asyncio.sleep(0)  # let the connection reading ahead drain its socket
            position = row[0]
            if orphan is not None and orphan < position:
                return checked, orphan  # an audit row with no event
            if not row[1] or row[3] != head_hex:
                return checked, position  # no audit row, one that does not seal its event, or another link
            head_hex = row[4]
            try:
                data = payload(row[2])
            except Exception:  # an undecodable payload matches nothing
                return checked, position
            if not _content_matches(row, data):
                return checked, position
            if row[13] and files is not None:
                digest = evidence_files.referenced_digest(data)
                if digest is not None:
                    files.setdefault(digest, position)
            checked += 1
        if orphan is not None:
            return checked, orphan
    return checked, None


# --------------------------------------------------------------- the checking processes
DSN_ENV = "THIDUA_VERIFY_DSN"  # their database (not on their command line, which `ps` shows)


def command(after: int, bound: int, snapshot: str, plain_store: bool) -> list[str]:
    """A checking process's arguments: check (after, bound] in `snapshot`."""
    return ["--check", str(after), str(bound), "--snapshot", snapshot] + (["--plain"] if plain_store else [])


async def _checker_main(after: int, bound: int, snapshot: str, plain_store: bool, page: int = 5000) -> dict[str, Any]:
    dsn = os.environ[DSN_ENV]
    conns = [await asyncpg.connect(dsn) for _ in range(2)]
    try:
        for c in conns:
            await c.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            await c.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
        files: dict[str, int] = {}
        checked, first_bad = await check(Pager(conns, bound, page, after=after), payload_reader(plain_store), files)
        return {"checked": checked, "first_bad": first_bad, "files": files}
    finally:
        for c in conns:
            await c.close()


if __name__ == "__main__":  # a checking process of `audit.verify_connection`
    from thidua.projections import processes

    # Checking makes no reference cycles (rows and payloads are freed as soon as they are
    # checked), yet each page's thousands of records and dicts set off the cyclic
    # collector, whose full passes walk every object: ≈ 15% of the CPU per row. Here it is
    # off, after the imports are frozen out of its reach.
    gc.freeze()
    gc.disable()

    parser = argparse.ArgumentParser(description="check part of the audit trail (internal)")
    parser.add_argument("--check", nargs=2, type=int, required=True, metavar=("AFTER", "BOUND"))
    parser.add_argument("--snapshot", required=True)
    parser.add_argument("--plain", action="store_true", help="the store has neither cipher nor compressor")
    args = parser.parse_args()
    processes.die_with_parent()
    print(json.dumps(asyncio.run(_checker_main(args.check[0], args.check[1], args.snapshot, args.plain))))
