"""One batch, exactly once: tracking rows locked, events read, every group applied,
tracking rows advanced, all in one transaction.

Used by the live projector (schema `public`) and by rebuilds (a scratch schema).
A crash anywhere rolls the whole batch back; the next run starts from the tracking
positions, so nothing is lost and nothing is counted twice.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import asyncpg

from projections.audit import AuditProjection
from projections.batch import BatchContext, Group
from projections.catalog import CatalogProjection
from projections.escalations import EscalationsProjection
from projections.pipeline import AggregateCache, EventReader, Stored, read_ahead
from projections.schema import TRACKING_ROWS, qident
from projections.targets import TargetsProjection

log = logging.getLogger("thidua.projections")


def make_groups(names: list[str], *, recompute_every: float = 2.0) -> list[Group]:
    factories = {
        "catalog": CatalogProjection,
        "targets": lambda: TargetsProjection(recompute_every=recompute_every),
        "escalations": EscalationsProjection,
        "audit_log": AuditProjection,
    }
    return [factories[n]() for n in names]


@dataclass
class BatchResult:
    events: int  # events read in this batch (0: nothing waiting)
    position: int  # lowest tracking position after the batch
    full: bool  # the batch was full: more may be waiting


class Engine:
    def __init__(
        self,
        groups: list[Group],
        *,
        schema: str = "public",
        batch_size: int = 2000,
        max_cached_targets: int = 100_000,
    ) -> None:
        self.groups = groups
        self.schema = schema
        self.batch_size = batch_size
        self.cache = AggregateCache(max_targets=max_cached_targets)
        self.tracking = [row for g in groups for row in TRACKING_ROWS[g.name]]
        self._ahead: tuple[int, asyncio.Task[tuple[list[Stored], list[Any]]]] | None = None

    async def _read_ahead(self, conn: asyncpg.Connection, after: int) -> tuple[list[Stored], list[Any]]:
        rows = await read_ahead(conn, after, self.batch_size)
        # Decoding is CPU work; in a thread it overlaps with the writes of the batch in flight.
        events = await asyncio.to_thread(lambda: [self.cache.decode(r) for r in rows])
        return rows, events

    async def discard_ahead(self) -> None:
        """Wait for (and drop) a read-ahead in flight, so its connection can be closed."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            try:
                await ahead[1]
            except Exception:
                pass

    async def _take_ahead(self, start: int) -> tuple[list[Stored], list[Any]] | None:
        ahead, self._ahead = self._ahead, None
        if ahead is None:
            return None
        after, task = ahead
        try:
            result = await task
        except Exception:  # a failed read-ahead only costs the overlap
            log.debug("read-ahead failed", exc_info=True)
            return None
        return result if after == start and result[0] else None

    async def process_batch(
        self, conn: asyncpg.Connection, reader: EventReader, ahead_conn: asyncpg.Connection | None = None
    ) -> BatchResult:
        """One batch in one transaction. With `ahead_conn`, while a full batch is being
        written the next one is read and decoded on that connection (it is used only if
        the next batch starts where this one ended)."""
        s = qident(self.schema)
        async with conn.transaction():
            rows = await conn.fetch(
                f"SELECT name, position FROM {s}.projection_tracking WHERE name = ANY($1) ORDER BY name FOR UPDATE",
                self.tracking,
            )
            positions = {r["name"]: r["position"] for r in rows}
            missing = set(self.tracking) - set(positions)
            if missing:
                raise RuntimeError(f"tracking rows missing in {self.schema}: {sorted(missing)}")
            # The group's first tracking row says which events it has applied.
            starts = {g.name: positions[TRACKING_ROWS[g.name][0]] for g in self.groups}
            start = min(starts.values())
            taken = await self._take_ahead(start)
            if taken is not None:
                events, decoded = taken
            else:
                events, decoded = await reader.read(conn, start, self.batch_size), None
            if not events:
                await self._flush(conn, positions, start)
                return BatchResult(0, min(positions.values()), False)
            batch_end = events[-1].position
            full = len(events) >= self.batch_size
            if full and ahead_conn is not None:
                self._ahead = (batch_end, asyncio.create_task(self._read_ahead(ahead_conn, batch_end)))
            steps = await self.cache.advance(conn, start, events, decoded)
            before = dict(positions)
            for group in self.groups:
                group_start = starts[group.name]
                if group_start >= batch_end:
                    continue  # swapped in ahead of the others by a rebuild
                mine = steps if group_start <= start else [st for st in steps if st.position > group_start]
                ctx = BatchContext(conn, self.schema, batch_end, self.cache, caught_up=not full,
                                   positions=before)
                await group.apply(ctx, mine)
                for name in TRACKING_ROWS[group.name]:
                    positions[name] = ctx.new_positions.get(name, batch_end)
            await conn.execute(
                f"UPDATE {s}.projection_tracking AS t SET position = x.p, updated_at = now() "
                "FROM unnest($1::text[], $2::bigint[]) AS x(n, p) WHERE t.name = x.n AND t.position <> x.p",
                list(positions),
                list(positions.values()),
            )
        self.cache.trim()
        return BatchResult(len(events), min(positions.values()), full)

    async def _flush(self, conn: asyncpg.Connection, positions: dict[str, int], start: int) -> None:
        """Nothing is waiting: let groups finish deferred work (stale scoreboards)."""
        for group in self.groups:
            first = TRACKING_ROWS[group.name][0]
            ctx = BatchContext(conn, self.schema, positions[first], self.cache, caught_up=True, positions=positions)
            if await group.flush(ctx):
                for name in TRACKING_ROWS[group.name]:
                    positions[name] = ctx.new_positions.get(name, positions[name])
        await conn.execute(
            f"UPDATE {qident(self.schema)}.projection_tracking AS t SET position = x.p, updated_at = now() "
            "FROM unnest($1::text[], $2::bigint[]) AS x(n, p) WHERE t.name = x.n AND t.position <> x.p",
            list(positions),
            list(positions.values()),
        )
