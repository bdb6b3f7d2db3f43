"""The paper trail of a target as lists: its comments and its evidence files.

Read from the audit trail (`audit_log`, one row per event with the event's own
attributes in `changes`), so they need no read model of their own: what the trail
shows is what the lists show, and a rebuild of the trail rebuilds them.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from thidua.projections.codec import loads
from thidua.projections.reading import iso

_SELECT = (
    "SELECT position, occurred_at, actor_id, actor_name, actor_role, changes FROM public.audit_log "
    "WHERE target_id = $1 AND event_type = $2 AND position > $3 ORDER BY position LIMIT $4"
)


async def _rows(pool: Any, target_id: UUID | str, event_type: str, limit: int, after: int | None) -> tuple[list, Any]:
    rows = await pool.fetch(_SELECT, UUID(str(target_id)), event_type, int(after or 0), limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, rows[-1]["position"] if more and rows else None


def _author(r: Any) -> dict[str, Any]:
    return {"id": r["actor_id"], "name": r["actor_name"], "role": r["actor_role"]}


async def target_comments(pool: Any, target_id: UUID | str, limit: int = 50, after: int | None = None
                          ) -> dict[str, Any]:
    """Comments, urges, directives and replies, oldest first."""
    rows, next_after = await _rows(pool, target_id, "Commented", limit, after)
    items = []
    for r in rows:
        changes = loads(r["changes"])
        items.append({"position": r["position"], "kind": changes.get("kind"), "body": changes.get("body"),
                      "author": _author(r), "occurred_at": iso(r["occurred_at"])})
    return {"items": items, "next_after": next_after}


async def target_evidence(pool: Any, target_id: UUID | str, limit: int = 50, after: int | None = None
                          ) -> dict[str, Any]:
    """Evidence files attached, oldest first: `{sha256, name, size, content_type, position, ...}`."""
    rows, next_after = await _rows(pool, target_id, "EvidenceAttached", limit, after)
    items = []
    for r in rows:
        changes = loads(r["changes"])
        items.append({"sha256": changes["sha256"], "name": changes["name"], "size": changes["size"],
                      "content_type": changes["content_type"], "position": r["position"],
                      "attached_by": _author(r), "attached_at": iso(r["occurred_at"])})
    return {"items": items, "next_after": next_after}
