"""What the read-model queries share: the pool they take, times as ISO 8601 strings,
and the catalog's lookups of a campaign and its clusters."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

Pool = Any  # asyncpg.Pool | asyncpg.Connection


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def now() -> datetime:
    return datetime.now(timezone.utc)


async def cluster_rows(pool: Pool, campaign_id: str, cluster_id: str | None = None) -> list[Any]:
    return await pool.fetch(
        "SELECT cluster_id, name, head_unit_id, deputy_unit_id, member_unit_ids FROM public.campaign_clusters "
        "WHERE campaign_id = $1 AND ($2::text IS NULL OR cluster_id = $2) ORDER BY cluster_id",
        campaign_id,
        cluster_id,
    )


async def campaign_exists(pool: Pool, campaign_id: str) -> bool:
    return bool(await pool.fetchval("SELECT EXISTS (SELECT 1 FROM public.campaigns WHERE campaign_id = $1)",
                                    campaign_id))
