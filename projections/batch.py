"""What every projection group gets for one batch, and bulk-write helpers.

A group handles a batch in two halves: `prepare` (CPU only: rows from the steps, no
I/O, may run in a worker thread while the previous batch is being written) and
`write` (the database, inside the batch's transaction). Writes are set-based (one
`INSERT ... SELECT FROM unnest(...)` or one COPY per table and batch), so a batch of
thousands of events costs a handful of round trips.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import asyncpg

from thidua.projections.pipeline import AggregateView, Step
from thidua.projections.schema import qident


@dataclass
class BatchContext:
    conn: asyncpg.Connection
    schema: str  # unquoted
    batch_end: int
    view: AggregateView  # campaigns and units as of batch_end
    caught_up: bool  # the batch was not full: nothing more was waiting
    positions: dict[str, int] = field(default_factory=dict)  # tracking rows before the batch
    new_positions: dict[str, int] = field(default_factory=dict)  # set by groups that move differently

    @property
    def s(self) -> str:
        return qident(self.schema)

    def table(self, name: str) -> str:
        return f"{qident(self.schema)}.{qident(name)}"


@dataclass
class Prepared:
    """Where a batch stands before its writes: `start` < positions <= `end`; `full`:
    more events may be waiting after it."""

    start: int
    end: int
    full: bool = False


class Group(Protocol):
    """A projection group: owns tables and tracking rows (see thidua.projections.schema)."""

    name: str

    async def sync(self, conn: asyncpg.Connection, schema: str, start: int) -> None:
        """Load what `prepare` needs from the group's own tables, as of `start`
        (inside the batch's transaction; skipped when prepared ahead)."""
        ...

    def prepare(self, batch: Prepared, steps: list[Step]) -> Any:
        """The batch's rows (CPU only: no I/O, no await)."""
        ...

    async def write(self, ctx: BatchContext, prepared: Any) -> None: ...

    async def flush(self, ctx: BatchContext) -> bool:
        """Finish deferred work when no event is waiting; True if it wrote anything."""
        ...


async def upsert(
    conn: asyncpg.Connection,
    table: str,
    columns: Sequence[tuple[str, str]],
    rows: Sequence[Sequence[Any]],
    key: Sequence[str],
    keep: Sequence[str] = (),
) -> None:
    """Insert or replace `rows` (tuples in `columns` order; columns are (name, sql type));
    columns in `keep` keep their stored value when the row exists."""
    if not rows:
        return
    names = [c for c, _ in columns]
    casts = ", ".join(f"${i + 1}::{t}[]" for i, (_, t) in enumerate(columns))
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in names if c not in key and c not in keep)
    sql = (
        f"INSERT INTO {table} ({', '.join(names)}) SELECT * FROM unnest({casts}) "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}"
    )
    await conn.execute(sql, *[list(col) for col in zip(*rows)])


# Below this many rows, one INSERT ... unnest() is as quick as a COPY through a stage.
_STAGE_FROM = 200


async def upsert_many(
    conn: asyncpg.Connection,
    schema: str,
    table: str,
    columns: Sequence[tuple[str, str]],
    rows: Sequence[Sequence[Any]],
    key: Sequence[str],
) -> None:
    """`upsert` for thousands of rows: COPY them into a temporary table of this session
    (made once, `LIKE` the target), then one INSERT ... ON CONFLICT from it: PostgreSQL
    spends about 40 % less than unpacking arrays."""
    if len(rows) < _STAGE_FROM:
        await upsert(conn, f"{qident(schema)}.{qident(table)}", columns, rows, key)
        return
    stage = f"thidua_stage_{table}"
    names = [c for c, _ in columns]
    # (temporary: one per connection, so concurrent writers never share it)
    await conn.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {qident(stage)} (LIKE {qident(schema)}.{qident(table)} INCLUDING DEFAULTS)"
    )
    await conn.copy_records_to_table(stage, records=rows, columns=names, schema_name="pg_temp")
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in names if c not in key)
    cols = ", ".join(names)
    await conn.execute(
        f"INSERT INTO {qident(schema)}.{qident(table)} ({cols}) SELECT {cols} FROM pg_temp.{qident(stage)} "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}"
    )
    await conn.execute(f"TRUNCATE pg_temp.{qident(stage)}")


async def copy_rows(
    conn: asyncpg.Connection, schema: str, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    if rows:
        await conn.copy_records_to_table(table, records=rows, columns=list(columns), schema_name=schema)


class Stopwatch:
    """For deferring expensive recomputation during a long catch-up."""

    def __init__(self) -> None:
        self.last = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.last

    def reset(self) -> None:
        self.last = time.monotonic()
