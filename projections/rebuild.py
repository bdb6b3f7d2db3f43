"""`thidua projections rebuild [NAME]`: rebuild read models beside the live ones and
swap them in one transaction.

1. The group's tables (see projections.schema) are created empty in the scratch schema
   `thidua_rebuild`, with their own tracking rows, and filled from the event store in
   large batches (the live tables keep serving, the live projector keeps running).
2. Swap, in one transaction: lock the live tracking rows of the group (the projector
   waits at its next batch), apply the few events that arrived meanwhile, move the
   live tables to `thidua_retired` and the new ones to `public`, copy the tracking
   positions. Readers see the old tables until the commit and the new ones after.
3. Drop the retired tables.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import asyncpg

from projections.codec import EVENTS
from projections.engine import Engine, make_groups
from projections.pipeline import EventReader
from projections.schema import (
    GROUPS,
    PUBLIC,
    TRACKING_ROWS,
    create_indexes,
    create_tables,
    qident,
    resolve_groups,
)
from thidua.dburl import asyncpg_dsn

log = logging.getLogger("thidua.projections")

REBUILD_SCHEMA = "thidua_rebuild"
RETIRED_SCHEMA = "thidua_retired"
_REBUILD_LOCK_KEY = 0x7468_6964_7562  # one rebuild at a time

Progress = Callable[[int, int], None]  # (position, head)


async def build_into_schema(
    conn: asyncpg.Connection,
    side: asyncpg.Connection,
    schema: str,
    groups: list[str],
    *,
    batch_size: int = 5000,
    progress: Progress | None = None,
    ahead: asyncpg.Connection | None = None,
) -> Engine:
    """Create `groups`' tables afresh in `schema` and project every committed event
    into them. Returns the engine (its cache is warm for a following catch-up).
    With `ahead`, the next batch is read and decoded while the current one is written."""
    await conn.execute(f"DROP SCHEMA IF EXISTS {qident(schema)} CASCADE")
    await create_tables(conn, schema, groups, indexes=False)
    # Scoreboards are computed once at the end (the tables serve nobody until then).
    engine = Engine(make_groups(groups, recompute_every=float("inf")), schema=schema, batch_size=batch_size)
    reader = EventReader(side)
    head = await conn.fetchval(f"SELECT coalesce(max(notification_id), 0) FROM {EVENTS}")
    while True:
        result = await engine.process_batch(conn, reader, ahead)
        if progress is not None:
            progress(result.position, max(head, result.position))
        if result.events == 0:
            await create_indexes(conn, schema, groups)
            return engine


async def catch_up(conn: asyncpg.Connection, side: asyncpg.Connection, engine: Engine) -> int:
    reader = EventReader(side)
    while True:
        result = await engine.process_batch(conn, reader)
        if result.events == 0:
            return result.position


async def rebuild(
    database_url: str, name: str | None = None, *, batch_size: int = 5000, progress: Progress | None = None
) -> dict[str, Any]:
    """Rebuild one group (by group or table name) or all; returns
    `{"groups": [...], "position": N, "tables": [...]}`."""
    groups = resolve_groups(name)
    dsn = asyncpg_dsn(database_url)
    conn = await asyncpg.connect(dsn)
    side = await asyncpg.connect(dsn)
    ahead = await asyncpg.connect(dsn)
    try:
        if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", _REBUILD_LOCK_KEY):
            raise RuntimeError("another rebuild is running")
        try:
            await create_tables(conn, PUBLIC, list(GROUPS))
            engine = await build_into_schema(conn, side, REBUILD_SCHEMA, groups, batch_size=batch_size,
                                             progress=progress, ahead=ahead)
            position = await _swap(conn, side, engine, groups)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _REBUILD_LOCK_KEY)
        tables = [t for g in groups for t in GROUPS[g]]
        return {"groups": groups, "position": position, "tables": tables}
    finally:
        for c in (ahead, side, conn):
            await c.close()


async def _swap(conn: asyncpg.Connection, side: asyncpg.Connection, engine: Engine, groups: list[str]) -> int:
    rows = [r for g in groups for r in TRACKING_ROWS[g]]
    tables = [t for g in groups for t in GROUPS[g]]
    new, old, live = qident(REBUILD_SCHEMA), qident(RETIRED_SCHEMA), qident(PUBLIC)
    async with conn.transaction():
        # The live projector takes these rows FOR UPDATE first in every batch.
        await conn.execute(
            f"SELECT 1 FROM {live}.projection_tracking WHERE name = ANY($1) FOR UPDATE", rows
        )
        position = await catch_up(conn, side, engine)
        await conn.execute(f"DROP SCHEMA IF EXISTS {old} CASCADE")
        await conn.execute(f"CREATE SCHEMA {old}")
        for table in tables:
            await conn.execute(f"ALTER TABLE {live}.{qident(table)} SET SCHEMA {old}")
            await conn.execute(f"ALTER TABLE {new}.{qident(table)} SET SCHEMA {live}")
        await conn.execute(
            f"UPDATE {live}.projection_tracking AS t SET position = r.position, updated_at = now() "
            f"FROM {new}.projection_tracking AS r WHERE t.name = r.name AND t.name = ANY($1)",
            rows,
        )
    await conn.execute(f"DROP SCHEMA IF EXISTS {old} CASCADE")
    await conn.execute(f"DROP SCHEMA IF EXISTS {new} CASCADE")
    return position


def main(settings: Any, name: str | None) -> int:
    """`thidua projections rebuild [NAME]`: exit status 0 on success, 2 for an unknown name."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from thidua.wiring import resolve_database_url

    console = Console(stderr=True)
    try:
        groups = resolve_groups(name)
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        return 2
    url = resolve_database_url(settings)
    with Progress(
        TextColumn("rebuilding {task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=console,
    ) as bar:
        task = bar.add_task(", ".join(groups), total=None)

        def report(position: int, head: int) -> None:
            bar.update(task, completed=position, total=head)

        result = asyncio.run(rebuild(url, name, progress=report))
    console.print(f"rebuilt {', '.join(result['tables'])} at position {result['position']}")
    return 0
