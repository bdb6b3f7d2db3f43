"""The hash-chained audit trail: its projection and its verification.

Each stored event gets one `audit_log` row with
`hash = sha256(prev_hash || canonical bytes of the stored event)` where the canonical
bytes hold its position, aggregate id, version, topic and stored state
(`thidua.projections.codec.canonical_event`). The row's who/when/what/why come from the
stored payload itself; `changes` is kept as the exact JSON text written (a `json`
column), so verification can compare text instead of re-parsing it.

Verification recomputes the chain from the event store, page by page in one REPEATABLE
READ snapshot (never the whole store in memory; the next page is read on a second
connection in the same snapshot while the current one is checked). The database
hashes each stored event's canonical bytes and checks the links between rows; Python
checks each row's who/when/what/why against the stored payload. The first position
where the store and the trail disagree is named.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from thidua.projections import evidence_files, processes
from thidua.projections.batch import BatchContext, Prepared, copy_rows
from thidua.projections.codec import (
    CHAIN_TAG,
    EVENTS,
    GENESIS_HASH,
    META_ATTRIBUTES,
    StoredDecoder,
    chain_step,
    dumps,
    parse_json,
    plain,
    stored_changes,
    stored_reason,
)
from thidua.projections.pipeline import Step
from thidua.projections.schema import PUBLIC, qident
from thidua.dburl import asyncpg_dsn

log = logging.getLogger("thidua.projections")

AUDIT_COLUMNS = (
    "position", "occurred_at", "recorded_at", "actor_id", "actor_name", "actor_role", "aggregate_type",
    "aggregate_id", "originator_id", "aggregate_version", "event_type", "campaign_id", "target_id", "unit_id",
    "changes", "reason", "command_id", "prev_hash", "hash", "request_id",
)


class StaleBatch(RuntimeError):
    """A batch prepared ahead no longer follows what is stored: prepare it again."""


class AuditProjection:
    name = "audit_log"
    needs_aggregates = False  # only where each event belongs: `Step.identity` may give it

    def __init__(self) -> None:
        self.head: tuple[int, str] | None = None  # (position, chain hash there) after the last prepared batch

    async def sync(self, conn: asyncpg.Connection, schema: str, start: int) -> None:
        self.head = (start, await _head_at(conn, schema, start))

    def prepare(self, batch: Prepared, steps: list[Step]) -> tuple[str, list[tuple[Any, ...]]] | None:
        if not steps:
            return None
        if self.head is None or self.head[0] != batch.start:
            raise StaleBatch(f"audit chain head not known at position {batch.start}")
        prev = head_hex = self.head[1]
        head = bytes.fromhex(head_hex)
        rows = []
        for step in steps:
            st = step.stored
            head = chain_step(head, st.position, st.originator_id, st.version, st.topic, st.state)
            digest = head.hex()
            rows.append(audit_row(step, head_hex, digest))
            head_hex = digest
        self.head = (batch.end, head_hex)
        return prev, rows

    async def write(self, ctx: BatchContext, prepared: tuple[str, list[tuple[Any, ...]]] | None) -> None:
        if prepared is None:
            return
        prev, rows = prepared
        # The chain continues from the stored head (checked: it was prepared from memory).
        if await _head_at(ctx.conn, ctx.schema, rows[0][0] - 1) != prev:
            self.head = None
            raise StaleBatch("the audit trail changed since this batch was prepared")
        await copy_rows(ctx.conn, ctx.schema, "audit_log", AUDIT_COLUMNS, rows)

    async def flush(self, ctx: BatchContext) -> bool:
        return False


async def _head_at(conn: asyncpg.Connection, schema: str, position: int) -> str:
    """The chain hash of the last audit row at or before `position`."""
    head = await conn.fetchval(
        f"SELECT hash FROM {qident(schema)}.audit_log WHERE position <= $1 ORDER BY position DESC LIMIT 1", position
    )
    return head or GENESIS_HASH


def _identity(step: Step) -> tuple[str, str | None, UUID | None, str | None]:
    """(aggregate_id, campaign_id, target_id, unit_id) as people know them."""
    if step.identity is not None:
        return step.identity  # type: ignore[return-value]
    agg, oid = step.aggregate, step.stored.originator_id
    if step.kind == "target" and step.after is not None:
        return str(oid), step.after.campaign_id, oid, step.after.unit_id
    if step.kind == "campaign":
        return agg.campaign_id, agg.campaign_id, None, getattr(step.event, "unit_id", None)
    if step.kind == "unit":
        return agg.unit_id, None, None, agg.unit_id
    if step.kind == "user":
        return agg.user_id, None, None, agg.unit_id
    return str(oid), None, None, None


def audit_row(step: Step, prev_hash: str, digest: str) -> tuple[Any, ...]:
    """The row of one event: who/what/why as stored (the raw payload, not a
    re-encoding of the domain object), when from the decoded event (the same instants,
    already parsed) or else from the payload, where as the aggregate (or the identity
    followed without it: `Step.identity`) says."""
    st, event = step.stored, step.event
    data = step.data if step.data is not None else _payload_of(step)
    if event is None:  # followed without decoding (thidua.projections.identity)
        recorded_at = _instant(data.get("timestamp"))
        occurred_at = _instant(data.get("occurred_at")) or recorded_at
    else:
        recorded_at = getattr(event, "timestamp", None)
        occurred_at = getattr(event, "occurred_at", None) or recorded_at
    actor = data.get("actor")
    actor = actor.get("_data_") if type(actor) is dict else None
    if type(actor) is dict:
        actor_id, actor_name, actor_role = str(actor["id"]), str(actor["name"]), str(actor["role"])
    else:
        actor_id = actor_name = actor_role = "unknown"
    aggregate_id, campaign_id, target_id, unit_id = _identity(step)
    return (
        st.position,
        occurred_at,
        recorded_at,
        actor_id,
        actor_name,
        actor_role,
        step.kind,
        aggregate_id,
        st.originator_id,
        st.version,
        step.event_type,
        campaign_id,
        target_id,
        unit_id,
        dumps(stored_changes(data)),
        stored_reason(data),
        data.get("command_id") or "",
        prev_hash,
        digest,
        data.get("request_id"),
    )


def _payload_of(step: Step) -> dict[str, Any]:
    return StoredDecoder().payload(step.stored.state)


def _instant(value: Any) -> datetime | None:
    if type(value) is dict:
        value = value.get("_data_")
    return datetime.fromisoformat(value) if type(value) is str else None


# ---------------------------------------------------------------------- verification
# The canonical bytes of `codec.canonical_event`, computed by PostgreSQL from the stored
# columns (same layout: tag, position, id, version, topic length and bytes, state length
# and bytes, big-endian), so the database hashes while Python checks the content.
_CANONICAL_SQL = (
    "'\\x" + CHAIN_TAG.hex() + "'::bytea || int8send(e.notification_id) || uuid_send(e.originator_id) "
    "|| int8send(e.originator_version::bigint) || int4send(length(convert_to(e.topic, 'UTF8'))) "
    "|| convert_to(e.topic, 'UTF8') "
    "|| int8send(octet_length(e.state)::bigint) || e.state"
)

# One page of the store with the trail's rows beside it, in position order. `sealed`
# says that the row names this event (id, version, event type), that its hash is
# sha256(its prev_hash || the event's canonical bytes) and that its prev_hash is the
# hash of the row before it (for the page's first row: the trail's last row before the
# page, itself checked with the page before). Python checks who/when/what/why against
# the stored payload, and notes the evidence files the events reference
# (`references_file`: checked after the chain, see `verify_connection`). `trail_rows` counts the trail's rows in the page: more than
# matched events means a row for an event that is not in the store.
_PAGE_SQL = f"""
SELECT e.notification_id, a.position,
       (a.originator_id = e.originator_id AND a.aggregate_version = e.originator_version
        AND right(e.topic, length(a.event_type) + 1) = '.' || a.event_type
        AND a.hash = encode(sha256(decode(a.prev_hash, 'hex') || {_CANONICAL_SQL}), 'hex')
        AND a.prev_hash = coalesce(lag(a.hash) OVER (ORDER BY e.notification_id),
              (SELECT t.hash FROM public.audit_log t WHERE t.position <= $1 ORDER BY t.position DESC LIMIT 1),
              '{GENESIS_HASH}')) AS sealed,
       e.state, a.occurred_at, a.actor_id, a.actor_name, a.actor_role, a.command_id, a.reason,
       a.changes::text AS changes,
       (SELECT count(*) FROM public.audit_log WHERE position > $1 AND position <= $2) AS trail_rows,
       a.request_id, e.topic LIKE '{evidence_files.REFERENCING_TOPICS}' AS references_file
