"""Read-model queries for the API (asyncpg).

Every function takes an asyncpg pool or connection first and returns JSON-ready data
(datetimes as ISO 8601 strings, numbers as floats) in the shapes of DESIGN.md.
Lists return `{"items": [...], "next_after": KEY | None}`: pass `next_after` back as
`after` (or `after_position`) for the next page; it is None on the last page. KEY is
JSON-serialisable (a string, an int or a list), for the API to wrap in an opaque cursor.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any
from uuid import UUID

from domain.campaign import Campaign
from domain.scoring import listing_key
from domain.scoring import scoreboard as domain_scoreboard
from domain.scoring import what_if as domain_what_if
from domain.values import ScoringScale, parse_duration
from projections.audit import verify
from projections.boards import (
    adjustments_of,
    board_dict,
    cluster_of_row,
    rules_of_rows,
    target_facts,
    unit_dict_of_row,
)
from projections.codec import EVENTS, loads
from projections.schema import TRACKING_ROWS, ensure_schema

Pool = Any  # asyncpg.Pool | asyncpg.Connection


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


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


def _now() -> datetime:
    return datetime.now(timezone.utc)


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
    A read model stopped at an event it cannot apply (projections.faults: /healthz says
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
        "version": r["version"], "updated_at": _iso(r["updated_at"]),
    }


async def list_units(pool: Pool, limit: int = 100, after: str | None = None) -> dict[str, Any]:
    rows = await pool.fetch(
        "SELECT unit_id, name, kind, head_name, version, updated_at FROM public.units "
        "WHERE ($1::text IS NULL OR unit_id > $1) ORDER BY unit_id LIMIT $2",
        after,
        limit + 1,
    )
    return _page([_unit(r) for r in rows], limit, lambda u: u["id"])


async def get_unit(pool: Pool, unit_id: str) -> dict[str, Any] | None:
    r = await pool.fetchrow(
        "SELECT unit_id, name, kind, head_name, version, updated_at FROM public.units WHERE unit_id = $1", unit_id
    )
    return None if r is None else _unit(r)


async def _cluster_rows(pool: Pool, campaign_id: str, cluster_id: str | None = None) -> list[Any]:
    return await pool.fetch(
        "SELECT cluster_id, name, head_unit_id, deputy_unit_id, member_unit_ids FROM public.campaign_clusters "
        "WHERE campaign_id = $1 AND ($2::text IS NULL OR cluster_id = $2) ORDER BY cluster_id",
        campaign_id,
        cluster_id,
    )


async def _campaign_exists(pool: Pool, campaign_id: str) -> bool:
    return bool(await pool.fetchval("SELECT EXISTS (SELECT 1 FROM public.campaigns WHERE campaign_id = $1)",
                                    campaign_id))


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
    "aggregate_version, event_type, campaign_id, target_id, unit_id, changes, reason, command_id, prev_hash, hash "
    "FROM public.audit_log"
)


def _audit_entry(r: Any) -> dict[str, Any]:
    return {
        "position": r["position"],
        "occurred_at": _iso(r["occurred_at"]),
        "recorded_at": _iso(r["recorded_at"]),
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
        "prev_hash": r["prev_hash"],
        "hash": r["hash"],
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


# ---------------------------------------------------------------------- scoreboards
# The read-model positions a scoreboard depends on: clusters, scales, bonuses and unit
# names (catalog), status intervals (targets) and the stored boards (scoreboard). Each
# group writes its tracking row in the same transaction as its rows, so a board read in
# one snapshot together with these positions is exactly the board of those positions:
# while they stay the same, so does the board (callers may cache it under them). The
# version is each row's position and `updated_at`, which every write of a tracking row
# sets, a rebuild's swap included (a rebuild may leave positions where they were).
SCOREBOARD_TRACKING = ("catalog", "targets", "scoreboard")

_SCOREBOARD_VERSION = (  # NULLs for a tracking row not created yet
    "SELECT ARRAY(SELECT ARRAY[r.position::text, r.updated_at::text] FROM unnest($1::text[]) "
    "WITH ORDINALITY AS t(name, i) LEFT JOIN public.projection_tracking AS r ON r.name = t.name ORDER BY t.i)"
)

ScoreboardVersion = tuple[tuple[str | None, ...], ...]


def _version(value: Any) -> ScoreboardVersion:
    return tuple(tuple(pair) for pair in value)


async def scoreboard_context(pool: Pool, campaign_id: str) -> tuple[bool, list[str], ScoreboardVersion]:
    """In one round trip: is the campaign in the read models, its current cluster ids,
    and the version of the read models its scoreboards are computed from."""
    row = await pool.fetchrow(
        "SELECT EXISTS (SELECT 1 FROM public.campaigns WHERE campaign_id = $2) AS known, "
        "ARRAY(SELECT cluster_id FROM public.campaign_clusters WHERE campaign_id = $2 ORDER BY cluster_id) "
        f"AS clusters, ({_SCOREBOARD_VERSION}) AS version",
        list(SCOREBOARD_TRACKING),
        campaign_id,
    )
    return bool(row["known"]), list(row["clusters"]), _version(row["version"])


async def scoreboard(
    pool: Pool, campaign_id: str, *, cluster_id: str | None = None, as_of: datetime | None = None
) -> dict[str, Any] | None:
    """The cluster scoreboards of a campaign: current (from the `scoreboard` table), or
    as of an instant (from target_status_history, cluster/scale/bonus history)."""
    found = await scoreboard_snapshot(pool, campaign_id, cluster_id=cluster_id, as_of=as_of)
    return None if found is None else found[1]


async def scoreboard_snapshot(
    pool: Pool, campaign_id: str, *, cluster_id: str | None = None, as_of: datetime | None = None
) -> tuple[ScoreboardVersion, dict[str, Any]] | None:
    """`(version, board)`: `scoreboard(...)` and the version of the read models it was
    read at (as `scoreboard_context` gives it), both from one snapshot. None when the
    campaign is not projected."""
    if as_of is not None and as_of.tzinfo is None:
        raise ValueError("as_of must carry a UTC offset")
    async with _snapshot(pool) as conn:
        if not await _campaign_exists(conn, campaign_id):
            return None
        version = _version(await conn.fetchval(_SCOREBOARD_VERSION, list(SCOREBOARD_TRACKING)))
        if as_of is not None:
            return version, await _scoreboard_as_of(conn, campaign_id, cluster_id, as_of)
        return version, await _current_scoreboard(conn, campaign_id, cluster_id)


class _snapshot:
    """One connection in a read-only REPEATABLE READ transaction, so every query of a
    board (and the positions it is cached under) sees the same committed state. A
    connection handed in that is already in a transaction is used as it is."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self._acquired: Any = None
        self._tx: Any = None

    async def __aenter__(self) -> Any:
        conn = self.pool
        if hasattr(self.pool, "acquire"):
            self._acquired = self.pool.acquire()
            conn = await self._acquired.__aenter__()
        if not conn.is_in_transaction():
            self._tx = conn.transaction(isolation="repeatable_read", readonly=True)
            await self._tx.__aenter__()
        return conn

    async def __aexit__(self, *exc: Any) -> None:
        try:
            if self._tx is not None:
                await self._tx.__aexit__(*exc)
        finally:
            if self._acquired is not None:
                await self._acquired.__aexit__(*exc)


