"""Scoreboards from read-model rows, through the domain's scoring functions only.

Every scoreboard thidua shows (the stored one, "as of", "what if") is
`thidua.domain.scoring.scoreboard(...)` of facts read here; this module only converts rows
to the domain's value objects and the result to the JSON shape of DESIGN.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from thidua.domain.scoring import listing_key
from thidua.domain.scoring import COUNT_KEYS, Adjustment, ClusterBoard, RewardRules, ScoredTarget, UnitScore, in_force
from thidua.domain.values import Cluster, ReportClass, Status
from thidua.projections.codec import loads


def target_facts(rows: Iterable[Mapping[str, Any]]) -> list[ScoredTarget]:
    return [
        ScoredTarget(
            unit_id=r["unit_id"],
            points=Decimal(r["points"]),
            report_class=ReportClass(r["report_class"]),
            status=Status(r["status"]),
        )
        for r in rows
    ]


def adjustments_of(rows: Iterable[Mapping[str, Any]]) -> list[Adjustment]:
    return [Adjustment(unit_id=r["unit_id"], points=Decimal(r["points"]), reason=r.get("reason") or "") for r in rows]


def cluster_of_row(r: Mapping[str, Any]) -> Cluster:
    return Cluster(
        cluster_id=r["cluster_id"],
        name=r["name"],
        head_unit_id=r["head_unit_id"],
        deputy_unit_id=r["deputy_unit_id"],
        member_unit_ids=tuple(r["member_unit_ids"]),
    )


def rules_of_rows(rows: Iterable[Mapping[str, Any]], at: Any | None) -> RewardRules:
    """The rules in force at `at` (the latest when None) from `campaign_rules` rows in
    position order, picked by the domain's own rule."""
    history = sorted(([r["effective_at"], loads(r["forms"])] for r in rows), key=lambda row: row[0])
    forms = in_force(history, at, None)
    return RewardRules.from_list(forms)


def board_dict(campaign_id: str, as_of: str | None, boards: Iterable[ClusterBoard], **extra: Any) -> dict[str, Any]:
    return {"campaign_id": campaign_id, "as_of": as_of, "clusters": [b.to_dict() for b in boards], **extra}


def scoreboard_rows(campaign_id: str, boards: Iterable[ClusterBoard]) -> list[tuple[Any, ...]]:
    """Rows of the `scoreboard` table (SCOREBOARD_COLUMNS order)."""
    rows = []
    for board in boards:
        for u in board.units:
            rows.append(
                (
                    campaign_id, board.cluster_id, u.unit_id, board.name, u.name, u.score, u.max_score,
                    u.completion_rate, u.bonus, u.rank, u.reward_candidate, list(u.eligible_forms),
                    *(int(u.counts[k]) for k in COUNT_KEYS),
                )
            )
    return rows


SCOREBOARD_COLUMNS = (
    "campaign_id", "cluster_id", "unit_id", "cluster_name", "unit_name", "score", "max_score", "completion_rate",
    "bonus", "rank", "reward_candidate", "eligible_forms", *COUNT_KEYS,
)


def unit_dict_of_row(r: Mapping[str, Any]) -> dict[str, Any]:
    """A `scoreboard` row in the shape of `thidua.domain.scoring.UnitScore.to_dict()`."""
    return {
        "unit_id": r["unit_id"],
        "name": r["unit_name"],
        "score": float(r["score"]),
        "max_score": float(r["max_score"]),
        "completion_rate": float(r["completion_rate"]),
        "bonus": float(r["bonus"]),
        "rank": r["rank"],
        "reward_candidate": r["reward_candidate"],
        "eligible_forms": list(r["eligible_forms"]),
        "counts": {k: r[k] for k in COUNT_KEYS},
    }


def boards_of_rows(rows: Iterable[Mapping[str, Any]]) -> list[ClusterBoard]:
    """Stored `scoreboard` rows back as the domain's boards (scores, ranks and counts as
    computed; the marks are recomputed by whoever reads them this way)."""
    boards: dict[str, tuple[str, list[UnitScore]]] = {}
    for r in rows:
        _, units = boards.setdefault(r["cluster_id"], (r["cluster_name"], []))
        units.append(UnitScore(
            unit_id=r["unit_id"], name=r["unit_name"], score=r["score"], max_score=r["max_score"],
            completion_rate=r["completion_rate"], counts={k: r[k] for k in COUNT_KEYS}, bonus=r["bonus"],
            rank=r["rank"], reward_candidate=r["reward_candidate"], eligible_forms=tuple(r["eligible_forms"]),
        ))
    return [ClusterBoard(kid, name, tuple(sorted(units, key=lambda u: listing_key(u.rank, u.name, u.unit_id))))
            for kid, (name, units) in sorted(boards.items())]