FROM {EVENTS} e
LEFT JOIN public.audit_log a ON a.position = e.notification_id AND a.position > $1 AND a.position <= $2
WHERE e.notification_id > $1 AND e.notification_id <= $2
ORDER BY e.notification_id
"""
_ORPHAN_SQL = f"""
SELECT min(a.position) FROM public.audit_log a
WHERE a.position > $1 AND a.position <= $2
  AND NOT EXISTS (SELECT 1 FROM {EVENTS} e WHERE e.notification_id = a.position)
"""


def _content_matches(row: Any, data: dict[str, Any]) -> bool:
    """Who, when, what and why of the audit row are what the stored payload says
    (row: a `_PAGE_SQL` record, data: its parsed payload). Written for speed: it runs once
    per stored event."""
    try:
        actor = data.get("actor")
        actor = actor.get("_data_") if type(actor) is dict else None
        if type(actor) is dict:
            if not (row[5] == str(actor["id"]) and row[6] == str(actor["name"]) and row[7] == str(actor["role"])):
                return False
        elif not (row[5] == row[6] == row[7] == "unknown"):
            return False
        occurred_at = _instant(data.get("occurred_at")) or _instant(data.get("timestamp"))
        if occurred_at != row[4] or (data.get("command_id") or "") != row[8] or stored_reason(data) != row[9]:
            return False
        if data.get("request_id") != row[12]:
            return False
        return _changes_match(row[10], data)
    except Exception:  # an undecodable payload matches nothing
        return False


def _changes_match(text: str, data: dict[str, Any]) -> bool:
    """The row's `changes` (the JSON text `dumps(stored_changes(data))` wrote, or a jsonb
    column's reformatting of it) says what `stored_changes(data)` says: compared parsed,
    key by key, without building that dict (most values are plain scalars, equal as
    stored; wrapped and nested values are compared as `stored_changes` gives them)."""
    shown = parse_json(text)  # (text: the page query casts the column)
    if type(shown) is not dict:
        return False
    keys = 0
    for key, value in data.items():
        if key in META_ATTRIBUTES:
            continue
        keys += 1
        kind = type(value)
        if kind is dict or kind is list:
            value = plain(value)
        if key not in shown or shown[key] != value:
            return text == dumps(stored_changes(data))  # (values that do not survive JSON: NaN)
    return keys == len(shown) or text == dumps(stored_changes(data))


class _Pager:
    """Pages of `_PAGE_SQL` over (0, bound], the next one read on a second connection
    (same snapshot) while the current one is checked."""

    def __init__(self, conns: list[asyncpg.Connection], bound: int, page: int, after: int = 0) -> None:
        self.conns, self.bound, self.page = conns, bound, page
        self.after = after
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
        trail_rows = rows[0]["trail_rows"] if rows else await conn.fetchval(
            "SELECT count(*) FROM public.audit_log WHERE position > $1 AND position <= $2", lo, hi)
        matched = sum(1 for r in rows if r[1] is not None)
        orphan = await conn.fetchval(_ORPHAN_SQL, lo, hi) if trail_rows != matched else None
        return rows, orphan

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


# From this many events on, `verify(dsn)` checks the later part of the trail in a
# second process (its own CPU core) while this one checks the first part.
SPLIT_MIN = 50_000
_DSN_ENV = "THIDUA_VERIFY_DSN"  # the second process's database (not on its command line)


async def verify_connection(
    conn: asyncpg.Connection,
    *,
    page: int = 5000,
    helpers: list[asyncpg.Connection] | None = None,
    dsn: str | None = None,
    split_min: int = SPLIT_MIN,
) -> dict[str, Any]:
    """Recompute the chain over every position the audit projection has passed.
    `helpers`: further connections that read pages ahead in the same snapshot. With
    `dsn`, a trail of `split_min` events or more is checked by two processes, both in
    this transaction's snapshot."""
    helpers = helpers or []
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        bound = await conn.fetchval("SELECT position FROM public.projection_tracking WHERE name = 'audit_log'") or 0
        conns = [conn]
        split = bool(dsn) and bound >= split_min
        snapshot = await conn.fetchval("SELECT pg_export_snapshot()") if helpers or split else None
        for helper in helpers:
            await helper.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            await helper.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
            conns.append(helper)
        # The second process starts slower (imports), so it takes the smaller part.
        mid = bound * 62 // 100 if split else bound
        child = None
        if split and dsn and snapshot:
            child = await processes.start(
                __spec__.name, ["--check", str(mid), str(bound), "--snapshot", snapshot], {_DSN_ENV: dsn}
            )
        referenced: dict[str, int] = {}
        try:
            checked, first_bad = await _check(_Pager(conns, mid, page), referenced)
            if child is not None and first_bad is None:
                theirs = await _checker_result(child)
                child = None
                if theirs is None:  # the second process failed: check its part here
                    theirs = await _check(_Pager(conns, bound, page, after=mid), referenced), {}
                (their_checked, first_bad), their_files = theirs
                checked += their_checked
                for digest, position in their_files.items():
                    referenced.setdefault(digest, position)
        finally:
            if child is not None:
                await child.stop()
            for helper in helpers:
                if not helper.is_closed():
                    await helper.execute("ROLLBACK")
        # The head: the hash of the last row that verified (every row before the first
        # bad position verified, so it is the trail's own last row before it).
        upto = bound if first_bad is None else first_bad - 1
        head = await _head_at(conn, PUBLIC, upto) if checked else GENESIS_HASH
    # The chain covers each evidence file's digest; the files themselves are checked too:
    # those the pass above met, and those of events past it (or, when the chain broke
    # before its end, of every event).
    if first_bad is None:
        files = await evidence_files.verify_files(conn, referenced, after=bound)
    else:
        files = await evidence_files.verify_files(conn)
    return {**_result(first_bad is None and not files["bad"], checked, head, first_bad), "files": files}


