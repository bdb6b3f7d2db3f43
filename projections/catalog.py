"""The `catalog` projection: campaigns (with clusters, scale, reward rules and bonus history) and units."""

from __future__ import annotations

from typing import Any

import asyncpg

from thidua.projections.batch import BatchContext, Prepared, upsert
from thidua.projections.codec import dumps
from thidua.projections.pipeline import Step

_CAMPAIGN_COLUMNS = (
    ("campaign_id", "text"),
    ("name", "text"),
    ("starts_on", "date"),
    ("ends_on", "date"),
    ("timezone", "text"),
    ("policy", "jsonb"),
    ("scoring", "jsonb"),
    ("closed", "boolean"),
    ("version", "integer"),
    ("state", "jsonb"),
    ("created_at", "timestamptz"),
    ("updated_at", "timestamptz"),
    ("position", "bigint"),
)
_UNIT_COLUMNS = (
    ("unit_id", "text"),
    ("name", "text"),
    ("kind", "text"),
    ("head_name", "text"),
    ("version", "integer"),
    ("updated_at", "timestamptz"),
    ("position", "bigint"),
)


class CatalogProjection:
    name = "catalog"

    async def sync(self, conn: asyncpg.Connection, schema: str, start: int) -> None:
        pass

    def prepare(self, batch: Prepared, steps: list[Step]) -> tuple[list[Any], ...]:
        campaigns: dict[str, tuple[Any, int]] = {}
        created: dict[str, Any] = {}
        units: dict[str, tuple[Any, int]] = {}
        clusters: dict[tuple[str, str], tuple[Any, Any, int]] = {}
        history: list[tuple[Any, ...]] = []
        scales: list[tuple[Any, ...]] = []
        bonuses: list[tuple[Any, ...]] = []
        rules: list[tuple[Any, ...]] = []
        for step in steps:
            event, pos = step.event, step.position
            if step.kind == "campaign":
                campaign = step.aggregate
                cid = campaign.campaign_id
                campaigns[cid] = (campaign, pos)
                if step.event_type == "Created":
                    created[cid] = event.occurred_at
                    scale = event.scoring
                    scales.append((cid, pos, event.occurred_at, scale.on_time, scale.late, scale.reward_slots,
                                   event.occurred_at))
                elif step.event_type == "ScoringChanged":
                    scale = event.scoring
                    scales.append((cid, pos, event.effective_at, scale.on_time, scale.late, scale.reward_slots,
                                   event.occurred_at))
                elif step.event_type == "ClusterSet":
                    c = event.cluster
                    clusters[(cid, c.cluster_id)] = (c, event.occurred_at, pos)
                    history.append((cid, c.cluster_id, pos, c.name, c.head_unit_id, c.deputy_unit_id,
                                    list(c.member_unit_ids), event.occurred_at))
                elif step.event_type == "RulesChanged":
                    rules.append((cid, pos, event.effective_at, dumps(event.forms), event.occurred_at))
                elif step.event_type == "BonusAwarded":
                    bonuses.append((cid, pos, event.unit_id, event.points, event.reason, event.occurred_at,
                                    event.actor.id))
            elif step.kind == "unit":
                units[step.aggregate.unit_id] = (step.aggregate, pos)

        # Rows now: the aggregates change in place as later batches are prepared.
        campaign_rows = [_campaign_row(c, p, created.get(cid)) for cid, (c, p) in campaigns.items()]
        unit_rows = [(u.unit_id, u.name, u.kind, u.head_name, u.version, u.updated_at, p) for u, p in units.values()]
        cluster_rows = [(cid, kid, c.name, c.head_unit_id, c.deputy_unit_id, list(c.member_unit_ids), at, pos)
                        for (cid, kid), (c, at, pos) in clusters.items()]
        return campaign_rows, unit_rows, cluster_rows, history, scales, bonuses, rules

    async def write(self, ctx: BatchContext, prepared: tuple[list[Any], ...]) -> None:
        campaign_rows, unit_rows, clusters, history, scales, bonuses, rules = prepared
        conn = ctx.conn
        await upsert(conn, ctx.table("campaigns"), _CAMPAIGN_COLUMNS, campaign_rows, ("campaign_id",),
                     keep=("created_at",))
        await upsert(conn, ctx.table("units"), _UNIT_COLUMNS, unit_rows, ("unit_id",))
        if clusters:
            # executemany: member lists are arrays, which unnest() would flatten.
            await conn.executemany(
                f"INSERT INTO {ctx.table('campaign_clusters')} (campaign_id, cluster_id, name, head_unit_id, "
                "deputy_unit_id, member_unit_ids, set_at, position) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
                "ON CONFLICT (campaign_id, cluster_id) DO UPDATE SET name = EXCLUDED.name, "
                "head_unit_id = EXCLUDED.head_unit_id, deputy_unit_id = EXCLUDED.deputy_unit_id, "
                "member_unit_ids = EXCLUDED.member_unit_ids, set_at = EXCLUDED.set_at, position = EXCLUDED.position",
                clusters,
            )
        if history:
            await conn.executemany(
                f"INSERT INTO {ctx.table('campaign_cluster_history')} (campaign_id, cluster_id, position, name, "
                "head_unit_id, deputy_unit_id, member_unit_ids, valid_from) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                history,
            )
        if scales:
            await conn.executemany(
                f"INSERT INTO {ctx.table('campaign_scales')} (campaign_id, position, effective_at, on_time, late, "
                "reward_slots, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                scales,
            )
        if rules:
            await conn.executemany(
                f"INSERT INTO {ctx.table('campaign_rules')} (campaign_id, position, effective_at, forms, recorded_at) "
                "VALUES ($1, $2, $3, $4, $5)",
                rules,
            )
        if bonuses:
            await conn.executemany(
                f"INSERT INTO {ctx.table('campaign_bonuses')} (campaign_id, position, unit_id, points, reason, "
                "awarded_at, awarded_by) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                bonuses,
            )

    async def flush(self, ctx: BatchContext) -> bool:
        return False


def _campaign_row(campaign: Any, position: int, created_at: Any) -> tuple[Any, ...]:
    # created_at is only known at the Created event; later batches keep the stored value.
    state = campaign.to_state()
    return (
        campaign.campaign_id,
        campaign.name,
        campaign.starts_on,
        campaign.ends_on,
        campaign.timezone,
        dumps(state["policy"]),
        dumps(state["scoring"]),
        bool(campaign.closed),
        campaign.version,
        dumps(state),
        created_at or campaign.created_on,
        campaign.updated_at,
        position,
    )
