"""`thidua projections rebuild [NAME]`: rebuild read models beside the live ones and
swap them in one transaction.

1. The group's tables (see thidua.projections.schema) are created empty in the scratch schema
   `thidua_rebuild`, with their own tracking rows, and filled from the event store in
   large batches (the live tables keep serving, the live projector keeps running).
   Rebuilding everything, the audit trail is filled by a second process
   (`python -m thidua.projections.rebuild --fill ...`) while this one fills the other groups:
   groups have their own tracking rows, so each process commits its own batches. The
   audit trail needs no aggregates (thidua.projections.identity), so its process reads and
   parses the events without replaying them. Before reading, an event store without
   statistics is analyzed, and each group's tables are analyzed once filled.
2. Swap, in one transaction: lock the live tracking rows of the group (the projector
   waits at its next batch), apply the few events that arrived meanwhile, move the
   live tables to `thidua_retired` and the new ones to `public`, copy the tracking
   positions. Readers see the old tables until the commit and the new ones after.
3. Drop the retired tables.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from collections.abc import Callable
from typing import Any

import asyncpg

from thidua.projections import processes
from thidua.projections.codec import EVENTS
from thidua.projections.engine import Engine, make_groups
from thidua.projections.faults import PoisonEvent, group_position, is_transient, locate
from thidua.projections.pipeline import EventReader
from thidua.projections.schema import (
    EVENT_STORE_KEYS,
    GROUPS,
    NEVER_REBUILT,
    PUBLIC,
    TRACKING_ROWS,
    analyze_if_unplanned,
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


# Rebuilding every group, these are filled by a second process (they need the most CPU).
_SECOND_PROCESS_GROUPS = ("audit_log",)
_DSN_ENV = "THIDUA_REBUILD_DSN"  # the child's database (not on its command line, which `ps` shows)


async def build_into_schema(
    conn: asyncpg.Connection,
    side: asyncpg.Connection,
    schema: str,
    groups: list[str],
    *,
    batch_size: int = 10_000,
    progress: Progress | None = None,
    ahead: asyncpg.Connection | None = None,
    dsn: str | None = None,
) -> list[Engine]:
    """Create `groups`' tables afresh in `schema` and project every committed event
    into them. Returns the engines that filled them (their caches are warm for a
    following catch-up). With `ahead`, the next batch is prepared while the current one
    is written; with `dsn` (and several groups), a second process fills the audit trail."""
    await conn.execute(f"DROP SCHEMA IF EXISTS {qident(schema)} CASCADE")
    await create_tables(conn, schema, groups, indexes=False)
    split = [g for g in groups if g in _SECOND_PROCESS_GROUPS] if dsn and len(groups) > 1 else []
    mine = [g for g in groups if g not in split]
    child = None
    if split and dsn:
        child = await processes.start(
            __spec__.name,  # this module, however the package is installed
            ["--fill", schema, "--groups", ",".join(split), "--batch-size", str(batch_size)],
            {_DSN_ENV: dsn},
        )
    try:
        engine = await fill(conn, side, schema, mine, batch_size=batch_size, ahead=ahead,
                            progress=progress, others=split)
        engines = [engine]
        if child is not None:
            await child.result()
            child = None
            engines.append(Engine(make_groups(split, recompute_every=float("inf")), schema=schema,
                                  batch_size=batch_size))
        return engines
    finally:
        if child is not None:
            await child.stop()


async def fill(
    conn: asyncpg.Connection,
    side: asyncpg.Connection,
    schema: str,
    groups: list[str],
    *,
    batch_size: int,
    ahead: asyncpg.Connection | None = None,
    progress: Progress | None = None,
    others: list[str] | None = None,
) -> Engine:
    """Project every committed event into `groups`' (existing, empty) tables in `schema`,
    then index them. `others`: groups filled meanwhile by another process, whose
    tracking rows the progress also follows."""
    # Scoreboards are computed once at the end (the tables serve nobody until then).
    engine = Engine(make_groups(groups, recompute_every=float("inf"), bulk=True), schema=schema,
                    batch_size=batch_size, max_batch_size=batch_size)
    reader = EventReader(side)
    head = await conn.fetchval(f"SELECT coalesce(max(notification_id), 0) FROM {EVENTS}")
    other_rows = [r for g in others or [] for r in TRACKING_ROWS[g]]
    while True:
        try:
            result = await engine.process_batch(conn, reader, ahead)
        except Exception as exc:
            if is_transient(exc):
                raise
            await engine.discard_ahead()
            raise await _poison(conn, side, schema, groups, engine.size, exc) from exc
        if progress is not None:
            position = result.position
            if other_rows:
                behind = await conn.fetchval(
                    f"SELECT min(position) FROM {qident(schema)}.projection_tracking WHERE name = ANY($1)",
                    other_rows,
                )
                position = min(position, behind if behind is not None else 0)
            progress(position, max(head, position))
        if result.events == 0:
            await create_indexes(conn, schema, groups)
            return engine


async def _poison(conn: asyncpg.Connection, side: asyncpg.Connection, schema: str, groups: list[str], size: int,
                  exc: BaseException) -> BaseException:
    """The event a group cannot apply (`PoisonEvent` naming it), else `exc` itself."""
    low = min([await group_position(conn, schema, g) for g in groups])
    for group in groups:
        fault = await locate(conn, side, schema, group, until=low + max(1, size), size=max(1, size))
        if fault is not None:
            return PoisonEvent(fault)
    return exc


async def _fill_main(schema: str, groups: list[str], batch_size: int) -> None:
    """The second process: fill `groups` in `schema` (tables made by the first)."""
    dsn = os.environ[_DSN_ENV]
    conn, side, ahead = [await asyncpg.connect(dsn) for _ in range(3)]
    try:
        await fill(conn, side, schema, groups, batch_size=batch_size, ahead=ahead)
    finally:
        for c in (ahead, side, conn):
            await c.close()


async def catch_up(conn: asyncpg.Connection, side: asyncpg.Connection, engine: Engine) -> int:
    reader = EventReader(side)
    while True:
        result = await engine.process_batch(conn, reader)
        if result.events == 0:
            return result.position


async def rebuild(
    database_url: str,
    name: str | None = None,
    *,
    batch_size: int = 10_000,
    progress: Progress | None = None,
    processes: int = 2,
    outbox: bool = False,
) -> dict[str, Any]:
    """Rebuild one group (by group or table name) or all; returns
    `{"groups": [...], "position": N, "tables": [...]}`. `processes=2` (rebuilding
    every group): the audit trail is filled by a second process, which reads the
    events again but replays no aggregate. `outbox` (every group: the projector's bulk
    build of empty read models): the notifications outbox is built too and swapped in
    if, at the swap, it has still projected and delivered nothing (see `_swap`)."""
    groups = resolve_groups(name)
    if outbox and name is None:
        groups += [g for g in NEVER_REBUILT if g not in groups]
    dsn = asyncpg_dsn(database_url)
    conn = await asyncpg.connect(dsn)
    side = await asyncpg.connect(dsn)
    ahead = await asyncpg.connect(dsn)
    try:
        if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", _REBUILD_LOCK_KEY):
            raise RuntimeError("another rebuild is running")
        try:
            await create_tables(conn, PUBLIC, list(GROUPS))
            await analyze_if_unplanned(conn, EVENTS, EVENT_STORE_KEYS)
            engines = await build_into_schema(conn, side, REBUILD_SCHEMA, groups, batch_size=batch_size,
                                              progress=progress, ahead=ahead,
                                              dsn=dsn if processes > 1 else None)
            position, groups = await _swap(conn, side, engines, groups)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _REBUILD_LOCK_KEY)
        tables = [t for g in groups for t in GROUPS[g]]
        return {"groups": groups, "position": position, "tables": tables}
    finally:
        for c in (ahead, side, conn):
            await c.close()


async def _swap(conn: asyncpg.Connection, side: asyncpg.Connection, engines: list[Engine],
                groups: list[str]) -> tuple[int, list[str]]:
    """Swap the rebuilt groups in; their position and the groups swapped."""
    rows = [r for g in groups for r in TRACKING_ROWS[g]]
    new, old, live = qident(REBUILD_SCHEMA), qident(RETIRED_SCHEMA), qident(PUBLIC)
    async with conn.transaction():
        # The live projector takes these rows FOR UPDATE first in every batch.
        await conn.execute(
            f"SELECT 1 FROM {live}.projection_tracking WHERE name = ANY($1) FOR UPDATE", rows
        )
        position = min([await catch_up(conn, side, engine) for engine in engines])
        # The outbox replaces the live one only while that one is untouched (nothing
        # projected, so nothing read or delivered to forget); else the live one stays and
        # its projector goes on from where it is.
        kept = [g for g in groups if g in NEVER_REBUILT and not await _untouched_outbox(conn, g)]
        groups = [g for g in groups if g not in kept]
        rows = [r for g in groups for r in TRACKING_ROWS[g]]
        tables = [t for g in groups for t in GROUPS[g]]
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
        # The new copy applied every event: a read model stopped at one is no longer.
        await conn.execute(f"DELETE FROM {live}.projection_faults WHERE name = ANY($1)", groups)
    await conn.execute(f"DROP SCHEMA IF EXISTS {old} CASCADE")
    await conn.execute(f"DROP SCHEMA IF EXISTS {new} CASCADE")
    return position, groups


async def _untouched_outbox(conn: asyncpg.Connection, group: str) -> bool:
    live = qident(PUBLIC)
    moved = await conn.fetchval(
        f"SELECT count(*) FROM {live}.projection_tracking WHERE name = ANY($1) AND position <> 0",
        list(TRACKING_ROWS[group]))
    if moved:
        return False
    for table in GROUPS[group]:
        if await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM {live}.{qident(table)})"):
            return False
    return True


def main(database_url: Callable[[], str], name: str | None) -> int:
    """`thidua projections rebuild [NAME]` (`thidua.bootstrap.rebuild_projections`): exit
    status 0 on success, 2 for an unknown name. `database_url` is called once the name is
    known to be right (finding the database may start the embedded PostgreSQL)."""
    # Only the command shows a progress bar: the projector, which imports this module, loads no rich.
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console = Console(stderr=True)
    try:
        groups = resolve_groups(name)
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        return 2
    url = database_url()
    with Progress(
        TextColumn("rebuilding {task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=console,
    ) as bar:
        task = bar.add_task(", ".join(groups), total=None)

        def report(position: int, head: int) -> None:
            bar.update(task, completed=position, total=head)

        try:
            result = asyncio.run(rebuild(url, name, progress=report))
        except RuntimeError as exc:
            # An event a read model cannot apply (PoisonEvent, or the second process's
            # failure, which quotes it), or another rebuild running: say so, no traceback.
            bar.stop()
            console.print(f"[red]rebuild failed: {exc}[/red]")
            return 1
    console.print(f"rebuilt {', '.join(result['tables'])} at position {result['position']}")
    return 0


if __name__ == "__main__":  # the second process of a rebuild (see build_into_schema)
    parser = argparse.ArgumentParser(description="fill read-model tables of a rebuild (internal)")
    parser.add_argument("--fill", required=True, metavar="SCHEMA")
    parser.add_argument("--groups", required=True)
    parser.add_argument("--batch-size", type=int, default=10_000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    processes.die_with_parent()
    asyncio.run(_fill_main(args.fill, args.groups.split(","), args.batch_size))