async def _checker_result(child: processes.Child) -> tuple[tuple[int, int | None], dict[str, int]] | None:
    """((rows that verified, the first bad position), the files its events reference)."""
    try:
        found = json.loads(await child.result())
        files = {str(digest): int(position) for digest, position in found["files"].items()}
        return (int(found["checked"]), found["first_bad"]), files
    except (RuntimeError, ValueError, KeyError, TypeError, AttributeError) as exc:
        log.warning("the second verifying process failed: %s", exc)
        return None


async def _checker_main(after: int, bound: int, snapshot: str, page: int = 5000) -> dict[str, Any]:
    """The second process: check (after, bound] in the first one's snapshot."""
    dsn = os.environ[_DSN_ENV]
    conns = [await asyncpg.connect(dsn) for _ in range(2)]
    try:
        for c in conns:
            await c.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            await c.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
        files: dict[str, int] = {}
        checked, first_bad = await _check(_Pager(conns, bound, page, after=after), files)
        return {"checked": checked, "first_bad": first_bad, "files": files}
    finally:
        for c in conns:
            await c.close()


async def _check(pages: _Pager, files: dict[str, int] | None = None) -> tuple[int, int | None]:
    """(rows that verified, the first bad position or None). `files`: filled with the
    evidence files the verified events reference (digest -> first position)."""
    payload_of = StoredDecoder().payload
    checked = 0
    async for rows, orphan in pages:
        for i, row in enumerate(rows):
            if i % 500 == 499:
                await asyncio.sleep(0)  # let the connection reading ahead drain its socket
            position = row[0]
            if orphan is not None and orphan < position:
                return checked, orphan  # an audit row with no event
            if row[1] is None or not row[2]:
                return checked, position  # no audit row, or one that does not seal its event
            try:
                data = payload_of(row[3])
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


