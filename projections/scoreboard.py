"""The `scoreboard` read model's SQL, all of it: which clusters a batch of events makes
stale and recomputing them (the write side, run by the targets group's batches), and every
query of boards — current, as of any time, what-if (the read side, for the API).

The rules themselves are the domain's (domain/scoring.py); the mapping between rows and
the domain's boards is projections/boards.py (no SQL).
"""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace
from typing import Any, NamedTuple

from thidua.domain.campaign import Campaign, campaign_uuid, unit_uuid
from thidua.domain.scoring import NO_RULES, ClusterBoard, apply_rules, listing_key
from thidua.domain.scoring import scoreboard as domain_scoreboard
from thidua.domain.scoring import what_if as domain_what_if
from thidua.domain.values import ScoringScale
from thidua.projections.batch import BatchContext, copy_rows
from thidua.projections.boards import (
    SCOREBOARD_COLUMNS,
    adjustments_of,
    board_dict,
    boards_of_rows,
    cluster_of_row,
    rules_of_rows,
    scoreboard_rows,
    target_facts,
    unit_dict_of_row,
)

from thidua.projections.reading import Pool, campaign_exists, cluster_rows, iso, now
Dirty = set[tuple[str, str]]  # (campaign_id, cluster_id)


# ---------------------------------------------------------------------- keeping boards
async def stale_clusters(
    ctx: BatchContext, units: set[tuple[str, str]], whole_campaigns: set[str], renamed: set[str]
) -> Dirty:
    """The clusters a batch made stale: those of the units it touched, every cluster of
    the campaigns it changed as a whole, and those listing a renamed unit."""
    dirty: Dirty = set()
    ids = sorted({c for c, _ in units} | whole_campaigns)
    found = await ctx.view.get_many(ctx.conn, [campaign_uuid(cid) for cid in ids])
    campaigns = {cid: found[campaign_uuid(cid)] for cid in ids}
    for cid, unit_id in units:
        campaign = campaigns[cid]
        cluster_id = campaign.cluster_of(unit_id) if campaign is not None else None
        if cluster_id is not None:
            dirty.add((cid, cluster_id))
    for cid in whole_campaigns:
        campaign = campaigns[cid]
        if campaign is not None:
            dirty |= {(cid, k) for k in campaign.clusters}
    if renamed:
        rows = await ctx.conn.fetch(
            f"SELECT DISTINCT campaign_id, cluster_id FROM {ctx.table('scoreboard')} WHERE unit_id = ANY($1)",
            list(renamed),
        )
        dirty |= {(r["campaign_id"], r["cluster_id"]) for r in rows}
    return dirty

async def recompute_stale(ctx: BatchContext, dirty: Dirty, *, final: bool) -> bool:
    """Mark `dirty` clusters stale; when `final`, recompute every stale one and move the
    scoreboard's position to the batch's end (True: recomputed)."""
    table = ctx.table("scoreboard_dirty")
    if not final:
        if dirty:
            await ctx.conn.execute(
                f"INSERT INTO {table} (campaign_id, cluster_id) SELECT * FROM unnest($1::text[], $2::text[]) "
                "ON CONFLICT DO NOTHING",
                [d[0] for d in dirty],
                [d[1] for d in dirty],
            )
        pending = await ctx.conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM {table})")
        if pending:
            # stale clusters remain: the scoreboard position stays where it was complete
            ctx.new_positions["scoreboard"] = ctx.positions.get("scoreboard", 0)
        return
    marked = await ctx.conn.fetch(f"DELETE FROM {table} RETURNING campaign_id, cluster_id")
    dirty = dirty | {(r["campaign_id"], r["cluster_id"]) for r in marked}
    by_campaign: dict[str, set[str]] = {}
    for cid, kid in dirty:
        by_campaign.setdefault(cid, set()).add(kid)
    for cid, kids in sorted(by_campaign.items()):
        await recompute(ctx, cid, kids)
    ctx.new_positions["scoreboard"] = ctx.batch_end
    return True

