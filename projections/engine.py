"""One batch, exactly once: tracking rows locked, events read, every group applied,
tracking rows advanced, all in one transaction.

Used by the live projector (schema `public`) and by rebuilds (a scratch schema).
A crash anywhere rolls the whole batch back; the next run starts from the tracking
positions, so nothing is lost and nothing is counted twice.

Pipelined: while a full batch is being written, the next one is read (committed,
gap-free events only), decoded, applied to the aggregates and turned into rows in a
worker thread, so the CPU work of one batch overlaps the database work of the one
before. A batch prepared ahead is used only if the next transaction finds the
tracking rows where that batch starts; anything else (a failed write, a rebuild that
swapped tables in) discards it, and the batch is prepared again inside its own
transaction.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg

from thidua.projections.audit import AuditProjection, StaleBatch
from thidua.projections.batch import BatchContext, Group, Prepared
from thidua.projections.cascade import CascadeProjection
from thidua.projections.catalog import CatalogProjection
from thidua.projections.escalations import EscalationsProjection
from thidua.projections.evaluations import EvaluationsProjection
from thidua.projections.identity import IdentityCache
from thidua.projections.notifications import NotificationsProjection
from thidua.projections.pipeline import MAX_CACHED_TARGETS, AggregateCache, AggregateView, EventReader, Stored, read_ahead
from thidua.projections.schema import TRACKING_ROWS, qident
from thidua.projections.targets import TargetsProjection

log = logging.getLogger("thidua.projections")


def make_groups(names: list[str], *, recompute_every: float = 2.0, bulk: bool = False) -> list[Group]:
    """`bulk`: tables that serve nobody until the end (a rebuild's): rows that only the
    final state matters for may be written once at the end."""
    factories = {
        "catalog": CatalogProjection,
        "targets": lambda: TargetsProjection(recompute_every=recompute_every, defer_rows=bulk),
        "escalations": EscalationsProjection,
        "audit_log": AuditProjection,
        "notifications": NotificationsProjection,
        "cascade": lambda: CascadeProjection(defer_rollups=bulk),
        "evaluations": EvaluationsProjection,
    }
    return [factories[n]() for n in names]


@contextmanager
def gc_paused() -> Iterator[list[bool]]:
    """No cyclic garbage collection while a batch runs.

    A batch allocates tens of thousands of containers beside a large cache of
    aggregates, and the collector would scan them over and over (a third of a
    rebuild's CPU time); reference counting still frees what a batch drops. While a
    catch-up goes on (the caller sets `more[0]`: the batch was full), what survived
    the batch is frozen (`gc.freeze()`: never scanned again); once caught up it is
    unfrozen, so cyclic garbage of the catch-up is collected as usual from then on."""
    enabled = gc.isenabled()
    more = [False]
    gc.disable()
    try:
        yield more
    finally:
        if more[0]:
            gc.freeze()
        elif gc.get_freeze_count():
            gc.unfreeze()
        if enabled:
            gc.enable()


@dataclass
class BatchResult:
    events: int  # events read in this batch (0: nothing waiting)
    position: int  # lowest tracking position after the batch
    full: bool  # the batch was full: more may be waiting


@dataclass
class Ready:
    """A batch with every group's rows, ready to write."""

    start: int
    end: int
    events: int
    full: bool
    view: AggregateView
    rows: dict[str, Any]  # group name -> what its prepare gave


class Engine:
    def __init__(
        self,
        groups: list[Group],
        *,
        schema: str = "public",
        batch_size: int = 2000,
        max_batch_size: int | None = None,
        max_cached_targets: int = MAX_CACHED_TARGETS,
    ) -> None:
        self.groups = groups
        self.schema = schema
        self.batch_size = batch_size
        # While batches come full (a catch-up), they grow up to 4x: a target touched by
        # several events of a batch gets one row write, and per-batch costs spread out.
        self.max_batch_size = max_batch_size or batch_size * 4
        self.size = batch_size
        # Groups that need only where each event belongs (the audit trail) are fed
        # without decoding and replaying aggregates (see thidua.projections.identity).
        self.cache: AggregateCache | IdentityCache = (
            IdentityCache() if groups and not any(getattr(g, "needs_aggregates", True) for g in groups)
            else AggregateCache(max_targets=max_cached_targets)
        )
        self.tracking = [row for g in groups for row in TRACKING_ROWS[g.name]]
        self._ahead: tuple[int, asyncio.Task[Ready | None]] | None = None
        self._views: list[AggregateView] = []  # written batches' views, to adopt what they loaded

    # ------------------------------------------------------------------ preparing
    def _prepare(self, start: int, starts: dict[str, int], rows: list[Stored], history: list[Any],
                 size: int) -> Ready:
        """CPU only: apply `rows` to the aggregates and let every group make its rows."""
        steps = self.cache.apply(start, rows, history)
        end = rows[-1].position
        full = len(rows) >= size
        prepared: dict[str, Any] = {}
        for group in self.groups:
            group_start = starts[group.name]
            if group_start >= end:
                continue  # swapped in ahead of the others by a rebuild
            mine = steps if group_start <= start else [st for st in steps if st.position > group_start]
            prepared[group.name] = group.prepare(Prepared(group_start, end, full), mine)
        return Ready(start, end, len(rows), full, self.cache.view(end), prepared)

    async def _prepare_ahead(self, conn: asyncpg.Connection, start: int) -> Ready | None:
        """The batch after `start` (committed, gap-free events only), prepared in a
        worker thread while the batch before it is written."""
        size = self.size
        rows = await read_ahead(conn, start, size)
        if not rows:
            return None
        history = await self.cache.history(conn, self.cache.needed(start, rows))
        starts = {g.name: start for g in self.groups}
        return await asyncio.to_thread(self._prepare, start, starts, rows, history, size)

    async def discard_ahead(self) -> None:
        """Wait for (and drop) a batch being prepared ahead, so its connection can be closed."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            try:
                await ahead[1]
            except Exception:
                pass

    async def _take_ahead(self, start: int) -> Ready | None:
        ahead, self._ahead = self._ahead, None
        if ahead is None:
            return None
        after, task = ahead
        try:
            ready = await task
        except Exception:  # a failed preparation only costs the overlap
            log.debug("preparing ahead failed", exc_info=True)
            return None
        return ready if after == start and ready is not None else None

    # ------------------------------------------------------------------ batches
    async def process_batch(
        self, conn: asyncpg.Connection, reader: EventReader, ahead_conn: asyncpg.Connection | None = None
    ) -> BatchResult:
        """One batch in one transaction. With `ahead_conn`, while a full batch is being
        written the next one is prepared on that connection and a worker thread."""
        with gc_paused() as more:
            try:
                result = await self._process_batch(conn, reader, ahead_conn)
            except StaleBatch:
                log.info("a batch prepared ahead was stale; preparing it again")
                await self.discard_ahead()
                self.cache.clear()
                result = await self._process_batch(conn, reader, None)
            more[0] = result.full
            return result

    async def _process_batch(
        self, conn: asyncpg.Connection, reader: EventReader, ahead_conn: asyncpg.Connection | None
    ) -> BatchResult:
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
            aligned = all(v == start for v in starts.values())
            ready = await self._take_ahead(start) if aligned else await self._drop_ahead()
            self._adopt_views()
            if ready is None:
                events = await reader.read(conn, start, self.size)
                if not events:
                    self.size = self.batch_size
                    await self._flush(conn, positions)
                    return BatchResult(0, min(positions.values()), False)
                for group in self.groups:
                    await group.sync(conn, self.schema, starts[group.name])
                history = await self.cache.history(conn, self.cache.needed(start, events))
                ready = self._prepare(start, starts, events, history, self.size)
            self.size = min(self.size * 2, self.max_batch_size) if ready.full else self.batch_size
            if ready.full and ahead_conn is not None and aligned:
                self._ahead = (ready.end, asyncio.create_task(self._prepare_ahead(ahead_conn, ready.end)))
            before = dict(positions)
            for group in self.groups:
                if group.name not in ready.rows:
                    continue
                ctx = BatchContext(conn, self.schema, ready.end, ready.view, caught_up=not ready.full,
                                   positions=before)
                await group.write(ctx, ready.rows[group.name])
                for name in TRACKING_ROWS[group.name]:
                    positions[name] = ctx.new_positions.get(name, ready.end)
            await self._save_positions(conn, positions)
        self._views.append(ready.view)
        return BatchResult(ready.events, min(positions.values()), ready.full)

    async def _drop_ahead(self) -> None:
        await self.discard_ahead()
        return None

    def _adopt_views(self) -> None:
        """Keep in the cache the campaigns and units that writes had to load (no batch
        is being prepared now)."""
        for view in self._views:
            self.cache.adopt(view)
        self._views.clear()

    async def _save_positions(self, conn: asyncpg.Connection, positions: dict[str, int]) -> None:
        await conn.execute(
            f"UPDATE {qident(self.schema)}.projection_tracking AS t SET position = x.p, updated_at = now() "
            "FROM unnest($1::text[], $2::bigint[]) AS x(n, p) WHERE t.name = x.n AND t.position <> x.p",
            list(positions),
            list(positions.values()),
        )

    async def flush(self, conn: asyncpg.Connection) -> None:
        """Finish deferred work up to where the groups stand though events wait after it
        (a group stopped at an event it cannot apply: its scoreboards are still made
        current up to that event)."""
        async with conn.transaction():
            rows = await conn.fetch(
                f"SELECT name, position FROM {qident(self.schema)}.projection_tracking WHERE name = ANY($1) "
                "ORDER BY name FOR UPDATE",
                self.tracking,
            )
            await self._flush(conn, {r["name"]: r["position"] for r in rows})

    async def _flush(self, conn: asyncpg.Connection, positions: dict[str, int]) -> None:
        """Nothing is waiting: let groups finish deferred work (stale scoreboards)."""
        for group in self.groups:
            first = TRACKING_ROWS[group.name][0]
            view = self.cache.view(positions[first])
            ctx = BatchContext(conn, self.schema, positions[first], view, caught_up=True, positions=positions)
            if await group.flush(ctx):
                for name in TRACKING_ROWS[group.name]:
                    positions[name] = ctx.new_positions.get(name, positions[name])
            self._views.append(view)
        self._adopt_views()
        await self._save_positions(conn, positions)
