"""Which targets a campaign operation reaches: the `targets` read model, queried by campaign.

Synchronous (the worker's event-store connection pool, psycopg): call from a thread. The
read model lives in the event store's database; a row's `position` is that of the last
event projected into it, so it only grows, and `position > p` names every target stored
or changed after `p` (see CampaignOperationWorkflow for how the two passes use that).
"""

from __future__ import annotations

from typing import Any

from thidua.projections.schema import TRACKING_TABLE

# The tracking row the projector advances once the `targets` table is written.
TARGETS_TRACKING = "targets"


def _fetch(app: Any, sql: str, params: tuple[Any, ...]) -> list[Any]:
    with app.recorder.datastore.transaction(commit=False) as curs:
        curs.execute(sql, params)
        return list(curs.fetchall())


def targets_projected_to(app: Any) -> int:
    """The event position the `targets` read model has reached (0 before the projector
    first ran)."""
    rows = _fetch(app, "SELECT to_regclass(%s) IS NOT NULL AS present", (f"public.{TRACKING_TABLE}",))
    if not rows[0]["present"]:
        return 0
    rows = _fetch(app, f"SELECT position FROM public.{TRACKING_TABLE} WHERE name = %s", (TARGETS_TRACKING,))
    return int(rows[0]["position"]) if rows else 0


def count_campaign_targets(app: Any, campaign_id: str, after_position: int = 0) -> int:
    rows = _fetch(app, "SELECT count(*) AS n FROM public.targets WHERE campaign_id = %s AND position > %s",
                  (campaign_id, after_position))
    return int(rows[0]["n"])


def page_of_campaign_targets(app: Any, campaign_id: str, after_id: str | None, after_position: int,
                             limit: int) -> list[str]:
    """Up to `limit` ids of the campaign's targets after `after_id`, in id order."""
    if limit <= 0:
        return []
    rows = _fetch(
        app,
        "SELECT target_id FROM public.targets WHERE campaign_id = %s AND position > %s "
        "AND target_id > %s::uuid ORDER BY target_id LIMIT %s",
        (campaign_id, after_position, after_id or "00000000-0000-0000-0000-000000000000", limit),
    )
    return [str(row["target_id"]) for row in rows]
