"""The `targets` projection: current targets, their status intervals, and the
cluster scoreboards of the clusters a batch touched (their SQL: projections/scoreboard.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import asyncpg

from thidua.projections import scoreboard
from thidua.projections.batch import BatchContext, Prepared, Stopwatch, copy_rows, upsert_many
from thidua.projections.codec import dumps
from thidua.projections.pipeline import Step
from thidua.projections.schema import qident

_TARGET_COLUMNS = (
    ("target_id", "uuid"),
    ("campaign_id", "text"),
    ("unit_id", "text"),
    ("title", "text"),
    ("area", "text"),
    ("deadline", "date"),
    ("deadline_at", "timestamptz"),
    ("points", "numeric"),
    ("status", "text"),
    ("overdue", "boolean"),
    ("report_class", "text"),
    ("version", "integer"),
    ("escalation_state", "text"),
    ("state", "jsonb"),
    ("assigned_at", "timestamptz"),
    ("updated_at", "timestamptz"),
    ("position", "bigint"),
    ("has_children", "boolean"),
)
_HISTORY_COLUMNS = (
    "target_id", "position", "campaign_id", "unit_id", "points", "status", "overdue", "report_class",
    "valid_from", "valid_to",
)

Dirty = scoreboard.Dirty


@dataclass
class TargetsBatch:
    """A batch's rows for the targets group (see TargetsProjection.prepare)."""

    targets: list[tuple[Any, ...]] = field(default_factory=list)
    copy_targets: bool = False  # `targets` go into an empty table: COPY, no upsert
    closes: list[tuple[UUID, Any]] = field(default_factory=list)  # (target, valid_to) of open intervals
    intervals: list[list[Any]] = field(default_factory=list)  # new history rows
    touched_units: set[tuple[str, str]] = field(default_factory=set)  # (campaign_id, unit_id)
    dirty: Dirty = field(default_factory=set)
    whole_campaigns: set[str] = field(default_factory=set)
    renamed_units: set[str] = field(default_factory=set)
    new_parents: set[UUID] = field(default_factory=set)  # targets that got their first child in the batch


