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


_BOTH = (
    "(SELECT position, occurred_at, actor_id, actor_name, actor_role, changes, event_type FROM public.audit_log "
    "WHERE target_id = $1 AND event_type = 'Commented' ORDER BY position LIMIT $2) UNION ALL "
    "(SELECT position, occurred_at, actor_id, actor_name, actor_role, changes, event_type FROM public.audit_log "
    "WHERE target_id = $1 AND event_type = 'EvidenceAttached' ORDER BY position LIMIT $2)"
)


async def target_paper(pool: Any, target_id: UUID | str, limit: int = 50) -> tuple[dict[str, Any], dict[str, Any]]:
    """The first pages of `target_comments` and `target_evidence` together (the target
    page shows both), in one round trip; each as those functions answer it."""
    rows = await pool.fetch(_BOTH, UUID(str(target_id)), limit + 1)
    found: dict[str, list[Any]] = {"Commented": [], "EvidenceAttached": []}
    for r in rows:
        found[r["event_type"]].append(r)
    pages = []
    for event_type, item in (("Commented", _comment), ("EvidenceAttached", _evidence)):
        kept = found[event_type]
        more = len(kept) > limit
        kept = kept[:limit]
        pages.append({"items": [item(r) for r in kept], "next_after": kept[-1]["position"] if more and kept else None})
    return pages[0], pages[1]


def _comment(r: Any) -> dict[str, Any]:
    changes = loads(r["changes"])
    return {"position": r["position"], "kind": changes.get("kind"), "body": changes.get("body"),
            "author": _author(r), "occurred_at": iso(r["occurred_at"])}


def _evidence(r: Any) -> dict[str, Any]:
    changes = loads(r["changes"])
    return {"sha256": changes["sha256"], "name": changes["name"], "size": changes["size"],
            "content_type": changes["content_type"], "position": r["position"],
            "attached_by": _author(r), "attached_at": iso(r["occurred_at"])}


async def target_comments(pool: Any, target_id: UUID | str, limit: int = 50, after: int | None = None
                          ) -> dict[str, Any]:
    """Comments, urges, directives and replies, oldest first."""
    rows, next_after = await _rows(pool, target_id, "Commented", limit, after)
    return {"items": [_comment(r) for r in rows], "next_after": next_after}


async def target_evidence(pool: Any, target_id: UUID | str, limit: int = 50, after: int | None = None
                          ) -> dict[str, Any]:
    """Evidence files attached, oldest first: `{sha256, name, size, content_type, position, ...}`."""
    rows, next_after = await _rows(pool, target_id, "EvidenceAttached", limit, after)
    return {"items": [_evidence(r) for r in rows], "next_after": next_after}
