"""The `targets` projection: current targets, their status intervals, and the
cluster scoreboards (recomputed by `domain.scoring.scoreboard` for clusters a batch
touched)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from domain.campaign import campaign_uuid, unit_uuid
from domain.scoring import scoreboard as domain_scoreboard
from projections.batch import BatchContext, Stopwatch, copy_rows, upsert
from projections.boards import SCOREBOARD_COLUMNS, adjustments_of, scoreboard_rows, target_facts
from projections.codec import dumps
from projections.pipeline import Step

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
)
_HISTORY_COLUMNS = (
    "target_id", "position", "campaign_id", "unit_id", "points", "status", "overdue", "report_class",
    "valid_from", "valid_to",
)

Dirty = set[tuple[str, str]]  # (campaign_id, cluster_id)


class TargetsProjection:
    name = "targets"

    def __init__(self, recompute_every: float = 2.0) -> None:
        # During a catch-up, cluster boards are recomputed at most this often (seconds);
        # stale clusters are marked in scoreboard_dirty meanwhile.
        self.recompute_every = recompute_every
        self.watch = Stopwatch()

    async def apply(self, ctx: BatchContext, steps: list[Step]) -> None:
        by_target: dict[UUID, list[Step]] = {}
        touched_units: set[tuple[str, str]] = set()  # (campaign_id, unit_id)
        dirty: Dirty = set()
        renamed_units: set[str] = set()
        whole_campaigns: set[str] = set()
        for step in steps:
            if step.kind == "target":
                by_target.setdefault(step.stored.originator_id, []).append(step)
            elif step.kind == "campaign":
                cid = step.aggregate.campaign_id
                if step.event_type == "ClusterSet":
                    dirty.add((cid, step.event.cluster.cluster_id))
                elif step.event_type == "ScoringChanged":
                    whole_campaigns.add(cid)
                elif step.event_type == "BonusAwarded":
                    touched_units.add((cid, step.event.unit_id))
            elif step.kind == "unit":
                renamed_units.add(step.aggregate.unit_id)

        await self._write_targets(ctx, by_target)
        await self._write_history(ctx, by_target, touched_units)
        dirty |= await self._clusters_of(ctx, touched_units, whole_campaigns, renamed_units)
        await self._scoreboards(ctx, dirty, final=ctx.caught_up or self.watch.elapsed() >= self.recompute_every)

    async def flush(self, ctx: BatchContext) -> bool:
        """Recompute clusters left stale by a catch-up, once nothing is waiting."""
        if ctx.positions.get("scoreboard", 0) >= ctx.positions.get("targets", 0):
            return False
        await self._scoreboards(ctx, set(), final=True)
        return True

    # ------------------------------------------------------------------ targets
    async def _write_targets(self, ctx: BatchContext, by_target: dict[UUID, list[Step]]) -> None:
        rows = []
        for tid, tsteps in by_target.items():
            target = tsteps[-1].aggregate
            esc = target.escalation
            rows.append(
                (
                    tid, target.campaign_id, target.unit_id, target.title, target.area, target.deadline,
                    target.deadline_at, target.points, str(target.status), bool(target.overdue),
                    str(target.report_class), target.version, None if esc is None else str(esc["state"]),
                    dumps(target.to_state()), target.assigned_at, target.updated_at, tsteps[-1].position,
                )
            )
        await upsert(ctx.conn, ctx.table("targets"), _TARGET_COLUMNS, rows, ("target_id",))

    async def _write_history(
        self, ctx: BatchContext, by_target: dict[UUID, list[Step]], touched_units: set[tuple[str, str]]
    ) -> None:
        """One interval per change of a target's scoring facts (unit, points, status,
        overdue, report class): [valid_from, valid_to)."""
        closes: list[tuple[UUID, Any]] = []
        intervals: list[list[Any]] = []
        for tid, tsteps in by_target.items():
            prev = tsteps[0].before
            open_index: int | None = None
            for step in tsteps:
                after = step.after
                assert after is not None
                if prev is not None and after.facts == prev.facts:
                    prev = after
                    continue
                if open_index is not None:
                    intervals[open_index][9] = after.occurred_at
                elif prev is not None:
                    closes.append((tid, after.occurred_at))
                intervals.append([
                    tid, step.position, after.campaign_id, after.unit_id, after.points, after.status,
                    after.overdue, after.report_class, after.occurred_at, None,
                ])
                open_index = len(intervals) - 1
                if prev is not None:
                    touched_units.add((prev.campaign_id, prev.unit_id))
                touched_units.add((after.campaign_id, after.unit_id))
                prev = after
        if closes:
            await ctx.conn.execute(
                f"UPDATE {ctx.table('target_status_history')} h SET valid_to = x.t "
                "FROM unnest($1::uuid[], $2::timestamptz[]) AS x(id, t) "
                "WHERE h.target_id = x.id AND h.valid_to IS NULL",
                [c[0] for c in closes],
                [c[1] for c in closes],
            )
        await copy_rows(ctx.conn, ctx.schema, "target_status_history", _HISTORY_COLUMNS,
                        [tuple(r) for r in intervals])

    # ------------------------------------------------------------------ scoreboards
    async def _clusters_of(
        self, ctx: BatchContext, units: set[tuple[str, str]], whole_campaigns: set[str], renamed: set[str]
    ) -> Dirty:
        dirty: Dirty = set()
        campaigns: dict[str, Any] = {}
        for cid in {c for c, _ in units} | whole_campaigns:
            campaigns[cid] = await ctx.cache.get_at(ctx.conn, campaign_uuid(cid), ctx.batch_end)
        for cid, unit_id in units:
            campaign = campaigns[cid]
            cluster_id = campaign.cluster_of(unit_id) if campaign is not None else None
            if cluster_id is not None:
                dirty.add((cid, cluster_id))
        for cid in whole_campaigns:
            campaign = campaigns[cid]
            if campaign is not None:
                dirty |= {(cid, k) for k in campaign.clusters}
        if renamed:
            rows = await ctx.conn.fetch(
                f"SELECT DISTINCT campaign_id, cluster_id FROM {ctx.table('scoreboard')} WHERE unit_id = ANY($1)",
                list(renamed),
            )
            dirty |= {(r["campaign_id"], r["cluster_id"]) for r in rows}
        return dirty

    async def _scoreboards(self, ctx: BatchContext, dirty: Dirty, *, final: bool) -> None:
        table = ctx.table("scoreboard_dirty")
        if not final:
            if dirty:
                await ctx.conn.execute(
                    f"INSERT INTO {table} (campaign_id, cluster_id) SELECT * FROM unnest($1::text[], $2::text[]) "
                    "ON CONFLICT DO NOTHING",
                    [d[0] for d in dirty],
                    [d[1] for d in dirty],
                )
            pending = await ctx.conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM {table})")
            if pending:
                # stale clusters remain: the scoreboard position stays where it was complete
                ctx.new_positions["scoreboard"] = ctx.positions.get("scoreboard", 0)
            return
        marked = await ctx.conn.fetch(f"DELETE FROM {table} RETURNING campaign_id, cluster_id")
        dirty = dirty | {(r["campaign_id"], r["cluster_id"]) for r in marked}
        by_campaign: dict[str, set[str]] = {}
        for cid, kid in dirty:
            by_campaign.setdefault(cid, set()).add(kid)
        for cid, kids in sorted(by_campaign.items()):
            await self._recompute(ctx, cid, kids)
        ctx.new_positions["scoreboard"] = ctx.batch_end
        self.watch.reset()

    async def _recompute(self, ctx: BatchContext, campaign_id: str, cluster_ids: set[str]) -> None:
        conn, pos = ctx.conn, ctx.batch_end
        campaign = await ctx.cache.get_at(conn, campaign_uuid(campaign_id), pos)
        await conn.execute(
            f"DELETE FROM {ctx.table('scoreboard')} WHERE campaign_id = $1 AND cluster_id = ANY($2)",
            campaign_id,
            list(cluster_ids),
        )
        if campaign is None:
            return
        clusters = [campaign.clusters[k] for k in sorted(cluster_ids) if k in campaign.clusters]
        unit_ids = sorted({u for c in clusters for u in c.unit_ids})
        if not unit_ids:
            return
        facts = target_facts(await conn.fetch(
            f"SELECT unit_id, points, report_class, status FROM {ctx.table('targets')} "
            "WHERE campaign_id = $1 AND unit_id = ANY($2)",
            campaign_id,
            unit_ids,
        ))
        names = {}
        for u in unit_ids:
            unit = await ctx.cache.get_at(conn, unit_uuid(u), pos)
            names[u] = unit.name if unit is not None else u
        boards = domain_scoreboard(clusters, facts, adjustments_of(campaign.adjustments), campaign.scoring, names)
        await copy_rows(conn, ctx.schema, "scoreboard", SCOREBOARD_COLUMNS, scoreboard_rows(campaign_id, boards))