async def _current_scoreboard(conn: Any, campaign_id: str, cluster_id: str | None) -> dict[str, Any]:
    clusters = await conn.fetch(
        "SELECT cluster_id, name FROM public.campaign_clusters "
        "WHERE campaign_id = $1 AND ($2::text IS NULL OR cluster_id = $2) ORDER BY cluster_id",
        campaign_id,
        cluster_id,
    )
    rows = await conn.fetch(
        "SELECT * FROM public.scoreboard WHERE campaign_id = $1 AND ($2::text IS NULL OR cluster_id = $2) "
        "ORDER BY cluster_id, rank",
        campaign_id,
        cluster_id,
    )
    units: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        units.setdefault(r["cluster_id"], []).append(unit_dict_of_row(r))
    for listed in units.values():  # in the domain's order (SQL's collation is not the domain's)
        listed.sort(key=lambda u: listing_key(u["rank"], u["name"], u["unit_id"]))
    return {
        "campaign_id": campaign_id,
        "as_of": _iso(_now()),
        "position": await conn.fetchval(
            "SELECT position FROM public.projection_tracking WHERE name = 'scoreboard'"),
        "clusters": [
            {"cluster_id": c["cluster_id"], "name": c["name"], "units": units.get(c["cluster_id"], [])}
            for c in clusters
        ],
    }


async def _rules_at(conn: Any, campaign_id: str, at: datetime | None) -> Any:
    return rules_of_rows(await conn.fetch(
        "SELECT effective_at, forms FROM public.campaign_rules WHERE campaign_id = $1 ORDER BY position",
        campaign_id,
    ), at)


def _only(boards: Any, cluster_id: str | None) -> Any:
    return boards if cluster_id is None else tuple(b for b in boards if b.cluster_id == cluster_id)


