"""The hash-chained audit trail: its projection and its verification.

Each stored event gets one `audit_log` row with
`hash = sha256(prev_hash || canonical bytes of the stored event)` where the canonical
bytes hold its position, aggregate id, version, topic and stored state
(`thidua.projections.codec.canonical_event`). The row's who/when/what/why come from the
stored payload itself; `changes` is kept as the exact JSON text written (a `json`
column), so verification can compare text instead of re-parsing it.

Verification recomputes the chain from the event store, page by page in one REPEATABLE
READ snapshot (never the whole store in memory; the next page is read on a second
connection in the same snapshot while the current one is checked). The database joins
each stored event to its row and hashes the event's canonical bytes; Python follows the
links between rows and checks each row's who/when/what/why against the stored payload
(`audit_check`). From `SPLIT_MIN` events on, `CHECKERS` processes do it, taking parts
of the trail as they finish the one before. The first position where the store and the
trail disagree is named.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any
from uuid import UUID

import asyncpg

from thidua.projections import audit_check, evidence_files, processes
from thidua.projections.batch import BatchContext, Prepared, copy_rows
from thidua.projections.codec import (
    GENESIS_HASH,
    StoredDecoder,
    chain_step,
    dumps,
    stored_changes,
    stored_instant,
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
        recorded_at = stored_instant(data.get("timestamp"))
        occurred_at = stored_instant(data.get("occurred_at")) or recorded_at
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


# ---------------------------------------------------------------------- verification
# The pages and the per-row check are in `audit_check` (also the checking processes' module).


# From this many events on, `verify(dsn)` has the trail checked by `CHECKERS` processes
# of `audit_check` (a core each; Python runs one thread at a time), while this process,
# often a large one (the bench harness, a CLI with the domain imported), only hands out
# the parts and waits: the checkers import little and run without the cyclic garbage
# collector. The parts are handed out as the checkers finish them, large ones first
# (a `GUIDED_SHARE` of what is left, at least `MIN_PART` events), so that both end
# together: with two fixed halves one ended 0.1-0.6 s before the other, its core idle.
SPLIT_MIN = 50_000
CHECKERS = 2
MIN_PART = 10_000
GUIDED_SHARE = 4 * CHECKERS


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
    `dsn`, a trail of `split_min` events or more is checked by `CHECKERS` processes, all
    in this transaction's snapshot."""
    helpers = helpers or []
    children: list[processes.Child] = []
    try:
        if dsn and await _audited_upto(conn) >= split_min:
            # Started before the snapshot they check exists (they connect, then wait for
            # their first part): their start, ≈ 0.15 s of imports, overlaps this one's.
            for _ in range(CHECKERS):
                children.append(await processes.start(audit_check.__name__, [], {audit_check.DSN_ENV: dsn}, stdin=True))
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            bound = await _audited_upto(conn)
            conns = [conn]
            snapshot = await conn.fetchval("SELECT pg_export_snapshot()") if helpers or children else None
            plain_store = audit_check.is_plain(StoredDecoder())
            try:
                parts: dict[tuple[int, int], tuple[tuple[int, int | None], dict[str, int]]] = {}
                if children and snapshot:
                    parts = await _checked_by(children, bound, snapshot, plain_store, page)
                for helper in helpers:
                    await helper.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    await helper.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
                    conns.append(helper)
                payload = audit_check.payload_reader(plain_store)
                referenced: dict[str, int] = {}
                checked, first_bad, after = 0, None, 0
                # In order: the first bad position is the first found. A part no process
                # checked (one failed, or there is none) is checked here.
                for upto in sorted(u for _, u in parts) + [bound]:
                    if after >= upto:
                        continue
                    found = parts.get((after, upto))
                    if found is None:
                        pager = audit_check.Pager(conns, upto, page, after=after)
                        found = await audit_check.check(pager, payload, referenced), {}
                    (part_checked, first_bad), files = found
                    checked += part_checked
                    for digest, position in files.items():
                        referenced.setdefault(digest, position)
                    if first_bad is not None:
                        break
                    after = upto
            finally:
                for helper in helpers:
                    if not helper.is_closed():
                        await helper.execute("ROLLBACK")
            # The head: the hash of the last row that verified (every row before the first
            # bad position verified, so it is the trail's own last row before it).
            upto = bound if first_bad is None else first_bad - 1
            head = await _head_at(conn, PUBLIC, upto) if checked else GENESIS_HASH
    finally:
        for child in children:
            await child.stop()
    # The chain covers each evidence file's digest; the files themselves are checked too:
    # those the pass above met, and those of events past it (or, when the chain broke
    # before its end, of every event).
    if first_bad is None:
        files = await evidence_files.verify_files(conn, referenced, after=bound)
    else:
        files = await evidence_files.verify_files(conn)
    return {**_result(first_bad is None and not files["bad"], checked, head, first_bad), "files": files}


async def _audited_upto(conn: asyncpg.Connection) -> int:
    """The position the audit projection has passed: what a verification checks."""
    return await conn.fetchval("SELECT position FROM public.projection_tracking WHERE name = 'audit_log'") or 0


async def _checked_by(
    children: list[processes.Child], bound: int, snapshot: str, plain_store: bool, page: int
) -> dict[tuple[int, int], tuple[tuple[int, int | None], dict[str, int]]]:
    """The parts of (0, bound] the checking processes checked: (after, upto] ->
    ((rows that verified, the first bad position), the files its events reference).
    Parts go out in order, the next to whichever process answers first; none after a
    part with a bad position (those before it are still checked). What a failed process
    did not answer is left out (the caller checks it)."""
    parts: dict[tuple[int, int], tuple[tuple[int, int | None], dict[str, int]]] = {}
    state = {"after": 0, "bad": False}

    def next_part() -> tuple[int, int] | None:
        after = state["after"]
        if after >= bound or state["bad"]:
            return None
        size = max(MIN_PART, (bound - after) // GUIDED_SHARE)
        if size > page:
            size = -(-size // page) * page  # whole pages: no part ends with a short one
        upto = min(bound, after + size)
        state["after"] = upto
        return after, upto

    async def drive(child: processes.Child) -> None:
        try:
            while (part := next_part()) is not None:
                try:
                    found = _answer(await child.ask(audit_check.assignment(*part, snapshot, plain_store)))
                except (RuntimeError, ValueError, KeyError, TypeError, AttributeError) as exc:
                    log.warning("a verifying process failed (its part is checked here): %s", exc)
                    return
                parts[part] = found
                if found[0][1] is not None:
                    state["bad"] = True
        finally:
            child.close_input()

    await asyncio.gather(*(drive(child) for child in children))
    return parts


def _answer(line: bytes) -> tuple[tuple[int, int | None], dict[str, int]]:
    """((rows that verified, the first bad position), the files its events reference)."""
    found = json.loads(line)
    files = {str(digest): int(position) for digest, position in found["files"].items()}
    return (int(found["checked"]), found["first_bad"]), files


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
