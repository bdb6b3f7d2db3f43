"""Read-model queries for the API (asyncpg).

Every function takes an asyncpg pool or connection first and returns JSON-ready data
(datetimes as ISO 8601 strings, numbers as floats) in the shapes of DESIGN.md.
Lists return `{"items": [...], "next_after": KEY | None}`: pass `next_after` back as
`after` (or `after_position`) for the next page; it is None on the last page. KEY is
JSON-serialisable (a string, an int or a list), for the API to wrap in an opaque cursor.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from thidua.domain.history import is_migrated
from thidua.domain.values import parse_duration
from thidua.projections.audit import verify
from thidua.projections.codec import EVENTS, loads
from thidua.projections.schema import TRACKING_ROWS, ensure_schema
from thidua.projections.reading import Pool, cluster_rows, iso, now
# The API reads boards through this module too; their SQL is projections/scoreboard.py's.
from thidua.projections.scoreboard import scoreboard, scoreboard_context, scoreboard_snapshot, what_if


def _page(items: list[Any], limit: int, key: Any) -> dict[str, Any]:
    more = len(items) > limit
    items = items[:limit]
    return {"items": items, "next_after": key(items[-1]) if more and items else None}


def _uuid(value: UUID | str | None) -> UUID | None:
    if value is None or isinstance(value, UUID):
        return value
    try:
        return UUID(str(value))
    except ValueError:
        return None


# ---------------------------------------------------------------------- positions
async def projection_positions(pool: Pool) -> dict[str, int]:
    """Tracking position of every projection (for a lag metric)."""
    rows = await pool.fetch("SELECT name, position FROM public.projection_tracking ORDER BY name")
    return {r["name"]: r["position"] for r in rows}


async def max_event_position(pool: Pool) -> int:
    """The global position of the last committed event (0 for an empty store)."""
    exists = await pool.fetchval("SELECT to_regclass($1) IS NOT NULL", EVENTS)
    if not exists:
        return 0
    return await pool.fetchval(f"SELECT coalesce(max(notification_id), 0) FROM {EVENTS}")


async def wait_for_position(pool: Pool, position: int, timeout: float = 5.0) -> bool:
    """True once every projection has passed `position`; False after `timeout` seconds.
    A read model stopped at an event it cannot apply (thidua.projections.faults: /healthz says
    which) is not waited for: it would hold every read back."""
    if position <= 0:
        return True
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    delay = 0.005
    rows = [row for rows in TRACKING_ROWS.values() for row in rows]
    groups = [group for group, rows in TRACKING_ROWS.items() for _ in rows]
    while True:
        low = await pool.fetchval(
            "SELECT min(t.position) FROM public.projection_tracking AS t "
            "JOIN unnest($1::text[], $2::text[]) AS g(row_name, grp) ON g.row_name = t.name "
            "WHERE NOT EXISTS (SELECT 1 FROM public.projection_faults AS f WHERE f.name = g.grp)",
            rows, groups,
        )
        if low is not None and low >= position:
            return True
        remaining = deadline - loop.time()
        if remaining <= 0:
            return False
        await asyncio.sleep(min(delay, remaining))
        delay = min(delay * 2, 0.1)


# ---------------------------------------------------------------------- campaigns, units
async def list_campaigns(pool: Pool, limit: int = 100, after: str | None = None) -> dict[str, Any]:
    rows = await pool.fetch(
        "SELECT campaign_id, state FROM public.campaigns WHERE ($1::text IS NULL OR campaign_id > $1) "
        "ORDER BY campaign_id LIMIT $2",
        after,
        limit + 1,
    )
    return _page([loads(r["state"]) for r in rows], limit, lambda c: c["id"])


async def get_campaign(pool: Pool, campaign_id: str) -> dict[str, Any] | None:
    """The campaign shape with clusters (head/deputy/member unit ids), policy, scoring
    and decisions."""
    state = await pool.fetchval("SELECT state FROM public.campaigns WHERE campaign_id = $1", campaign_id)
    return None if state is None else loads(state)


def _unit(r: Any) -> dict[str, Any]:
    return {
        "id": r["unit_id"], "name": r["name"], "kind": r["kind"], "head_name": r["head_name"],
        "version": r["version"], "updated_at": iso(r["updated_at"]),
    }


async def list_units(pool: Pool, limit: int = 100, after: str | None = None) -> dict[str, Any]:
    rows = await pool.fetch(
        "SELECT unit_id, name, kind, head_name, version, updated_at FROM public.units "
        "WHERE ($1::text IS NULL OR unit_id > $1) ORDER BY unit_id LIMIT $2",
        after,
        limit + 1,
    )
    return _page([_unit(r) for r in rows], limit, lambda u: u["id"])


async def unit_names(pool: Pool, ids: Iterable[str] | None = None) -> dict[str, str]:
    """Unit id -> name of the units `ids` (those registered; every unit when None): the
    pages' labels, the two columns only, not `list_units`' whole rows."""
    if ids is None:
        rows = await pool.fetch("SELECT unit_id, name FROM public.units")
    else:
        rows = await pool.fetch("SELECT unit_id, name FROM public.units WHERE unit_id = ANY($1::text[])", list(ids))
    return {r["unit_id"]: r["name"] for r in rows}


async def get_unit(pool: Pool, unit_id: str) -> dict[str, Any] | None:
    r = await pool.fetchrow(
        "SELECT unit_id, name, kind, head_name, version, updated_at FROM public.units WHERE unit_id = $1", unit_id
    )
    return None if r is None else _unit(r)


class Where:
    """The conditions of a list query and their numbered parameters:
    `where.add("unit_id = {}", unit)` appends the value and puts its `$n` in the `{}`."""

    def __init__(self) -> None:
        self.conds: list[str] = []
        self.args: list[Any] = []

    def param(self, value: Any) -> str:
        self.args.append(value)
        return f"${len(self.args)}"

    def add(self, condition: str, *values: Any) -> None:
        self.conds.append(condition.format(*(self.param(v) for v in values)))

    def sql(self) -> str:
        return f" WHERE {' AND '.join(self.conds)}" if self.conds else ""


# ---------------------------------------------------------------------- targets
async def list_targets(
    pool: Pool,
    campaign_id: str,
    *,
    unit_id: str | None = None,
    cluster_id: str | None = None,
    status: str | None = None,
    report_class: str | None = None,
    overdue: bool | None = None,
    limit: int = 100,
    after: str | None = None,
) -> dict[str, Any]:
    """Targets of a campaign (target shape), ordered by id; `after` is a target id."""
    where = Where()
    where.add("campaign_id = {}", campaign_id)
    if unit_id is not None:
        where.add("unit_id = {}", unit_id)
    if cluster_id is not None:
        members = await pool.fetchval(
            "SELECT member_unit_ids FROM public.campaign_clusters WHERE campaign_id = $1 AND cluster_id = $2",
            campaign_id,
            cluster_id,
        )
        if members is None:
            return {"items": [], "next_after": None}
        where.add("unit_id = ANY({})", list(members))
    if status is not None:
        where.add("status = {}", status)
    if report_class is not None:
        where.add("report_class = {}", report_class)
    if overdue is not None:
        where.add("overdue" if overdue else "NOT overdue")
    if after is not None:
        key = _uuid(after)
        if key is None:
            raise ValueError(f"bad cursor {after!r}")
        where.add("target_id > {}", key)
    rows = await pool.fetch(
        f"SELECT state FROM public.targets{where.sql()} ORDER BY target_id LIMIT {where.param(limit + 1)}",
        *where.args,
    )
    return _page([loads(r["state"]) for r in rows], limit, lambda t: t["id"])


async def get_target(pool: Pool, target_id: UUID | str) -> dict[str, Any] | None:
    key = _uuid(target_id)
    if key is None:
        return None
    state = await pool.fetchval("SELECT state FROM public.targets WHERE target_id = $1", key)
    return None if state is None else loads(state)


async def target_owner(pool: Pool, target_id: UUID | str) -> str | None:
    """The unit that owns a target as the read model knows it (None when not projected)."""
    key = _uuid(target_id)
    if key is None:
        return None
    return await pool.fetchval("SELECT unit_id FROM public.targets WHERE target_id = $1", key)


# ---------------------------------------------------------------------- audit
_AUDIT_SELECT = (
    "SELECT position, occurred_at, recorded_at, actor_id, actor_name, actor_role, aggregate_type, aggregate_id, "
    "aggregate_version, event_type, campaign_id, target_id, unit_id, changes, reason, command_id, prev_hash, hash, "
    "request_id FROM public.audit_log"
)


def _audit_entry(r: Any) -> dict[str, Any]:
    return {
        "position": r["position"],
        "occurred_at": iso(r["occurred_at"]),
        "recorded_at": iso(r["recorded_at"]),
        "actor": {"id": r["actor_id"], "name": r["actor_name"], "role": r["actor_role"]},
        "aggregate_type": r["aggregate_type"],
        "aggregate_id": r["aggregate_id"],
        "aggregate_version": r["aggregate_version"],
        "event_type": r["event_type"],
        "campaign_id": r["campaign_id"],
        "target_id": None if r["target_id"] is None else str(r["target_id"]),
        "unit_id": r["unit_id"],
        "changes": loads(r["changes"]),
        "reason": r["reason"],
        "command_id": r["command_id"],
        "request_id": r["request_id"],
        "prev_hash": r["prev_hash"],
        "hash": r["hash"],
        "migrated": is_migrated(r["actor_id"], r["command_id"]),
    }


async def list_audit(
    pool: Pool,
    *,
    target_id: UUID | str | None = None,
    unit_id: str | None = None,
    actor_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    after_position: int | None = None,
) -> dict[str, Any]:
    """Audit entries by position; `since`/`until` bound occurred_at (inclusive/exclusive)."""
    where = Where()
    if target_id is not None:
        key = _uuid(target_id)
        if key is None:
            return {"items": [], "next_after": None}
        where.add("target_id = {}", key)
    if unit_id is not None:
        where.add("unit_id = {}", unit_id)
    if actor_id is not None:
        where.add("actor_id = {}", actor_id)
    if since is not None:
        where.add("occurred_at >= {}", since)
    if until is not None:
        where.add("occurred_at < {}", until)
    if after_position is not None:
        where.add("position > {}", int(after_position))
    rows = await pool.fetch(f"{_AUDIT_SELECT}{where.sql()} ORDER BY position LIMIT {where.param(limit + 1)}",
                            *where.args)
    return _page([_audit_entry(r) for r in rows], limit, lambda e: e["position"])


async def target_history(
    pool: Pool, target_id: UUID | str, limit: int = 100, after_position: int | None = None
) -> dict[str, Any]:
    """The audit entries of one target, oldest first."""
    return await list_audit(pool, target_id=target_id, limit=limit, after_position=after_position)


async def verify_audit(pool_or_dsn: Any) -> dict[str, Any]:
    """`{ok, checked, head_hash, first_bad_position}`, recomputed from the event store."""
    return await verify(pool_or_dsn)


# ---------------------------------------------------------------------- escalations
async def open_escalations_by_campaign(pool: Pool) -> list[tuple[str, int, datetime]]:
    """(campaign_id, open escalations, when the oldest opened) for each campaign with any
    open (what /metrics reports; the escalations_queue index answers it)."""
    rows = await pool.fetch(
        "SELECT campaign_id, count(*) AS open, min(opened_at) AS oldest FROM public.escalations "
        "WHERE state = 'open' GROUP BY campaign_id ORDER BY campaign_id"
    )
    return [(r["campaign_id"], int(r["open"]), r["oldest"]) for r in rows]


async def list_escalations(
    pool: Pool, campaign_id: str, state: str = "open", limit: int = 100, after: list[Any] | None = None
) -> dict[str, Any] | None:
    """Escalations oldest first; `state` is open, resolved or all. `after` is the
    `next_after` of the previous page ([opened_at, target_id, number])."""
    if state not in ("open", "resolved", "all"):
        raise ValueError("state must be open, resolved or all")
    policy = await pool.fetchval("SELECT policy FROM public.campaigns WHERE campaign_id = $1", campaign_id)
    if policy is None:
        return None
    sla: timedelta = parse_duration(loads(policy)["resolution_sla"])
    cluster_of = {u: r["cluster_id"] for r in await cluster_rows(pool, campaign_id) for u in r["member_unit_ids"]}
    where = Where()
    where.add("campaign_id = {}", campaign_id)
    if state != "all":
        where.add("state = {}", state)
    if after is not None:
        try:
            opened_at, target_id, number = datetime.fromisoformat(after[0]), UUID(str(after[1])), int(after[2])
        except (TypeError, ValueError, IndexError) as exc:
            raise ValueError(f"bad cursor {after!r}") from exc
        where.add("(opened_at, target_id, number) > ({}, {}, {})", opened_at, target_id, number)
    rows = await pool.fetch(
        f"SELECT * FROM public.escalations{where.sql()} "
        f"ORDER BY opened_at, target_id, number LIMIT {where.param(limit + 1)}",
        *where.args,
    )
    at = now()
    items = []
    for r in rows:
        end = r["resolved_at"] or at
        items.append({
            "target_id": str(r["target_id"]),
            "number": r["number"],
            "campaign_id": r["campaign_id"],
            "unit_id": r["unit_id"],
            "cluster_id": cluster_of.get(r["unit_id"]),
            "state": r["state"],
            "trigger": r["trigger"],
            "opened_at": iso(r["opened_at"]),
            "resolved_at": iso(r["resolved_at"]),
            "age_seconds": max(0.0, (end - r["opened_at"]).total_seconds()),
            "sla_due_at": iso(r["opened_at"] + sla),
            "reason": r["reason"],
            "help_needed": r["help_needed"],
            "directive": r["directive"],
            "reminders": r["reminders"],
            "last_reminded_at": iso(r["last_reminded_at"]),
            "resolved_by": r["resolved_by"],
        })
    return _page(items, limit, lambda e: [e["opened_at"], e["target_id"], e["number"]])


__all__ = [
    "ensure_schema",
    "get_campaign",
    "get_target",
    "get_unit",
    "list_audit",
    "list_campaigns",
    "list_escalations",
    "list_targets",
    "list_units",
    "max_event_position",
    "projection_positions",
    "scoreboard",
    "scoreboard_context",
    "scoreboard_snapshot",
    "target_history",
    "verify_audit",
    "wait_for_position",
    "what_if",
]
