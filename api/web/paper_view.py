"""What a target's page shows of its paper trail: the comment thread with the kinds this
person may write, the urge to put at the top, the evidence files and whether this person
may upload one. Read from the same queries as the JSON routes (thidua.projections.paper)
and decided by the same declarations (thidua.domain.lifecycle)."""

from __future__ import annotations

from typing import Any

from thidua.api.deps import cluster_leads
from thidua.domain import lifecycle as lc
from thidua.domain.values import Role, Status
from thidua.api.web import page_reads

THREAD_SIZE = 200


async def paper_context(services: Any, who: Any, target: Any, row: dict[str, Any]) -> dict[str, Any]:
    """`paper` for the target page's template."""
    readers = (*target.coordinating_unit_ids, *await cluster_leads(services, who, target))
    open_for_comments = Status(row["status"]) in lc.COMMENT.from_states
    comments, evidence = await page_reads.paper_lists(services, str(target.id), row.get("version"), THREAD_SIZE)
    urge = row.get("last_urge")
    return {
        "comments": comments,
        "evidence": evidence,
        "kinds": lc.comment_kinds_for(who.actor, target.unit_id, readers) if open_for_comments else [],
        "may_attach": lc.ATTACH_EVIDENCE.available(who.actor, row["unit_id"], row["status"]),
        # An urge on an overdue target, at the top of the page of the unit's head.
        "urge_banner": urge if urge and row.get("overdue") and who.role == Role.UNIT_HEAD
        and who.unit_id == row["unit_id"] else None,
        "max_comment": lc.MAX_COMMENT_LENGTH,
        "max_bytes": int(services.extras.get("evidence_max_bytes", 20 * 1024 * 1024)),
    }
