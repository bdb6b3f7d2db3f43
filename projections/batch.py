"""What every projection group gets for one batch, and bulk-write helpers.

Writes are set-based (one `INSERT ... SELECT FROM unnest(...)` or one COPY per table
and batch), so a batch of thousands of events costs a handful of round trips.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import asyncpg

from projections.pipeline import AggregateCache, Step
from projections.schema import qident


@dataclass
class BatchContext:
    conn: asyncpg.Connection
    schema: str  # unquoted
    batch_end: int
    cache: AggregateCache
    caught_up: bool  # the batch was not full: nothing more was waiting
    positions: dict[str, int] = field(default_factory=dict)  # tracking rows before the batch
    new_positions: dict[str, int] = field(default_factory=dict)  # set by groups that move differently

    @property
    def s(self) -> str:
        return qident(self.schema)

    def table(self, name: str) -> str:
        return f"{qident(self.schema)}.{qident(name)}"


class Group(Protocol):
    """A projection group: owns tables and tracking rows (see projections.schema)."""

    name: str

    async def apply(self, ctx: BatchContext, steps: list[Step]) -> None: ...

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
