"""The `cascade` projection: parents and children, and each parent's rollup.

- `target_links`: one row per target with its parent (if any), its decision's number and
  what a rollup counts (status, report class, points, percent), plus the positions of
  the events that last closed it (completed, cancelled) and last opened it again: the
  cascade names them as the provenance of what it does to the parent.
- `target_rollups`: one row per parent: its children by report class, how many are
  still open, and the percent done weighted by points (a completed child counts 100,
  an open one its last reported percent, a cancelled one not at all).

Each batch upserts the links of the targets it touched and recomputes, in SQL from
`target_links`, the rollups of the parents those targets hang under: a rollup is a
function of its children's rows, so projecting incrementally and rebuilding give the
same rows. When a rollup was recomputed the projector NOTIFYs `CASCADE_CHANNEL`, and the
cascade dispatcher (thidua.workflows.cascade) looks for parents to complete or reopen;
what it does goes through the parent's workflow, never from this transaction.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from thidua.domain.values import Status
from thidua.projections.batch import BatchContext, Prepared
from thidua.projections.pipeline import Step

CASCADE_CHANNEL = "thidua_cascade"  # NOTIFYed when rollups changed (the cascade dispatcher LISTENs)

_CLOSED = (str(Status.COMPLETED), str(Status.CANCELLED))
_LINK_COLUMNS = (
    ("target_id", "uuid"),
    ("campaign_id", "text"),
    ("parent_id", "uuid"),
    ("decision_number", "text"),
    ("unit_id", "text"),
    ("title", "text"),
    ("points", "numeric"),
    ("status", "text"),
    ("report_class", "text"),
    ("percent", "numeric"),
    ("closed_position", "bigint"),
    ("reopened_position", "bigint"),
    ("position", "bigint"),
)


def _closed(status: str) -> bool:
    return status in _CLOSED


class CascadeProjection:
    name = "cascade"

    def __init__(self, *, defer_rollups: bool = False) -> None:
        # A rebuild's tables serve nobody until the swap, and the index on `parent_id` is
        # made at the end: recomputing the rollups of the parents a batch touched would
        # scan every link in every batch (at the country's size 170,000 links, a few
        # hundred batches). Deferring, the parents are gathered and their rollups
        # computed once, when no event is waiting (`flush`). A rollup is a function of its
        # children's rows and a target's parent is set at its assignment, so the rows are
        # the ones batch by batch gives.
        self.defer_rollups = defer_rollups
        self.pending: set[UUID] = set()

    async def sync(self, conn: asyncpg.Connection, schema: str, start: int) -> None:
        pass

    def prepare(self, batch: Prepared, steps: list[Step]) -> list[tuple[Any, ...]]:
        by_target: dict[UUID, list[Step]] = {}
        for step in steps:
            if step.kind == "target":
                by_target.setdefault(step.stored.originator_id, []).append(step)
        rows = []
        for tid, tsteps in by_target.items():
            closed_at = reopened_at = None
            for step in tsteps:
                was_closed = step.before is not None and _closed(step.before.status)
                now_closed = _closed(step.after.status) if step.after is not None else False
                if now_closed and not was_closed:
                    closed_at = step.position
                elif was_closed and not now_closed:
                    reopened_at = step.position
            target = tsteps[-1].aggregate
            decision = target.decision or {}
            rows.append((
                tid, target.campaign_id, _uuid(getattr(target, "parent_id", None)), decision.get("number"),
                target.unit_id, target.title, target.points, str(target.status), str(target.report_class),
                target.percent, closed_at, reopened_at, tsteps[-1].position,
            ))
        return rows

    async def write(self, ctx: BatchContext, rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        links = ctx.table("target_links")
        names = [c for c, _ in _LINK_COLUMNS]
        casts = ", ".join(f"${i + 1}::{t}[]" for i, (_, t) in enumerate(_LINK_COLUMNS))
        # A position given only when this batch closed or reopened the target: else the stored one stays.
        updates = ", ".join(
            f"{n} = COALESCE(EXCLUDED.{n}, l.{n})" if n in ("closed_position", "reopened_position")
            else f"{n} = EXCLUDED.{n}" for n in names[1:])
        await ctx.conn.execute(
            f"INSERT INTO {links} AS l ({', '.join(names)}) SELECT * FROM unnest({casts}) "
            f"ON CONFLICT (target_id) DO UPDATE SET {updates}",
            *[list(col) for col in zip(*rows)],
        )
        if self.defer_rollups:
            self.pending.update(row[2] for row in rows if row[2] is not None)
            return
        await _recompute(ctx, {row[2] for row in rows if row[2] is not None} | {row[0] for row in rows})

    async def flush(self, ctx: BatchContext) -> bool:
        if not self.pending:
            return False
        parents, self.pending = self.pending, set()
        await _recompute(ctx, parents)
        return True


async def _recompute(ctx: BatchContext, parents: set[UUID]) -> None:
    """The rollups of `parents` from their children's links (NOTIFYing the dispatcher if any was written)."""
    links, rollups = ctx.table("target_links"), ctx.table("target_rollups")
    recomputed = await ctx.conn.fetchval(
        f"""WITH fresh AS (
            SELECT parent_id AS target_id, min(campaign_id) AS campaign_id, count(*) AS children,
                   count(*) FILTER (WHERE report_class = 'completed_on_time') AS completed_on_time,
                   count(*) FILTER (WHERE report_class = 'completed_late') AS completed_late,
                   count(*) FILTER (WHERE report_class = 'in_progress_within_deadline')
                       AS in_progress_within_deadline,
                   count(*) FILTER (WHERE report_class = 'overdue') AS overdue,
                   count(*) FILTER (WHERE report_class = 'cancelled') AS cancelled,
                   count(*) FILTER (WHERE status NOT IN ('completed', 'cancelled')) AS open_children,
                   {_PERCENT} AS percent,
                   max(position) AS position
            FROM {links} WHERE parent_id = ANY($1::uuid[]) GROUP BY parent_id
        ), written AS (
            INSERT INTO {rollups} SELECT target_id, campaign_id, children, completed_on_time, completed_late,
                in_progress_within_deadline, overdue, cancelled, open_children, percent, position FROM fresh
            ON CONFLICT (target_id) DO UPDATE SET campaign_id = EXCLUDED.campaign_id,
                children = EXCLUDED.children, completed_on_time = EXCLUDED.completed_on_time,
                completed_late = EXCLUDED.completed_late,
                in_progress_within_deadline = EXCLUDED.in_progress_within_deadline,
                overdue = EXCLUDED.overdue, cancelled = EXCLUDED.cancelled,
                open_children = EXCLUDED.open_children, percent = EXCLUDED.percent,
                position = EXCLUDED.position
            RETURNING 1
        ) SELECT count(*) FROM written""",
        sorted(parents, key=str),
    )
    if recomputed:
        await ctx.conn.execute("SELECT pg_notify($1, '')", CASCADE_CHANNEL)


# Percent done, weighted by points, over the children that are not cancelled: a completed
# child counts 100, an open one its last reported percent (0 before any). Children of no
# points at all count alike.
_PERCENT = """CASE WHEN count(*) FILTER (WHERE status <> 'cancelled') = 0 THEN NULL
    WHEN coalesce(sum(points) FILTER (WHERE status <> 'cancelled'), 0) = 0 THEN
        round(avg(CASE WHEN status = 'completed' THEN 100 ELSE coalesce(percent, 0) END)
              FILTER (WHERE status <> 'cancelled'), 2)
    ELSE round(sum(points * CASE WHEN status = 'completed' THEN 100 ELSE coalesce(percent, 0) END)
               FILTER (WHERE status <> 'cancelled') / sum(points) FILTER (WHERE status <> 'cancelled'), 2)
    END"""


def _uuid(value: Any) -> UUID | None:
    return None if value is None else UUID(str(value))
