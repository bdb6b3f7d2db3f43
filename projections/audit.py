"""The hash-chained audit trail: its projection and its verification.

Each stored event gets one `audit_log` row with
`hash = sha256(prev_hash || canonical bytes of the stored event)` where the canonical
bytes hold its position, aggregate id, version, topic and stored state
(`projections.codec.canonical_event`). Verification recomputes the chain from the event
store, page by page in one REPEATABLE READ snapshot (never the whole store in memory),
and also checks each row's who/when/what against the decoded event; the first position
where the store and the trail disagree is named.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import asyncpg

from projections.batch import BatchContext, copy_rows
from projections.codec import (
    EVENTS,
    GENESIS_HASH,
    canonical_event,
    chain_hash,
    dumps,
    event_changes,
    event_names,
    event_reason,
    loads,
    mapper,
)
from projections.pipeline import Step

AUDIT_COLUMNS = (
    "position", "occurred_at", "recorded_at", "actor_id", "actor_name", "actor_role", "aggregate_type",
    "aggregate_id", "originator_id", "aggregate_version", "event_type", "campaign_id", "target_id", "unit_id",
    "changes", "reason", "command_id", "prev_hash", "hash",
)


class AuditProjection:
    name = "audit_log"

    async def apply(self, ctx: BatchContext, steps: list[Step]) -> None:
        if not steps:
            return
        head = await ctx.conn.fetchval(
            f"SELECT hash FROM {ctx.table('audit_log')} ORDER BY position DESC LIMIT 1"
        ) or GENESIS_HASH
        rows = []
        for step in steps:
            st = step.stored
            digest = chain_hash(head, canonical_event(st.position, st.originator_id, st.version, st.topic, st.state))
            rows.append(audit_row(step, head, digest))
            head = digest
        await copy_rows(ctx.conn, ctx.schema, "audit_log", AUDIT_COLUMNS, rows)

    async def flush(self, ctx: BatchContext) -> bool:
        return False


def _identity(step: Step) -> tuple[str, str | None, UUID | None, str | None]:
    """(aggregate_id, campaign_id, target_id, unit_id) as people know them."""
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
    ev, st = step.event, step.stored
    actor = getattr(ev, "actor", None)
    aggregate_id, campaign_id, target_id, unit_id = _identity(step)
    return (
        st.position,
        getattr(ev, "occurred_at", None) or ev.timestamp,
        ev.timestamp,
        actor.id if actor else "unknown",
        actor.name if actor else "unknown",
        str(actor.role) if actor else "unknown",
        step.kind,
        aggregate_id,
        st.originator_id,
        st.version,
        step.event_type,
        campaign_id,
        target_id,
        unit_id,
        dumps(event_changes(ev)),
        event_reason(ev),
        getattr(ev, "command_id", "") or "",
        prev_hash,
        digest,
    )


# ---------------------------------------------------------------------- verification
async def _pages(conn: asyncpg.Connection, sql: str, bound: int, page: int) -> AsyncIterator[Any]:
    after = 0
    while True:
        rows = await conn.fetch(sql, after, bound, page)
        for row in rows:
            yield row
        if len(rows) < page:
            return
        after = rows[-1][0]


def _row_matches_event(row: Any, stored: Any, prev_hash: str, digest: str) -> bool:
    if row["prev_hash"] != prev_hash or row["hash"] != digest:
        return False
    if row["originator_id"] != stored["originator_id"] or row["aggregate_version"] != stored["originator_version"]:
        return False
    # Who, when, what and why must be what the stored event says.
    from eventsourcing.persistence import StoredEvent

    try:
        ev = mapper().to_domain_event(
            StoredEvent(stored["originator_id"], stored["originator_version"], stored["topic"], bytes(stored["state"]))
        )
    except Exception:
        return False
    actor = getattr(ev, "actor", None)
    expected = (
        getattr(ev, "occurred_at", None) or ev.timestamp,
        actor.id if actor else "unknown",
        actor.name if actor else "unknown",
        str(actor.role) if actor else "unknown",
        event_names(ev)[1],
        getattr(ev, "command_id", "") or "",
        event_reason(ev),
        event_changes(ev),
    )
    found = (
        row["occurred_at"], row["actor_id"], row["actor_name"], row["actor_role"], row["event_type"],
        row["command_id"], row["reason"], loads(row["changes"]),
    )
    return expected == found


async def verify_connection(conn: asyncpg.Connection, *, page: int = 2000) -> dict[str, Any]:
    """Recompute the chain over every position the audit projection has passed."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        bound = await conn.fetchval("SELECT position FROM public.projection_tracking WHERE name = 'audit_log'") or 0
        events = _pages(
            conn,
            f"SELECT notification_id, originator_id, originator_version, topic, state FROM {EVENTS} "
            "WHERE notification_id > $1 AND notification_id <= $2 ORDER BY notification_id LIMIT $3",
            bound,
            page,
        )
        audits = _pages(
            conn,
            "SELECT position, originator_id, aggregate_version, occurred_at, actor_id, actor_name, actor_role, "
            "event_type, command_id, reason, changes, prev_hash, hash FROM public.audit_log "
            "WHERE position > $1 AND position <= $2 ORDER BY position LIMIT $3",
            bound,
            page,
        )
        prev, checked = GENESIS_HASH, 0
        event = await anext(events, None)
        row = await anext(audits, None)
        while event is not None or row is not None:
            if row is None or (event is not None and event["notification_id"] < row["position"]):
                return _result(False, checked, prev, event["notification_id"])  # an event with no audit row
            if event is None or row["position"] < event["notification_id"]:
                return _result(False, checked, prev, row["position"])  # an audit row with no event
            position = event["notification_id"]
            digest = chain_hash(
                prev,
                canonical_event(position, event["originator_id"], event["originator_version"], event["topic"],
                                bytes(event["state"])),
            )
            if not _row_matches_event(row, event, prev, digest):
                return _result(False, checked, prev, position)
            prev, checked = digest, checked + 1
            event = await anext(events, None)
            row = await anext(audits, None)
        return _result(True, checked, prev, None)


def _result(ok: bool, checked: int, head_hash: str, first_bad: int | None) -> dict[str, Any]:
    return {"ok": ok, "checked": checked, "head_hash": head_hash, "first_bad_position": first_bad}


async def verify(pool_or_dsn: Any) -> dict[str, Any]:
    """`{ok, checked, head_hash, first_bad_position}` from a DSN, a pool or a connection.
    `head_hash` is the chain hash at the last position that verified."""
    if isinstance(pool_or_dsn, str):
        from thidua.dburl import asyncpg_dsn

        conn = await asyncpg.connect(asyncpg_dsn(pool_or_dsn))
        try:
            return await verify_connection(conn)
        finally:
            await conn.close()
    if hasattr(pool_or_dsn, "acquire"):
        async with pool_or_dsn.acquire() as conn:
            return await verify_connection(conn)
    return await verify_connection(pool_or_dsn)


def verify_cli(settings: Any) -> dict[str, Any]:
    """`thidua audit verify`."""
    from thidua.wiring import resolve_database_url

    return asyncio.run(verify(resolve_database_url(settings)))