async def recompute(ctx: BatchContext, campaign_id: str, cluster_ids: set[str]) -> None:
    """Score the clusters in `cluster_ids` from their targets and mark them under the
    campaign's rules. A campaign-scope form ranks every unit of the campaign, so then
    the other clusters' stored scores (unchanged: nothing of theirs moved) join the
    marking, and every row of the campaign is rewritten with its new marks."""
    conn = ctx.conn
    campaign = await ctx.view.get(conn, campaign_uuid(campaign_id))
    rules = NO_RULES if campaign is None else campaign.rules
    others: list[ClusterBoard] = []
    if rules.campaign_wide:
        others = boards_of_rows(await conn.fetch(
            f"DELETE FROM {ctx.table('scoreboard')} WHERE campaign_id = $1 AND NOT cluster_id = ANY($2) "
            "RETURNING *",
            campaign_id,
            list(cluster_ids),
        ))
        others = [b for b in others if b.cluster_id in campaign.clusters]
    await conn.execute(
        f"DELETE FROM {ctx.table('scoreboard')} WHERE campaign_id = $1 AND cluster_id = ANY($2)",
        campaign_id,
        list(cluster_ids),
    )
    if campaign is None:
        return
    clusters = [campaign.clusters[k] for k in sorted(cluster_ids) if k in campaign.clusters]
    unit_ids = sorted({u for c in clusters for u in c.unit_ids})
    facts = target_facts(await conn.fetch(
        f"SELECT unit_id, points, report_class, status FROM {ctx.table('targets')} "
        "WHERE campaign_id = $1 AND unit_id = ANY($2) AND NOT has_children",  # unit targets only
        campaign_id,
        unit_ids,
    )) if unit_ids else []
    units = await ctx.view.get_many(conn, [unit_uuid(u) for u in unit_ids])
    names = {}
    for u in unit_ids:
        unit = units[unit_uuid(u)]
        names[u] = unit.name if unit is not None else u
    fresh = domain_scoreboard(clusters, facts, adjustments_of(campaign.adjustments), campaign.scoring, names)
    boards = apply_rules(sorted([*fresh, *others], key=lambda b: b.cluster_id), rules)
    await copy_rows(conn, ctx.schema, "scoreboard", SCOREBOARD_COLUMNS, scoreboard_rows(campaign_id, boards))


# ---------------------------------------------------------------------- reading boards
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
        if not await campaign_exists(conn, campaign_id):
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
        "as_of": iso(now()),
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
    boards = (await boards_as_of(conn, campaign_id, cluster_id, at)).boards
    return board_dict(campaign_id, at.isoformat(), _only(boards, cluster_id))


class BoardsAsOf(NamedTuple):
    """The domain's boards as of an instant and what they were computed under."""

    boards: tuple[ClusterBoard, ...]
    clusters: list[Any]  # domain Clusters then (heads and deputies too)
    rules: Any  # RewardRules then
    scale: ScoringScale
    targets: list[Any] | None = None  # with `per_target`: the groups of targets counted then, with their ids


async def boards_as_of(conn: Any, campaign_id: str, cluster_id: str | None, at: datetime, *,
                       per_target: bool = False) -> BoardsAsOf:
    """The as-of computation (an evaluation round freezes exactly this): clusters, targets'
    facts, bonuses, scale and rules as they stood at `at`. Call inside `_snapshot`.
    `per_target`: also the targets then (`targets`: rows of unit_id, points, report_class,
    status, n and target_ids (comma-separated), one per group of targets with the same facts)."""
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
    # targets there are); the domain still scores one ScoredTarget per target. A round's
    # freeze (`per_target`) also needs which targets each group holds: their ids come
    # along as one comma-separated text per group (measured: decoding a text[] of 50,000
    # ids costs asyncpg about 5x as much), so it reads no more rows than the board does.
    ids = ", string_agg(target_id::text, ',') AS target_ids" if per_target else ""
    grouped = await conn.fetch(
        f"SELECT unit_id, points, report_class, status, count(*) AS n{ids} FROM public.target_status_history "
        "WHERE campaign_id = $1 AND valid_from <= $2 AND (valid_to IS NULL OR valid_to > $2) "
        "AND unit_id = ANY($3) AND target_id NOT IN "
        "(SELECT target_id FROM public.targets WHERE campaign_id = $1 AND has_children) "
        "GROUP BY unit_id, points, report_class, status",
        campaign_id,
        at,
        unit_ids,
    )
    facts = _expanded_facts(grouped)
    target_rows = grouped if per_target else None
    bonuses = adjustments_of(await conn.fetch(
        "SELECT unit_id, points, reason FROM public.campaign_bonuses WHERE campaign_id = $1 AND awarded_at <= $2 "
        "ORDER BY position",
        campaign_id,
        at,
    ))
    scale = await _scale_at(conn, campaign_id, at)
    names = await _unit_names(conn, unit_ids)
    boards = domain_scoreboard(clusters, facts, bonuses, scale, names, rules)
    return BoardsAsOf(boards, clusters, rules, scale, target_rows)


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
        if not await campaign_exists(conn, campaign_id):
            return None
        rules = await _rules_at(conn, campaign_id, None)  # the rules the live board is marked under
        among = None if rules.campaign_wide else cluster_id
        clusters = [cluster_of_row(r) for r in await cluster_rows(conn, campaign_id, among)]
        unit_ids = sorted({u for c in clusters for u in c.unit_ids})
        facts = _expanded_facts(await conn.fetch(
            "SELECT unit_id, points, report_class, status, count(*) AS n FROM public.targets "
            "WHERE campaign_id = $1 AND unit_id = ANY($2) AND NOT has_children "
            "GROUP BY unit_id, points, report_class, status",
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
    return board_dict(campaign_id, iso(now()), boards, scoring=proposed)


# One consistent read-only snapshot of the read models (the evaluation round's freeze uses it too).
read_snapshot = _snapshot