class TargetsProjection:
    name = "targets"

    # Deferred rows (see defer_rows) are written at the latest when this many wait.
    MAX_DEFERRED = 25_000  # ≈ 50 MB of rows

    def __init__(self, recompute_every: float = 2.0, *, defer_rows: bool = False) -> None:
        # During a catch-up, cluster boards are recomputed at most this often (seconds);
        # stale clusters are marked in scoreboard_dirty meanwhile.
        self.recompute_every = recompute_every
        self.watch = Stopwatch()
        # A rebuild's `targets` table serves nobody until the swap: each target's row is
        # written once, when the batches stop being full (or too many wait), instead of
        # being rewritten in every batch that touches the target.
        self.defer_rows = defer_rows
        self.deferred: dict[UUID, tuple[Any, int]] = {}  # target -> (aggregate, position of its last event)
        # Deferred rows taken into a batch that may not be committed yet: (the batch's
        # end, the entries, whether it was the first write). A batch prepared ahead may be
        # dropped (or fail) instead of written: the next `sync` puts its entries back.
        self.taken: list[tuple[int, dict[UUID, tuple[Any, int]], bool]] = []
        self.written_before = False
        # Targets with children (the city's own): scoreboards count unit targets only.
        self.parents: set[UUID] = set()
        self.parents_at: int | None = None  # the position `parents` is as of (None: unknown)

    async def sync(self, conn: asyncpg.Connection, schema: str, start: int) -> None:
        # A batch ending after `start` was not committed: the deferred rows it took wait again.
        for end, entries, first in self.taken:
            if end > start:
                for tid, entry in entries.items():
                    if tid not in self.deferred or self.deferred[tid][1] < entry[1]:
                        self.deferred[tid] = entry
                if first:
                    self.written_before = False
        self.taken.clear()
        # The parents as of the batch's start: the rows written, and the children whose
        # rows wait (defer_rows). The set is a function of the events up to a position and
        # prepare follows it, so it is read again only when a batch does not start where
        # the last prepared one ended (one rolled back or dropped): the read scans the
        # whole table, which in a rebuild has no index until the end — at the country's
        # size (170,000 targets, ≈ 240 MB) in every one of 340 batches.
        if self.parents_at == start:
            return
        self.parents = {r["target_id"] for r in await conn.fetch(
            f"SELECT target_id FROM {qident(schema)}.targets WHERE has_children")}
        self.parents |= {UUID(str(agg.parent_id)) for agg, _ in self.deferred.values()
                         if getattr(agg, "parent_id", None)}
        self.parents_at = start

    def prepare(self, batch: Prepared, steps: list[Step]) -> TargetsBatch:
        out = TargetsBatch()
        by_target: dict[UUID, list[Step]] = {}
        for step in steps:
            if step.kind == "target":
                by_target.setdefault(step.stored.originator_id, []).append(step)
                if step.event_type == "Assigned" and getattr(step.aggregate, "parent_id", None):
                    parent = UUID(str(step.aggregate.parent_id))
                    if parent not in self.parents:
                        self.parents.add(parent)
                        out.new_parents.add(parent)
            elif step.kind == "campaign":
                cid = step.aggregate.campaign_id
                if step.event_type == "ClusterSet":
                    out.dirty.add((cid, step.event.cluster.cluster_id))
                elif step.event_type in ("ScoringChanged", "RulesChanged"):
                    out.whole_campaigns.add(cid)
                elif step.event_type == "BonusAwarded":
                    out.touched_units.add((cid, step.event.unit_id))
            elif step.kind == "unit":
                out.renamed_units.add(step.aggregate.unit_id)
        latest = ((tid, tsteps[-1].aggregate, tsteps[-1].position) for tid, tsteps in by_target.items())
        self._history(by_target, out)
        if self.defer_rows:
            # (batches ending before this one's start are committed: prepared ahead, this
            # one starts while the batch before it is being written)
            self.taken = [t for t in self.taken if t[0] >= batch.start]
            for tid, aggregate, position in latest:
                self.deferred[tid] = (aggregate, position)
            if not batch.full or len(self.deferred) >= self.MAX_DEFERRED:
                out.targets, out.copy_targets = self._take_deferred(batch.end)
        else:
            out.targets = self._target_rows(latest)
        self.parents_at = batch.end
        return out

    def _take_deferred(self, end: int | None = None) -> tuple[list[tuple[Any, ...]], bool]:
        """The deferred rows, and whether the table is still empty (COPY will do).
        `end`: the batch that takes them (kept until it is known to be committed)."""
        rows = self._target_rows((tid, agg, pos) for tid, (agg, pos) in self.deferred.items())
        copy, self.written_before = not self.written_before, True
        if end is not None:
            self.taken.append((end, self.deferred, copy))
        self.deferred = {}
        return rows, copy

    async def write(self, ctx: BatchContext, batch: TargetsBatch) -> None:
        await self._write_targets(ctx, batch.targets, batch.copy_targets)
        if batch.new_parents:  # (rows of this batch already say so; older rows learn it here)
            for r in await ctx.conn.fetch(
                    f"UPDATE {ctx.table('targets')} SET has_children = true WHERE target_id = ANY($1::uuid[]) "
                    "RETURNING campaign_id, unit_id", list(batch.new_parents)):
                batch.touched_units.add((r["campaign_id"], r["unit_id"]))
        if batch.closes:
            await ctx.conn.execute(
                f"UPDATE {ctx.table('target_status_history')} h SET valid_to = x.t "
                "FROM unnest($1::uuid[], $2::timestamptz[]) AS x(id, t) "
                "WHERE h.target_id = x.id AND h.valid_to IS NULL",
                [c[0] for c in batch.closes],
                [c[1] for c in batch.closes],
            )
        await copy_rows(ctx.conn, ctx.schema, "target_status_history", _HISTORY_COLUMNS,
                        [tuple(r) for r in batch.intervals])
        dirty = batch.dirty | await self._clusters_of(ctx, batch.touched_units, batch.whole_campaigns,
                                                      batch.renamed_units)
        # (Deferring rows, the boards wait for them: until the batches stop being full.)
        due = not self.defer_rows and self.watch.elapsed() >= self.recompute_every
        await self._scoreboards(ctx, dirty, final=ctx.caught_up or due)

    async def flush(self, ctx: BatchContext) -> bool:
        """Write deferred rows and recompute clusters left stale by a catch-up, once
        nothing is waiting (no batch is being prepared then)."""
        if self.deferred:
            await self._write_targets(ctx, *self._take_deferred())
        if ctx.positions.get("scoreboard", 0) >= ctx.positions.get("targets", 0):
            return False
        await self._scoreboards(ctx, set(), final=True)
        return True

    # ------------------------------------------------------------------ targets
    @staticmethod
    async def _write_targets(ctx: BatchContext, rows: list[tuple[Any, ...]], copy: bool) -> None:
        if copy:
            await copy_rows(ctx.conn, ctx.schema, "targets", [c for c, _ in _TARGET_COLUMNS], rows)
        else:
            await upsert_many(ctx.conn, ctx.schema, "targets", _TARGET_COLUMNS, rows, ("target_id",))

    def _target_rows(self, latest: Any) -> list[tuple[Any, ...]]:
        """Rows of (target id, aggregate, position of its last event) triples."""
        rows = []
        for tid, target, position in latest:
            esc = target.escalation
            rows.append(
                (
                    tid, target.campaign_id, target.unit_id, target.title, target.area, target.deadline,
                    target.deadline_at, target.points, str(target.status), bool(target.overdue),
                    str(target.report_class), target.version, None if esc is None else str(esc["state"]),
                    dumps(target.to_state()), target.assigned_at, target.updated_at, position, tid in self.parents,
                )
            )
        return rows

    @staticmethod
    def _history(by_target: dict[UUID, list[Step]], out: TargetsBatch) -> None:
        """One interval per change of a target's scoring facts (unit, points, status,
        overdue, report class): [valid_from, valid_to)."""
        closes, intervals, touched_units = out.closes, out.intervals, out.touched_units
        for tid, tsteps in by_target.items():
            prev = tsteps[0].before
            open_row: list[Any] | None = None
            prev_facts = prev.facts if prev is not None else None
            for step in tsteps:
                after = step.after
                assert after is not None
                facts = after.facts
                if facts == prev_facts:
                    prev = after
                    continue
                if open_row is not None:
                    open_row[9] = after.occurred_at
                elif prev is not None:
                    closes.append((tid, after.occurred_at))
                open_row = [
                    tid, step.position, after.campaign_id, after.unit_id, after.points, after.status,
                    after.overdue, after.report_class, after.occurred_at, None,
                ]
                intervals.append(open_row)
                if prev is not None:
                    touched_units.add((prev.campaign_id, prev.unit_id))
                touched_units.add((after.campaign_id, after.unit_id))
                prev, prev_facts = after, facts

    # ------------------------------------------------------------------ scoreboards
    async def _clusters_of(
        self, ctx: BatchContext, units: set[tuple[str, str]], whole_campaigns: set[str], renamed: set[str]
    ) -> Dirty:
        return await scoreboard.stale_clusters(ctx, units, whole_campaigns, renamed)

    async def _scoreboards(self, ctx: BatchContext, dirty: Dirty, *, final: bool) -> None:
        if await scoreboard.recompute_stale(ctx, dirty, final=final):
            self.watch.reset()