def _result(ok: bool, checked: int, head_hash: str, first_bad: int | None) -> dict[str, Any]:
    return {"ok": ok, "checked": checked, "head_hash": head_hash, "first_bad_position": first_bad}


async def verify(pool_or_dsn: Any, *, split_min: int = SPLIT_MIN) -> dict[str, Any]:
    """`{ok, checked, head_hash, first_bad_position}` from a DSN, a pool or a connection.
    `head_hash` is the chain hash at the last position that verified. From a DSN, a
    trail of `split_min` events or more is checked by two processes."""
    if isinstance(pool_or_dsn, str):
        dsn = asyncpg_dsn(pool_or_dsn)
        conn, helper = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
        try:
            return await verify_connection(conn, helpers=[helper], dsn=dsn, split_min=split_min)
        finally:
            await helper.close()
            await conn.close()
    if hasattr(pool_or_dsn, "acquire"):
        if getattr(pool_or_dsn, "get_max_size", lambda: 1)() < 2:
            async with pool_or_dsn.acquire() as conn:
                return await verify_connection(conn)
        async with pool_or_dsn.acquire() as conn, pool_or_dsn.acquire() as helper:
            return await verify_connection(conn, helpers=[helper])
    return await verify_connection(pool_or_dsn)


if __name__ == "__main__":  # the second process of `verify` (see verify_connection)
    parser = argparse.ArgumentParser(description="check part of the audit trail (internal)")
    parser.add_argument("--check", nargs=2, type=int, required=True, metavar=("AFTER", "BOUND"))
    parser.add_argument("--snapshot", required=True)
    args = parser.parse_args()
    processes.die_with_parent()
    print(json.dumps(asyncio.run(_checker_main(args.check[0], args.check[1], args.snapshot))))