async def _scoreboard_as_of(conn: Any, campaign_id: str, cluster_id: str | None, at: datetime) -> dict[str, Any]:
    rules = await _rules_at(conn, campaign_id, at)
    # A campaign-scope form ranks every unit: one cluster's marks need the whole campaign.
    among = None if rules.campaign_wide else cluster_id
    cluster_rows = await conn.fetch(
        "SELECT DISTINCT ON (cluster_id) cluster_id, name, head_unit_id, deputy_unit_id, member_unit_ids "
        "FROM public.campaign_cluster_history WHERE campaign_id = $1 AND valid_from <= $2 "
        "AND ($3::text IS NULL OR cluster_id = $3) ORDER BY cluster_id, position DESC",
        campaign_id,
        at,
        among,
    )
    clusters = [cluster_of_row(r) for r in cluster_rows]
    unit_ids = sorted({u for c in clusters for u in c.unit_ids})
    # Targets with the same facts are grouped in SQL (a few hundred rows however many
    # targets there are); the domain still scores one ScoredTarget per target.
    facts = _expanded_facts(await conn.fetch(
        "SELECT unit_id, points, report_class, status, count(*) AS n FROM public.target_status_history "
        "WHERE campaign_id = $1 AND valid_from <= $2 AND (valid_to IS NULL OR valid_to > $2) "
        "AND unit_id = ANY($3) GROUP BY unit_id, points, report_class, status",
        campaign_id,
        at,
        unit_ids,
    ))
    bonuses = adjustments_of(await conn.fetch(
        "SELECT unit_id, points, reason FROM public.campaign_bonuses WHERE campaign_id = $1 AND awarded_at <= $2 "
        "ORDER BY position",
        campaign_id,
        at,
    ))
    scale = await _scale_at(conn, campaign_id, at)
    names = await _unit_names(conn, unit_ids)
    boards = domain_scoreboard(clusters, facts, bonuses, scale, names, rules)
    return board_dict(campaign_id, at.isoformat(), _only(boards, cluster_id))


def _expanded_facts(grouped_rows: list[Any]) -> list[Any]:
    """One ScoredTarget per target from rows grouped by facts with a count `n`."""
    facts: list[Any] = []
    for row, fact in zip(grouped_rows, target_facts(grouped_rows)):
        facts.extend([fact] * row["n"])
    return facts


async def _scale_at(pool: Pool, campaign_id: str, at: datetime) -> ScoringScale:
    rows = await pool.fetch(
        "SELECT effective_at, on_time, late, reward_slots FROM public.campaign_scales WHERE campaign_id = $1 "
        "ORDER BY position",
        campaign_id,
    )
    history = [[r["effective_at"], ScoringScale(r["on_time"], r["late"], r["reward_slots"])] for r in rows]
    if not history:
        return ScoringScale()
    # The domain keeps its history sorted (stably) by effective time; pick with its own rule.
    history.sort(key=lambda row: row[0])
    return Campaign.scale_at(SimpleNamespace(scoring_history=history), at)  # type: ignore[arg-type]


async def _unit_names(pool: Pool, unit_ids: list[str]) -> dict[str, str]:
    rows = await pool.fetch("SELECT unit_id, name FROM public.units WHERE unit_id = ANY($1)", unit_ids)
    return {r["unit_id"]: r["name"] for r in rows}


async def what_if(
    pool: Pool, campaign_id: str, scoring: ScoringScale, *, cluster_id: str | None = None
) -> dict[str, Any] | None:
    """The current scoreboard under a proposed scale. Records nothing."""
    async with _snapshot(pool) as conn:
        if not await _campaign_exists(conn, campaign_id):
            return None
        rules = await _rules_at(conn, campaign_id, None)  # the rules the live board is marked under
        among = None if rules.campaign_wide else cluster_id
        clusters = [cluster_of_row(r) for r in await _cluster_rows(conn, campaign_id, among)]
        unit_ids = sorted({u for c in clusters for u in c.unit_ids})
        facts = _expanded_facts(await conn.fetch(
            "SELECT unit_id, points, report_class, status, count(*) AS n FROM public.targets "
            "WHERE campaign_id = $1 AND unit_id = ANY($2) GROUP BY unit_id, points, report_class, status",
            campaign_id,
            unit_ids,
        ))
        bonuses = adjustments_of(await conn.fetch(
            "SELECT unit_id, points, reason FROM public.campaign_bonuses WHERE campaign_id = $1 ORDER BY position",
            campaign_id,
        ))
        names = await _unit_names(conn, unit_ids)
    boards = _only(domain_what_if(clusters, facts, bonuses, scoring, names, rules), cluster_id)
    proposed = {"on_time": float(scoring.on_time), "late": float(scoring.late), "reward_slots": scoring.reward_slots}
    return board_dict(campaign_id, _iso(_now()), boards, scoring=proposed)


# ---------------------------------------------------------------------- escalations
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
    cluster_of = {u: r["cluster_id"] for r in await _cluster_rows(pool, campaign_id) for u in r["member_unit_ids"]}
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
    now = _now()
    items = []
    for r in rows:
        end = r["resolved_at"] or now
        items.append({
            "target_id": str(r["target_id"]),
            "number": r["number"],
            "campaign_id": r["campaign_id"],
            "unit_id": r["unit_id"],
            "cluster_id": cluster_of.get(r["unit_id"]),
            "state": r["state"],
            "trigger": r["trigger"],
            "opened_at": _iso(r["opened_at"]),
            "resolved_at": _iso(r["resolved_at"]),
            "age_seconds": max(0.0, (end - r["opened_at"]).total_seconds()),
            "sla_due_at": _iso(r["opened_at"] + sla),
            "reason": r["reason"],
            "help_needed": r["help_needed"],
            "directive": r["directive"],
            "reminders": r["reminders"],
            "last_reminded_at": _iso(r["last_reminded_at"]),
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
    "target_history",
    "verify_audit",
    "wait_for_position",
    "what_if",
]
