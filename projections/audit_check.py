"""Checking the audit trail against the event store, page by page: the work of
`thidua.projections.audit.verify`, and the entry point of its checking processes.

PostgreSQL joins each event to its row, compares their identities (id, version, event
type) and recomputes the row's hash from its prev_hash and the event's canonical bytes
(`sealed`); Python follows the links (each prev_hash is the hash of the row before) and
compares who/when/what/why with the stored payload. Measured per 1,000 events (page
query and check, one process, on the shared 2 cores): hashing in Python instead
(`codec.chain_step` over the event's columns) cost the checking process ≈ 9 ms more
(three more columns to decode, the digests) and saved PostgreSQL ≈ 2.5; tried again
with PostgreSQL sending the bytes to hash as one column (no decoding, one `hashlib` call):
the checker's +2 ms still ate PostgreSQL's −1.5 to −2. PostgreSQL following the links
itself (a `lag` window) cost it ≈ 1.5 more than Python does.

This module imports only what checking needs (asyncpg and the codec's parsing): the
checking processes run it, and importing the domain cost each ≈ 0.5 s of CPU before
its first page.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sys
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from operator import itemgetter
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

_from_iso = datetime.fromisoformat
_position = itemgetter(0)

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

# One page of the store and of the trail, joined on the position, in position order (an
# event without its row or a row without its event: the other's columns are NULL).
# `sealed`: the row names this event and its hash is sha256(its prev_hash || the event's
# canonical bytes). A full join, so that a trail row without an event shows up in the
# page itself (a count of the page's trail rows beside it cost PostgreSQL its 5,000
# visibility checks again); with no ORDER BY, which over a full join sorts every page:
# the merge join gives position order, and `Pager` checks it.
_PAGE_SQL = f"""
SELECT coalesce(e.notification_id, a.position) AS position,
       a.originator_id = e.originator_id AND a.aggregate_version = e.originator_version
         AND right(e.topic, length(a.event_type) + 1) = '.' || a.event_type
         AND a.hash = encode(sha256(decode(a.prev_hash, 'hex') || {_CANONICAL_SQL}), 'hex') AS sealed,
       e.state, a.prev_hash, a.hash,
       a.occurred_at, a.actor_id, a.actor_name, a.actor_role, a.command_id, a.reason,
       a.changes::text AS changes, a.request_id,
       e.topic LIKE '{evidence_files.REFERENCING_TOPICS}' AS references_file
FROM (SELECT * FROM {EVENTS} WHERE notification_id > $1 AND notification_id <= $2) e
FULL JOIN (SELECT * FROM public.audit_log WHERE position > $1 AND position <= $2) a
  ON a.position = e.notification_id
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
    per stored event, so the codec's `stored_instant` and `stored_reason` are inlined for
    the usual payloads (and called as they are for any other)."""
    try:
        get = data.get
        actor = get("actor")
        if type(actor) is dict and type(who := actor.get("_data_")) is dict:
            if not (row[6] == str(who["id"]) and row[7] == str(who["name"]) and row[8] == str(who["role"])):
                return False
        elif not (row[6] == row[7] == row[8] == "unknown"):
            return False
        when = get("occurred_at")
        if type(when) is dict:
            when = when.get("_data_")
        when = _from_iso(when) if type(when) is str else stored_instant(get("timestamp"))
        if when != row[5] or (get("command_id") or "") != row[9] or get("request_id") != row[12]:
            return False
        # The first non-empty of the three, when it is a string, is `stored_reason`'s answer.
        reason = get("reason") or get("directive") or get("note")
        if (reason if type(reason) is str else stored_reason(data)) != row[10]:
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

    def _next_task(self) -> asyncio.Task[list[Any]] | None:
        if self.after >= self.bound:
            return None
        lo, hi = self.after, min(self.after + self.page, self.bound)
        self.after = hi
        conn = self.conns[self.turn % len(self.conns)]
        self.turn += 1
        return asyncio.ensure_future(self._read(conn, lo, hi))

    async def _read(self, conn: asyncpg.Connection, lo: int, hi: int) -> list[Any]:
        """The page's rows in position order."""
        rows = await conn.fetch(_PAGE_SQL, lo, hi)
        positions = [r[0] for r in rows]
        if positions != sorted(positions):  # (another plan than the merge join)
            rows.sort(key=_position)
        return rows

    async def __aiter__(self) -> AsyncIterator[list[Any]]:
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
    async for rows in pages:
        for i, row in enumerate(rows):
            if i % 500 == 499:
                await asyncio.sleep(0)  # let the connection reading ahead drain its socket
            position = row[0]
            if not row[1] or row[3] != head_hex:
                return checked, position  # no audit row or no event, a row not sealing its event, another link
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
    return checked, None


# --------------------------------------------------------------- the checking processes
DSN_ENV = "THIDUA_VERIFY_DSN"  # their database (not on their command line, which `ps` shows)


def assignment(after: int, bound: int, snapshot: str, plain_store: bool) -> bytes:
    """A line for a checking process: check (after, bound] in `snapshot`
    (`plain_store`: the store has neither cipher nor compressor). Its answer is a line
    `{"checked", "first_bad", "files"}` (as `check` says)."""
    return json.dumps({"after": after, "bound": bound, "snapshot": snapshot, "plain": plain_store}).encode() + b"\n"


async def _checker_main(page: int = 5000) -> None:
    """Connect, then check each part the parent sends (one JSON line each, on standard
    input) and answer each with a line, until the input ends. The parent starts this
    process before the snapshot exists (the two starts overlap) and hands the parts out
    as the processes finish them (neither waits for the other at the end)."""
    dsn = os.environ[DSN_ENV]
    conns = list(await asyncio.gather(asyncpg.connect(dsn), asyncpg.connect(dsn)))
    try:
        snapshot = None
        payload: Callable[[bytes], dict[str, Any]] | None = None
        for line in sys.stdin.buffer:  # blocking between parts: nothing else runs meanwhile
            part = json.loads(line)
            if snapshot is None:
                snapshot = str(part["snapshot"])
                begin = f"BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT '{snapshot}'"
                await asyncio.gather(*(c.execute(begin) for c in conns))
                payload = payload_reader(bool(part["plain"]))
            elif part["snapshot"] != snapshot:
                raise ValueError("every part is checked in the snapshot of the first")
            assert payload is not None
            files: dict[str, int] = {}
            checked, first_bad = await check(Pager(conns, int(part["bound"]), page, after=int(part["after"])),
                                             payload, files)
            sys.stdout.write(json.dumps({"checked": checked, "first_bad": first_bad, "files": files}) + "\n")
            sys.stdout.flush()
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

    processes.die_with_parent()
    asyncio.run(_checker_main())
