"""Reads the pages need and the JSON API does not have (yet): each is one SQL query on the
read models, so a page's cost does not grow with the number of targets it summarises."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID


_OPEN_WORK = """
SELECT unit_id,
       count(*) FILTER (WHERE overdue) AS overdue,
       count(*) FILTER (WHERE coalesce((state->>'last_activity_at')::timestamptz, updated_at) < $2) AS stale
FROM public.targets
WHERE campaign_id = $1 AND status NOT IN ('completed', 'cancelled', 'awaiting_acceptance')  -- open work only
GROUP BY unit_id
HAVING count(*) FILTER (WHERE overdue) > 0
    OR count(*) FILTER (WHERE coalesce((state->>'last_activity_at')::timestamptz, updated_at) < $2) > 0
"""

# Users have no read model of their own; their events are in the audit trail (a
# projection, hash-chained), which says who exists, in which role, and who is revoked.
_PEOPLE = """
SELECT aggregate_id AS id,
       max(changes->>'name') FILTER (WHERE event_type = 'Created') AS name,
       max(changes->>'role') FILTER (WHERE event_type = 'Created') AS role,
       max(changes->>'unit_id') FILTER (WHERE event_type = 'Created') AS unit_id,
       max(changes->>'login') FILTER (WHERE event_type = 'Created') AS login,
       bool_or(event_type = 'Revoked') AS revoked
FROM public.audit_log WHERE aggregate_type = 'user'
GROUP BY aggregate_id
"""


async def open_work_per_unit(pool: Any, campaign_id: str, stale_before: datetime) -> dict[str, dict[str, int]]:
    """{unit_id: {overdue, stale}} for the units with open targets overdue or without news since `stale_before`."""
    rows = await pool.fetch(_OPEN_WORK, campaign_id, stale_before)
    return {r["unit_id"]: {"overdue": r["overdue"], "stale": r["stale"]} for r in rows}


async def people(pool: Any) -> list[dict[str, Any]]:
    return [dict(r) for r in await pool.fetch(_PEOPLE) if r["name"]]


async def catalog_mark(pool: Any) -> tuple[int, datetime] | None:
    """Where the `catalog` projection (campaigns' and units' rows) stands: its tracking
    row's position and time, written in the same transaction as every change of those
    rows (and new after a rebuild), so rows read after a mark are at least as new as it.
    None before the read models exist."""
    row = await pool.fetchrow("SELECT position, updated_at FROM public.projection_tracking WHERE name = 'catalog'")
    return None if row is None else (row["position"], row["updated_at"])


async def trail_has(pool: Any, target_id: str, version: int) -> bool:
    """Whether the audit trail holds the target's event of `version` (the trail is its own
    projection and may trail the target's row)."""
    return bool(await pool.fetchval(
        "SELECT EXISTS (SELECT 1 FROM public.audit_log WHERE target_id = $1 AND originator_id = $1 "
        "AND aggregate_version = $2)", UUID(str(target_id)), version))
