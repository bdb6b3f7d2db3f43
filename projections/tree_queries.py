"""Queries of the cascade read model (thidua.projections.cascade): rollups, children,
a decision's tree and a campaign's parents ("city targets"). JSON-ready answers."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from thidua.projections.codec import loads
from thidua.projections.reading import Pool

ROLLUP_COUNTS = ("completed_on_time", "completed_late", "in_progress_within_deadline", "overdue", "cancelled")
_ROLLUP_SELECT = ("SELECT target_id, children, open_children, percent, "
                  + ", ".join(ROLLUP_COUNTS) + " FROM public.target_rollups")
# A target as `targets.state` has it, with its rollup (when it has children) beside.
_TARGETS_WITH_ROLLUPS = (
    "SELECT t.state, r.children, r.open_children, r.percent, "
    + ", ".join(f"r.{c}" for c in ROLLUP_COUNTS)
    + " FROM public.targets t LEFT JOIN public.target_rollups r ON r.target_id = t.target_id"
)


def rollup_of(row: Any) -> dict[str, Any] | None:
    """The contract's `rollup` from a row with the rollup's columns (None: no children)."""
    if row is None or row["children"] is None:
        return None
    return {
        "children": row["children"],
        **{c: row[c] for c in ROLLUP_COUNTS},
        "open": row["open_children"],
        "percent": None if row["percent"] is None else float(row["percent"]),
    }


def _with_rollup(row: Any) -> dict[str, Any]:
    state = loads(row["state"])
    state["rollup"] = rollup_of(row)
    return state


async def rollup(pool: Pool, target_id: UUID | str) -> dict[str, Any] | None:
    return rollup_of(await pool.fetchrow(f"{_ROLLUP_SELECT} WHERE target_id = $1", UUID(str(target_id))))


async def target_with_rollup(pool: Pool, target_id: UUID | str) -> tuple[dict[str, Any], dict[str, Any] | None] | None:
    """A target's read-model row (as `queries.get_target` reads it) and its rollup (as
    `rollup` reads it), in one query; None when the target is not projected (or the id
    is no UUID)."""
    try:
        key = UUID(str(target_id))
    except ValueError:
        return None
    row = await pool.fetchrow(f"{_TARGETS_WITH_ROLLUPS} WHERE t.target_id = $1", key)
    if row is None:
        return None
    return loads(row["state"]), rollup_of(row)


async def open_children(pool: Pool, target_id: UUID | str) -> int:
    """How many children of this target the read model knows open (0: none, or no children)."""
    count = await pool.fetchval("SELECT open_children FROM public.target_rollups WHERE target_id = $1",
                                UUID(str(target_id)))
    return int(count or 0)


async def children(pool: Pool, target_id: UUID | str, limit: int, after: str | None) -> dict[str, Any]:
    """The children of a target (with their own rollups), in key order, paged."""
    rows = await pool.fetch(
        f"{_TARGETS_WITH_ROLLUPS} JOIN public.target_links l ON l.target_id = t.target_id "
        "WHERE l.parent_id = $1 AND ($2::text IS NULL OR t.target_id::text > $2) "
        "ORDER BY t.target_id::text LIMIT $3",
        UUID(str(target_id)), after, limit + 1)
    items = [_with_rollup(r) for r in rows]
    more = len(items) > limit
    items = items[:limit]
    return {"items": items, "next_after": items[-1]["id"] if more and items else None}


async def decision_campaigns(pool: Pool, number: str) -> list[str]:
    """The campaigns that registered decision `number`."""
    rows = await pool.fetch(
        "SELECT campaign_id FROM public.campaigns, jsonb_array_elements(state->'decisions') d "
        "WHERE d->>'number' = $1 ORDER BY campaign_id", number)
    return [r["campaign_id"] for r in rows]


async def decision_tree(pool: Pool, campaign_id: str, number: str) -> list[dict[str, Any]]:
    """The targets that cite decision `number` in the campaign, each with its rollup and
    its children (each with its own rollup), in title order."""
    roots = await pool.fetch(
        f"{_TARGETS_WITH_ROLLUPS} JOIN public.target_links l ON l.target_id = t.target_id "
        "WHERE l.decision_number = $1 AND l.campaign_id = $2 ORDER BY t.title, t.target_id",
        number, campaign_id)
    tree = [_with_rollup(r) for r in roots]
    ids = [UUID(t["id"]) for t in tree]
    kids = await pool.fetch(
        f"{_TARGETS_WITH_ROLLUPS} JOIN public.target_links l ON l.target_id = t.target_id "
        "WHERE l.parent_id = ANY($1::uuid[]) ORDER BY t.title, t.target_id", ids) if ids else []
    by_parent: dict[str, list[dict[str, Any]]] = {}
    for r in kids:
        child = _with_rollup(r)
        by_parent.setdefault(child["parent_id"], []).append(child)
    return [{**t, "children": by_parent.get(t["id"], [])} for t in tree]


async def parents(pool: Pool, campaign_id: str) -> list[dict[str, Any]]:
    """The campaign's targets that have children (the city's own targets), with rollups."""
    rows = await pool.fetch(
        f"{_TARGETS_WITH_ROLLUPS} WHERE r.campaign_id = $1 ORDER BY t.title, t.target_id", campaign_id)
    return [_with_rollup(r) for r in rows]
